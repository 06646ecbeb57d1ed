"""Reopen a finished (or running) run read-only: rebuild its experiment from run.json, restore a checkpoint.

Evaluation tools (a posterior check, a full-test-set bound, a gradient study) start from a run's
workdir. :func:`load_run` reads ``RUN/run.json`` (written by the loop), rebuilds the experiment
with the caller's ``build`` (the experiment family's constructor), checks that the rebuilt run has
the stored fingerprint, and restores one checkpoint (the newest, or ``step``) without touching the
workdir (a damaged checkpoint is reported, never moved).
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable, Mapping, NamedTuple, Optional

import jax
import ml_collections

from stein_jax.train import checkpoint as checkpoint_lib
from stein_jax.train import config as config_lib
from stein_jax.train import loop
from stein_jax.train import sharding as sharding_lib

RUN_FILE = loop.RUN_FILE


class RunLoadError(ValueError):
  """A run that cannot be reopened: no run.json or checkpoint, another experiment, a changed code."""


class Run(NamedTuple):
  """A trained run, rebuilt: its experiment object, restored state and metadata."""

  name: str
  experiment: Any
  state: Any
  step: int
  config: ml_collections.ConfigDict


def read_record(run_dir: str) -> dict:
  """RUN/run.json (experiment name, defining config, fingerprint), or a :class:`RunLoadError`."""
  if not run_dir:
    raise RunLoadError("a run directory is required: the --workdir of a trained run.")
  run_dir = os.path.abspath(run_dir)
  if not os.path.isdir(run_dir):
    raise RunLoadError(f"run_dir {run_dir} is not a directory.")
  path = os.path.join(run_dir, RUN_FILE)
  if not os.path.exists(path):
    raise RunLoadError(f"run_dir {run_dir} holds no trained model (no {RUN_FILE}); train one first.")
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, json.JSONDecodeError) as e:
    raise RunLoadError(f"cannot read {path} ({e}).") from e


def load_run(
  run_dir: str,
  build: Callable[[str, ml_collections.ConfigDict, str], Any],
  *,
  supported: tuple[str, ...],
  defaults: Optional[Callable[[str, str], Mapping[str, Any]]] = None,
  step: Optional[int] = None,
  experiment_type: Optional[Callable[[str], type]] = None,
) -> Run:
  """Rebuilds the run in ``run_dir`` and restores its newest checkpoint (or ``step``).

  Args:
    run_dir: the run's workdir.
    build: ``build(name, config, run_dir) -> experiment`` for the experiment names in ``supported``.
    supported: the experiment names the caller can rebuild (another run is a clear error).
    defaults: ``defaults(name, run_dir) -> {key: value}`` for the keys run.json leaves out (the
      resumable ones, which never change the model or its data; keys by their path in the
      config, ``"eval.samples"``); run.json's own values win.
    step: a checkpoint step; ``None``: the newest.
    experiment_type: ``experiment_type(name)``, the class ``build`` makes for ``name``: its
      ``legacy_key_names`` turn run.json's flat names back into the nested config's paths and its
      ``legacy_defaults`` and ``record_defaults`` fill the keys a run.json written before they existed
      lacks (:meth:`~stein_jax.train.experiment.Experiment.config_from_record`). ``None``: run.json's
      keys are the config's, unchanged.

  Raises:
    RunLoadError: no such directory, no run.json or checkpoint, an unsupported experiment, a
      rebuild whose fingerprint differs from the stored one, or an unreadable checkpoint.
  """
  record = read_record(run_dir)
  run_dir = os.path.abspath(run_dir)
  name = record.get("experiment")
  if name not in supported:
    raise RunLoadError(
      f"run_dir {run_dir} is a run of experiment {name!r}; this tool supports " f"{', '.join(supported)}."
    )
  ckpt_dir = os.path.join(run_dir, checkpoint_lib.CHECKPOINT_SUBDIR)
  if not (os.path.isdir(ckpt_dir) and any(n.isdigit() for n in os.listdir(ckpt_dir))):
    raise RunLoadError(
      f"run_dir {run_dir} holds no trained model (no checkpoint in {ckpt_dir}); "
      "let the run finish or save a checkpoint first."
    )
  extra = defaults(name, run_dir) if defaults else {}
  stored = record.get("config", {})
  unrecorded = ()
  if experiment_type is not None:
    cfg_dict = experiment_type(name).config_from_record(stored, extra)
    unrecorded = experiment_type(name).unrecorded_keys(stored)
  else:
    cfg_dict = config_lib.config_from_record(stored, defaults=extra)
  cfg = ml_collections.ConfigDict(cfg_dict)
  experiment = build(name, cfg, run_dir)
  # Keys filled in for a run older than them were never part of its fingerprint.
  defining = {k: v for k, v in experiment.defining_config(cfg).items() if k not in unrecorded}
  if experiment.name != name or config_lib.fingerprint(experiment.name, defining) != record.get("fingerprint"):
    diff = sorted(experiment.key_name(k) for k in set(stored) | set(defining) if stored.get(k) != defining.get(k))
    raise RunLoadError(
      f"rebuilding the run in {run_dir} from its run.json gave another run "
      f"(experiment {experiment.name!r}; keys differing: {diff or 'none'}); the "
      "experiment code changed since it was trained."
    )
  rng = jax.random.key(cfg.seed)
  abstract = jax.eval_shape(lambda k: jax.tree.map(loop._strong, experiment.init_state(k, cfg)), rng)  # pylint: disable=protected-access
  rep = sharding_lib.replicated(sharding_lib.make_mesh())
  abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=rep), abstract)
  ckpt = checkpoint_lib.Checkpointer(run_dir)
  try:
    steps = ckpt.all_steps()
    if not steps:
      raise RunLoadError(f"run_dir {run_dir} holds no complete checkpoint; let the run finish.")
    if step is not None and step not in steps:
      raise RunLoadError(f"run_dir {run_dir} has no checkpoint at step {step}; it has {steps}.")
    step = steps[-1] if step is None else step
    legacy = getattr(experiment, "legacy_state_layout", lambda: None)()
    try:
      restored = ckpt.restore_step_with_meta(step, abstract, legacy)
    except Exception as e:  # pylint: disable=broad-except
      raise RunLoadError(
        f"cannot restore checkpoint {step} of {run_dir} " f"({type(e).__name__}: {str(e)[:200]})."
      ) from e
  finally:
    ckpt.close()
  return Run(name, experiment, restored.state, restored.step, cfg)
