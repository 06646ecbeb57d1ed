"""The interface each experiment implements, in one file (after vdm).

An experiment says *what* to train; :func:`stein_jax.train.loop.train_and_evaluate`
says *how* (jit, sharding, checkpoints, metrics, progress, NaN policy).

Example::

  class GaussianFit(Experiment):
    name = "gaussian_fit"

    def __init__(self, config):
      super().__init__(config)
      self.tx = optax.adam(config.learning_rate)

    def init_state(self, rng, config):
      params = {"mu": jnp.zeros(config.dim)}
      return TrainState.create(params=params, tx=self.tx, rng=rng)

    def train_step(self, state, batch):
      loss, grads = jax.value_and_grad(loss_fn)(state.params, batch["x"])
      return state.apply_gradients(grads, self.tx), {"loss": loss}

    def batch(self, step):
      rng = np.random.default_rng([self.config.seed, step])
      return {"x": rng.normal(size=(self.config.batch_size, self.config.dim))}

    def evaluate(self, state, step, workdir):
      return {"mu_norm": float(jnp.linalg.norm(state.params["mu"]))}
"""

from __future__ import annotations

import abc
import types
from typing import Any, Mapping

import jax
import ml_collections

from stein_jax import algorithm as algorithm_lib
from stein_jax.train import config as config_lib
from stein_jax.train.state import AlgorithmState, TrainState

PyTree = Any


class Experiment(abc.ABC):
  """One experiment: a model, an objective, its data and its evaluation.

  Attributes:
    name: short identifier, stored in the run fingerprint (``run.json``); a
      workdir created by another experiment is refused.
    config: the run's ``ml_collections.ConfigDict``.
    resumable_keys: config keys (besides the shared ones such as
      ``num_steps``) that may change between runs in the same workdir without
      making it a different run, e.g. an evaluation sample count.
    legacy_defaults: config keys added after runs of the experiment existed,
      each with the value that reproduces those runs (e.g. ``{"kernel":
      "rbf"}``): at that value the key does not enter the run's fingerprint,
      so older workdirs still resume (``config.defining_config``).
    legacy_key_names: for a config nested after runs of the experiment existed, each key path
      and the flat name those runs were fingerprinted with (``{"svgd.k": "k",
      "optimizer.learning_rate": "learning_rate"}``, built with ``config.moved_keys``). The
      fingerprint and run.json keep the flat names, so a nested config gives exactly the
      fingerprint of the flat one it replaces: older workdirs resume, and ``runs.load_run``
      reads old and new run.json alike. Every key below a group it names (``svgd.*``) must be
      mapped (a key new since the nesting maps to its own path) and every path it maps must be
      in the config: the experiment refuses a config that lacks a key, or that sets a moved key
      by its flat name, with a ``ConfigError`` naming it. ``resumable_keys`` and
      ``legacy_defaults`` name keys by their path.
    record_defaults: keys (by path) that run.json files of runs older than the key lack, with the
      value the experiment then used for a config without it (its defaults before the configs
      declared every key). Only for reopening such a run (``runs.load_run``): filled in where the
      record lacks the key and left out of the fingerprint check, as those runs' fingerprints never
      held them. Unlike ``legacy_defaults`` they do not change a run's fingerprint, so a run of today
      at the same value keeps the key in its fingerprint.
  """

  name: str = ""
  resumable_keys: tuple[str, ...] = ()
  legacy_defaults: Mapping[str, Any] = types.MappingProxyType({})
  legacy_key_names: Mapping[str, str] = types.MappingProxyType({})
  record_defaults: Mapping[str, Any] = types.MappingProxyType({})

  def __init__(self, config: ml_collections.ConfigDict):
    if not self.name:
      raise TypeError(f"{type(self).__name__} must set a class attribute " "`name`")
    if self.legacy_key_names:
      config_lib.check_key_names(config_lib.flatten_config(config), self.legacy_key_names)
    self.config = config

  def defining_config(self, config: ml_collections.ConfigDict) -> dict[str, Any]:
    """``config``'s values that define the run, in its fingerprint's names (what run.json stores)."""
    return config_lib.defining_config(config, self.resumable_keys, self.legacy_defaults, self.legacy_key_names)

  @classmethod
  def config_from_record(cls, record: Mapping[str, Any], defaults: Mapping[str, Any] | None = None) -> dict:
    """The config dict of a run of this experiment from its run.json's ``config`` (``config.config_from_record``).

    ``defaults``: values (by path) for the resumable keys run.json leaves out; then
    :attr:`record_defaults` fill the keys an older run.json lacks (see :meth:`unrecorded_keys`).
    """
    extra = {**(defaults or {}), **{p: v for p, v in cls.record_defaults.items() if p not in (defaults or {})}}
    return config_lib.config_from_record(record, cls.legacy_key_names, cls.legacy_defaults, extra)

  @classmethod
  def unrecorded_keys(cls, record: Mapping[str, Any]) -> tuple[str, ...]:
    """The fingerprint names :meth:`config_from_record` filled from :attr:`record_defaults` for ``record``.

    Keys a run older than them never had in its fingerprint: the rebuilt run is checked without them.
    """
    names = cls.legacy_key_names
    resumable = lambda p: any(p == r or p.startswith(r + ".") for r in cls.resumable_keys)
    return tuple(
      names.get(p, p)
      for p in cls.record_defaults
      if names.get(p, p) not in record and p not in cls.legacy_defaults and not resumable(p)
    )

  def key_name(self, flat: str) -> str:
    """A fingerprint key's name in messages: its path in the (nested) config."""
    return config_lib.shown_name(flat, self.legacy_key_names)

  @abc.abstractmethod
  def init_state(self, rng: jax.Array, config: ml_collections.ConfigDict) -> TrainState:
    """Returns the step-0 state.

    Must be traceable: the loop calls it under ``jax.eval_shape`` to build
    the checkpoint restore target and under ``jax.jit`` (with replicated
    output sharding) for a fresh run.

    Args:
      rng: the run's key, ``jax.random.key(config.seed)``.
      config: the run's config.
    """

  @abc.abstractmethod
  def train_step(self, state: TrainState, batch: PyTree) -> tuple[TrainState, Mapping[str, jax.Array]]:
    """One pure training step; the loop jits it once, donating ``state``.

    Randomness comes from ``state.step_rng()`` (``fold_in(rng, step)``).

    Args:
      state: the current state (``step`` = number of steps already taken).
      batch: the global batch for this step (``None`` if :meth:`batch` is).

    Returns:
      ``(new_state, metrics)``, ``new_state.step == state.step + 1`` and
      ``metrics`` a dict of scalar arrays, e.g. ``{"loss": loss}``; logged as
      ``train/<name>`` (averaged over each ``log_every`` window). A non-finite
      value stops the run (:class:`~stein_jax.train.loop.NonFiniteLossError`).
    """

  def legacy_state_layout(self):
    """``None``, or ``(to_legacy, from_legacy)``: an earlier layout of this experiment's state.

    Checkpoints written in that layout are read in it and converted, so that a change of
    the state's layout does not orphan existing runs (``Checkpointer.restore_latest``).
    """
    return None

  def batch(self, step: int) -> PyTree | None:
    """This process's batch for ``step`` (a pytree of numpy arrays).

    Must be a deterministic function of ``(config.seed, step)`` so that a
    resumed run sees the same data as an uninterrupted one. Every leaf has a
    leading batch axis, sharded across devices; in a multi-host run return
    this process's part only (see docs/platform.md). Return ``None`` for
    experiments without data (e.g. sampling a fixed target).

    Args:
      step: the number of steps taken before this one (``int(state.step)``).
    """
    del step
    return None

  def evaluate(self, state: TrainState, step: int, workdir: str) -> Mapping[str, float]:
    """Host-side evaluation; returns scalars logged as ``eval/<name>``.

    May write figures with :func:`stein_jax.train.figures.save_figure`. Called
    every ``config.eval_every`` steps and at the end.
    """
    del state, step, workdir
    return {}

  def finalize(self, state: TrainState, workdir: str) -> None:
    """Called once when the run reaches ``num_steps`` (e.g. final figures)."""
    del state, workdir

  def data_fingerprint(self) -> str | None:
    """A checksum of the training data, stored in ``run.json`` and checked on resume (None: not checked).

    A run resumed on other data (a changed file, another subset) would silently continue a different
    experiment; the platform refuses it, naming both checksums. Experiments with real data sets override this,
    e.g. with ``stein_jax.data.checksums.array_fingerprint`` of their training arrays.
    """
    return None


class AlgorithmExperiment(Experiment):
  """An experiment whose training step is an :class:`~stein_jax.algorithm.Algorithm`'s.

  The subclass sets ``self.algorithm`` in ``__init__`` and says what data and evaluation
  are; the platform's state is an :class:`AlgorithmState` carrying the algorithm's state
  whole (``state.inner``), so nothing is packed or unpacked per step. ``train_step``
  calls ``algorithm.step(state.step_rng(), state.inner, batch)``.
  """

  algorithm: algorithm_lib.Algorithm

  def init_args(self, rng: jax.Array, config: ml_collections.ConfigDict) -> tuple:
    """Arguments of ``algorithm.init`` after the key (e.g. a network's parameters)."""
    del rng, config
    return ()

  def init_state(self, rng: jax.Array, config: ml_collections.ConfigDict) -> AlgorithmState:
    return AlgorithmState.create(self.algorithm.init(rng, *self.init_args(rng, config)), rng)

  def train_step(self, state: AlgorithmState, batch: PyTree):
    inner, info = self.algorithm.step(state.step_rng(), state.inner, batch)
    if hasattr(info, "_asdict"):  # a NamedTuple of diagnostics: logged by field name
      info = info._asdict()
    return state.replace(step=state.step + 1, inner=inner), info
