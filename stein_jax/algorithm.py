"""One protocol for every method: ``init(rng, ...) -> state``, ``step(rng, state, batch) -> (state, info)``.

Every sampler and trainer of the library (the SVGD sampler, amortized SVGD, Stein VAE /
VIWAE and the VAE / IWAE baselines, the semi-supervised models, the PFA encoders, the
energy-model rules, SteinGAN / SteinCD-GAN) is an :class:`Algorithm`, in the style of
blackjax's ``SamplingAlgorithm`` and optax's ``GradientTransformation``::

    algorithm = stein_jax.objectives.stein_vae.make_trainer("stein_vae", model, optax.adam(2e-4))
    state = algorithm.init(rng)                         # any pytree
    for t in range(num_steps):
      state, info = algorithm.step(step_key(rng, t), state, {"x": x_t})

* ``init(rng, *args)``: the step-0 state; ``args`` are what the method needs besides
  the key (the SVGD sampler: the initial particles; the energy rules: the model's
  parameters). A deterministic ``init`` ignores ``rng`` (``None`` is accepted).
* ``step(rng, state, batch)``: one step. ``rng`` is *this step's* key: the algorithm
  uses it as given and never derives it from a step count itself. ``batch`` is a dict
  of arrays whose keys each algorithm documents (``{"x": x}`` for the density models),
  or ``None`` for methods without data. ``info`` is a pytree of scalars (diagnostics).

Keys come from a step count in one place, :func:`step_key` (``fold_in(rng, t)``): the
experiment platform's ``TrainState.step_rng`` and :func:`run` both call it, so a
resumed run draws exactly the randomness of an uninterrupted one.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional

import jax

Array = jax.Array
PyTree = Any


class Algorithm(NamedTuple):
  """A method as a pair of pure functions (see the module docstring).

  Attributes:
    init: ``init(rng, *args) -> state``.
    step: ``step(rng, state, batch) -> (state, info)``; jit it at the edge.
  """

  init: Callable[..., PyTree]
  step: Callable[[Optional[Array], PyTree, Any], tuple[PyTree, PyTree]]


def step_key(rng: Optional[Array], step: Any) -> Optional[Array]:
  """The key of step ``step`` of a run with base key ``rng``: ``fold_in(rng, step)``.

  ``rng=None`` (a deterministic method) gives ``None``.
  """
  if rng is None:
    return None
  return jax.random.fold_in(rng, step)


def run(
  algorithm: Algorithm,
  rng: Optional[Array],
  state: PyTree,
  num_steps: Optional[int] = None,
  batches: Optional[PyTree] = None,
  trace_fn: Optional[Callable[[PyTree, PyTree], PyTree]] = None,
  start: int = 0,
) -> tuple[PyTree, PyTree]:
  """Runs ``algorithm`` from ``state`` with ``lax.scan`` (compiled once, whatever num_steps).

  Step t (counted from ``start``) receives ``step_key(rng, start + t)`` and slice t of
  ``batches``.

  Args:
    algorithm: any :class:`Algorithm`.
    rng: the run's base key (``None`` for a deterministic method).
    state: initial state.
    num_steps: number of steps; may be omitted when ``batches`` is given.
    batches: optional pytree whose leaves have a leading axis of length num_steps.
    trace_fn: ``(state, info) -> pytree`` recorded every step (default: info).
    start: the step count of ``state`` (so that a continued run draws fresh keys).

  Returns:
    (final state, stacked trace).
  """
  if batches is None and num_steps is None:
    raise ValueError("run() needs num_steps or batches.")
  if batches is not None:
    lengths = {leaf.shape[0] for leaf in jax.tree_util.tree_leaves(batches)}
    if len(lengths) != 1 or (num_steps is not None and lengths != {num_steps}):
      raise ValueError(
        f"batches leaves must share a leading axis of length num_steps; got "
        f"lengths {sorted(lengths)} and num_steps={num_steps}."
      )
    num_steps = lengths.pop()
  trace_fn = trace_fn or (lambda s, info: info)

  def body(state, xs):
    t, batch = xs
    state, info = algorithm.step(step_key(rng, start + t), state, batch)
    return state, trace_fn(state, info)

  ts = jax.numpy.arange(num_steps)
  return jax.lax.scan(body, state, (ts, batches))
