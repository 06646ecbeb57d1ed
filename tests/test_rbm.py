"""Gaussian-Bernoulli RBM: energy, exact log Z, log-likelihood, moments and sampler against independent references."""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from stein_jax.targets import rbm
from stein_jax.models.energy import (
  GaussianBernoulliRBM,
  IsotropicGaussianEnergy,
  energy_and_score,
  energy_values,
  gaussian_bernoulli_negative_energy,
)


def _params(dim, num_hidden, seed=0, scale=0.5):
  rs = np.random.RandomState(seed)
  return rbm.RBMParams(
    jnp.asarray(scale * rs.randn(dim, num_hidden), jnp.float32),
    jnp.asarray(0.5 * rs.randn(dim), jnp.float32),
    jnp.asarray(0.3 * rs.randn(num_hidden), jnp.float32),
  )


def _numpy_energy(params, x):
  """f(x) written with cosh, in float64, independently of the library."""
  b_mat, b, c = (np.asarray(a, np.float64) for a in params)
  x = np.asarray(x, np.float64)
  return x @ b - 0.5 * np.sum(x**2, -1) + np.sum(np.log(2 * np.cosh(x @ b_mat + c)), -1)


def _brute_force_hidden_terms(params):
  """[(s, ||b + B s||^2 / 2 + c^T s)] over all states by a Python loop, float64."""
  b_mat, b, c = (np.asarray(a, np.float64) for a in params)
  out = []
  for s in itertools.product([-1.0, 1.0], repeat=b_mat.shape[1]):
    s = np.array(s)
    out.append((s, 0.5 * np.sum((b + b_mat @ s) ** 2) + c @ s))
  return out


def _logsumexp(a):
  a = np.asarray(a, np.float64)
  m = np.max(a)
  return m + np.log(np.sum(np.exp(a - m)))


# ----------------------------------------------------------------------------- energy


def test_module_energy_matches_cosh_formula_and_params():
  model = GaussianBernoulliRBM(num_hidden=4, weight_init=jax.nn.initializers.normal(0.7))
  x = jax.random.normal(jax.random.key(0), (6, 3))
  variables = model.init(jax.random.key(1), x)
  assert variables["params"]["B"].shape == (3, 4)
  assert variables["params"]["b"].shape == (3,)
  assert variables["params"]["c"].shape == (4,)
  f = energy_values(model.apply, variables, x)
  np.testing.assert_allclose(f, _numpy_energy(rbm.rbm_params(variables), x), rtol=1e-5, atol=1e-5)


def test_energy_score_matches_finite_differences():
  params = _params(3, 4, seed=1)
  apply_fn = lambda p, x: gaussian_bernoulli_negative_energy(*p, x)
  x = np.random.RandomState(2).randn(5, 3)
  f, score = energy_and_score(apply_fn, params, jnp.asarray(x, jnp.float32))
  eps = 1e-4
  for k in range(3):
    e = np.zeros(3)
    e[k] = eps
    fd = (_numpy_energy(params, x + e) - _numpy_energy(params, x - e)) / (2 * eps)
    np.testing.assert_allclose(score[:, k], fd, rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(f, _numpy_energy(params, x), rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------------------ log Z


@pytest.mark.parametrize("num_hidden", [1, 2, 3])
def test_log_partition_matches_quadrature_1d(num_hidden):
  params = _params(1, num_hidden, seed=num_hidden, scale=0.9)
  grid = np.linspace(-30.0, 30.0, 60001)
  logf = _numpy_energy(params, grid[:, None])
  m = logf.max()
  log_z_quad = m + np.log(np.trapezoid(np.exp(logf - m), grid))
  np.testing.assert_allclose(rbm.log_partition(params), log_z_quad, rtol=0, atol=2e-5)


def test_log_partition_matches_quadrature_2d():
  params = _params(2, 3, seed=7, scale=0.8)
  axis = np.linspace(-14.0, 14.0, 1401)
  xx, yy = np.meshgrid(axis, axis, indexing="ij")
  logf = _numpy_energy(params, np.stack([xx.ravel(), yy.ravel()], -1)).reshape(xx.shape)
  m = logf.max()
  inner = np.trapezoid(np.exp(logf - m), axis, axis=1)
  log_z_quad = m + np.log(np.trapezoid(inner, axis))
  np.testing.assert_allclose(rbm.log_partition(params), log_z_quad, rtol=0, atol=2e-5)


def test_log_partition_matches_importance_sampling_6d():
  dim, num_hidden = 6, 4
  params = _params(dim, num_hidden, seed=3, scale=0.3)
  rs = np.random.RandomState(0)
  sigma, n = 1.6, 400_000
  b = np.asarray(params.visible_bias, np.float64)
  x = b + sigma * rs.randn(n, dim)
  log_q = -0.5 * dim * np.log(2 * np.pi * sigma**2) - 0.5 * np.sum((x - b) ** 2, -1) / sigma**2
  log_w = _numpy_energy(params, x) - log_q
  log_z_is = _logsumexp(log_w) - np.log(n)
  # relative standard error of the mean weight, as an error bar on log Z
  w = np.exp(log_w - log_w.max())
  rel_se = w.std() / w.mean() / np.sqrt(n)
  assert rel_se < 0.01
  np.testing.assert_allclose(rbm.log_partition(params), log_z_is, rtol=0, atol=5 * rel_se)


def test_log_partition_matches_brute_force_enumeration_for_every_chunk_size():
  params = _params(50, 10, seed=4, scale=0.2)
  terms = [t for _, t in _brute_force_hidden_terms(params)]
  expected = 25 * np.log(2 * np.pi) + _logsumexp(terms)
  for chunk_size in (1, 16, 100, 4096, 10**6):
    np.testing.assert_allclose(rbm.log_partition(params, chunk_size=chunk_size), expected, rtol=2e-6)


def test_log_partition_of_mnist_sized_model_matches_brute_force():
  model = GaussianBernoulliRBM(10, weight_init=jax.nn.initializers.normal(0.05))
  variables = model.init(jax.random.key(0), jnp.zeros((1, 784)))
  params = rbm.rbm_params(variables)
  params = params._replace(visible_bias=jax.random.uniform(jax.random.key(1), (784,)))
  terms = [t for _, t in _brute_force_hidden_terms(params)]
  expected = 392 * np.log(2 * np.pi) + _logsumexp(terms)
  np.testing.assert_allclose(rbm.log_partition(params), expected, rtol=1e-6)


def test_log_partition_gradient_equals_hidden_moments():
  """grad_b log Z = b + B E[s], grad_c = E[s], grad_B = b E[s]^T + B E[s s^T] (the MLE identity E_p grad f)."""
  params = _params(5, 6, seed=5)
  grads = jax.grad(lambda p: rbm.log_partition(p, chunk_size=8))(params)
  mean_s, second_s = rbm.hidden_marginal_moments(params)
  b_mat, b, _ = params
  np.testing.assert_allclose(grads.visible_bias, b + b_mat @ mean_s, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(grads.hidden_bias, mean_s, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(grads.weights, jnp.outer(b, mean_s) + b_mat @ second_s, rtol=1e-4, atol=1e-5)


def test_too_many_hidden_units_raise_naming_the_limit():
  params = _params(3, rbm.MAX_EXACT_HIDDEN + 1)
  for fn in (
    lambda: rbm.log_partition(params),
    lambda: rbm.sample(jax.random.key(0), params, 3),
    lambda: rbm.hidden_log_weights(params),
    lambda: rbm.log_likelihood(params, jnp.zeros((2, 3))),
  ):
    with pytest.raises(ValueError, match=f"MAX_EXACT_HIDDEN={rbm.MAX_EXACT_HIDDEN}"):
      fn()


# ------------------------------------------------------------------- log-likelihood


def test_log_likelihood_equals_gaussian_mixture_density():
  """p(x) = sum_s p(s) N(x; b + B s, I), written out independently."""
  params = _params(4, 5, seed=6)
  x = np.random.RandomState(1).randn(7, 4) + np.asarray(params.visible_bias)
  states_terms = _brute_force_hidden_terms(params)
  log_norm = _logsumexp([t for _, t in states_terms])
  b_mat, b, _ = (np.asarray(a, np.float64) for a in params)
  comps = []
  for s, t in states_terms:
    mean = b + b_mat @ s
    comps.append(t - log_norm - 2 * np.log(2 * np.pi) - 0.5 * np.sum((x - mean) ** 2, -1))
  comps = np.stack(comps, 0)
  expected = np.array([_logsumexp(comps[:, i]) for i in range(x.shape[0])])
  np.testing.assert_allclose(rbm.log_likelihood(params, jnp.asarray(x, jnp.float32)), expected, rtol=1e-5)
  np.testing.assert_allclose(
    rbm.mean_log_likelihood(params, jnp.asarray(x, jnp.float32), batch_size=3), expected.mean(), rtol=1e-5
  )


def test_log_likelihood_accepts_flax_variables():
  model = GaussianBernoulliRBM(3)
  x = jax.random.normal(jax.random.key(0), (4, 2))
  variables = model.init(jax.random.key(1), x)
  np.testing.assert_allclose(
    rbm.log_likelihood(variables, x), rbm.log_likelihood(rbm.rbm_params(variables), x), rtol=1e-6
  )


def test_wrong_data_dimension_raises():
  model = GaussianBernoulliRBM(3)
  variables = model.init(jax.random.key(0), jnp.zeros((1, 5)))
  with pytest.raises(ValueError, match="5 visible units"):
    model.apply(variables, jnp.zeros((2, 4)))
  with pytest.raises(ValueError, match=r"\[batch, 5\]"):
    rbm.log_likelihood(variables, jnp.zeros((2, 4)))
  with pytest.raises(ValueError, match=r"\[batch, d\]"):
    energy_values(model.apply, variables, jnp.zeros((5,)))
  with pytest.raises(ValueError, match="'B', 'b' and 'c'"):
    rbm.rbm_params({"params": {"kernel": jnp.zeros((2, 2))}})


def test_isotropic_gaussian_energy_wrong_dimension_raises():
  model = IsotropicGaussianEnergy()
  variables = model.init(jax.random.key(0), jnp.zeros((1, 2)))
  with pytest.raises(ValueError, match="dimension 2"):
    model.apply(variables, jnp.zeros((3, 3)))


# --------------------------------------------------------------------------- sampling


def test_exact_samples_match_hidden_marginal_and_closed_form_mean():
  params = _params(3, 3, seed=8, scale=0.7)
  n = 100_000
  x, s = rbm.sample(jax.random.key(0), params, n)
  assert x.shape == (n, 3) and s.shape == (n, 3)
  # hidden-state frequencies vs the exact marginal p(s) = softmax(log w)
  probs = np.asarray(jax.nn.softmax(rbm.hidden_log_weights(params)))
  index = np.asarray(((1 - s) / 2).astype(np.int32) @ (2 ** np.arange(3)))
  freq = np.bincount(index, minlength=8) / n
  np.testing.assert_allclose(freq, probs, atol=5 * np.sqrt(probs * (1 - probs) / n).max())
  # x = b + B s + noise: sample mean vs E[x] = b + B E[s]
  mean = rbm.rbm_mean(params)
  se = np.asarray(jnp.std(x, axis=0)) / np.sqrt(n)
  np.testing.assert_array_less(np.abs(np.asarray(jnp.mean(x, axis=0) - mean)), 5 * se)


def test_closed_form_mean_matches_quadrature_1d():
  params = _params(1, 3, seed=9, scale=0.9)
  grid = np.linspace(-30.0, 30.0, 60001)
  logf = _numpy_energy(params, grid[:, None])
  p = np.exp(logf - logf.max())
  mean_quad = np.trapezoid(grid * p, grid) / np.trapezoid(p, grid)
  np.testing.assert_allclose(rbm.rbm_mean(params)[0], mean_quad, atol=1e-5)


def test_exact_loglik_of_exact_samples_matches_gaussian_entropy_when_decoupled():
  """B = 0 makes the RBM N(b, I): E_p log p(x) = -d/2 (log 2 pi + 1)."""
  dim = 5
  params = _params(dim, 4, seed=10)._replace(weights=jnp.zeros((dim, 4)))
  n = 40_000
  x, _ = rbm.sample(jax.random.key(1), params, n)
  ll = rbm.log_likelihood(params, x)
  se = math.sqrt(dim / 2 / n)  # var log p = var ||z||^2 / 2 = d / 2
  np.testing.assert_allclose(jnp.mean(ll), -0.5 * dim * (math.log(2 * math.pi) + 1), atol=5 * se)


def test_exact_samples_satisfy_mle_identity():
  """E_p[grad_theta f(x)] = grad_theta log Z: the model term of eq. (8), by sampling vs by enumeration."""
  params = _params(3, 2, seed=11, scale=0.6)
  n = 200_000
  x, _ = rbm.sample(jax.random.key(2), params, n)
  grad_f = jax.grad(lambda p, xi: gaussian_bernoulli_negative_energy(*p, xi))
  per_example = jax.jit(jax.vmap(grad_f, (None, 0)))(params, x)
  exact = jax.grad(rbm.log_partition)(params)
  for sampled, target in zip(per_example, exact):
    se = np.asarray(jnp.std(sampled, axis=0)) / np.sqrt(n)
    np.testing.assert_array_less(np.abs(np.asarray(jnp.mean(sampled, axis=0) - target)), 5 * se + 1e-6)
