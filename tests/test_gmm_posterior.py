"""Exact GMM posteriors of sec. 5.1 (stein_jax.data.synthetic_gmm) against brute force.

The reference is a float64 numpy grid over z of prior(z) * likelihood(x | z), written
here from the model's definition and sharing no code with the module under test.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from stein_jax.data import synthetic_gmm as gmm

MU = np.array([[5.0, 5.0], [-5.0, -5.0]])
A = {"paper": np.array([[2.0, -1.0], [1.0, -2.0]]), "bimodal": np.array([[1.0, -1.0]])}
S = 0.1


def _log_joint_grid(x, z1, z2, a, component=None):
  """log p(z) + log p(x | z) on a grid (float64, from the model definition).

  component=c replaces the mixture prior by its c-th term 1/2 N(mu_c, I).
  """
  z = np.stack(np.meshgrid(z1, z2, indexing="ij"), -1)  # [n1, n2, 2]
  comp = [np.log(0.5) - 0.5 * np.sum((z - m) ** 2, -1) - np.log(2 * np.pi) for m in MU]
  log_prior = np.logaddexp(*comp) if component is None else comp[component]
  resid = x - z @ a.T
  dx = a.shape[0]
  log_lik = -0.5 * np.sum(resid**2, -1) / S**2 - dx * np.log(S * np.sqrt(2 * np.pi))
  return z, log_prior + log_lik


def _grid_moments(x, a, center, half_width, n, component=None):
  """Log mass, mean and covariance of prior*likelihood over a square box (Riemann sum)."""
  z1 = np.linspace(center[0] - half_width, center[0] + half_width, n)
  z2 = np.linspace(center[1] - half_width, center[1] + half_width, n)
  cell = (z1[1] - z1[0]) * (z2[1] - z2[0])
  z, lj = _log_joint_grid(x, z1, z2, a, component)
  mx = lj.max()
  w = np.exp(lj - mx)
  mass = w.sum()
  mean = np.einsum("ij,ijk->k", w, z) / mass
  d = z - mean
  cov = np.einsum("ij,ijk,ijl->kl", w, d, d) / mass
  return mx + np.log(mass * cell), mean, cov


def _data(observation, n=6, seed=0):
  x, z = gmm.sample_joint(jax.random.PRNGKey(seed), n, observation)
  return np.asarray(x, np.float64), np.asarray(z)


def test_paper_posterior_matches_grid():
  """Per-component evidence (hence the ~exp(-100) weight ratio), means and covariance."""
  x, _ = _data("paper")
  post = gmm.exact_posterior(jnp.asarray(x), "paper")
  for i in range(x.shape[0]):
    logmass = []
    for c in range(2):
      # prior restricted to component c: its normalised product is N(m_c, S) and its
      # mass is pi_c N(x; A mu_c, C), whose ratio over c gives the posterior weights
      center = np.asarray(post.means[i, c], np.float64)
      lm, mean, cov = _grid_moments(x[i], A["paper"], center, 0.5, 401, component=c)
      logmass.append(lm)
      np.testing.assert_allclose(mean, center, atol=2e-4)
      np.testing.assert_allclose(cov, np.asarray(post.cov), rtol=2e-3, atol=1e-6)
    lw = np.asarray(post.log_weights[i], np.float64)
    np.testing.assert_allclose(logmass[0] - logmass[1], lw[0] - lw[1], rtol=1e-4, atol=1e-2)
    assert abs(lw[0] - lw[1]) > 30  # one component dominates: the other weight underflows
    # and the full (mixture-prior) posterior is that one Gaussian
    dom = int(np.argmax(lw))
    _, mean, cov = _grid_moments(x[i], A["paper"], np.asarray(post.means[i, dom], np.float64), 0.5, 401)
    np.testing.assert_allclose(mean, np.asarray(post.means[i, dom]), atol=2e-4)
    np.testing.assert_allclose(cov, np.asarray(post.cov), rtol=2e-3, atol=1e-6)
  c = np.asarray(post.cov)
  assert c[0, 1] / np.sqrt(c[0, 0] * c[1, 1]) > 0.75  # strongly correlated


def test_bimodal_posterior_matches_grid():
  """Equal weights, the two means and covariance from one grid over both modes."""
  x, _ = _data("bimodal")
  post = gmm.exact_posterior(jnp.asarray(x), "bimodal")
  np.testing.assert_allclose(np.exp(np.asarray(post.log_weights)), 0.5, atol=1e-6)
  z1 = np.linspace(-12, 12, 1201)
  for i in range(3):
    z, lj = _log_joint_grid(x[i], z1, z1, A["bimodal"])
    w = np.exp(lj - lj.max())
    upper = (z[..., 0] + z[..., 1]) > 0
    np.testing.assert_allclose(w[upper].sum() / w.sum(), 0.5, atol=1e-3)
    for c, region in ((0, upper), (1, ~upper)):
      wc = np.where(region, w, 0.0)
      mean = np.einsum("ij,ijk->k", wc, z) / wc.sum()
      d = z - mean
      cov = np.einsum("ij,ijk,ijl->kl", wc, d, d) / wc.sum()
      np.testing.assert_allclose(mean, np.asarray(post.means[i, c]), atol=2e-3)
      np.testing.assert_allclose(cov, np.asarray(post.cov), atol=3e-3)
  # the modes are far apart relative to the posterior spread
  gap = np.linalg.norm(np.asarray(post.means[:, 0] - post.means[:, 1]), axis=-1)
  assert np.all(gap > 10 * np.sqrt(np.linalg.eigvalsh(np.asarray(post.cov)).max()))


@pytest.mark.parametrize("observation", ["paper", "bimodal"])
def test_log_density_and_marginal_against_grid(observation):
  x, _ = _data(observation, n=2, seed=3)
  post = gmm.exact_posterior(jnp.asarray(x), observation)
  i = 0
  c = int(np.argmax(np.asarray(post.log_weights[i])))
  center = np.asarray(post.means[i, c], np.float64)
  half = 0.6 if observation == "paper" else 6.0
  z1 = np.linspace(center[0] - half, center[0] + half, 601)
  z2 = np.linspace(center[1] - half, center[1] + half, 601)
  z, lj = _log_joint_grid(x[i], z1, z2, A[observation])
  cell = (z1[1] - z1[0]) * (z2[1] - z2[0])
  # posterior log density = log joint - log p(x) pointwise (on a subsample of grid points)
  pts = z[::60, ::60].reshape(-1, 2)
  post_i = gmm.GMMPosterior(post.log_weights[i], post.means[i], post.cov)
  lp = np.asarray(gmm.posterior_log_prob(post_i, jnp.asarray(pts, jnp.float32)))
  log_px = float(gmm.log_marginal(jnp.asarray(x[i]), observation))
  ref = lj[::60, ::60].reshape(-1) - log_px
  ok = ref > -30  # compare where the density is not negligible (float32 tails)
  np.testing.assert_allclose(lp[ok], ref[ok], atol=5e-3, rtol=1e-4)
  # log p(x) against the grid integral (the box holds the dominant component's mass;
  # in the bimodal case the other mode holds exactly the same mass)
  mass = np.log(np.exp(lj - lj.max()).sum() * cell) + lj.max()
  expected = mass if observation == "paper" else mass + np.log(2.0)
  np.testing.assert_allclose(log_px, expected, atol=5e-3)


@pytest.mark.parametrize("observation", ["paper", "bimodal"])
def test_exact_samples_match_parameters_and_modes(observation):
  x, _ = _data(observation, n=3, seed=5)
  post = gmm.exact_posterior(jnp.asarray(x), observation)
  z = np.asarray(gmm.posterior_sample(jax.random.PRNGKey(1), post, 20000), np.float64)
  weights = np.asarray(gmm.mode_weights(post, jnp.asarray(z)))
  np.testing.assert_allclose(weights, np.exp(np.asarray(post.log_weights)), atol=0.015)
  idx = np.asarray(gmm.assign_mode(post, jnp.asarray(z)))
  for i in range(3):
    for c in range(2):
      zc = z[i][idx[i] == c]
      if len(zc) < 100:
        continue
      np.testing.assert_allclose(zc.mean(0), np.asarray(post.means[i, c]), atol=0.03)
      np.testing.assert_allclose(np.cov(zc.T), np.asarray(post.cov), atol=0.03, rtol=0.05)


def test_dataset_sizes_and_bad_observation():
  d = gmm.make_dataset(jax.random.PRNGKey(0), "paper")
  assert d.x_train.shape == (10_000, 2) and d.x_test.shape == (10, 2)
  d = gmm.make_dataset(jax.random.PRNGKey(0), "bimodal")
  assert d.x_train.shape == (10_000, 1) and d.z_test.shape == (10, 2)
  # the data are generated by the stated model: residual noise has std 0.1
  resid = np.asarray(d.x_train[:, 0] - (d.z_train[:, 0] - d.z_train[:, 1]))
  assert abs(resid.std() - 0.1) < 0.005
  with pytest.raises(ValueError, match="Unknown observation"):
    gmm.observation_matrix("trimodal")
  with pytest.raises(ValueError, match="last dimension"):
    gmm.exact_posterior(jnp.zeros((3, 2)), "bimodal")
