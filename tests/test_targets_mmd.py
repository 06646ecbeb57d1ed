"""Tests of the 2-D targets' exact samplers and of the MMD estimator."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from stein_jax import ksd, targets
from stein_jax.evaluation.mmd import mmd
from tests import reference


def test_mmd_matches_double_loop():
  rng = np.random.default_rng(0)
  x, y = rng.normal(size=(6, 2)), rng.normal(size=(5, 2)) + 1
  h = 1.3
  with jax.enable_x64(True):
    np.testing.assert_allclose(mmd(jnp.asarray(x), jnp.asarray(y), bandwidth=h), reference.mmd(x, y, h), rtol=1e-10)


@pytest.mark.parametrize("kern", ["rbf", "imq"])
@pytest.mark.parametrize("block", [4, 64])  # tiles of side 4 (ragged n + m = 17); one tile larger than n + m
@pytest.mark.parametrize("unbiased", [True, False])
def test_tiled_mmd_matches_dense_and_double_loop(kern, block, unbiased):
  """The tiled MMD (one symmetric kernel product over the pooled sample) against the dense one and the loop."""
  rng = np.random.default_rng(1)
  x, y = rng.normal(size=(11, 2)), rng.normal(size=(6, 2)) + 1
  with jax.enable_x64(True):
    f = lambda a, b, blk: mmd(a, b, bandwidth=1.3, kernel=kern, unbiased=unbiased, block_size=blk)
    value_and_grad = jax.jit(jax.value_and_grad(f, argnums=(0, 1)), static_argnums=2)
    dense, dense_grad = value_and_grad(jnp.asarray(x), jnp.asarray(y), 0)
    tiled, tiled_grad = value_and_grad(jnp.asarray(x), jnp.asarray(y), block)
    if unbiased:
      np.testing.assert_allclose(tiled, reference.mmd(x, y, 1.3, kernel=kern), rtol=1e-12)
    np.testing.assert_allclose(tiled, dense, rtol=1e-12)
    for a, b in zip(dense_grad, tiled_grad):
      np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-14)


def test_mmd_tiles_automatically_above_the_memory_budget():
  x = jax.random.normal(jax.random.key(3), (300, 3))
  y = jax.random.normal(jax.random.key(4), (200, 3)) + 0.3
  np.testing.assert_allclose(mmd(x, y, 3.0, memory_budget_bytes=1000), mmd(x, y, 3.0), rtol=1e-4)


def test_mmd_separates_distributions():
  k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
  a = jax.random.normal(k1, (500, 2))
  b = jax.random.normal(k2, (500, 2))
  c = jax.random.normal(k3, (500, 2)) + 0.5
  assert abs(float(mmd(a, b))) < 0.01
  assert float(mmd(a, c)) > 0.03


@pytest.mark.parametrize("name", ["mixture", "ring", "banana"])
def test_exact_samples_satisfy_steins_identity(name):
  """KSD of exact samples is ~0, and their scores are finite."""
  t = targets.get_target(name)
  x = t.sample(jax.random.key(1), 2000)
  s = t.score(x)
  assert bool(jnp.all(jnp.isfinite(s)))
  assert abs(float(ksd(x, s))) < 5e-3
  # A stretched copy of the samples is measurably wrong.
  assert float(ksd(1.3 * x, t.score(1.3 * x))) > 10 * abs(float(ksd(x, s))) + 1e-3


def test_mixture_sampler_weights_and_mode_error():
  t = targets.get_target("mixture")
  x = t.sample(jax.random.key(2), 20000)
  assert float(targets.mode_mass_error(t, x)) < 0.015
  collapsed = jnp.tile(jnp.asarray(targets.MIX_MEANS[:1]), (100, 1))
  np.testing.assert_allclose(targets.mode_mass_error(t, collapsed), 0.5, rtol=1e-6)
  with pytest.raises(ValueError):
    targets.mode_mass_error(targets.get_target("ring"), x)
  with pytest.raises(ValueError, match="Unknown target"):
    targets.get_target("donut")
