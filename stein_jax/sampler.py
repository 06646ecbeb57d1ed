"""SVGD as a sampler driven by any optax optimizer (Liu & Wang 2016, Algorithm 1).

A sampler is a :class:`stein_jax.algorithm.Algorithm`, the protocol of every method here::

    smp = svgd(score_fn, optax.adam(1e-1))            # = optax.chain(svgd_transform(), adam)
    state = smp.init(None, particles)                  # deterministic: no key needed
    state, info = smp.step(None, state)                # or smp.step(None, state, batch)
    state, trace = run(smp, None, state, num_steps=500)  # lax.scan

The particles move along phi (:func:`stein_jax.svgd_direction`); optax minimises,
so the optimizer is fed -phi. With ``optax.sgd(eps)`` a step is exactly
x <- x + eps * phi(x). Minibatch score estimates are supported: ``score_fn`` takes
a second argument (the minibatch, any pytree), given per step to ``step`` or
stacked for ``run``.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp
import optax

from stein_jax import algorithm as algorithm_lib
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


SVGDSampler = algorithm_lib.Algorithm  # init(rng, particles), step(rng, state, batch=None)
run = algorithm_lib.run


def scores_from_logdensity(logdensity_fn: Callable[..., Array]) -> Callable[..., Array]:
  """grad log p for a batch of particles [n, d], from log p of one particle [d]."""
  grad = jax.grad(logdensity_fn)
  return lambda x, *args: jax.vmap(lambda xi: grad(xi, *args))(x)


def svgd(
  score_fn: Callable[..., PyTree],
  optimizer: optax.GradientTransformation,
  kernel: Union[None, str, kernels_lib.RadialKernel, stein.SteinKernel] = None,
  *,
  bandwidth_schedule: Optional[Callable[[Array], Array]] = None,
  **kernel_fields,
) -> SVGDSampler:
  """Builds an SVGD sampler: ``optax.chain(svgd_transform(kernel), optimizer)`` on the particles.

  Args:
    score_fn: ``score_fn(particles) -> scores`` (or ``score_fn(particles, batch)`` when
      ``step`` is given a batch) with scores shaped like the particles (grad log p, or an
      unbiased minibatch estimate of it). Use
      :func:`scores_from_logdensity` to build one from a log density of one particle.
    optimizer: any optax transformation; it receives -phi as the "gradient".
    kernel: a :class:`stein_jax.SteinKernel`, or a kernel name with the other SteinKernel
      fields (bandwidth, metric, repulsion, normalization, block_size) as keywords.
    bandwidth_schedule: optional ``count -> factor`` of the bandwidth (:func:`svgd_transform`).

  Returns:
    An :class:`~stein_jax.algorithm.Algorithm`: ``init(rng, particles)`` and
    ``step(rng, state, batch=None) -> (state, SVGDInfo)``; SVGD is deterministic, so
    ``rng`` is unused (pass ``None``). The optimizer state is the chain's state
    ``(svgd_transform state, optimizer state)``.
  """
  svgd_tx = transform.svgd_transform(kernel, bandwidth_schedule=bandwidth_schedule, **kernel_fields)
  tx = optax.chain(svgd_tx, optimizer)

  def init(rng: Optional[Array], particles: PyTree) -> SVGDState:
    del rng  # deterministic
    return SVGDState(particles, tx.init(particles), jnp.zeros((), jnp.int32))

  def step(rng: Optional[Array], state: SVGDState, batch: Any = None) -> tuple[SVGDState, SVGDInfo]:
    del rng  # deterministic
    args = () if batch is None else (batch,)
    neg_scores = jax.tree_util.tree_map(jnp.negative, score_fn(state.particles, *args))  # grad of -log p
    # The chain's two stages applied one after the other (as optax.chain does), so that
    # the direction -phi between them can be reported without computing it twice.
    svgd_state, opt_state = state.opt_state
    neg_phi, svgd_state = svgd_tx.update(neg_scores, svgd_state, state.particles)
    updates, opt_state = optimizer.update(neg_phi, opt_state, state.particles)
    particles = optax.apply_updates(state.particles, updates)
    sq = sum(jnp.sum(p**2) for p in jax.tree_util.tree_leaves(neg_phi))
    size = sum(p.size for p in jax.tree_util.tree_leaves(neg_phi))
    return (SVGDState(particles, (svgd_state, opt_state), state.step + 1), SVGDInfo(direction_norm=jnp.sqrt(sq / size)))

  return algorithm_lib.Algorithm(init, step)
