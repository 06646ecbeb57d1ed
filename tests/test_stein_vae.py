"""Stein VAE / VIWAE objectives, encoders and bounds (Pu et al. 2017, secs. 2, 3, 5.2).

References used here, independent of the code under test: closed-form linear-Gaussian
posteriors and marginals, the brute-force double-loop (importance-weighted) SVGD of
tests/reference.py with the median bandwidth, analytic scores of linear-Gaussian decoders, and finite differences.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.scipy.stats import multivariate_normal

from stein_jax.algorithm import step_key
from stein_jax.evaluation import bounds
from stein_jax.models import vae
from stein_jax.objectives import stein_vae as sv
from stein_jax.stein import SteinKernel
from tests import reference

DZ, DX, NOISE = 2, 3, 0.7
A = np.array([[1.0, 0.8], [0.4, 1.2], [-0.6, 0.5]])  # x = A z + N(0, NOISE^2 I), z ~ N(0, I)


def _const(value):
  return lambda key, shape, dtype=jnp.float32: jnp.asarray(value, dtype).reshape(shape)


def _linear_model(encoder=None, theta=A):
  return sv.LatentModel(
    encoder or vae.AffineEncoder(DZ),
    vae.LinearGaussianDecoder(DX, theta_init=_const(theta)),
    latent_dim=DZ,
    data_dim=DX,
    likelihood="gaussian",
    noise_std=NOISE,
  )


def _exact_posterior():
  """z | x ~ N(W x, S): S = (I + A^T A / s^2)^-1, W = S A^T / s^2."""
  s = np.linalg.inv(np.eye(DZ) + A.T @ A / NOISE**2)
  return s @ A.T / NOISE**2, s


def _log_marginal(x):
  return multivariate_normal.logpdf(x, jnp.zeros(DX), jnp.asarray(A @ A.T + NOISE**2 * np.eye(DX)))


def _affine_params(w, cov):
  """AffineEncoder parameters giving q(z | x) = N(w x, cov) exactly."""
  chol = np.linalg.cholesky(cov)
  raw = np.tril(chol, -1) + np.diag(np.log(np.diag(chol)))
  return {
    "params": {
      "loc": {"kernel": jnp.asarray(w.T, jnp.float32), "bias": jnp.zeros(DZ)},
      "scale_raw": jnp.asarray(raw, jnp.float32),
    }
  }


def _data(n, seed=0):
  k1, k2 = jax.random.split(jax.random.PRNGKey(seed))
  z = jax.random.normal(k1, (n, DZ))
  return z @ A.T + NOISE * jax.random.normal(k2, (n, DX))


def _perturb(params, key, scale):
  leaves, tree = jax.tree_util.tree_flatten(params)
  keys = jax.random.split(key, len(leaves))
  return jax.tree_util.tree_unflatten(tree, [p + scale * jax.random.normal(k, p.shape) for p, k in zip(leaves, keys)])


# ------------------------------------------------------------------ encoders


def test_affine_change_of_variables_matches_gaussian_density():
  w, cov = _exact_posterior()
  model = _linear_model()
  params = _perturb(_affine_params(w, cov), jax.random.PRNGKey(0), 0.3)
  x = _data(4)
  xi = jax.random.normal(jax.random.PRNGKey(1), (4, 6, DZ))
  z, log_q = jax.jit(lambda p: sv.sample_with_log_q(model, p, x[:, None], xi))(params)
  lower = np.asarray(
    jnp.tril(params["params"]["scale_raw"], -1) + jnp.diag(jnp.exp(jnp.diag(params["params"]["scale_raw"])))
  )
  loc = x @ params["params"]["loc"]["kernel"] + params["params"]["loc"]["bias"]
  ref = multivariate_normal.logpdf(z, loc[:, None], jnp.asarray(lower @ lower.T))
  np.testing.assert_allclose(log_q, ref, atol=1e-4, rtol=1e-5)


def test_flow_encoder_exact_log_det_and_inverse():
  enc = vae.FlowEncoder(latent_dim=4, hidden=(16,), num_coupling_layers=3, coupling_hidden=8)
  x = jax.random.normal(jax.random.PRNGKey(0), (3, 5))
  xi = jax.random.normal(jax.random.PRNGKey(1), (3, 4))
  params = jax.jit(enc.init)(jax.random.PRNGKey(2), x, xi)
  params = _perturb(params, jax.random.PRNGKey(3), 0.3)  # couplings start as identity
  xis = jax.random.normal(jax.random.PRNGKey(4), (7, 4))

  @jax.jit
  def run(params, x, xi):
    z, log_det = enc.apply(params, x, xi, method=enc.forward_and_log_det)
    jac = jax.vmap(jax.jacfwd(lambda xx, e: enc.apply(params, xx, e), argnums=1))(x, xi)
    back, inv_log_det = enc.apply(params, x, z, method=enc.inverse)
    zb = enc.apply(params, x[:, None], xis[None])  # z_jn = f(x_n, xi_j), xi shared
    return log_det, jac, back, inv_log_det, zb, enc.apply(params, x[1], xis[2])

  log_det, jac, back, inv_log_det, zb, z12 = run(params, x, xi)
  np.testing.assert_allclose(log_det, jnp.linalg.slogdet(jac)[1], atol=1e-4)
  off_diag = jac * (1 - jnp.eye(4))
  assert float(jnp.min(jnp.max(jnp.abs(off_diag), (1, 2)))) > 1e-2  # couplings mix coordinates
  np.testing.assert_allclose(back, xi, atol=1e-4)
  np.testing.assert_allclose(inv_log_det, -log_det, atol=1e-4)
  assert zb.shape == (3, 7, 4)
  np.testing.assert_allclose(zb[1, 2], z12, atol=1e-5)


def test_gaussian_encoder_log_q_is_diagonal_gaussian():
  enc = vae.GaussianEncoder(latent_dim=3, hidden=(8,))
  model = sv.LatentModel(enc, vae.BernoulliDecoder(5, (8,)), 3, 5)
  x = jax.random.uniform(jax.random.PRNGKey(0), (2, 5))
  params = _perturb(jax.jit(enc.init)(jax.random.PRNGKey(1), x, jnp.zeros((2, 3))), jax.random.PRNGKey(2), 0.5)
  xi = jax.random.normal(jax.random.PRNGKey(3), (2, 4, 3))
  z, log_q = jax.jit(lambda p: sv.sample_with_log_q(model, p, x[:, None], xi))(params)
  mean, log_var = jax.jit(lambda p: enc.apply(p, x, method=enc.moments))(params)
  ref = jnp.sum(
    -0.5 * (z - mean[:, None]) ** 2 / jnp.exp(log_var[:, None]) - 0.5 * log_var[:, None] - 0.5 * math.log(2 * math.pi),
    -1,
  )
  np.testing.assert_allclose(log_q, ref, atol=1e-4)


def test_mlp_encoder_autodiff_log_det_matches_finite_differences():
  enc = vae.MLPNoiseEncoder(latent_dim=2, hidden=(100,))
  model = sv.LatentModel(enc, vae.LinearGaussianDecoder(2), 2, 2, "gaussian", 0.1)
  x = jax.random.normal(jax.random.PRNGKey(0), (3, 2))
  xi = jax.random.normal(jax.random.PRNGKey(1), (3, 2))
  params = enc.init(jax.random.PRNGKey(2), x, xi)
  _, log_det = jax.jit(lambda p: sv.encode(model, p, x, xi, with_log_det=True))(params)
  eps = 1e-2
  steps = jnp.asarray([[eps, 0.0], [-eps, 0.0], [0.0, eps], [0.0, -eps]])
  out = np.asarray(jax.jit(lambda p: enc.apply(p, x[:, None], xi[:, None] + steps))(params), np.float64)  # [3, 4, 2]
  jac = np.stack([(out[:, 0] - out[:, 1]), (out[:, 2] - out[:, 3])], -1) / (2 * eps)
  ref = np.log(np.abs(np.linalg.det(jac)))
  np.testing.assert_allclose(log_det, ref, atol=2e-3)


# -------------------------------------------------------------------- bounds


def test_importance_weighted_bound_with_exact_posterior_is_log_marginal():
  w, cov = _exact_posterior()
  model = _linear_model()
  enc_params = _affine_params(w, cov)
  _, dec_params = sv.init_params(jax.random.PRNGKey(0), model)
  x = _data(5)
  log_px = _log_marginal(x)
  for s, chunk in ((1, 1), (7, 3), (5000, 768)):  # 5000 = 6 full chunks + a padded one
    e, iw = bounds.make_bound_fn(model, s, chunk)(jax.random.PRNGKey(s), enc_params, dec_params, x)
    np.testing.assert_allclose(iw, log_px, atol=2e-3)
    np.testing.assert_allclose(e, log_px, atol=2e-3)


def test_bound_increases_with_k_and_k1_is_elbo_in_expectation():
  w, cov = _exact_posterior()
  model = _linear_model()
  enc_params = _affine_params(w + 0.3, 0.5 * np.eye(DZ))  # a mismatched q
  _, dec_params = sv.init_params(jax.random.PRNGKey(0), model)
  x = _data(3, seed=1)
  log_px = np.asarray(_log_marginal(x))
  elbo = bounds.elbo(jax.random.PRNGKey(0), model, enc_params, dec_params, x, 10000, 2500)
  reps = 300
  means = {}
  for k in (1, 5, 50):
    fn = bounds.make_bound_fn(model, k, k)
    vals = jax.vmap(lambda key: fn(key, enc_params, dec_params, x)[1])(jax.random.split(jax.random.PRNGKey(k), reps))
    means[k] = np.asarray(vals.mean(0))
    if k == 1:
      stderr = np.asarray(vals.std(0)) / math.sqrt(reps)
      assert np.all(np.abs(means[1] - np.asarray(elbo)) < 4 * stderr + 1e-3)
  assert np.all(np.asarray(elbo) < means[5]) and np.mean(means[5] - np.asarray(elbo)) > 0.1
  assert np.all(means[5] < means[50]) and np.mean(means[50] - means[5]) > 0.03
  assert np.all(means[50] < log_px)


def test_evaluate_reports_positive_nll_and_refuses_nan():
  w, cov = _exact_posterior()
  model = _linear_model()
  _, dec_params = sv.init_params(jax.random.PRNGKey(0), model)
  x = _data(7)
  out = bounds.evaluate(
    jax.random.PRNGKey(0), model, _affine_params(w, cov), dec_params, x, batch_size=3, num_samples=50, chunk_size=16
  )
  np.testing.assert_allclose(out["nll_s_elbo"], -float(_log_marginal(x).mean()), atol=2e-3)
  np.testing.assert_allclose(out["nll_elbo"], out["nll_s_elbo"], atol=2e-3)
  assert out["nll_elbo"] > 0 and out["seconds_per_image"] > 0
  # More samples than the memory budget allows in one chunk: split into more chunks, same exact answer.
  assert bounds.max_chunk_size(model, dec_params, 3, 10_000, budget_bytes=3 * 4 * (4 * model.data_dim + 4096) * 5) == 5
  tight = bounds.evaluate(
    jax.random.PRNGKey(0), model, _affine_params(w, cov), dec_params, x, batch_size=3, num_samples=50, chunk_size=10_000
  )
  np.testing.assert_allclose(tight["nll_s_elbo"], -float(_log_marginal(x).mean()), atol=2e-3)
  bad = jax.tree_util.tree_map(lambda p: p * jnp.nan, dec_params)
  with pytest.raises(bounds.NonFiniteBoundError, match="NaN"):
    bounds.evaluate(jax.random.PRNGKey(0), model, _affine_params(w, cov), bad, x, batch_size=7, num_samples=10)
  with pytest.raises(bounds.NonFiniteBoundError):
    bounds.importance_weighted_bound(jax.random.PRNGKey(0), model, _affine_params(w, cov), bad, x, num_samples=10)


# --------------------------------------------------------------- directions


def _two_decoder_setup(seed=0, s=12):
  model = _linear_model()
  thetas = np.stack([A, A + 0.3 * np.random.default_rng(seed).normal(size=A.shape)])
  dec_params = {"params": {"theta": jnp.asarray(thetas, jnp.float32)}}
  x = _data(3, seed)
  z = jax.random.normal(jax.random.PRNGKey(seed + 1), (3, s, DZ))
  return model, thetas, dec_params, x, z


def _ref_scores(thetas, x, z):
  """mean_m grad_z log N(x; theta_m z, s^2 I) + grad log N(z; 0, I), analytically."""
  x, z = np.asarray(x, np.float64), np.asarray(z, np.float64)
  out = -z.copy()
  for th in thetas:
    out += np.einsum("dk,bsd->bsk", th, x[:, None] - z @ th.T) / NOISE**2 / len(thetas)
  return out


def _ref_log_joint_lme(thetas, x, z):
  """log mean_m p(x, z | theta_m)."""
  x, z = np.asarray(x, np.float64), np.asarray(z, np.float64)
  lls = []
  for th in thetas:
    r = x[:, None] - z @ th.T
    lls.append(-0.5 * np.sum(r**2, -1) / NOISE**2 - DX * math.log(NOISE * math.sqrt(2 * math.pi)))
  lls = np.stack(lls)
  mx = lls.max(0)
  lme = mx + np.log(np.mean(np.exp(lls - mx), 0))
  return lme - 0.5 * np.sum(z**2, -1) - DZ / 2 * math.log(2 * math.pi)


def test_latent_direction_matches_bruteforce_svgd():
  model, thetas, dec_params, x, z = _two_decoder_setup()
  phi, _ = sv.latent_direction(model, dec_params, x, z)
  scores = _ref_scores(thetas, x, z)
  for b in range(3):
    np.testing.assert_allclose(phi[b], reference.svgd_direction(z[b], scores[b], "median"), rtol=2e-3, atol=2e-3)


def test_viwae_latent_direction_matches_bruteforce_weighted_svgd():
  model, thetas, dec_params, x, z = _two_decoder_setup(seed=2)
  log_q = jax.random.normal(jax.random.PRNGKey(9), z.shape[:-1]) * 3.0
  phi, aux = sv.latent_direction(model, dec_params, x, z, log_q=log_q, group_size=4)
  scores = _ref_scores(thetas, x, z)
  log_w = _ref_log_joint_lme(thetas, x, z) - np.asarray(log_q, np.float64)
  for b in range(3):
    np.testing.assert_allclose(
      phi[b],
      reference.svgd_direction(z[b], scores[b], "median", log_weights=log_w[b], weight_groups=3),
      rtol=2e-3,
      atol=2e-3,
    )
  assert 1 / 4 <= float(aux["ess_fraction"]) <= 1.0


def test_viwae_reduces_to_stein_vae_for_k1_and_exact_q():
  model, thetas, dec_params, x, z = _two_decoder_setup(seed=3)
  plain, _ = sv.latent_direction(model, dec_params, x, z)
  log_q = jax.random.normal(jax.random.PRNGKey(0), z.shape[:-1]) * 5.0
  k1, _ = sv.latent_direction(model, dec_params, x, z, log_q=log_q, group_size=1)
  np.testing.assert_allclose(k1, plain, atol=1e-5)
  # q proportional to p(x, z): all weights equal, any k gives the unweighted direction
  exact_q = jnp.asarray(_ref_log_joint_lme(thetas, x, z) + 3.0, jnp.float32)
  k4, aux = sv.latent_direction(model, dec_params, x, z, log_q=exact_q, group_size=4)
  np.testing.assert_allclose(k4, plain, atol=1e-4)
  np.testing.assert_allclose(aux["ess_fraction"], 1.0, atol=1e-4)
  # and a genuinely non-uniform q changes it
  k4_bad, _ = sv.latent_direction(model, dec_params, x, z, log_q=log_q, group_size=4)
  assert np.max(np.abs(k4_bad - plain)) > 1e-2
  # the decoder's VIWAE objective with k = 1 has the Stein VAE gradient
  d_vae, _ = sv.decoder_direction(model, dec_params, x, z, num_data=100)
  d_k1, _ = sv.decoder_direction(model, dec_params, x, z, num_data=100, log_q=log_q, group_size=1)
  np.testing.assert_allclose(d_k1["params"]["theta"], d_vae["params"]["theta"], rtol=1e-4, atol=1e-3)


def test_decoder_direction_point_estimate_and_svgd_match_bruteforce():
  model, thetas, dec_params, x, z = _two_decoder_setup(seed=4, s=5)
  n_data, prior_std = 100, 2.0
  xn, zn = np.asarray(x, np.float64), np.asarray(z, np.float64)

  def ref_score(th):  # (N/B) sum_b mean_j grad log N(x_b; th z_bj, s^2) - th / sigma_p^2
    r = xn[:, None] - zn @ th.T
    g = np.einsum("bsd,bsk->dk", r, zn) / zn.shape[1] / NOISE**2
    return n_data / xn.shape[0] * g - th / prior_std**2

  one = {"params": {"theta": dec_params["params"]["theta"][:1]}}
  d1, _ = sv.decoder_direction(model, one, x, z, num_data=n_data, prior_std=prior_std)
  np.testing.assert_allclose(d1["params"]["theta"][0], ref_score(thetas[0]), rtol=1e-4, atol=1e-3)
  d2, _ = sv.decoder_direction(model, dec_params, x, z, num_data=n_data, prior_std=prior_std)
  flat = thetas.reshape(2, -1)
  scores = np.stack([ref_score(t).reshape(-1) for t in thetas])
  np.testing.assert_allclose(
    np.asarray(d2["params"]["theta"]).reshape(2, -1),
    reference.svgd_direction(flat, scores, "median"),
    rtol=1e-3,
    atol=1e-2,
  )


@pytest.mark.parametrize("group_size", [None, 4])
def test_fused_directions_equal_separate_ones(group_size):
  """The step's one-forward-pass directions equal latent_direction + decoder_direction."""
  model, thetas, dec_params, x, z = _two_decoder_setup(seed=5, s=8)
  log_q = None if group_size is None else jax.random.normal(jax.random.PRNGKey(1), z.shape[:-1])
  kw = dict(num_data=50, prior_std=1.5, log_q=log_q, group_size=group_size)
  phi, d_dec, aux = jax.jit(lambda d: sv.stein_directions(model, d, x, z, **kw))(dec_params)
  phi_ref, _ = sv.latent_direction(model, dec_params, x, z, log_q=log_q, group_size=group_size)
  d_ref, obj = sv.decoder_direction(model, dec_params, x, z, **kw)
  np.testing.assert_allclose(phi, phi_ref, rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(d_dec["params"]["theta"], d_ref["params"]["theta"], rtol=1e-4, atol=1e-3)
  np.testing.assert_allclose(aux["decoder_objective"] * 50, obj, rtol=1e-5)


def test_latent_group_size_sets_the_latent_weights_only():
  """k_z groups the latent step's weights; the decoder keeps its k-sample weights."""
  model, thetas, dec_params, x, z = _two_decoder_setup(seed=6, s=8)
  log_q = jax.random.normal(jax.random.PRNGKey(2), z.shape[:-1]) * 3.0
  kw = dict(num_data=50, prior_std=1.5, log_q=log_q, group_size=4)
  phi4, d4, _ = sv.stein_directions(model, dec_params, x, z, **kw)
  phi1, d1, _ = sv.stein_directions(model, dec_params, x, z, latent_group_size=1, **kw)
  phi2, d2, _ = sv.stein_directions(model, dec_params, x, z, latent_group_size=2, **kw)
  plain, _ = sv.latent_direction(model, dec_params, x, z)
  np.testing.assert_allclose(phi1, plain, rtol=1e-4, atol=1e-4)  # k_z = 1: plain SVGD
  scores = _ref_scores(thetas, x, z)
  log_w = _ref_log_joint_lme(thetas, x, z) - np.asarray(log_q, np.float64)
  for b in range(3):
    np.testing.assert_allclose(
      phi2[b],
      reference.svgd_direction(z[b], scores[b], "median", log_weights=log_w[b], weight_groups=4),
      rtol=2e-3,
      atol=2e-3,
    )
  for d in (d1, d2):
    np.testing.assert_allclose(d["params"]["theta"], d4["params"]["theta"], rtol=1e-5)
  with pytest.raises(ValueError, match="latent_group_size"):
    sv.stein_directions(model, dec_params, x, z, latent_group_size=3, **kw)
  with pytest.raises(ValueError, match="latent_group_size"):
    sv.stein_vae(model, optax.adam(1e-3), optax.adam(1e-3), num_particles=8, latent_group_size=2)  # needs VIWAE


@pytest.mark.parametrize("alpha,normalization", [(0.0, "mean"), (100.0, "mean"), (100.0, "row_sum"), (1.0, "row_sum")])
def test_latent_kernel_repulsion_and_normalization_of_the_latent_step(alpha, normalization):
  """The latent direction with alpha x grad-k and either normalisation, against a double loop;
  the decoder direction does not depend on either."""
  model, thetas, dec_params, x, z = _two_decoder_setup(seed=8, s=10)
  kern = SteinKernel(repulsion=alpha, normalization=normalization)
  phi, d_dec, _ = sv.stein_directions(model, dec_params, x, z, num_data=50, latent_kernel=kern)
  _, d_ref, _ = sv.stein_directions(model, dec_params, x, z, num_data=50)
  scores = _ref_scores(thetas, x, z)
  for b in range(3):
    np.testing.assert_allclose(
      phi[b],
      reference.svgd_direction(z[b], scores[b], "median", repulsion=alpha, normalization=normalization),
      rtol=2e-3,
      atol=2e-3,
    )
  np.testing.assert_allclose(d_dec["params"]["theta"], d_ref["params"]["theta"], rtol=1e-6)
  with pytest.raises(ValueError, match="normalization"):
    SteinKernel(normalization="sum")
  with pytest.raises(ValueError, match="metric"):
    SteinKernel(metric="full")
  with pytest.raises(ValueError, match="latent_kernel must be a stein_jax.SteinKernel"):
    sv.stein_vae(model, optax.adam(1e-3), optax.adam(1e-3), latent_kernel="imq")
  # the diagonal metric reaches the latent direction (per data point's particle set)
  phi_d, _, _ = sv.stein_directions(model, dec_params, x, z, num_data=50, latent_kernel=SteinKernel(metric="diagonal"))
  for b in range(3):
    want = reference.svgd_direction(z[b], scores[b], "median", metric="diagonal")
    np.testing.assert_allclose(phi_d[b], want, rtol=2e-3, atol=2e-3)


def test_latent_step_options_build_the_kernel_from_the_svgd_keys():
  svgd = {
    "latent_update": "sgd",
    "kernel": "imq",
    "bandwidth": "median_log",
    "repulsion_scale": 2,
    "kernel_normalization": "mean",
    "kernel_metric": "diagonal",
  }
  opts, problems = sv.latent_step_options(svgd)
  assert not problems and opts["latent_update"] == "sgd"
  assert opts["latent_kernel"] == SteinKernel("imq", bandwidth="median_log", repulsion=2.0, metric="diagonal")
  _, problems = sv.latent_step_options(dict(svgd, kernel="gauss", bandwidth="silverman", repulsion_scale=-1), "svgd.")
  assert [p.split(" ")[0] for p in problems] == ["svgd.repulsion_scale", "svgd.kernel", "svgd.bandwidth"]
  # Every key is declared: a missing one is named, not filled with a default.
  _, problems = sv.latent_step_options({k: v for k, v in svgd.items() if k != "kernel_metric"}, "svgd.")
  assert problems == ["the config lacks svgd.kernel_metric (declare it in get_config())"]


def test_any_kernel_reaches_latent_and_decoder_steps():
  """IMQ with h = med^2 / log n for z, a fixed-bandwidth IMQ for the decoder particles: the
  latent direction against the double loop, the decoder direction against svgd_direction on
  the decoder scores (the choice is a SteinKernel, no edit of the objective)."""
  model, thetas, dec_params, x, z = _two_decoder_setup(seed=9, s=10)
  lat, dec_k = SteinKernel("imq", bandwidth="median_log"), SteinKernel("imq", bandwidth=3.0)
  phi, d_dec, _ = sv.stein_directions(model, dec_params, x, z, num_data=50, latent_kernel=lat, decoder_kernel=dec_k)
  scores = _ref_scores(thetas, x, z)
  for b in range(3):
    np.testing.assert_allclose(
      phi[b], reference.svgd_direction(z[b], scores[b], "median_log", kernel="imq"), rtol=2e-3, atol=2e-3
    )
  # the decoder particles' scores (tested against analytic ones elsewhere), smoothed by IMQ, h = 3
  dec_scores = jax.vmap(jax.grad(lambda th: sv.decoder_objective(model, th, x, z, num_data=50, prior_std=1.0)))(
    dec_params
  )["params"]["theta"]
  want = reference.svgd_direction(
    np.asarray(thetas).reshape(2, -1), np.asarray(dec_scores).reshape(2, -1), 3.0, kernel="imq"
  )
  np.testing.assert_allclose(np.asarray(d_dec["params"]["theta"]).reshape(2, -1), want, rtol=1e-3, atol=1e-3)


def test_birth_death_step_in_trainer():
  """No kills when q is the exact posterior (uniform weights); kills and moved targets when not."""
  w, cov = _exact_posterior()
  model = _linear_model()
  x = _data(16, seed=3)

  def run(enc_params, rate):
    trainer = sv.stein_vae(model, optax.sgd(0.0), optax.set_to_zero(), num_particles=32, birth_death_rate=rate)
    state = trainer.init(jax.random.PRNGKey(0))._replace(enc_params=enc_params)
    return jax.jit(trainer.step)(jax.random.PRNGKey(1), state, {"x": x})[1]

  exact = _affine_params(w, cov)
  assert float(run(exact, 5.0)["killed_fraction"]) == 0.0
  wrong = _affine_params(w, 4.0 * cov)
  m_bd, m_plain = run(wrong, 5.0), run(wrong, 0.0)
  assert float(m_bd["killed_fraction"]) > 0.05
  assert "killed_fraction" not in m_plain
  # killed particles are given another particle's target, so the regression loss grows
  assert float(m_bd["fit_loss"]) > float(m_plain["fit_loss"])
  with pytest.raises(ValueError, match="birth_death_rate"):
    sv.stein_vae(model, optax.adam(1e-3), optax.adam(1e-3), birth_death_rate=-1.0)


@pytest.mark.parametrize("update", ["adam", "rms"])
def test_normalised_latent_updates_have_closed_form_fit_loss(update):
  """latent_update="adam": one fresh Adam step, z + eps * phi / (|phi| + 1e-8) elementwise;
  "rms": z + eps * phi / rms_j(phi) per coordinate. Either way the eq. (7) loss before the fit
  is 1/2 eps^2 dz per particle (for "rms" on average over each data point's particles)."""
  model = _linear_model()
  x = _data(8, seed=4)
  for eps in (0.1, 0.5):
    trainer = sv.stein_vae(
      model, optax.sgd(0.0), optax.set_to_zero(), num_particles=16, step_size=eps, latent_update=update
    )
    _, metrics = jax.jit(trainer.step)(jax.random.PRNGKey(1), trainer.init(jax.random.PRNGKey(0)), {"x": x})
    np.testing.assert_allclose(float(metrics["fit_loss"]), 0.5 * eps**2 * DZ, rtol=1e-4)
  with pytest.raises(ValueError, match="latent_update"):
    sv.stein_vae(model, optax.adam(1e-3), optax.adam(1e-3), latent_update="rmsprop")


# ----------------------------------------------------------------- training


def _train(trainer, x_all, steps, batch=64, seed=0):
  state = trainer.init(jax.random.PRNGKey(seed))
  step = jax.jit(trainer.step)
  key = jax.random.PRNGKey(seed + 1)
  n = x_all.shape[0] // batch
  for t in range(steps):
    state, metrics = step(step_key(key, t), state, {"x": x_all[(t % n) * batch : (t % n + 1) * batch]})
  return state, metrics


def _affine_moments(enc_params):
  p = enc_params["params"]
  raw = np.asarray(p["scale_raw"])
  lower = np.tril(raw, -1) + np.diag(np.exp(np.diag(raw)))
  return np.asarray(p["loc"]["kernel"]).T, np.asarray(p["loc"]["bias"]), lower @ lower.T


def test_stein_vae_encoder_matches_conjugate_posterior():
  """Stein VAE (eqs. 6-7) trains an affine encoder to the exact Gaussian posterior."""
  w, cov = _exact_posterior()
  model = _linear_model()
  sched = optax.cosine_decay_schedule(3e-2, 600, alpha=0.02)
  trainer = sv.stein_vae(
    model, optax.adam(sched), optax.set_to_zero(), num_particles=64, step_size=0.05, encoder_steps=1
  )
  state, _ = _train(trainer, _data(1024, seed=7), 600, batch=32)
  w_hat, b_hat, cov_hat = _affine_moments(state.enc_params)
  np.testing.assert_allclose(w_hat, w, atol=0.05)
  np.testing.assert_allclose(b_hat, 0.0, atol=0.05)
  np.testing.assert_allclose(cov_hat, cov, atol=0.03, rtol=0.15)


def test_stein_viwae_encoder_mean_exact_and_covariance_underdispersed():
  """Stein VIWAE (k = 5): the posterior mean map is recovered; the covariance is biased low.

  The self-normalised weights shrink the restoring force of eq. (12) by about 1 / k
  while the finite-particle shrinkage of the RBF/median SVGD does not shrink, so the
  fixed point is under-dispersed (docs/stein_viwae.md, "A caveat"). This pins both facts.
  """
  w, cov = _exact_posterior()
  model = _linear_model()
  sched = optax.cosine_decay_schedule(3e-2, 600, alpha=0.02)
  trainer = sv.stein_vae(
    model, optax.adam(sched), optax.set_to_zero(), num_particles=64, group_size=4, step_size=0.05, encoder_steps=1
  )
  state, metrics = _train(trainer, _data(1024, seed=7), 600, batch=32)
  w_hat, b_hat, cov_hat = _affine_moments(state.enc_params)
  np.testing.assert_allclose(w_hat, w, atol=0.08)
  np.testing.assert_allclose(b_hat, 0.0, atol=0.06)
  ratio = np.linalg.eigvalsh(
    np.linalg.solve(np.linalg.cholesky(cov), np.linalg.solve(np.linalg.cholesky(cov), cov_hat).T)
  )  # eigenvalues of C^-1/2 C_hat C^-T/2
  assert np.all(ratio > 0.4) and np.all(ratio < 1.05), ratio
  assert float(metrics["ess_fraction"]) > 0.7  # q close to p: near-uniform weights


def test_vae_baseline_reaches_log_marginal_with_affine_encoder():
  """The VAE baseline's bound on data whose posterior the encoder family contains."""
  model = _linear_model()
  x = _data(1024, seed=8)
  sched = optax.cosine_decay_schedule(3e-2, 800, alpha=0.02)
  trainer = sv.make_trainer("vae", model, optax.adam(sched))
  # keep the decoder at the true theta: zero its updates
  trainer = trainer._replace(step=_freeze_decoder(trainer.step))
  state, _ = _train(trainer, x, 800, batch=32)
  e = bounds.elbo(jax.random.PRNGKey(0), model, state.enc_params, state.dec_params, x[:64], 2000)
  np.testing.assert_allclose(np.mean(e), np.mean(_log_marginal(x[:64])), atol=0.02)


def _freeze_decoder(step):
  def frozen(key, state, batch):
    new, m = step(key, state, batch)
    return new._replace(dec_params=state.dec_params), m

  return frozen


def test_trainers_run_on_mnist_shapes_and_do_not_retrace():
  model = sv.LatentModel(
    vae.FlowEncoder(8, hidden=(16,), num_coupling_layers=2, coupling_hidden=8),
    vae.BernoulliDecoder(20, (16,)),
    latent_dim=8,
    data_dim=20,
  )
  x = (jax.random.uniform(jax.random.PRNGKey(0), (4, 20)) > 0.5).astype(jnp.float32)
  for method in ("stein_viwae",):  # the most complex step: IW-SVGD on z, SVGD on 2 decoders
    traces = []
    trainer = sv.make_trainer(
      method, model, optax.adam(1e-3), num_particles=6, k=3, num_decoder=2 if method.startswith("stein") else 1
    )
    step = jax.jit(lambda k, s, b: (traces.append(1), trainer.step(k, s, b))[1])
    state = jax.jit(trainer.init)(jax.random.PRNGKey(1))
    for t in range(3):
      state, metrics = step(step_key(jax.random.PRNGKey(2), t), state, {"x": x})
    assert len(traces) == 1, method
    assert int(state.step) == 3
    assert all(np.all(np.isfinite(np.asarray(v))) for v in metrics.values()), method


# ---------------------------------------------------------------- bad input


def test_bad_inputs_raise_clear_errors():
  model = sv.LatentModel(
    vae.FlowEncoder(4, hidden=(8,), num_coupling_layers=1), vae.BernoulliDecoder(6, (8,)), latent_dim=4, data_dim=6
  )
  trainer = sv.make_trainer("stein_vae", model, optax.adam(1e-3), num_particles=4)
  state = jax.jit(trainer.init)(jax.random.PRNGKey(0))
  with pytest.raises(ValueError, match=r"\[0, 1\]"):
    trainer.step(jax.random.PRNGKey(0), state, {"x": jnp.full((2, 6), 255.0)})
  with pytest.raises(ValueError, match="shape"):
    trainer.step(jax.random.PRNGKey(0), state, {"x": jnp.zeros((2, 28, 28))})
  with pytest.raises(ValueError, match="shape"):
    bounds.elbo(jax.random.PRNGKey(0), model, state.enc_params, state.dec_params, jnp.zeros((2, 7)), 4)
  with pytest.raises(ValueError, match="dim xi == dim z|latent"):
    sv.encode(model, state.enc_params, jnp.zeros((2, 6)), jnp.zeros((2, 3)))
  mismatched = model._replace(latent_dim=5)
  with pytest.raises(ValueError, match="latent_dim"):
    sv.make_trainer("vae", mismatched, optax.adam(1e-3))
  with pytest.raises(ValueError, match="divide"):
    sv.make_trainer("stein_viwae", model, optax.adam(1e-3), num_particles=10, k=3)
  with pytest.raises(ValueError, match="Unknown method"):
    sv.make_trainer("gan", model, optax.adam(1e-3))
  with pytest.raises(ValueError, match="latent_dim >= 2"):
    vae.FlowEncoder(1).init(jax.random.PRNGKey(0), jnp.zeros((1, 3)), jnp.zeros((1, 1)))


def test_bound_function_is_built_once_per_model():
  """Repeated evaluations reuse one jitted bound instead of recompiling it."""
  model = sv.LatentModel(
    encoder=vae.AffineEncoder(latent_dim=2),
    decoder=vae.LinearGaussianDecoder(output_dim=3),
    latent_dim=2,
    data_dim=3,
    likelihood="gaussian",
  )
  assert bounds.make_bound_fn(model, 10, 5) is bounds.make_bound_fn(model, 10, 5)
  assert bounds.make_bound_fn(model, 10, 5) is not bounds.make_bound_fn(model, 20, 5)


@pytest.mark.parametrize("rho", [1.0, 0.77, 0.5])
def test_underdispersed_particles_fixed_point(rho):
  """docs/stein_math.md sec. 14: the M-step on particles with a fraction rho of the posterior variance
  (x = w z + eps, linear-Gaussian) converges to w^2 = s^2 / rho - sigma^2, posterior variance
  rho sigma^2 / s^2, and (rho < 1) a lower marginal likelihood than the MLE's."""
  rng = np.random.default_rng(0)
  sigma2 = 0.5
  x = 1.5 * rng.normal(size=20_000) + math.sqrt(sigma2) * rng.normal(size=20_000)
  s2 = np.mean(x**2)
  w = 0.1
  for _ in range(3000):
    v = 1.0 / (1.0 + w**2 / sigma2)
    m = w * x * v / sigma2
    w = np.sum(x * m) / np.sum(m**2 + rho * v)
  np.testing.assert_allclose(w**2, s2 / rho - sigma2, rtol=1e-6)
  np.testing.assert_allclose(1.0 / (1.0 + w**2 / sigma2), rho * sigma2 / s2, rtol=1e-6)
  loglik = lambda w2: np.mean(-0.5 * np.log(2 * np.pi * (w2 + sigma2)) - 0.5 * x**2 / (w2 + sigma2))
  if rho < 1:
    assert loglik(w**2) < loglik(s2 - sigma2) - 1e-3


def test_softplus_is_jax_softplus_bit_for_bit_with_the_sigmoid_gradient():
  """targets.latent.softplus (the Bernoulli likelihood's, faster to differentiate) against jax.nn.softplus."""
  from stein_jax.targets import latent as latent_targets  # pylint: disable=g-import-not-at-top

  a = jnp.concatenate(
    [jnp.linspace(-100.0, 100.0, 20001), jnp.array([0.0, -0.0, 1e-30, -1e-30, 88.0, -88.0, jnp.inf, -jnp.inf])]
  ).astype(jnp.float32)
  np.testing.assert_array_equal(np.asarray(latent_targets.softplus(a)), np.asarray(jax.nn.softplus(a)))
  finite = a[jnp.isfinite(a)]
  grad = jax.vmap(jax.grad(latent_targets.softplus))(finite)
  np.testing.assert_allclose(grad, jax.nn.sigmoid(finite), rtol=1e-6, atol=1e-7)
  assert float(jax.grad(latent_targets.softplus)(0.0)) == 0.5


@pytest.mark.parametrize("dim", [2, 5, 50])
@pytest.mark.parametrize("layer", [0, 1])
def test_coupling_halves_by_strided_slices_equal_the_index_gather(dim, layer):
  """The FlowEncoder's alternating masks take the strided-slice path; split/merge are the gather/scatter by index."""
  mask = tuple(bool((i + layer) % 2 == 0) for i in range(dim))
  coupling = vae._Coupling(mask, 4, jnp.tanh)
  ia = [i for i, m in enumerate(mask) if m]
  ib = [i for i, m in enumerate(mask) if not m]
  assert vae._alternating(ia, ib, dim)
  u = jax.random.normal(jax.random.key(dim), (3, 1, dim))
  ua, ub = coupling._split(u)
  np.testing.assert_array_equal(ua, u[..., np.array(ia)])
  np.testing.assert_array_equal(ub, u[..., np.array(ib)])
  wide = jnp.broadcast_to(ub, (3, 4, len(ib))) + 1.0  # u_b after the coupling, broadcast over particles
  merged = coupling._merge(ua, wide)
  expect = jnp.zeros((3, 4, dim)).at[..., np.array(ia)].set(jnp.broadcast_to(ua, (3, 4, len(ia))))
  np.testing.assert_array_equal(merged, expect.at[..., np.array(ib)].set(wide))
