"""Maximum mean discrepancy between two samples (Gretton et al. 2012)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from stein_jax import kernels


def mmd(x: jax.Array, y: jax.Array, bandwidth="median", kernel=None, unbiased: bool = True) -> jax.Array:
  """Squared MMD between samples x [n, d] and y [m, d].

  MMD^2 = E k(x, x') + E k(y, y') - 2 E k(x, y). The unbiased estimator drops the
  diagonal terms of the within-sample averages (it can be slightly negative). The
  ``"median"`` bandwidth is taken on the pooled sample, so it does not favour either.

  Args:
    x, y: samples; leading dimension is the sample axis.
    bandwidth: "median", "median_log", a positive float or a callable (as for SVGD).
    kernel: None (RBF), "imq" or a RadialKernel.
    unbiased: U-statistic (True) or V-statistic (False).

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
