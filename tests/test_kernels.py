"""Tests of kernels and bandwidth rules, including every documented edge case."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from stein_jax import kernels
from tests import reference


def test_median_rules_match_numpy():
  x = np.random.default_rng(0).normal(size=(31, 4)).astype(np.float32)
  med2 = reference.median_sq_distance(x)
  np.testing.assert_allclose(kernels.median_bandwidth(jnp.asarray(x)), med2, rtol=1e-5)
  np.testing.assert_allclose(kernels.median_log_bandwidth(jnp.asarray(x)), med2 / np.log(31), rtol=1e-5)
  np.testing.assert_allclose(kernels.median_log1p_bandwidth(jnp.asarray(x)), med2 / np.log(32), rtol=1e-5)


def test_median_subsamples_large_sets_deterministically():
  x = jax.random.normal(jax.random.key(0), (10_000, 3))
  h1, h2 = kernels.median_bandwidth(x), kernels.median_bandwidth(x)
  assert float(h1) == float(h2)
  # The median squared distance of two N(0, I_3) points is 2 * median(chi2_3) = 4.73.
  np.testing.assert_allclose(h1, 2 * 2.366, rtol=0.05)


def test_kernel_values_and_derivatives():
  r = jnp.linspace(0.0, 5.0, 11)
  for kern in [kernels.rbf(), kernels.imq(-0.5), kernels.imq(-0.9)]:
    h = 1.7
    d1 = jax.vmap(jax.grad(lambda t: kern.profile(t, h)))(r)
    d2 = jax.vmap(jax.grad(jax.grad(lambda t: kern.profile(t, h))))(r)
    np.testing.assert_allclose(kern.dprofile(r, h), d1, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(kern.d2profile(r, h), d2, rtol=1e-5, atol=1e-7)
    if kern.dlog_profile is not None:
      np.testing.assert_allclose(kern.dprofile(r, h), kern.dlog_profile(h) * kern.profile(r, h), rtol=1e-6)
  x, y = jnp.array([1.0, 2.0]), jnp.array([0.0, 0.5])
  np.testing.assert_allclose(kernels.rbf()(x, y, 2.0), np.exp(-3.25 / 2.0), rtol=1e-6)
  np.testing.assert_allclose(kernels.imq()(x, y, 2.0), (1 + 3.25 / 2) ** -0.5, rtol=1e-6)


@pytest.mark.parametrize(
  "rule", [kernels.median_bandwidth, kernels.median_log_bandwidth, kernels.median_log1p_bandwidth]
)
@pytest.mark.parametrize("case", ["one", "identical", "huge", "tiny", "two"])
def test_bandwidth_always_finite_positive(rule, case):
  x = {
    "one": jnp.array([[1.0, 2.0]]),
    "identical": jnp.ones((5, 3)) * 7.0,
    "huge": jnp.array([[1e30, 0.0], [-1e30, 1.0], [3e29, 2.0]], jnp.float32),
    "tiny": jnp.array([[1e-30, 0.0], [0.0, 1e-30], [2e-30, 0.0]], jnp.float32),
    "two": jnp.array([[0.0, 0.0], [3.0, 4.0]]),
  }[case]
  h = float(rule(x))
  assert np.isfinite(h) and h > 0
  if case in ("one", "identical"):
    assert h == 1.0  # documented neutral value: no pair / zero median
  if case == "huge":
    assert h == float(jnp.finfo(jnp.float32).max) or h == 1.0
  if case == "two":
    want = {
      kernels.median_bandwidth: 25.0,
      kernels.median_log_bandwidth: 25.0 / np.log(2),
      kernels.median_log1p_bandwidth: 25.0 / np.log(3),
    }[rule]
    np.testing.assert_allclose(h, want, rtol=1e-6)


def test_tiny_distances_in_float64_keep_their_scale():
  with jax.enable_x64(True):
    x = jnp.array([[0.0], [1e-20], [3e-20]], jnp.float64)
    np.testing.assert_allclose(kernels.median_bandwidth(x), 4e-40, rtol=1e-6)


def test_callable_bandwidth_is_sanitised():
  x = jnp.ones((4, 2))
  assert float(kernels.resolve_bandwidth(lambda x: jnp.nan, x)) == 1.0
  assert float(kernels.resolve_bandwidth(lambda x: -3.0, x)) == 1.0
  assert float(kernels.resolve_bandwidth(lambda x: 2.5, x)) == 2.5


def test_unknown_kernel_and_rule():
  with pytest.raises(ValueError, match="Unknown kernel"):
    kernels.get_kernel("laplace")
  with pytest.raises(ValueError, match="Unknown bandwidth rule"):
    kernels.check_bandwidth("silverman")
  with pytest.raises(ValueError, match="beta"):
    kernels.imq(beta=0.5)


def test_pairwise_distances_are_exact_after_centring():
  x = np.random.default_rng(1).normal(size=(6, 3)) + 1e3
  with jax.enable_x64(True):
    r = kernels.pairwise_sq_dists(jnp.asarray(x), jnp.asarray(x))
  np.testing.assert_allclose(r, np.sum((x[:, None] - x[None]) ** 2, -1), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("m", [1, 2, 4, 6, 7, 10, 100, 501])
def test_bisection_median_equals_numpy(m):
  rng = np.random.default_rng(m)
  v = (rng.exponential(size=m) * 10.0 ** rng.integers(-30, 30, size=m)).astype(np.float32)
  v[: m // 3] = v[0]  # ties
  if m > 2:
    v[1] = 0.0
  got = kernels._median_nonneg(jnp.asarray(v))
  np.testing.assert_allclose(got, np.median(v.astype(np.float64)), rtol=1e-6)


@pytest.mark.parametrize(
  "v", [[0.0, 1.0, 1.0, 2.0], [0.0, 1.0, 2.0, 2.0], [3.0, 3.0, 3.0, 3.0], [1.0, 5.0], [2.0, 0.0, 7.0, 7.0, 7.0, 1.0]]
)
def test_even_median_with_ties_in_the_middle_pair(v):
  """The upper middle value is the lower one (a tie) or the next larger one: both branches of _median_nonneg."""
  assert float(kernels._median_nonneg(jnp.asarray(v, jnp.float32))) == float(np.median(v))


def test_bisection_median_inf_and_nan():
  v = jnp.array([1.0, jnp.inf, jnp.inf], jnp.float32)
  assert float(kernels._median_nonneg(v)) == float("inf")
  assert float(kernels._median_nonneg(jnp.array([1.0, jnp.inf], jnp.float32))) == float("inf")
  assert np.isnan(float(kernels._median_nonneg(jnp.array([1.0, jnp.nan, 2.0], jnp.float32))))
