"""SVGD as an optax gradient transformation.

SVGD moves particles ``x_i`` along ``phi(x_i)`` (eq. (5) of Liu & Wang 2017); optax minimises, so a transformation
that maps per-particle gradients of ``-log p`` to ``-phi`` makes an SVGD sampler an ordinary optax chain:

    tx = optax.chain(stein_jax.svgd_transform(bandwidth="median"), optax.sgd(eps))      # x <- x + eps phi
    tx = optax.chain(stein_jax.svgd_transform(), optax.adam(1e-2))                      # Adam on -phi
    updates, state = tx.update(grads, state, particles)   # grads: grad of -log p at each particle

Particles are ``params``: an array ``[n, d]`` or a pytree whose leaves share a leading particle axis ``n`` (e.g. M
copies of a decoder's weights, Pu et al. 2017 sec. 3); the kernel acts on the flattened particles. The bandwidth is
a rule (``"median"``, ``"median_log"``, ``"median_log1p"``), a number or a callable, optionally multiplied by a
schedule ``count -> factor`` (an optax-style schedule, e.g. ``optax.exponential_decay(4.0, 100, 0.5)`` for an
annealed kernel that starts 4x wider than the rule). The state is the step count only.

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
    *,
    kernel: Union[None, str, kernels_lib.RadialKernel] = None,
    bandwidth: kernels_lib.Bandwidth = "median",
    bandwidth_schedule: Optional[Callable[[jax.Array], jax.Array]] = None,
    repulsion: Union[bool, float] = True,
    normalization: str = "mean",
) -> optax.GradientTransformation:
  """Per-particle gradients of ``-log p`` -> ``-phi``, the negated SVGD direction (eq. (5)).

  Args:
    kernel: None / "rbf" (default), "imq", or a :class:`stein_jax.kernels.RadialKernel`.
    bandwidth: rule name, positive number or callable ``x [n, d] -> h`` (see :func:`stein_jax.svgd_direction`).
    bandwidth_schedule: optional ``count -> factor``; the bandwidth used at update ``count`` is ``factor * h``.
    repulsion: True, False (the kernel-off ablation) or a multiplier of the grad-k term.
    normalization: "mean" (eq. (5)) or "row_sum" (the authors' SteinGAN code).

  Returns:
    An ``optax.GradientTransformation``; ``update(grads, state, params)`` needs ``params`` (the particles).
  """
  kernel = kernels_lib.get_kernel(kernel)
  kernels_lib.check_bandwidth(bandwidth)
  if normalization not in stein.NORMALIZATIONS:
    raise ValueError(f"normalization must be one of {stein.NORMALIZATIONS}; got {normalization!r}.")

  def init_fn(params):
    del params
    return SVGDTransformState(count=jnp.zeros((), jnp.int32))

  def update_fn(updates, state, params=None):
    if params is None:
      raise ValueError("svgd_transform needs the particles: call update(grads, state, params).")
    scores = jax.tree.map(lambda g: -g, updates)
    h = bandwidth
    if bandwidth_schedule is not None:
      flat = jnp.concatenate([jnp.reshape(l, (jnp.shape(l)[0], -1)) for l in jax.tree.leaves(params)], axis=1)
      h = bandwidth_schedule(state.count) * kernels_lib.resolve_bandwidth(bandwidth, flat)
    phi = stein.svgd_direction(params, scores, bandwidth=h, kernel=kernel, repulsion=repulsion,
                               normalization=normalization)
    return jax.tree.map(lambda p: -p, phi), SVGDTransformState(count=optax.safe_increment(state.count))

  return optax.GradientTransformation(init_fn, update_fn)
