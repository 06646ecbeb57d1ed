"""Maximum mean discrepancy between two samples (Gretton et al. 2012)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from stein_jax import kernels
from stein_jax import stein


def mmd(
  x: jax.Array,
  y: jax.Array,
  bandwidth="median",
  kernel=None,
  unbiased: bool = True,
  *,
  block_size=None,
  memory_budget_bytes: int = stein.DEFAULT_MEMORY_BUDGET_BYTES,
) -> jax.Array:
  """Squared MMD between samples x [n, d] and y [m, d].

  MMD^2 = E k(x, x') + E k(y, y') - 2 E k(x, y). The unbiased estimator drops the
  diagonal terms of the within-sample averages (it can be slightly negative). The
  ``"median"`` bandwidth is taken on the pooled sample, so it does not favour either.

  Large samples are tiled like the SVGD direction: the three kernel sums are one
  symmetric kernel product over the pooled sample z = [x; y], K_zz @ [1_x, 1_y]
  (indicator columns), each tile pair computed once and never an (n + m)^2 array
  (``stein._symmetric_kernel_product``; differentiable with O(n + m) memory).

  Args:
    x, y: samples; leading dimension is the sample axis.
    bandwidth: "median", "median_log", a positive float or a callable (as for SVGD).
    kernel: None (RBF), "imq" or a RadialKernel.
    unbiased: U-statistic (True) or V-statistic (False).
    block_size: None (automatic: dense while its kernel matrices fit
      ``memory_budget_bytes``, tiled above), an int or (rows, cols) tile to force the
      tiled form, 0 to force the dense form (as for :func:`stein_jax.svgd_direction`).
    memory_budget_bytes: budget for the dense form's kernel matrices.

  Returns:
    scalar MMD^2.
  """
  if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
    raise ValueError(f"mmd needs x [n, d] and y [m, d]; got {x.shape} and {y.shape}.")
  n, m = x.shape[0], y.shape[0]
  if unbiased and (n < 2 or m < 2):
    raise ValueError("the unbiased MMD needs at least 2 points in each sample.")
  kern = kernels.get_kernel(kernel)
  kernels.check_bandwidth(bandwidth)
  pooled = jnp.concatenate([x, y], 0)
  h = kernels.resolve_bandwidth(bandwidth, pooled)
  c = jnp.mean(pooled, 0)
  block = stein.choose_block(n + m, pooled.dtype, 1, None, memory_budget_bytes, block_size)
  if block is not None:
    return _tiled_mmd(pooled - c, h, n=n, kernel=kern, unbiased=unbiased, block=block)
  x, y = x - c, y - c
  kxx = kern.profile(kernels.pairwise_sq_dists(x, x), h)
  kyy = kern.profile(kernels.pairwise_sq_dists(y, y), h)
  kxy = kern.profile(kernels.pairwise_sq_dists(x, y), h)
  if unbiased:
    sxx = (jnp.sum(kxx) - jnp.trace(kxx)) / (n * (n - 1))
    syy = (jnp.sum(kyy) - jnp.trace(kyy)) / (m * (m - 1))
  else:
    sxx, syy = jnp.mean(kxx), jnp.mean(kyy)
  return sxx + syy - 2.0 * jnp.mean(kxy)


@functools.partial(jax.jit, static_argnames=("n", "kernel", "unbiased", "block"))
def _tiled_mmd(z, h, *, n, kernel, unbiased, block):
  """MMD^2 from the pooled, centred sample z [n + m, d] (x = z[:n]) by one symmetric tiled kernel product."""
  m = z.shape[0] - n
  is_x = (jnp.arange(z.shape[0]) < n).astype(z.dtype)[:, None]
  sums = stein._symmetric_kernel_product(
    z, (jnp.concatenate([is_x, 1.0 - is_x], -1),), h, (kernel.profile,), block, jax.lax.Precision.HIGHEST
  )
  kxx, kxy, kyy = jnp.sum(sums[:n, 0]), jnp.sum(sums[:n, 1]), jnp.sum(sums[n:, 1])
  if unbiased:
    k0 = kernel.profile(jnp.zeros((), z.dtype), h)  # the diagonal k(z_i, z_i)
    sxx, syy = (kxx - n * k0) / (n * (n - 1)), (kyy - m * k0) / (m * (m - 1))
  else:
    sxx, syy = kxx / n**2, kyy / m**2
  return sxx + syy - 2.0 * kxy / (n * m)
