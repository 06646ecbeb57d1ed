"""SVGD as an optax transformation (stein_jax/transform.py), against svgd_direction and a Gaussian target."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import stein_jax
from stein_jax import kernels, svgd_direction
from tests import reference


def _particles(n=12, d=3, seed=0):
  return jax.random.normal(jax.random.key(seed), (n, d)) * 2.0 + 1.0


def test_chain_with_sgd_is_one_svgd_step():
  x = _particles()
  grads = x - 3.0  # grad of -log N(3, I)
  tx = optax.chain(stein_jax.svgd_transform(kernel="imq", bandwidth="median_log"), optax.sgd(0.1))
  updates, _ = tx.update(grads, tx.init(x), x)
  want = 0.1 * svgd_direction(x, -grads, kernel="imq", bandwidth="median_log")
  np.testing.assert_allclose(optax.apply_updates(x, updates), x + want, rtol=1e-6, atol=1e-6)


def test_pytree_particles_and_row_sum_match_the_direction():
  params = {"w": _particles(8, 4, 1).reshape(8, 2, 2), "b": _particles(8, 2, 2)}
  grads = jax.tree.map(lambda p: 0.5 * p, params)
  tx = stein_jax.svgd_transform(normalization="row_sum", repulsion=2.0)
  updates, _ = tx.update(grads, tx.init(params), params)
  phi = svgd_direction(params, jax.tree.map(lambda g: -g, grads), normalization="row_sum", repulsion=2.0)
  jax.tree.map(lambda u, p: np.testing.assert_allclose(u, -p, rtol=1e-6, atol=1e-7), updates, phi)


def test_bandwidth_schedule_multiplies_the_rule_and_counts_steps():
  x = _particles()
  grads = x
  schedule = optax.exponential_decay(4.0, transition_steps=1, decay_rate=0.5)  # 4, 2, 1, ...
  tx = stein_jax.svgd_transform(bandwidth="median", bandwidth_schedule=schedule)
  state = tx.init(x)
  for factor in (4.0, 2.0):
    updates, state = tx.update(grads, state, x)
    h = factor * kernels.median_bandwidth(x)
    np.testing.assert_allclose(updates, -svgd_direction(x, -grads, bandwidth=h), rtol=1e-5, atol=1e-6)
  assert int(state.count) == 2


def test_adam_chain_samples_a_gaussian_under_jit_without_retracing():
  traces = []
  tx = optax.chain(stein_jax.svgd_transform(), optax.adam(0.05))
  mean = jnp.array([1.0, -2.0])

  @jax.jit
  def step(x, state):
    traces.append(None)
    updates, state = tx.update(x - mean, state, x)
    return optax.apply_updates(x, updates), state

  x = jax.random.normal(jax.random.key(3), (200, 2)) * 0.1
  state = tx.init(x)
  for _ in range(600):
    x, state = step(x, state)
  assert len(traces) == 1
  np.testing.assert_allclose(np.asarray(x).mean(0), mean, atol=0.1)
  np.testing.assert_allclose(np.asarray(x).var(0), 1.0, atol=0.3)


def test_bad_arguments_are_clear():
  with pytest.raises(ValueError, match="normalization"):
    stein_jax.svgd_transform(normalization="sum")
  with pytest.raises(ValueError, match="bandwidth"):
    stein_jax.svgd_transform(bandwidth="widest")
  tx = stein_jax.svgd_transform()
  with pytest.raises(ValueError, match="needs the particles"):
    tx.update(jnp.ones((3, 2)), tx.init(None))


def test_stein_kernel_is_one_hashable_value_used_by_the_transform():
  x = _particles(10, 3, 4)
  grads = 0.3 * x
  spec = stein_jax.SteinKernel("imq", bandwidth="median_log", repulsion=2.0, normalization="row_sum")
  assert hash(spec) == hash(
    stein_jax.SteinKernel("imq", bandwidth="median_log", repulsion=2.0, normalization="row_sum")
  )
  assert spec == spec.replace() and spec != spec.replace(repulsion=1.0)
  updates, _ = stein_jax.svgd_transform(spec).update(grads, stein_jax.svgd_transform(spec).init(x), x)
  want = svgd_direction(x, -grads, kernel="imq", bandwidth="median_log", repulsion=2.0, normalization="row_sum")
  np.testing.assert_allclose(updates, -want, rtol=1e-6, atol=1e-7)
  with pytest.raises(ValueError, match="got a SteinKernel and also"):
    stein_jax.svgd_transform(spec, bandwidth="median")
  for bad, match in (
    (dict(kernel="gauss"), "Unknown kernel"),
    (dict(bandwidth=-1.0), "positive"),
    (dict(metric="full"), "metric"),
    (dict(normalization="sum"), "normalization"),
    (dict(repulsion="lots"), "repulsion"),
    (dict(bandwidth=jnp.ones(())), "hashable"),
  ):
    with pytest.raises(ValueError, match=match):
      stein_jax.SteinKernel(**bad)


def test_schedule_scales_the_whitened_bandwidth_under_the_diagonal_metric():
  """With metric="diagonal" the rule is applied to the whitened particles x / sd; the schedule's factor
  multiplies that h (not a bandwidth of the raw coordinates)."""
  x = _particles(9, 3, 5) * jnp.array([10.0, 1.0, 0.1])
  grads = x
  tx = stein_jax.svgd_transform(metric="diagonal", bandwidth_schedule=lambda count: 4.0 / (1.0 + count))
  state = tx.init(x)
  xn = np.asarray(x, np.float64)
  h_white = reference.median_sq_distance(xn / xn.std(0))
  for factor in (4.0, 2.0):
    updates, state = tx.update(grads, state, x)
    want = reference.svgd_direction(xn, -xn, factor * h_white, metric="diagonal")
    np.testing.assert_allclose(updates, -want, rtol=2e-4, atol=1e-5)
