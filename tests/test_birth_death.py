"""Birth-death step (stein_jax.stein.birth_death): rates, mean-field identity, mode transport."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from stein_jax import stein
from tests import reference


def test_rates_match_double_loop_reference():
  rng = np.random.default_rng(0)
  z = rng.normal(size=(2, 9, 3)).astype(np.float32)
  lw = rng.normal(size=(2, 9)).astype(np.float32) * 2
  h = 1.7
  got = np.asarray(stein.birth_death_rates(z, lw, bandwidth=h))
  plain = np.asarray(stein.birth_death_rates(z, lw))
  for b in range(2):
    lam = lw[b].mean() - lw[b]
    np.testing.assert_allclose(plain[b], lam, rtol=1e-5, atol=1e-6)
    kern = reference.kernel_matrix(z[b], h=h)  # [j, i] = exp(-||z_j - z_i||^2 / h)
    for j in range(9):
      np.testing.assert_allclose(got[b, j], np.sum(kern[j] * lam) / np.sum(kern[j]), rtol=1e-4, atol=1e-5)


def test_no_rate_or_uniform_weights_change_nothing():
  z = jax.random.normal(jax.random.key(0), (4, 16, 2))
  lw = jax.random.normal(jax.random.key(1), (4, 16))
  new, killed = stein.birth_death(jax.random.key(2), z, lw, 0.0)
  np.testing.assert_array_equal(new, z)
  assert not bool(killed.any())
  new, killed = stein.birth_death(jax.random.key(2), z, jnp.full((4, 16), -3.0), 5.0)
  np.testing.assert_array_equal(new, z)
  assert not bool(killed.any())


def test_one_step_matches_mean_field_prediction():
  # Two locations: a fraction f of the n particles at 0, the rest at 1, log-weights l0, l1.
  n, f, l0, l1, rate = 1000, 0.7, -1.0, 0.5, 0.8
  z = jnp.concatenate([jnp.zeros((int(n * f), 1)), jnp.ones((n - int(n * f), 1))])
  lw = jnp.where(z[:, 0] == 0, l0, l1)
  keys = jax.random.split(jax.random.key(0), 400)
  new = jax.vmap(lambda k: stein.birth_death(k, z, lw, rate)[0])(keys)
  frac0 = np.asarray(jnp.mean(new[..., 0] == 0, -1))
  mean_l = f * l0 + (1 - f) * l1
  p0 = 1 - np.exp(-rate * max(mean_l - l0, 0))
  p1 = 1 - np.exp(-rate * max(mean_l - l1, 0))
  expected = f * (1 - p0) + (f * p0 + (1 - f) * p1) * f
  se = frac0.std() / np.sqrt(len(keys))
  assert abs(frac0.mean() - expected) < 4 * se + 1e-4, (frac0.mean(), expected, se)
  assert expected < f  # mass leaves the over-represented location


@pytest.mark.parametrize("use_birth_death", [False, True])
def test_svgd_with_birth_death_moves_mass_between_separated_modes(use_birth_death):
  # p = 0.3 N(-6, 1) + 0.7 N(6, 1): 12 sds apart, where plain SVGD keeps its initial split
  # (docs/stein_math.md sec. 8). Start 50/50; birth-death with a kernel density estimate of
  # rho must bring the right mode's share to 0.7.
  w = jnp.array([0.3, 0.7])
  mu = jnp.array([-6.0, 6.0])

  def log_p(x):
    return jax.nn.logsumexp(jnp.log(w) - 0.5 * (x[..., None] - mu) ** 2, -1)

  n = 200
  x0 = jnp.concatenate(
    [mu[0] + jax.random.normal(jax.random.key(0), (n // 2,)), mu[1] + jax.random.normal(jax.random.key(1), (n // 2,))]
  )[:, None]
  kde_h = 0.5  # within-mode scale for the density estimate

  def step(x, key):
    score = jax.vmap(jax.grad(lambda v: log_p(v[0])))(x)
    x = x + 0.3 * stein.svgd_direction(x, score)
    if use_birth_death:
      log_rho = jax.nn.logsumexp(-((x - x.T) ** 2) / kde_h, -1)
      x, _ = stein.birth_death(key, x, log_p(x[:, 0]) - log_rho, 0.5)
    return x, jnp.mean(x[:, 0] > 0)

  x, share = jax.lax.scan(step, x0, jax.random.split(jax.random.key(2), 400))
  right = float(jnp.mean(share[-100:]))
  if use_birth_death:
    assert abs(right - 0.7) < 0.05, right
  else:
    assert abs(right - 0.5) < 0.02, right


def test_bad_input():
  z = jnp.zeros((5, 2))
  with pytest.raises(ValueError, match="log_weights"):
    stein.birth_death(jax.random.key(0), z, jnp.zeros((4,)), 1.0)
  with pytest.raises(ValueError, match="rate"):
    stein.birth_death(jax.random.key(0), z, jnp.zeros((5,)), -1.0)
