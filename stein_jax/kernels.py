"""Kernels and bandwidth rules for Stein methods.

Every kernel here is *radial*: k(x, y) = kappa(||x - y||^2; h) for a profile kappa
of the squared distance r and a bandwidth h > 0. Writing kernels this way lets the
Stein routines in :mod:`stein_jax.stein` express all pairwise work as matrix
products, because

    grad_x k(x, y) = 2 kappa'(r) (x - y),
    trace(grad_x grad_y k(x, y)) = -2 d kappa'(r) - 4 r kappa''(r).

Kernels:
  * :func:`rbf`: k = exp(-r / h), the kernel of Liu & Wang (2016, 2017) and of
    Pu et al. (2017) sec. 5.
  * :func:`imq`: k = (1 + r / h)^beta, beta in (-1, 0), the inverse multiquadric
    of Gorham & Mackey (2017), whose KSD detects non-convergence.

Bandwidth rules (all return a finite, positive scalar; see :func:`resolve_bandwidth`):
  * ``"median"``: h = med^2, med the median pairwise Euclidean distance
    (Pu et al. 2017, sec. 5: "the median of pairwise distances"; squared so that
    r / h is dimensionless, which is what their code does).
  * ``"median_log"``: h = med^2 / log n (Liu & Wang 2017, sec. 5.1; the rule of
    the original SVGD paper, which makes sum_j k(x_i, x_j) ~ n * n^-1 ~ 1).
  * a positive float: a fixed h.
  * a callable ``x -> h``.

Edge cases, by design (documented values, never NaN or inf):
  * n = 1 (no pairs) or all particles identical (median 0): h = 1.0. Any positive h
    gives the same direction there (k = 1, zero repulsion), so 1.0 is a neutral choice.
  * huge distances: h is clipped to the largest finite value of the dtype.
  * tiny but non-zero distances: h is clipped below at the smallest normal number.
  * ``"median_log"`` with n = 2 uses log 2; the rule is never divided by log 1 = 0.

Feature kernels (SteinGAN, Liu & Wang sec. 5.2, puts the kernel on encoder
features g(x)) are handled by :func:`stein_jax.stein.svgd_direction` through its
``features`` argument, which differentiates through g.
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array
Bandwidth = Union[str, float, Callable[[Array], Array]]

# Above this many particles the median is taken over a deterministic strided
# subsample of this size: the median of 2^11 points has a relative standard error
# of about 3%, and an exact median of n = 1e5 points would need n^2 / 2 distances.
MEDIAN_MAX_POINTS = 2048


class RadialKernel(NamedTuple):
  """A kernel k(x, y) = profile(||x - y||^2, h).

  Attributes:
    name: short name, used in reprs and error messages.
    profile: kappa(r, h), elementwise.
    dprofile: d kappa / d r, elementwise.
    d2profile: d^2 kappa / d r^2, elementwise (needed by the kernel Stein discrepancy).
    dlog_profile: optional ``h -> c`` when kappa' = c * kappa (true for the RBF,
      c = -1/h). The Stein routines then need one kernel matrix instead of two.
  """

  name: str
  profile: Callable[[Array, Array], Array]
  dprofile: Callable[[Array, Array], Array]
  d2profile: Callable[[Array, Array], Array]
  dlog_profile: Optional[Callable[[Array], Array]] = None

  def __call__(self, x: Array, y: Array, h) -> Array:
    """k(x, y) for single points x, y of shape [d]."""
    return self.profile(jnp.sum((x - y) ** 2), h)

  def matrix(self, x: Array, y: Array, h) -> Array:
    """Kernel matrix [n, m] between points x [n, d] and y [m, d]."""
    return self.profile(pairwise_sq_dists(x, y), h)


@functools.lru_cache(maxsize=None)
def rbf() -> RadialKernel:
  """RBF kernel k(x, y) = exp(-||x - y||^2 / h) (eq. (5) of Liu & Wang 2017)."""
  return RadialKernel(
    name="rbf",
    profile=lambda r, h: jnp.exp(-r / h),
    dprofile=lambda r, h: -jnp.exp(-r / h) / h,
    d2profile=lambda r, h: jnp.exp(-r / h) / h**2,
    dlog_profile=lambda h: -1.0 / h,
  )


@functools.lru_cache(maxsize=None)
def imq(beta: float = -0.5) -> RadialKernel:
  """Inverse multiquadric k(x, y) = (1 + ||x - y||^2 / h)^beta, -1 < beta < 0.

  Gorham & Mackey (2017) show the IMQ kernel Stein discrepancy detects
  non-convergence where the RBF one may not. Cached per beta, like :func:`rbf`, so
  that jitted callers see the same (hashable) kernel and never retrace.
  """
  beta = float(beta)
  if not -1.0 < beta < 0.0:
    raise ValueError(f"imq(beta={beta}): beta must lie in (-1, 0).")
  return RadialKernel(
    name=f"imq(beta={beta})",
    profile=lambda r, h: (1.0 + r / h) ** beta,
    dprofile=lambda r, h: beta / h * (1.0 + r / h) ** (beta - 1.0),
    d2profile=lambda r, h: beta * (beta - 1.0) / h**2 * (1.0 + r / h) ** (beta - 2.0),
  )


KERNELS = {"rbf": rbf, "imq": imq}


def get_kernel(kernel: Union[None, str, RadialKernel]) -> RadialKernel:
  """Returns a :class:`RadialKernel` from None (RBF), a name, or a kernel."""
  if kernel is None:
    return rbf()
  if isinstance(kernel, RadialKernel):
    return kernel
  if isinstance(kernel, str) and kernel in KERNELS:
    return KERNELS[kernel]()
  raise ValueError(
    f"Unknown kernel {kernel!r}: use one of {sorted(KERNELS)} or a RadialKernel "
    "(stein_jax.kernels.rbf(), stein_jax.kernels.imq(beta))."
  )


def pairwise_sq_dists(x: Array, y: Array, precision=jax.lax.Precision.HIGHEST) -> Array:
  """Squared Euclidean distances [n, m] between x [n, d] and y [m, d], as a matmul.

  ||x||^2 + ||y||^2 - 2 x.y loses precision when points are far from the origin
  and close to each other; callers centre their particles first (the distances are
  translation invariant). Negative round-off is clipped to 0.
  """
  xx = jnp.sum(x * x, axis=-1)
  yy = jnp.sum(y * y, axis=-1)
  xy = jnp.matmul(x, y.T, precision=precision)
  return jnp.maximum(xx[:, None] + yy[None, :] - 2.0 * xy, 0.0)


def _subsample(x: Array, max_points: int) -> Array:
  n = x.shape[0]
  if n <= max_points:
    return x
  stride = -(-n // max_points)  # ceil: a deterministic, evenly spread subsample
  return x[::stride]


def median_sq_distance(x: Array, max_points: int = MEDIAN_MAX_POINTS) -> Array:
  """Median of the off-diagonal squared distances among the rows of x [n, d].

  Equals med^2 for med the median Euclidean distance when the number of pairs is odd
  (squaring is monotone); when it is even, the mean of the two middle squared distances,
  which is slightly larger than the square of the mean of the two middle distances.
  For n > max_points, taken over a deterministic strided subsample of the rows.
  Returns 0 for n = 1.
  """
  x = _subsample(x, max_points)
  n = x.shape[0]
  if n < 2:
    return jnp.zeros((), x.dtype)
  x = x - jnp.mean(x, axis=0)
  r = pairwise_sq_dists(x, x)
  iu = np.triu_indices(n, k=1)
  return _median_nonneg(r[iu])


def _kth_smallest_nonneg_f32(v: Array, k: int) -> Array:
  """The k-th smallest (0-based) entry of a non-negative float32 vector, exactly.

  Bisection on the int32 bit patterns (ordered like the values for x >= 0): 32 passes
  of a count. XLA's CPU sort behind ``jnp.median`` made the median rule ~20x slower
  than this for the [B, n(n-1)/2] distances of a batched SVGD step.
  """
  bits = jax.lax.bitcast_convert_type(v, jnp.int32)

  def body(_, lohi):
    lo, hi = lohi
    mid = lo + (hi - lo) // 2
    enough = jnp.sum(bits <= mid) >= k + 1
    return jnp.where(enough, lo, mid + 1), jnp.where(enough, mid, hi)

  _, hi = jax.lax.fori_loop(0, 32, body, (jnp.int32(0), jnp.int32(0x7F800000)))
  return jax.lax.bitcast_convert_type(hi, jnp.float32)


def _median_nonneg(v: Array) -> Array:
  """jnp.median of a vector of non-negative values (NaN if any is NaN)."""
  if v.dtype != jnp.float32:
    return jnp.median(v)
  m = v.shape[0]
  if m % 2:
    med = _kth_smallest_nonneg_f32(v, m // 2)
  else:
    # The two middle values: one bisection for the lower, then the upper is the lower itself (a tie) or the
    # smallest value above it; one pass instead of a second bisection's 32.
    k = m // 2 - 1
    lower = _kth_smallest_nonneg_f32(v, k)
    upper = jnp.where(jnp.sum(v <= lower) >= k + 2, lower, jnp.min(jnp.where(v > lower, v, jnp.inf)))
    med = 0.5 * (lower + upper)
  return jnp.where(jnp.any(jnp.isnan(v)), jnp.nan, med)


def _finite_positive(h: Array, dtype) -> Array:
  """Maps NaN / 0 to 1.0 and clips into [smallest normal, largest finite]."""
  info = jnp.finfo(dtype)
  h = jnp.asarray(h, dtype)
  h = jnp.where(jnp.isnan(h) | (h <= 0), jnp.ones_like(h), h)
  return jnp.clip(h, info.tiny, info.max)  # +inf -> largest finite value


def median_bandwidth(x: Array) -> Array:
  """h = med^2 (Pu et al. 2017, sec. 5), finite and positive for any x [n, d]."""
  return _finite_positive(median_sq_distance(x), x.dtype)


def median_log_bandwidth(x: Array) -> Array:
  """h = med^2 / log n (Liu & Wang 2017, sec. 5.1), finite and positive.

  n = 1 gives 1.0 (there is no pair and log 1 = 0).
  """
  n = x.shape[0]
  if n < 2:
    return jnp.ones((), x.dtype)
  return _finite_positive(median_sq_distance(x) / np.log(n), x.dtype)


def median_log1p_bandwidth(x: Array) -> Array:
  """h = med^2 / log(n + 1): the rule of the authors' SteinGAN code (DartML/SteinGAN ``mnist/rbm_adv.py``).

  Their ``rbf_kernel`` takes the median of all n^2 squared distances (the n zeros on the diagonal included), sets
  ``h'^2 = 0.5 med / log(n + 1)`` and uses ``exp(-r / (2 h'^2)) = exp(-r log(n + 1) / med)``; here the median is over
  the off-diagonal pairs, as for the other rules (for n = 100 the n zeros move their median to the 49.5th percentile
  of the pairs: a negligible difference). Finite and positive for every n (n = 1: log 2).
  """
  n = x.shape[0]
  return _finite_positive(median_sq_distance(x) / np.log(n + 1.0), x.dtype)


BANDWIDTH_RULES = {
  "median": median_bandwidth,
  "median_log": median_log_bandwidth,
  "median_log1p": median_log1p_bandwidth,
}


def check_bandwidth(bandwidth: Bandwidth) -> None:
  """Raises ValueError for a bandwidth that is not a rule, a callable or h > 0."""
  if isinstance(bandwidth, str):
    if bandwidth not in BANDWIDTH_RULES:
      raise ValueError(
        f"Unknown bandwidth rule {bandwidth!r}: use one of "
        f"{sorted(BANDWIDTH_RULES)}, a positive float or a callable x -> h."
      )
    return
  if callable(bandwidth):
    return
  if isinstance(bandwidth, jax.core.Tracer):
    return  # traced: cannot be checked here; documented as the caller's contract
  try:
    value = np.asarray(bandwidth, dtype=np.float64)
  except (TypeError, ValueError):
    raise ValueError(f"bandwidth={bandwidth!r} is neither a rule name, a callable nor a number.")
  if value.shape != () or not np.isfinite(value) or value <= 0:
    raise ValueError(f"bandwidth must be a finite positive scalar, got {bandwidth!r}.")


def resolve_bandwidth(bandwidth: Bandwidth, x: Array) -> Array:
  """Returns the bandwidth h (a scalar of x's dtype) for particles x [n, d].

  A user callable's output goes through the same sanitising as the median rules,
  so h is always finite and positive. The result is a constant for differentiation
  (stop_gradient), as in the papers' updates.
  """
  if isinstance(bandwidth, str):
    check_bandwidth(bandwidth)
    h = BANDWIDTH_RULES[bandwidth](x)
  elif callable(bandwidth):
    h = _finite_positive(bandwidth(x), x.dtype)
  else:
    h = jnp.asarray(bandwidth, x.dtype)
  return jax.lax.stop_gradient(h)
