"""The encoder-update SNR measurement (stein_jax.objectives.gradient_snr): estimator and draws."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from stein_jax.objectives import gradient_snr
from stein_jax.models import vae
from stein_jax.objectives import stein_vae as sv


def test_snr_is_debiased_for_the_number_of_draws():
  rng = np.random.default_rng(0)
  p, r = 2000, 20
  noise = rng.normal(size=(r, p))
  # Pure noise: the raw |mean| / sd would be 1 / sqrt(R) = 0.22; the estimate is ~0.
  assert gradient_snr.snr(noise)["snr_norm"] < 0.05
  # Signal of known size: |mu| / sqrt(tr Cov) = 0.5 (and 0.5 per parameter: |mu_p| = 0.5).
  mu = 0.5 * np.sign(rng.normal(size=p))
  out = gradient_snr.snr(mu + noise)
  np.testing.assert_allclose(out["snr_norm"], 0.5, rtol=0.08)
  np.testing.assert_allclose(out["snr_median"], 0.5, rtol=0.15)


def test_snr_rejects_a_single_draw():
  with pytest.raises(ValueError, match="R >= 2"):
    gradient_snr.snr(np.zeros((1, 3)))


def _model():
  return sv.LatentModel(
    vae.FlowEncoder(3, hidden=(8,), num_coupling_layers=2, coupling_hidden=8),
    vae.BernoulliDecoder(6, (8,)),
    latent_dim=3,
    data_dim=6,
  )


@pytest.mark.slow
def test_draws_are_the_eq7_gradient_and_kz1_is_the_unweighted_step():
  model = _model()
  enc, dec = sv.init_params(jax.random.PRNGKey(0), model)
  x = (jax.random.uniform(jax.random.PRNGKey(1), (4, 6)) > 0.5).astype(jnp.float32)
  key = jax.random.key(3)
  kw = dict(num_particles=10, num_draws=3, num_data=100, latent_update="sgd", step_size=0.1)
  plain = gradient_snr.encoder_update_draws(key, model, enc, dec, x, **kw)
  kz1 = gradient_snr.encoder_update_draws(key, model, enc, dec, x, group_size=5, latent_group_size=1, **kw)
  np.testing.assert_allclose(kz1.grads, plain.grads, rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(kz1.ess_fraction, 1.0)
  # The sgd step's fit gradient is -eps J^T phi / (B S): a VJP of the encoder with phi.
  xi = jax.random.normal(jax.random.split(key, 3)[0], (10, 3))
  z = sv.encode(model, enc, x[:, None, :], xi[None])
  phi, _, _ = sv.stein_directions(model, dec, x, z, num_data=100)
  _, vjp = jax.vjp(lambda p: sv.encode(model, p, x[:, None, :], xi[None]), enc)
  want = jax.tree_util.tree_map(lambda g: -0.1 * g / 40, vjp(phi)[0])
  want = np.concatenate([np.ravel(g) for g in jax.tree_util.tree_leaves(want)])
  np.testing.assert_allclose(plain.grads[0], want, rtol=1e-4, atol=1e-7)
  # The expansion is the step's radial component: for sgd, eps * sum phi . (z - zbar) / sum |z - zbar|^2.
  c = z - z.mean(-2, keepdims=True)
  expansion = np.mean(np.sum(0.1 * phi * c, (-2, -1)) / np.sum(c**2, (-2, -1)))
  np.testing.assert_allclose(plain.expansion[0], expansion, rtol=1e-4)
  # Weighted groups: weights are not uniform for an untrained encoder.
  w = gradient_snr.encoder_update_draws(key, model, enc, dec, x, group_size=5, **kw)
  assert np.all(w.ess_fraction < 1.0) and np.all(w.ess_fraction > 0.2)
