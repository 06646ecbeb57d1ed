"""Tests of the optax-driven SVGD sampler."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from stein_jax import sampler as svgd_sampler


MEAN = jnp.array([1.0, -2.0])
COV = jnp.array([[1.5, 0.8], [0.8, 1.0]])
PREC = jnp.linalg.inv(COV)


def gaussian_logdensity(x):
  return -0.5 * (x - MEAN) @ PREC @ (x - MEAN)


def test_particles_reach_gaussian_mean_and_covariance():
  score = svgd_sampler.scores_from_logdensity(gaussian_logdensity)
  smp = svgd_sampler.svgd(score, optax.adam(5e-2), bandwidth="median")
  state = smp.init(None, jax.random.normal(jax.random.key(0), (300, 2)) * 0.5 + 4.0)
  state, trace = svgd_sampler.run(smp, None, state, num_steps=1500)
  x = np.asarray(state.particles)
  np.testing.assert_allclose(x.mean(0), MEAN, atol=0.05)
  np.testing.assert_allclose(np.cov(x.T), COV, atol=0.12)
  assert trace.direction_norm.shape == (1500,)
  assert trace.direction_norm[-1] < 0.1 * trace.direction_norm[0]


def test_one_particle_sgd_is_gradient_ascent():
  score = svgd_sampler.scores_from_logdensity(gaussian_logdensity)
  smp = svgd_sampler.svgd(score, optax.sgd(0.1))
  x0 = jnp.array([[3.0, 3.0]])
  state, _ = smp.step(None, smp.init(None, x0))
  np.testing.assert_allclose(state.particles, x0 + 0.1 * score(x0), rtol=1e-6)


def test_minibatch_scores_through_run():
  """Scores from per-step minibatches of data: a conjugate Gaussian mean posterior."""
  rng = np.random.default_rng(0)
  data = rng.normal(loc=2.0, size=(50, 1)).astype(np.float32)
  # Posterior of mu under N(mu, 1) likelihood and N(0, 10^2) prior.
  post_var = 1.0 / (1.0 / 100 + 50)
  post_mean = post_var * data.sum()

  def score(mu, batch):
    # Unbiased estimate: N / B * sum over the minibatch of the likelihood score.
    return -mu / 100 + 50 / batch.shape[0] * jnp.sum(batch[None, :, 0] - mu, axis=1, keepdims=True)

  smp = svgd_sampler.svgd(score, optax.adam(1e-2))
  num_steps = 1500
  idx = np.stack([rng.permutation(50)[:25] for _ in range(num_steps)])
  state, _ = svgd_sampler.run(
    smp, None, smp.init(None, jnp.linspace(-1.0, 1.0, 50)[:, None]), batches=jnp.asarray(data[idx])
  )
  assert abs(float(state.particles.mean()) - post_mean) < 0.05


def test_pytree_particles_and_info():
  score = lambda p: jax.tree.map(jnp.negative, p)
  smp = svgd_sampler.svgd(score, optax.sgd(0.5), bandwidth=1.0)
  p0 = {"a": jnp.ones((4, 2)), "b": jnp.arange(4.0)[:, None]}
  state, info = jax.jit(smp.step)(None, smp.init(None, p0))
  assert jax.tree.structure(state.particles) == jax.tree.structure(p0)
  assert int(state.step) == 1 and info.direction_norm > 0


def test_run_argument_errors():
  smp = svgd_sampler.svgd(lambda x: -x, optax.sgd(0.1))
  st = smp.init(None, jnp.zeros((3, 1)))
  with pytest.raises(ValueError, match="num_steps"):
    svgd_sampler.run(smp, None, st)
  with pytest.raises(ValueError, match="leading axis"):
    svgd_sampler.run(smp, None, st, num_steps=3, batches=jnp.zeros((4, 2)))
