"""The gamma deep exponential family text model (stein_jax.models.deep_poisson)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy import special, stats

from stein_jax.models import deep_poisson as dp
from stein_jax.models import vae as vae_models
from stein_jax.objectives import stein_vae as sv

LAYERS = (4, 3, 2)
V = 6
SHAPE = 0.7


def _model():
  dec = dp.DeepPoissonDecoder(V, LAYERS, SHAPE, log_rate_init=-0.5)
  enc = vae_models.FlowEncoder(sum(LAYERS), (8,), num_coupling_layers=1, coupling_hidden=4, input_transform="log1p")
  return sv.LatentModel(enc, dec, sum(LAYERS), V, "deep_poisson", log_prior=dp.log_prior_fn(LAYERS, SHAPE))


def _reference_log_joint(params, x, u):
  """log p(x, u) by scipy: Gamma densities of every layer in z plus log|dz/du| = sum u, the
  Poisson pmf of x, minus the multinomial coefficient (docs/deep_poisson.md)."""
  p = params["params"]
  w = [np.log1p(np.exp(np.asarray(p[f"w{l}"], np.float64))) for l in range(3)]
  b = np.asarray(p["log_scale"], np.float64)
  u = np.asarray(u, np.float64)
  z1, z2, z3 = np.exp(u[:4]), np.exp(u[4:7]), np.exp(u[7:])
  lp = np.sum(stats.gamma.logpdf(z3, SHAPE, scale=1.0 / SHAPE))
  lp += np.sum(stats.gamma.logpdf(z2, SHAPE, scale=(w[2] @ z3) / SHAPE))
  lp += np.sum(stats.gamma.logpdf(z1, SHAPE, scale=(w[1] @ z2) / SHAPE))
  lp += np.sum(u)  # Jacobian of z = exp(u)
  lam = np.exp(b) * (w[0] @ z1)
  lp += np.sum(stats.poisson.logpmf(x, lam))
  n = x.sum()
  lp -= special.gammaln(n + 1) - np.sum(special.gammaln(x + 1))
  return lp


@pytest.mark.slow
def test_log_joint_matches_scipy():
  model = _model()
  enc_p, dec_p = sv.init_params(jax.random.key(0), model)
  x = np.array([[3, 0, 1, 0, 2, 5], [0, 0, 0, 1, 0, 0]], np.float32)
  u = jax.random.normal(jax.random.key(1), (2, 5, sum(LAYERS))) * 0.8
  got = np.asarray(sv.log_joint(model, dec_p, jnp.asarray(x), u))
  single = jax.tree_util.tree_map(lambda a: a[0], dec_p)
  for b in range(2):
    for s in range(5):
      np.testing.assert_allclose(got[b, s], _reference_log_joint(single, x[b], u[b, s]), rtol=1e-4, atol=1e-3)


@pytest.mark.slow
def test_latent_scores_match_finite_differences():
  model = _model()
  _, dec_p = sv.init_params(jax.random.key(2), model)
  x = jnp.asarray(np.array([[2, 1, 0, 4, 0, 1]], np.float32))
  u = jax.random.normal(jax.random.key(3), (1, 1, sum(LAYERS))) * 0.5
  score = np.asarray(sv.latent_scores(model, dec_p, x, u))[0, 0]
  f = lambda uu: float(sv.log_joint(model, dec_p, x, jnp.asarray(uu, jnp.float32)[None, None])[0, 0])
  u0 = np.asarray(u, np.float64)[0, 0]
  for i in range(sum(LAYERS)):
    e = np.zeros_like(u0)
    e[i] = 1e-2
    fd = (f(u0 + e) - f(u0 - e)) / 2e-2
    np.testing.assert_allclose(score[i], fd, rtol=2e-2, atol=2e-2)


def test_initial_layer_means_and_rates():
  """At z = 1 every layer's conditional mean W z is ~1 and lambda ~ exp(b)."""
  dec = dp.DeepPoissonDecoder(50, (40, 30, 20), 1.0, log_rate_init=math.log(0.1), init_noise=0.0)
  params = dec.init(jax.random.key(0), jnp.zeros((1, 90)))
  out = dec.apply(params, jnp.zeros((1, 90)))
  np.testing.assert_allclose(np.exp(out[0, :50]), 0.1, rtol=1e-4)
  # hidden slot at u = 0 (z = 1, mean 1, a = 1): sum of log Exp(1) densities at 1 -> -70
  np.testing.assert_allclose(float(out[0, 50]), -(40 + 30), rtol=1e-4)
  with pytest.raises(ValueError, match="needs u of size 90"):
    dec.apply(params, jnp.zeros((1, 89)))


@pytest.mark.slow
def test_elbo_terms_split_prior_and_likelihood():
  """The text experiment's reconstruction / KL split puts the hidden layers in the prior:
  reconstruction - KL equals the ELBO, and reconstruction is the Poisson term alone."""
  from experiments import stein_vae as exp_mod

  model = _model()
  enc_p, dec_p = sv.init_params(jax.random.key(4), model)
  x = jnp.asarray(np.array([[3, 0, 1, 0, 2, 5]], np.float32))
  terms = exp_mod._elbo_terms_fn(model, 64)
  key = jax.random.key(5)
  rec, kl = terms(key, {"enc": enc_p, "dec": dec_p}, x)
  xi = jax.random.normal(key, (1, 64, sum(LAYERS)))
  z, log_q = sv.sample_with_log_q(model, enc_p, x[:, None, :], xi)
  elbo = jnp.mean(sv.log_joint(model, dec_p, x, z) - log_q)
  np.testing.assert_allclose(float(rec - kl), float(elbo), rtol=1e-4)
  out = model.decoder.apply(jax.tree_util.tree_map(lambda a: a[0], dec_p), z)
  poisson = jnp.sum(x[:, None] * out[..., :-1] - jnp.exp(out[..., :-1]), -1) - special.gammaln(12.0)  # N = 11
  np.testing.assert_allclose(float(rec), float(jnp.mean(poisson)), rtol=1e-4)


def test_stein_vae_trains_and_improves_the_log_joint():
  model = _model()
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.poisson(2.0, (32, V)).astype(np.float32))
  trainer = sv.stein_vae(
    model, optax.adam(3e-3), optax.adam(3e-3), num_particles=8, num_data=32, latent_update="adam", step_size=0.05
  )
  state = trainer.init(jax.random.key(0))
  step = jax.jit(trainer.step)
  first = None
  for t in range(60):
    state, m = step(jax.random.fold_in(jax.random.key(1), t), state, {"x": x})
    first = float(m["log_joint"]) if first is None else first
  assert np.isfinite(float(m["log_joint"])) and float(m["log_joint"]) > first


def test_extreme_codes_stay_finite():
  """Codes far in the tails (z = e^{+-30}, a layer e^60 above its mean) give finite log densities: log(W z) is computed with
  the max factored out and the gamma term from log r + u."""
  model = _model()
  _, dec_p = sv.init_params(jax.random.key(6), model)
  x = jnp.asarray(np.array([[1, 0, 2, 0, 0, 1]], np.float32))
  u = jnp.concatenate([jnp.full((1, 1, 4), -30.0), jnp.full((1, 1, 3), 30.0), jnp.full((1, 1, 2), -30.0)], -1)
  lj = sv.log_joint(model, dec_p, x, u)
  g = sv.latent_scores(model, dec_p, x, u)
  assert np.all(np.isfinite(np.asarray(lj))) and np.all(np.isfinite(np.asarray(g)))
  np.testing.assert_allclose(
    np.asarray(dp.log_positive_matmul(jnp.array([800.0, 799.0]), jnp.array([[1.0, 2.0]]))),
    [800.0 + np.log(1.0 + 2.0 * np.exp(-1.0))],
    rtol=1e-6,
  )
