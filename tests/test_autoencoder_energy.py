"""The autoencoder energies of Liu & Wang 2017 sec. 5.2 (eqs. (24)-(25)), the DCGAN networks and the code kernel.

Every value is checked against an independent computation: the norm and the joint term by hand in numpy, the
bandwidth rule against numpy's median, and the SVGD direction with the code kernel against a brute-force double loop
over particle pairs with the paper's kernel written out.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from stein_jax import svgd_direction
from stein_jax.models import autoencoder_energy as ae
from stein_jax.models import dcgan

SHAPE = (8, 8, 3)


@functools.lru_cache(maxsize=None)
def _model(num_classes=0):
  module = ae.AutoencoderEnergy(SHAPE, code_dim=5, width=4, num_classes=num_classes, margin=1.0)
  x = jnp.zeros((2,) + SHAPE)
  y = jnp.zeros((2,), jnp.int32) if num_classes else None
  return module, jax.jit(module.init)(jax.random.key(0), x, y)


def _images(n, seed=1):
  return jax.random.uniform(jax.random.key(seed), (n,) + SHAPE, minval=-1.0, maxval=1.0)


def test_shapes_of_energy_code_reconstruction_and_generator():
  module, params = _model()
  x = _images(3)
  assert module.apply(params, x).shape == (3,)
  assert module.apply(params, x, method=ae.AutoencoderEnergy.encode).shape == (3, 5)
  assert module.apply(params, x, method=ae.AutoencoderEnergy.reconstruct).shape == x.shape
  # Flat particles (as the feature kernel differentiates them) give the same code.
  np.testing.assert_allclose(module.apply(params, x.reshape(3, -1), method=ae.AutoencoderEnergy.encode),
                             module.apply(params, x, method=ae.AutoencoderEnergy.encode), rtol=1e-6)
  for size, width in ((8, 4), (16, 4), (32, 64), (64, 64)):
    gen = dcgan.DCGANGenerator(size, 3, width, num_classes=10)
    xi, y = jnp.zeros((2, 100)), jnp.zeros((2,), jnp.int32)
    variables = jax.eval_shape(gen.init, jax.random.key(0), xi, y)
    assert jax.eval_shape(gen.apply, variables, xi, y).shape == (2, size, size, 3)
    energy = ae.AutoencoderEnergy((size, size, 3), code_dim=100, width=width, num_classes=10)
    e_vars = jax.eval_shape(energy.init, jax.random.key(0), jnp.zeros((2, size, size, 3)), y)
    assert jax.eval_shape(energy.apply, e_vars, jnp.zeros((2, size, size, 3)), y).shape == (2,)
  # The generator's output is an image in [-1, 1] (tanh) and its weights start at N(0, 0.02).
  gen = dcgan.DCGANGenerator(8, 3, 4)
  g_vars = jax.jit(gen.init)(jax.random.key(0), dcgan.uniform_noise(jax.random.key(1), 64))
  out = jax.jit(gen.apply)(g_vars, dcgan.uniform_noise(jax.random.key(2), 64))
  assert out.shape == (64, 8, 8, 3) and float(jnp.max(jnp.abs(out))) <= 1.0
  kernel = g_vars["params"]["Dense_0"]["kernel"]
  assert abs(float(jnp.std(kernel)) - dcgan.INIT_STDDEV) < 0.002


def test_energy_is_minus_the_norm_not_its_square():
  module, params = _model()
  x = _images(4)
  f = np.asarray(module.apply(params, x))
  rec = np.asarray(module.apply(params, x, method=ae.AutoencoderEnergy.reconstruct))
  by_hand = -np.sqrt(np.sum((np.asarray(x, np.float64) - rec) ** 2, axis=(1, 2, 3)))
  np.testing.assert_allclose(f, by_hand, rtol=1e-5)
  # Degree-1 homogeneity: doubling the residual doubles the distance (a squared norm would quadruple it).
  r = np.asarray(_images(2, seed=3))
  np.testing.assert_allclose(ae.reconstruction_distance(2 * r, 0 * r), 2 * ae.reconstruction_distance(r, 0 * r),
                             rtol=1e-6)
  # At a perfect reconstruction the distance is 0 with a finite (zero) gradient, not NaN.
  grad = jax.grad(lambda a: jnp.sum(ae.reconstruction_distance(a, jax.lax.stop_gradient(a))))(jnp.asarray(r))
  assert np.all(np.asarray(grad) == 0.0)
  grad = jax.grad(lambda a: jnp.sum(ae.reconstruction_distance(a, jnp.zeros_like(a))))(jnp.asarray(r))
  np.testing.assert_allclose(grad, r / np.sqrt(np.sum(r**2, axis=(1, 2, 3), keepdims=True)), rtol=1e-5)


def test_joint_energy_matches_the_hand_formula_with_the_margin():
  logits = jnp.array([[5.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 3.0, 0.0]])
  labels = jnp.array([0, 0, 0])
  ce = np.log(np.exp(np.asarray(logits)).sum(1)) - np.asarray(logits)[:, 0]  # 0.013, log 3, 3.09
  np.testing.assert_allclose(ae.clipped_cross_entropy(logits, labels, 1.0), np.maximum(1.0, ce), rtol=1e-6)
  assert float(ae.clipped_cross_entropy(logits, labels, 1.0)[0]) == 1.0  # clipped: below the margin m = 1
  module, params = _model(num_classes=3)
  x, y = _images(6), jnp.array([0, 1, 2, 0, 1, 2])
  f = np.asarray(module.apply(params, x, y))
  rec = np.asarray(module.apply(params, x, method=ae.AutoencoderEnergy.reconstruct))
  logit = np.asarray(module.apply(params, x, method=ae.AutoencoderEnergy.class_logits), np.float64)
  ce = np.log(np.exp(logit).sum(1)) - logit[np.arange(6), np.asarray(y)]
  by_hand = -np.sqrt(np.sum((np.asarray(x) - rec) ** 2, axis=(1, 2, 3))) - np.maximum(1.0, ce)
  np.testing.assert_allclose(f, by_hand, rtol=1e-5)
  with pytest.raises(ValueError, match=r"needs integer labels y of shape \(6,\)"):
    module.apply(params, x)
  with pytest.raises(ValueError, match="unconditional"):
    _model()[0].apply(_model()[1], x, y)


def test_bad_shapes_name_the_fix():
  module, params = _model()
  with pytest.raises(ValueError, match=r"shape \[batch, 8, 8, 3\].*got shape \(2, 16, 16, 3\)"):
    module.apply(params, jnp.zeros((2, 16, 16, 3)))
  with pytest.raises(ValueError, match="power of two >= 8"):
    dcgan.num_resolution_steps(12)
  gen = dcgan.DCGANGenerator(8, 3, 4, num_classes=3)
  with pytest.raises(ValueError, match="label-conditional"):
    gen.init(jax.random.key(0), jnp.zeros((2, 100)))


def _numpy_paper_h(codes):
  codes = np.asarray(codes, np.float64)
  m = codes.shape[0]
  dist = np.sqrt(((codes[:, None, :] - codes[None, :, :]) ** 2).sum(-1))
  med = np.median(dist[np.triu_indices(m, 1)])
  return 0.5 * med / np.log(m)


@pytest.mark.parametrize("m", [2, 5, 7, 64])  # 1, 10 (even: median of two), 21, 2016 pairs
def test_code_bandwidth_is_the_square_of_the_papers_h(m):
  codes = jax.random.normal(jax.random.key(m), (m, 6)) * 3.0
  h = _numpy_paper_h(codes)
  np.testing.assert_allclose(float(ae.code_bandwidth(codes)), h**2, rtol=1e-5)
  np.testing.assert_allclose(float(ae.code_bandwidth(codes, scale=1.0)), 4 * h**2, rtol=1e-5)
  assert float(ae.code_bandwidth(codes[:1])) == 1.0  # no pairs (log 1 = 0): a neutral, finite value


@pytest.mark.parametrize("scale", [0.5, 5.0])
def test_svgd_with_the_code_kernel_matches_a_brute_force_double_loop(scale):
  module, params = _model()
  m = 5
  x = _images(m, seed=7)
  encode = lambda a: module.apply(params, a, method=ae.AutoencoderEnergy.encode)
  flat = x.reshape(m, -1)
  scores = jax.grad(lambda a: jnp.sum(module.apply(params, a.reshape((m,) + SHAPE))))(flat)
  phi = svgd_direction(flat, scores, bandwidth=ae.default_code_bandwidth(scale), features=encode)
  # The paper's kernel written out, k(x, x') = exp(-||E(x) - E(x')||^2 / h^2), h from numpy.
  h = _numpy_paper_h(encode(x)) * scale / 0.5
  k = lambda a, b: jnp.exp(-jnp.sum((encode(a[None]) - encode(b[None])) ** 2) / h**2)
  grad_k = jax.grad(k, argnums=0)
  # Every pair (j, i) separately: term[j, i] = k(x_j, x_i) s_j + grad_{x_j} k(x_j, x_i); phi_i = mean_j term[j, i].
  pair = lambda j, i: k(flat[j], flat[i]) * scores[j] + grad_k(flat[j], flat[i])
  idx = jnp.arange(m)
  terms = jax.jit(jax.vmap(lambda j: jax.vmap(lambda i: pair(j, i))(idx)))(idx)  # [j, i, d]
  expected = np.asarray(terms, np.float64).sum(0) / m
  np.testing.assert_allclose(phi, expected, rtol=2e-4, atol=1e-7)
  if scale == 5.0:  # a wide kernel couples the particles: the direction is far from each one's own score / m
    assert float(jnp.max(jnp.abs(phi - scores / m))) > 0.1 * float(jnp.max(jnp.abs(scores / m)))
