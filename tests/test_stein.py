"""Tests of the SVGD direction and the kernel Stein discrepancy against brute force (tests/reference.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from stein_jax import kernels, ksd, normalized_weights, stein, svgd_direction
from tests import reference


@pytest.fixture
def x64():
  with jax.enable_x64(True):
    yield


def _data(n=9, d=3, seed=0):
  rng = np.random.default_rng(seed)
  return rng.normal(size=(n, d)), rng.normal(size=(n, d))


# ---------------------------------------------------------------- direction values


@pytest.mark.parametrize("kern", ["rbf", "imq"])
@pytest.mark.parametrize("block", [0, 4, (2, 3), 16])  # dense; tiles of side 4 and 2 (ragged n = 9); one tile > n
@pytest.mark.parametrize("repulsion", [True, False])
def test_direction_matches_double_loop(x64, kern, block, repulsion):
  x, s = _data()
  h = 1.7
  got = svgd_direction(jnp.asarray(x), jnp.asarray(s), bandwidth=h, kernel=kern, block_size=block, repulsion=repulsion)
  np.testing.assert_allclose(
    got, reference.svgd_direction(x, s, h, kernel=kern, repulsion=repulsion), rtol=1e-12, atol=1e-12
  )


@pytest.mark.parametrize("block", [0, 5])
def test_importance_weighted_direction(x64, block):
  x, s = _data(n=10)
  lw = np.random.default_rng(1).normal(size=10) * 30.0  # large spread: needs stable softmax
  got = svgd_direction(jnp.asarray(x), jnp.asarray(s), bandwidth=0.9, log_weights=jnp.asarray(lw), block_size=block)
  np.testing.assert_allclose(got, reference.svgd_direction(x, s, 0.9, log_weights=lw), rtol=1e-12, atol=1e-12)


def test_weight_groups_normalise_each_group(x64):
  x, s = _data(n=12)
  lw = np.random.default_rng(2).normal(size=12)
  w = np.concatenate([np.exp(g) / np.exp(g).sum() / 3 for g in lw.reshape(3, 4)])
  got = svgd_direction(jnp.asarray(x), jnp.asarray(s), bandwidth=1.1, log_weights=jnp.asarray(lw), weight_groups=3)
  np.testing.assert_allclose(
    got, reference.svgd_direction(x, s, 1.1, log_weights=lw, weight_groups=3), rtol=1e-12, atol=1e-12
  )
  np.testing.assert_allclose(normalized_weights(jnp.asarray(lw), 3), w, rtol=1e-12)


def test_uniform_log_weights_equal_plain_svgd(x64):
  x, s = _data()
  plain = svgd_direction(jnp.asarray(x), jnp.asarray(s), bandwidth=1.3)
  weighted = svgd_direction(jnp.asarray(x), jnp.asarray(s), bandwidth=1.3, log_weights=jnp.full((9,), -123.0))
  np.testing.assert_allclose(plain, weighted, rtol=1e-12)


def test_batch_of_particle_sets_equals_per_set_calls(x64):
  rng = np.random.default_rng(3)
  x, s = rng.normal(size=(2, 3, 6, 4)), rng.normal(size=(2, 3, 6, 4))
  got = svgd_direction(jnp.asarray(x), jnp.asarray(s), bandwidth="median")
  for a in range(2):
    for b in range(3):
      one = svgd_direction(jnp.asarray(x[a, b]), jnp.asarray(s[a, b]), bandwidth="median")
      np.testing.assert_allclose(got[a, b], one, rtol=1e-12)
      np.testing.assert_allclose(one, reference.svgd_direction(x[a, b], s[a, b], "median"), rtol=1e-10)


def test_pytree_particles_equal_flattened(x64):
  rng = np.random.default_rng(4)
  tree = {"w": rng.normal(size=(5, 2, 3)), "b": rng.normal(size=(5, 2))}
  sc = {"w": rng.normal(size=(5, 2, 3)), "b": rng.normal(size=(5, 2))}
  flat = lambda t: np.concatenate([t["b"].reshape(5, -1), t["w"].reshape(5, -1)], 1)
  got = svgd_direction(jax.tree.map(jnp.asarray, tree), jax.tree.map(jnp.asarray, sc), bandwidth=2.0)
  want = reference.svgd_direction(flat(tree), flat(sc), 2.0)
  np.testing.assert_allclose(flat(got), want, rtol=1e-12)
  assert got["w"].shape == (5, 2, 3)


def test_feature_kernel_matches_double_loop(x64):
  """k(x, y) = exp(-||g(x) - g(y)||^2 / h) with a nonlinear g, by brute force."""
  x, s = _data(n=6, d=3)
  a = np.random.default_rng(5).normal(size=(3, 4))
  g = lambda z: np.tanh(z @ a)
  jac = lambda z: (1 - np.tanh(z @ a) ** 2)[:, None] * a.T  # [m, d]
  h = 1.5
  want = reference.svgd_direction(x, s, h, features=g, features_jacobian=jac)
  got = svgd_direction(jnp.asarray(x), jnp.asarray(s), bandwidth=h, features=lambda z: jnp.tanh(z @ jnp.asarray(a)))
  np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kern", ["rbf", "imq"])
@pytest.mark.parametrize("block", [0, 4])
@pytest.mark.parametrize("weighted", [False, True])
def test_row_sum_normalization_matches_double_loop(x64, kern, block, weighted):
  """phi_i = sum_j w_j [k_ji s_j + grad_j k_ji] / sum_j w_j k_ji (the authors' SteinGAN scripts)."""
  x, s = _data(n=10)
  lw = np.random.default_rng(3).normal(size=10) * 3.0 if weighted else np.zeros(10)
  h = 0.8
  want = reference.svgd_direction(x, s, h, log_weights=lw, kernel=kern, normalization="row_sum")
  got = svgd_direction(
    jnp.asarray(x),
    jnp.asarray(s),
    bandwidth=h,
    kernel=kern,
    block_size=block,
    log_weights=jnp.asarray(lw) if weighted else None,
    normalization="row_sum",
  )
  np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_row_sum_normalization_with_features_and_far_particles(x64):
  x, s = _data(n=6, d=3)
  a = np.random.default_rng(5).normal(size=(3, 4))
  feats = lambda z: jnp.tanh(z @ jnp.asarray(a))
  h = 1.5
  g = np.tanh(x @ a)
  mass = reference.kernel_matrix(g, h=h).mean(1)
  mean = svgd_direction(jnp.asarray(x), jnp.asarray(s), bandwidth=h, features=feats)
  got = svgd_direction(jnp.asarray(x), jnp.asarray(s), bandwidth=h, features=feats, normalization="row_sum")
  np.testing.assert_allclose(got, np.asarray(mean) / mass[:, None], rtol=1e-10)
  # Isolated particles (no kernel overlap): each moves by its own full score, not score / n.
  far = jnp.asarray(np.arange(4.0)[:, None] * 100.0 * np.ones((1, 2)))
  sc = jnp.asarray(np.random.default_rng(0).normal(size=(4, 2)))
  np.testing.assert_allclose(svgd_direction(far, sc, bandwidth=1.0, normalization="row_sum"), sc, rtol=1e-12)
  with pytest.raises(ValueError, match="normalization must be one of"):
    svgd_direction(far, sc, normalization="sum")


@pytest.mark.parametrize("kern", ["rbf", "imq"])
@pytest.mark.parametrize("block", [0, 4])
def test_repulsion_scale_multiplies_the_grad_k_term(x64, kern, block):
  x, s = _data(n=8)
  h = 1.3
  drive = reference.svgd_direction(x, s, h, kernel=kern, repulsion=False)
  full = reference.svgd_direction(x, s, h, kernel=kern)
  got = svgd_direction(jnp.asarray(x), jnp.asarray(s), bandwidth=h, kernel=kern, block_size=block, repulsion=100.0)
  np.testing.assert_allclose(got, drive + 100.0 * (full - drive), rtol=1e-11, atol=1e-11)
  a = np.random.default_rng(5).normal(size=(3, 4))
  feats = lambda z: jnp.tanh(z @ jnp.asarray(a))
  f1 = svgd_direction(jnp.asarray(x), jnp.asarray(s), bandwidth=h, features=feats)
  f0 = svgd_direction(jnp.asarray(x), jnp.asarray(s), bandwidth=h, features=feats, repulsion=False)
  f3 = svgd_direction(jnp.asarray(x), jnp.asarray(s), bandwidth=h, features=feats, repulsion=3.0)
  np.testing.assert_allclose(f3, f0 + 3.0 * (f1 - f0), rtol=1e-10, atol=1e-12)
  with pytest.raises(ValueError, match="repulsion must be"):
    svgd_direction(jnp.asarray(x), jnp.asarray(s), repulsion=float("nan"))


def test_one_particle_is_gradient_ascent():
  x = jnp.array([[0.3, -1.2]])
  s = jnp.array([[2.0, 5.0]])
  for bw in ["median", "median_log", 0.1]:
    np.testing.assert_allclose(svgd_direction(x, s, bandwidth=bw), s, rtol=1e-6)


# -------------------------------------------------------- Stein's identity, targets


def test_steins_identity_on_exact_samples():
  """E_{x~p}[k(x, y) grad log p(x) + grad_x k(x, y)] = 0 for every y."""
  rng = np.random.default_rng(6)
  mean = np.array([1.0, -2.0, 0.5])
  cov = np.array([[2.0, 0.6, 0.0], [0.6, 1.0, 0.3], [0.0, 0.3, 0.5]])
  x = rng.multivariate_normal(mean, cov, size=20000).astype(np.float32)
  s = -(x - mean) @ np.linalg.inv(cov)
  phi = np.asarray(svgd_direction(jnp.asarray(x), jnp.asarray(s), bandwidth="median"))
  drive = np.asarray(svgd_direction(jnp.asarray(x), jnp.asarray(s), bandwidth="median", repulsion=False))
  # The driving and repulsive halves cancel up to Monte Carlo error O(1/sqrt(n)).
  assert np.abs(phi).mean() < 0.1 * np.abs(drive).mean()
  assert np.abs(phi).max() < 0.02
  # With the scores of a shifted target they do not cancel.
  s_shift = -(x - mean - 0.5) @ np.linalg.inv(cov)
  phi_shift = np.asarray(svgd_direction(jnp.asarray(x), jnp.asarray(s_shift), bandwidth="median"))
  assert np.abs(phi_shift).mean() > 10 * np.abs(phi).mean()
  # The KSD U-statistic of exact samples is ~0; of shifted samples it is not.
  assert abs(float(ksd(jnp.asarray(x[:3000]), jnp.asarray(s[:3000])))) < 2e-3
  s_wrong = -(x - mean - 0.5) @ np.linalg.inv(cov)
  assert float(ksd(jnp.asarray(x[:3000]), jnp.asarray(s_wrong[:3000]))) > 2e-2


# -------------------------------------------------------------- blocked == dense


@pytest.mark.parametrize("kern", ["rbf", "imq"])
@pytest.mark.parametrize("weighted", [False, True])
def test_two_sided_tiled_form_matches_double_loop(x64, kern, weighted):
  """The earlier two-sided tiled form, kept for the benchmarks' side-by-side comparison, stays correct."""
  x, s = _data(n=11)
  lw = np.random.default_rng(6).normal(size=11) if weighted else None
  w = np.full(11, 1 / 11) if lw is None else reference.normalized_weights(lw)
  got = stein._blocked_direction(
    jnp.asarray(x), jnp.asarray(s), jnp.asarray(w), 1.7, kernels.get_kernel(kern), 1.0, (4, 3), None, symmetric=False
  )
  want = reference.svgd_direction(x, s, 1.7, kernel=kern, log_weights=lw)
  np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


# The symmetric tiled form (each tile pair once, a custom VJP) against the dense form, whose gradient
# is plain autodiff: values and gradients in particles, scores, log-weights and a fixed bandwidth.
TILED_CASES = {  # name: (n, block, options)
  "weighted": (37, (8, 16), {"log_weights": True}),  # tile side 11: ragged
  "no_repulsion": (37, (8, 16), {"repulsion": False}),
  "weighted_repulsion_x100_row_sum": (37, 8, {"log_weights": True, "repulsion": 100.0, "normalization": "row_sum"}),
  "weighted_diagonal_metric": (37, 8, {"log_weights": True, "metric": "diagonal"}),
  "n_below_one_tile": (6, 64, {"log_weights": True}),
}


@pytest.mark.parametrize("kern", ["rbf", "imq"])
@pytest.mark.parametrize("case", sorted(TILED_CASES))
def test_symmetric_tiled_equals_dense_values_and_gradients(x64, kern, case):
  n, block, opts = TILED_CASES[case]
  opts = dict(opts)
  weighted = opts.pop("log_weights", False)
  rng = np.random.default_rng(7)
  x, s = jnp.asarray(rng.normal(size=(n, 5))), jnp.asarray(rng.normal(size=(n, 5)))
  lw = jnp.asarray(rng.normal(size=(n,)))
  probe = jnp.asarray(rng.normal(size=(n, 5)))

  def loss(x, s, lw, h, block):
    phi = svgd_direction(x, s, bandwidth=h, kernel=kern, log_weights=lw if weighted else None, block_size=block, **opts)
    return jnp.sum(phi * probe)

  value_and_grad = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2, 3)), static_argnums=4)
  args = (x, s, lw, jnp.asarray(1.3))
  dense, dense_grad = value_and_grad(*args, 0)
  tiled, tiled_grad = value_and_grad(*args, block)
  np.testing.assert_allclose(tiled, dense, rtol=1e-12)
  for name, a, b in zip(["particles", "scores", "log_weights", "bandwidth"], dense_grad, tiled_grad):
    np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12, err_msg=name)


def test_symmetric_tiled_equals_dense_in_float32():
  """The RBF's one-product form (d + 1 rhs columns) keeps float32 accuracy: the particles' use."""
  rng = np.random.default_rng(7)
  x = jnp.asarray(rng.normal(size=(37, 5)) + 3.0, jnp.float32)
  s = jnp.asarray(rng.normal(size=(37, 5)), jnp.float32)
  lw = jnp.asarray(rng.normal(size=(37,)), jnp.float32)
  probe = jnp.asarray(rng.normal(size=(37, 5)), jnp.float32)
  for kern in ["rbf", "imq"]:

    def loss(x, s, block):
      phi = svgd_direction(x, s, bandwidth="median", kernel=kern, log_weights=lw, block_size=block)
      return jnp.sum(phi * probe)

    value_and_grad = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)), static_argnums=2)
    dense, gd = value_and_grad(x, s, 0)
    tiled, gb = value_and_grad(x, s, (8, 16))
    np.testing.assert_allclose(tiled, dense, rtol=1e-5)
    for a, b in zip(gd, gb):
      np.testing.assert_allclose(b, a, rtol=2e-4, atol=1e-5)


def test_symmetric_tiled_gradient_matches_the_double_loop_by_finite_differences(x64):
  """An oracle independent of both autodiff paths: central differences of the brute-force direction."""
  x, s = _data(n=13, d=3, seed=8)
  lw = np.random.default_rng(9).normal(size=13)
  probe = np.random.default_rng(10).normal(size=(13, 3))
  for kern in ["rbf", "imq"]:
    f = lambda a: jnp.sum(
      svgd_direction(a, jnp.asarray(s), bandwidth=0.9, kernel=kern, log_weights=jnp.asarray(lw), block_size=4) * probe
    )
    g = jax.grad(f)(jnp.asarray(x))
    for i, k in [(0, 0), (5, 2), (12, 1)]:
      e = np.zeros_like(x)
      e[i, k] = 1e-6
      ref = lambda a: np.sum(reference.svgd_direction(a, s, 0.9, kernel=kern, log_weights=lw) * probe)
      np.testing.assert_allclose(g[i, k], (ref(x + e) - ref(x - e)) / 2e-6, rtol=1e-6, atol=1e-8)


def test_tiled_batch_of_particle_sets_equals_per_set_calls(x64):
  rng = np.random.default_rng(11)
  x, s, lw = rng.normal(size=(3, 10, 2)), rng.normal(size=(3, 10, 2)), rng.normal(size=(3, 10))
  got = svgd_direction(jnp.asarray(x), jnp.asarray(s), bandwidth=1.1, log_weights=jnp.asarray(lw), block_size=4)
  for a in range(3):
    want = reference.svgd_direction(x[a], s[a], 1.1, log_weights=lw[a])
    np.testing.assert_allclose(got[a], want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
  "name, loss",
  [
    ("symmetric direction", lambda x: jnp.sum(svgd_direction(x, -x, bandwidth=1.0, block_size=(256, 256)) ** 2)),
    (
      "two-sided direction",
      lambda x: jnp.sum(
        stein._blocked_direction(
          x, -x, jnp.full(x.shape[:1], 1 / x.shape[0]), 1.0, kernels.rbf(), 1.0, (256, 256), None, symmetric=False
        )
        ** 2
      ),
    ),
    ("imq direction", lambda x: jnp.sum(svgd_direction(x, -x, kernel="imq", bandwidth=1.0, block_size=256) ** 2)),
    ("ksd", lambda x: ksd(x, -x, bandwidth=1.0, block_size=256)),
  ],
)
def test_blocked_gradient_never_holds_n_by_n(name, loss):
  """Compiled temporaries of value-and-grad of the tiled forms stay O(n * block)."""
  n, d = 4096, 8
  x = jnp.ones((n, d)) * jnp.arange(n)[:, None] / n
  stats = jax.jit(jax.value_and_grad(loss)).lower(x).compile().memory_analysis()
  nn_bytes = n * n * 4
  assert stats.temp_size_in_bytes < nn_bytes / 8, (name, stats)


def test_automatic_blocking_respects_budget():
  x = jax.random.normal(jax.random.key(0), (300, 4))
  dense = svgd_direction(x, -x, bandwidth=1.0)
  tiny_budget = svgd_direction(x, -x, bandwidth=1.0, memory_budget_bytes=1000)
  np.testing.assert_allclose(tiny_budget, dense, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------- KSD


@pytest.mark.parametrize("kern", ["rbf", "imq"])
@pytest.mark.parametrize("block", [0, 3, 16])  # dense; tiles of side 3 (ragged n = 7); one tile larger than n
def test_ksd_matches_brute_force(x64, kern, block):
  x, s = _data(n=7, d=2)
  h = 1.4
  v_stat = ksd(jnp.asarray(x), jnp.asarray(s), bandwidth=h, kernel=kern, statistic="v", block_size=block)
  u_stat = ksd(jnp.asarray(x), jnp.asarray(s), bandwidth=h, kernel=kern, block_size=block)
  np.testing.assert_allclose(v_stat, reference.ksd(x, s, h, kern, statistic="v"), rtol=1e-8)
  np.testing.assert_allclose(u_stat, reference.ksd(x, s, h, kern, statistic="u"), rtol=1e-8)


def test_ksd_is_differentiable(x64):
  x, s = _data(n=6, d=2)
  x, s = jnp.asarray(x), jnp.asarray(s)
  f = lambda x: ksd(x, -x, bandwidth=1.0, statistic="v")
  g = jax.grad(f)(x)
  e = jnp.zeros_like(x).at[2, 1].set(1e-6)
  np.testing.assert_allclose(g[2, 1], (f(x + e) - f(x - e)) / 2e-6, rtol=1e-6)


@pytest.mark.parametrize("kern", ["rbf", "imq"])
@pytest.mark.parametrize("statistic", ["u", "v"])
def test_tiled_ksd_gradients_equal_dense(x64, kern, statistic):
  rng = np.random.default_rng(12)
  x, s = jnp.asarray(rng.normal(size=(23, 3))), jnp.asarray(rng.normal(size=(23, 3)))
  f = lambda x, s, h, block: ksd(x, s, bandwidth=h, kernel=kern, statistic=statistic, block_size=block)
  value_and_grad = jax.jit(jax.value_and_grad(f, argnums=(0, 1, 2)), static_argnums=3)
  args = (x, s, jnp.asarray(1.2))
  dense, dense_grad = value_and_grad(*args, 0)
  tiled, tiled_grad = value_and_grad(*args, 5)  # tile side 5: ragged
  np.testing.assert_allclose(tiled, dense, rtol=1e-12)
  for a, b in zip(dense_grad, tiled_grad):
    np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12)


def test_ksd_batch_shape():
  x = jax.random.normal(jax.random.key(1), (4, 10, 2))
  assert ksd(x, -x).shape == (4,)


# ----------------------------------------------------------------- bad input, NaN


def test_shape_errors_are_clear():
  x = jnp.zeros((5, 2))
  with pytest.raises(ValueError, match="does not match"):
    svgd_direction(x, jnp.zeros((5, 3)))
  with pytest.raises(ValueError, match="rank >= 2"):
    svgd_direction(jnp.zeros(5), jnp.zeros(5))
  with pytest.raises(ValueError, match="log_weights shape"):
    svgd_direction(x, x, log_weights=jnp.zeros(4))
  with pytest.raises(ValueError, match="does not divide"):
    svgd_direction(x, x, log_weights=jnp.zeros(5), weight_groups=2)
  with pytest.raises(ValueError, match="same leading particle axis"):
    svgd_direction({"a": jnp.zeros((3, 2)), "b": jnp.zeros((4,))}, {"a": jnp.zeros((3, 2)), "b": jnp.zeros((4,))})


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf"), "mean", [1.0, 2.0]])
def test_bad_bandwidth_is_rejected(bad):
  x = jnp.ones((3, 2))
  with pytest.raises(ValueError):
    svgd_direction(x, x, bandwidth=bad)


def test_non_finite_scores_raise_eagerly_and_propagate_in_jit():
  x = jax.random.normal(jax.random.key(2), (6, 2))
  s = (-x).at[3, 0].set(jnp.nan)
  with pytest.raises(ValueError, match="non-finite"):
    svgd_direction(x, s, bandwidth=1.0)
  phi = jax.jit(lambda x, s: svgd_direction(x, s, bandwidth=1.0))(x, s)
  assert bool(jnp.all(jnp.isnan(phi[:, 0])))  # never silently dropped


def test_closed_over_concrete_arrays_inside_jit():
  x = jax.random.normal(jax.random.key(4), (6, 2))
  phi = jax.jit(lambda: svgd_direction(x, -x, bandwidth=1.0))()
  np.testing.assert_allclose(phi, svgd_direction(x, -x, bandwidth=1.0), rtol=1e-5, atol=1e-6)
  assert jnp.isfinite(jax.jit(lambda: ksd(x, -x))())


# ------------------------------------------------------------------------ retracing


def test_jitted_step_does_not_retrace():
  traces = []

  @jax.jit
  def step(x):
    traces.append(1)
    return x + 0.1 * svgd_direction(x, -x, bandwidth="median_log")

  x = jax.random.normal(jax.random.key(3), (20, 3))
  for _ in range(5):
    x = step(x)
  assert len(traces) == 1
  # A new kernel object of the same kind hits the cache too (kernels are singletons).
  assert kernels.rbf() is kernels.rbf() and kernels.imq(-0.5) is kernels.imq(-0.5)


@pytest.mark.parametrize("alpha", [0.5, 3.0])
def test_repulsion_scale_targets_the_tempered_density(alpha):
  """docs/stein_math.md sec. 12: with alpha x grad k the fixed point is p^(1/alpha); for
  p = N(1, 0.5^2) in one dimension, N(1, alpha 0.5^2). 300 free particles, plain steps."""
  mu, var = 1.0, 0.25
  z = jnp.asarray(np.random.default_rng(0).normal(size=(300, 1)))
  step = jax.jit(lambda z: z + 0.02 * svgd_direction(z, -(z - mu) / var, repulsion=alpha))
  for _ in range(3000):
    z = step(z)
  z = np.asarray(z)[:, 0]
  assert abs(z.mean() - mu) < 0.03
  np.testing.assert_allclose(z.var(), alpha * var, rtol=0.08)


@pytest.mark.parametrize("weighted", [False, True])
def test_diagonal_metric_is_the_preconditioned_matrix_kernel(x64, weighted):
  """metric="diagonal": phi_i = s^2 * sum_j w_j [k_Q(x_j, x_i) s_j + grad_j k_Q(x_j, x_i)],
  k_Q = exp(-||(x_j - x_i) / s||^2 / h), s the per-coordinate sd (Wang et al. 2019's Q^-1 k_Q)."""
  x, s = _data(n=9, d=3)
  x = x * np.array([0.05, 1.0, 7.0])  # very different scales per coordinate
  lw = np.random.default_rng(4).normal(size=9) if weighted else np.zeros(9)
  h = 1.7
  want = reference.svgd_direction(x, s, h, log_weights=lw, metric="diagonal")
  got = svgd_direction(
    jnp.asarray(x), jnp.asarray(s), bandwidth=h, metric="diagonal", log_weights=jnp.asarray(lw) if weighted else None
  )
  np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
  tiled = svgd_direction(
    jnp.asarray(x),
    jnp.asarray(s),
    bandwidth=h,
    metric="diagonal",
    block_size=4,
    log_weights=jnp.asarray(lw) if weighted else None,
  )
  np.testing.assert_allclose(tiled, want, rtol=1e-10, atol=1e-12)
  with pytest.raises(ValueError, match="metric must be one of"):
    svgd_direction(jnp.asarray(x), jnp.asarray(s), metric="full")
  with pytest.raises(ValueError, match="feature kernel"):
    svgd_direction(jnp.asarray(x), jnp.asarray(s), metric="diagonal", features=jnp.tanh)


def test_diagonal_metric_keeps_narrow_coordinates_that_the_isotropic_kernel_collapses():
  """Free SVGD, 100 particles on N(0, diag(v)) in d = 50 with v from 0.01 to 1 (a posterior
  the data pin down in some coordinates), started from exact samples: the median-bandwidth
  RBF collapses the narrow coordinates (variance ratio 0.03 after 3,000 steps, -> 0 later),
  the diagonal metric keeps every coordinate at 0.6-1.2 (docs/stein_math.md sec. 13)."""
  d = 50
  v = jnp.asarray(np.logspace(-2, 0, d))
  z0 = jnp.sqrt(v) * jax.random.normal(jax.random.key(0), (100, d))

  def run(metric):
    step = jax.jit(lambda z: z + 0.3 * v * svgd_direction(z, -z / v, metric=metric))
    z = z0
    for _ in range(3000):
      z = step(z)
    return np.asarray(jnp.var(z, 0, ddof=1) / v)

  iso, diag = run("isotropic"), run("diagonal")
  assert np.exp(np.mean(np.log(iso[:10]))) < 0.1  # the narrowest ten collapse
  assert np.all(diag > 0.5) and np.all(diag < 1.5)


def test_bandwidth_scale_multiplies_the_rule_in_every_form():
  """bandwidth_scale c (traced, e.g. a schedule's value) gives the direction with h = c * rule(x):
  dense, tiled and feature-kernel forms, against the double loop at that fixed h."""
  x = jax.random.normal(jax.random.key(11), (40, 3))
  s = -x + 0.5
  c = jnp.float32(3.0)
  xn, sn = np.asarray(x, np.float64), np.asarray(s, np.float64)
  want = reference.svgd_direction(xn, sn, 3.0 * reference.median_sq_distance(xn))
  for block in (0, (16, 8)):
    got = jax.jit(lambda a, b, cc: svgd_direction(a, b, block_size=block, bandwidth_scale=cc))(x, s, c)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
  w = jnp.asarray(np.random.default_rng(0).normal(size=(3, 2)), jnp.float32)
  feats = lambda a: jnp.tanh(a @ w)
  g = np.tanh(xn @ np.asarray(w, np.float64))
  jac = lambda p: (1 - np.tanh(p @ np.asarray(w, np.float64)) ** 2)[:, None] * np.asarray(w, np.float64).T
  want_f = reference.svgd_direction(
    xn,
    sn,
    3.0 * reference.median_sq_distance(g),
    features=lambda p: np.tanh(p @ np.asarray(w, np.float64)),
    features_jacobian=jac,
  )
  np.testing.assert_allclose(svgd_direction(x, s, features=feats, bandwidth_scale=c), want_f, rtol=1e-4, atol=1e-5)
  with pytest.raises(ValueError, match="bandwidth_scale must be a scalar"):
    svgd_direction(x, s, bandwidth_scale=jnp.ones(2))
