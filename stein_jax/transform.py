"""SVGD as an optax gradient transformation.

SVGD moves particles ``x_i`` along ``phi(x_i)`` (eq. (5) of Liu & Wang 2017); optax minimises, so a transformation
that maps per-particle gradients of ``-log p`` to ``-phi`` makes an SVGD sampler an ordinary optax chain:

    tx = optax.chain(stein_jax.svgd_transform(), optax.sgd(eps))                 # x <- x + eps phi
    tx = optax.chain(stein_jax.svgd_transform(SteinKernel("imq")), optax.adam(1e-2))   # Adam on -phi
    updates, state = tx.update(grads, state, particles)   # grads: grad of -log p at each particle

Particles are ``params``: an array ``[n, d]`` or a pytree whose leaves share a leading particle axis ``n`` (e.g. M
copies of a decoder's weights, Pu et al. 2017 sec. 3); the kernel acts on the flattened particles. The kernel is a
:class:`stein_jax.SteinKernel` (or its fields as keywords); the bandwidth it resolves is optionally multiplied by a
schedule ``count -> factor`` (an optax-style schedule, e.g. ``optax.exponential_decay(4.0, 100, 0.5)`` for an
annealed kernel that starts 4x wider than the rule). The state is the step count only.

This is the one place in the library where the sign convention (optax descends, SVGD ascends) is written: every
SVGD-based step (the sampler, decoder particles in Stein VAE / VIWAE and the semi-supervised model) is a chain of
this transformation and an optimizer fed the gradient of its loss ``-log p``.

References:
  Liu, Q. and Wang, D. "Stein Variational Gradient Descent", 2016; "Learning Deep Energy Models", 2017, eq. (5).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp
import optax

from stein_jax import kernels as kernels_lib
from stein_jax import stein

PyTree = Any


class SVGDTransformState(NamedTuple):
  """``count``: number of updates so far (the argument of the bandwidth schedule)."""

  count: jax.Array


def svgd_transform(
  kernel: Union[None, str, kernels_lib.RadialKernel, stein.SteinKernel] = None,
  *,
  bandwidth_schedule: Optional[Callable[[jax.Array], jax.Array]] = None,
  **kernel_fields,
) -> optax.GradientTransformation:
  """Per-particle gradients of ``-log p`` -> ``-phi``, the negated SVGD direction (eq. (5)).

  Args:
    kernel: a :class:`stein_jax.SteinKernel`, or None / "rbf" / "imq" / a RadialKernel with the other fields
      of a SteinKernel as keywords (``bandwidth``, ``metric``, ``repulsion``, ``normalization``, ``block_size``).
    bandwidth_schedule: optional ``count -> factor``; the bandwidth used at update ``count`` is ``factor * h``
      (``h`` from the kernel's rule, in whitened coordinates for the diagonal metric).
    **kernel_fields: SteinKernel fields when ``kernel`` is not a SteinKernel.

  Returns:
    An ``optax.GradientTransformation``; ``update(grads, state, params)`` needs ``params`` (the particles).
  """
  spec = stein.as_stein_kernel(kernel, **kernel_fields)

  def init_fn(params):
    del params
    return SVGDTransformState(count=jnp.zeros((), jnp.int32))

  def update_fn(updates, state, params=None):
    if params is None:
      raise ValueError("svgd_transform needs the particles: call update(grads, state, params).")
    scores = jax.tree.map(jnp.negative, updates)
    factor = None if bandwidth_schedule is None else bandwidth_schedule(state.count)
    phi = spec.direction(params, scores, bandwidth_scale=factor)
    return jax.tree.map(jnp.negative, phi), SVGDTransformState(count=optax.safe_increment(state.count))

  return optax.GradientTransformation(init_fn, update_fn)
