"""SVGD as a sampler driven by any optax optimizer (Liu & Wang 2016, Algorithm 1).

A sampler is a pair of pure functions, in the style of optax and blackjax:

    sampler = svgd(score_fn, optax.adam(1e-1))        # = optax.chain(svgd_transform(), adam)
    state = sampler.init(particles)
    state, info = sampler.step(state)                 # or sampler.step(state, batch)
    state, trace = run(sampler, state, num_steps=500)  # lax.scan

The particles move along phi (:func:`stein_jax.svgd_direction`); optax minimises,
so the optimizer is fed -phi. With ``optax.sgd(eps)`` a step is exactly
x <- x + eps * phi(x). Minibatch score estimates are supported: ``score_fn`` takes
extra arguments (a minibatch), given per step to ``step`` or stacked for ``run``.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp
import optax

from stein_jax import kernels as kernels_lib
from stein_jax import stein
from stein_jax import transform

Array = jax.Array
PyTree = Any


class SVGDState(NamedTuple):
  """Sampler state: the particles (array [n, d] or a pytree) and optimizer state."""

  particles: PyTree
  opt_state: optax.OptState
  step: Array


class SVGDInfo(NamedTuple):
  """Per-step diagnostics: the root-mean-square entry of the direction phi."""

  direction_norm: Array


class SVGDSampler(NamedTuple):
  init: Callable[[PyTree], SVGDState]
  step: Callable[..., tuple]


def scores_from_logdensity(logdensity_fn: Callable[..., Array]) -> Callable[..., Array]:
  """grad log p for a batch of particles [n, d], from log p of one particle [d]."""
  grad = jax.grad(logdensity_fn)
  return lambda x, *args: jax.vmap(lambda xi: grad(xi, *args))(x)


def svgd(score_fn: Callable[..., PyTree], optimizer: optax.GradientTransformation,
         kernel: Union[None, str, kernels_lib.RadialKernel, stein.SteinKernel] = None, *,
         bandwidth_schedule: Optional[Callable[[Array], Array]] = None, **kernel_fields) -> SVGDSampler:
  """Builds an SVGD sampler: ``optax.chain(svgd_transform(kernel), optimizer)`` on the particles.

  Args:
    score_fn: ``score_fn(particles, *args) -> scores`` with scores shaped like the
      particles (grad log p, or an unbiased minibatch estimate of it). Use
      :func:`scores_from_logdensity` to build one from a log density of one particle.
    optimizer: any optax transformation; it receives -phi as the "gradient".
    kernel: a :class:`stein_jax.SteinKernel`, or a kernel name with the other SteinKernel
      fields (bandwidth, metric, repulsion, normalization, block_size) as keywords.
    bandwidth_schedule: optional ``count -> factor`` of the bandwidth (:func:`svgd_transform`).

  Returns:
    An :class:`SVGDSampler` (init, step); ``step(state, *args) -> (state, info)``. The
    optimizer state is the chain's state ``(svgd_transform state, optimizer state)``.
  """
  svgd_tx = transform.svgd_transform(kernel, bandwidth_schedule=bandwidth_schedule, **kernel_fields)
  tx = optax.chain(svgd_tx, optimizer)

  def init(particles: PyTree) -> SVGDState:
    return SVGDState(particles, tx.init(particles), jnp.zeros((), jnp.int32))

  def step(state: SVGDState, *args) -> tuple[SVGDState, SVGDInfo]:
    neg_scores = jax.tree_util.tree_map(jnp.negative, score_fn(state.particles, *args))  # grad of -log p
    # The chain's two stages applied one after the other (as optax.chain does), so that
    # the direction -phi between them can be reported without computing it twice.
    svgd_state, opt_state = state.opt_state
    neg_phi, svgd_state = svgd_tx.update(neg_scores, svgd_state, state.particles)
    updates, opt_state = optimizer.update(neg_phi, opt_state, state.particles)
    particles = optax.apply_updates(state.particles, updates)
    sq = sum(jnp.sum(p**2) for p in jax.tree_util.tree_leaves(neg_phi))
    size = sum(p.size for p in jax.tree_util.tree_leaves(neg_phi))
    return (SVGDState(particles, (svgd_state, opt_state), state.step + 1),
            SVGDInfo(direction_norm=jnp.sqrt(sq / size)))

  return SVGDSampler(init, step)


def run(sampler: SVGDSampler, state: SVGDState, num_steps: Optional[int] = None,
        batches: Optional[PyTree] = None,
        trace_fn: Optional[Callable[[SVGDState, SVGDInfo], PyTree]] = None,
        ) -> tuple[SVGDState, PyTree]:
  """Runs the sampler with ``lax.scan`` (compiled once, whatever num_steps).

  Args:
    sampler: from :func:`svgd`.
    state: initial state.
    num_steps: number of steps; may be omitted when ``batches`` is given.
    batches: optional pytree whose leaves have a leading axis of length num_steps;
      slice t is passed to ``score_fn`` at step t (minibatch scores).
    trace_fn: ``(state, info) -> pytree`` recorded every step (default: info).

  Returns:
    (final state, stacked trace).
  """
  if batches is None and num_steps is None:
    raise ValueError("run() needs num_steps or batches.")
  if batches is not None:
    lengths = {leaf.shape[0] for leaf in jax.tree_util.tree_leaves(batches)}
    if len(lengths) != 1 or (num_steps is not None and lengths != {num_steps}):
      raise ValueError(f"batches leaves must share a leading axis of length num_steps; got "
                       f"lengths {sorted(lengths)} and num_steps={num_steps}.")
  trace_fn = trace_fn or (lambda s, info: info)

  def body(state, batch):
    args = () if batch is None else (batch,)
    state, info = sampler.step(state, *args)
    return state, trace_fn(state, info)

  if batches is None:
    return jax.lax.scan(lambda c, _: body(c, None), state, None, length=num_steps)
  return jax.lax.scan(body, state, batches)
