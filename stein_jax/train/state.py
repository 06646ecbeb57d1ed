"""Training state: one pytree holding everything a step reads and writes.

The optimizer (an ``optax.GradientTransformation``) is *not* part of the state:
it is a pair of functions, closed over by the experiment's ``train_step``. This
keeps the state a plain pytree of arrays that can be checkpointed, donated and
sharded without special cases.
"""

from __future__ import annotations

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax

from stein_jax import algorithm as algorithm_lib

PyTree = Any


class TrainState(flax.struct.PyTreeNode):
  """State of one run.

  Attributes:
    step: int32 scalar array, number of optimizer steps taken so far.
    params: pytree of trainable parameters.
    opt_state: optax state for ``params`` (``tx.init(params)``).
    rng: the run's *base* key (a typed ``jax.random.key``). It never changes;
      a step derives its own key with :meth:`step_rng`, i.e.
      ``jax.random.fold_in(rng, step)``, so a resumed run draws the same
      randomness as an uninterrupted one.
    extra: experiment-specific pytree (e.g. decoder particles, EMA params,
      a running bandwidth); ``None`` if unused.
  """

  step: jax.Array
  params: PyTree
  opt_state: PyTree
  rng: jax.Array
  extra: PyTree = None

  @classmethod
  def create(
    cls, *, params: PyTree, tx: optax.GradientTransformation, rng: jax.Array, extra: PyTree = None
  ) -> "TrainState":
    """Returns a step-0 state with ``opt_state = tx.init(params)``.

    Args:
      params: pytree of parameters.
      tx: the optimizer; only used to initialise ``opt_state``.
      rng: base key; a raw ``uint32[2]`` key is converted to a typed key.
      extra: experiment-specific pytree.
    """
    return cls(
      step=jnp.zeros((), jnp.int32), params=params, opt_state=tx.init(params), rng=as_typed_key(rng), extra=extra
    )

  def step_rng(self, *names: int) -> jax.Array:
    """Key for this step: ``fold_in(rng, step)``, then ``fold_in`` each name.

    Args:
      *names: optional integers that separate independent streams within a
        step (e.g. ``state.step_rng(0)`` for dropout, ``step_rng(1)`` for noise).
    """
    return _step_rng(self.rng, self.step, names)

  def apply_gradients(self, grads: PyTree, tx: optax.GradientTransformation, **changes) -> "TrainState":
    """One optimizer update; increments ``step``.

    Args:
      grads: pytree matching ``params``.
      tx: the optimizer the state was created with.
      **changes: other fields to replace (typically ``extra=...``).
    """
    updates, opt_state = tx.update(grads, self.opt_state, self.params)
    params = optax.apply_updates(self.params, updates)
    return self.replace(step=self.step + 1, params=params, opt_state=opt_state, **changes)


class AlgorithmState(flax.struct.PyTreeNode):
  """State of a run of an :class:`~stein_jax.algorithm.Algorithm`: its state carried whole.

  Attributes:
    step: int32 scalar array, number of steps taken so far.
    inner: the algorithm's own state (any pytree, e.g. a ``SteinVAEState``).
    rng: the run's base key (typed), never changed; step t uses :meth:`step_rng`.
  """

  step: jax.Array
  inner: PyTree
  rng: jax.Array

  @classmethod
  def create(cls, inner: PyTree, rng: jax.Array) -> "AlgorithmState":
    """A step-0 state around the algorithm's ``init`` output."""
    return cls(step=jnp.zeros((), jnp.int32), inner=inner, rng=as_typed_key(rng))

  def step_rng(self, *names: int) -> jax.Array:
    """Key for this step (as :meth:`TrainState.step_rng`)."""
    return _step_rng(self.rng, self.step, names)


def train_state_layout(split, join, *, extra: bool = False):
  """The ``(to_legacy, from_legacy)`` pair of an algorithm whose runs were saved as a :class:`TrainState`.

  Args:
    split: ``inner -> (params, opt_state)`` (with ``extra``: ``(params, opt_state, extra)``): where the old
      ``TrainState`` kept the fields.
    join: ``(step, params, opt_state) -> inner`` (with ``extra``: ``(step, params, opt_state, extra)``): the
      algorithm's state from them.
    extra: whether the old state used its ``extra`` field.

  Returns:
    The pair for :meth:`stein_jax.train.Checkpointer.restore_latest` (``legacy=``); both
    functions only rearrange leaves (they work on ``ShapeDtypeStruct`` trees).
  """

  def to_legacy(state: AlgorithmState) -> TrainState:
    parts = split(state.inner)
    params, opt_state, old_extra = parts if extra else (*parts, None)
    return TrainState(step=state.step, params=params, opt_state=opt_state, rng=state.rng, extra=old_extra)

  def from_legacy(old: TrainState) -> AlgorithmState:
    # The inner state's own step counter gets a copy: one buffer in two leaves cannot be donated.
    args = (jnp.array(old.step, copy=True), old.params, old.opt_state) + ((old.extra,) if extra else ())
    return AlgorithmState(step=old.step, inner=join(*args), rng=old.rng)

  return to_legacy, from_legacy


def params_opt_state_layout(make):
  """:func:`train_state_layout` of a state with fields ``params``, ``opt_state``, ``step``:
  ``make(params, opt_state, step)`` builds it (e.g. a ``PFAState``)."""
  return train_state_layout(lambda s: (s.params, s.opt_state), lambda step, p, o: make(p, o, step))


def _step_rng(rng: jax.Array, step: jax.Array, names: tuple[int, ...]) -> jax.Array:
  key = algorithm_lib.step_key(rng, step)  # the one place a key is derived from a step count
  for n in names:
    key = jax.random.fold_in(key, n)
  return key


def as_typed_key(rng: jax.Array) -> jax.Array:
  """Returns ``rng`` as a typed key array (wrapping raw ``uint32[2]`` data)."""
  if jnp.issubdtype(rng.dtype, jax.dtypes.prng_key):
    return rng
  return jax.random.wrap_key_data(rng)
