"""The autoencoder energies of Liu & Wang 2017 sec. 5.2 (eqs. (24)-(25)), the DCGAN networks and the code kernel.

Every value is checked against an independent computation: the norm and the joint term by hand in numpy, the
bandwidth rule against numpy's median, and the SVGD direction with the code kernel against the brute-force double loop
over particle pairs of tests/reference.py with the paper's kernel written out.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from stein_jax import svgd_direction
from stein_jax.models import autoencoder_energy as ae
from stein_jax.models import dcgan
from stein_jax.objectives import steingan
from tests import reference

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
  np.testing.assert_allclose(
    module.apply(params, x.reshape(3, -1), method=ae.AutoencoderEnergy.encode),
    module.apply(params, x, method=ae.AutoencoderEnergy.encode),
    rtol=1e-6,
  )
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
  np.testing.assert_allclose(
    ae.reconstruction_distance(2 * r, 0 * r), 2 * ae.reconstruction_distance(r, 0 * r), rtol=1e-6
  )
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
  # The paper's kernel written out, k(x, x') = exp(-||E(x) - E(x')||^2 / h^2), h from numpy; every pair (j, i)
  # separately in tests/reference.py: phi_i = mean_j [k(x_j, x_i) s_j + J_j^T grad_{E_j} k], J_j = dE/dx at x_j.
  h = _numpy_paper_h(encode(x)) * scale / 0.5
  encode_one = lambda a: encode(a[None])[0]  # one flat image [d] -> its code [5]
  code = lambda a: np.asarray(encode_one(jnp.asarray(a, jnp.float32)), np.float64)
  jac = jax.jit(jax.jacrev(encode_one))
  code_jac = lambda a: np.asarray(jac(jnp.asarray(a, jnp.float32)), np.float64)  # [5, d]
  expected = reference.svgd_direction(flat, scores, h**2, features=code, features_jacobian=code_jac)
  np.testing.assert_allclose(phi, expected, rtol=2e-4, atol=1e-7)
  if scale == 5.0:  # a wide kernel couples the particles: the direction is far from each one's own score / m
    assert float(jnp.max(jnp.abs(phi - scores / m))) > 0.1 * float(jnp.max(jnp.abs(scores / m)))


# ------------------------------------------------------------------------------------------------ the authors' code


def _theirs_kernel_matrix(codes):
  """The authors' rbf_kernel (steingan_supervised.py lines 194-215) transcribed to numpy: K, neighbours."""
  codes = np.asarray(codes, np.float64)
  m = codes.shape[0]
  sq = np.array([[np.sum((codes[i] - codes[j]) ** 2) for j in range(m)] for i in range(m)])
  v = np.sort(sq.reshape(-1))
  n = v.size
  med = 0.5 * (v[n // 2 - 1] + v[n // 2]) if n % 2 == 0 else v[n // 2]
  h = np.sqrt(0.5 * med / np.log(m + 1.0)) / 2.0
  return np.exp(-sq / h**2 / 2.0), sq


@pytest.mark.parametrize("m", [4, 5, 32])
def test_authors_bandwidth_matches_their_formula_by_hand(m):
  codes = np.random.default_rng(m).normal(size=(m, 3)) + 10.0  # off-centre: the centring must not matter
  expected_k, sq = _theirs_kernel_matrix(codes)
  big_h = float(ae.authors_code_bandwidth(jnp.asarray(codes, jnp.float32)))
  np.testing.assert_allclose(np.exp(-sq / big_h), expected_k, rtol=1e-4, atol=1e-12)
  # Closed form: H = med2 / (4 log(m + 1)) with med2 over all m * m entries.
  np.testing.assert_allclose(big_h, np.median(sq) / (4 * np.log(m + 1)), rtol=1e-5)
  # Much wider than the paper's text rule: at the median distance the text gives exp(-4 (log m)^2).
  paper = float(ae.code_bandwidth(jnp.asarray(codes, jnp.float32)))
  assert big_h > paper
  assert float(ae.authors_code_bandwidth(jnp.zeros((1, 3)))) == 1.0
  assert float(ae.authors_code_bandwidth(jnp.ones((6, 3)))) == 1.0  # identical codes: a neutral finite value


@pytest.mark.parametrize("wide", [False, True])
def test_nearest_neighbor_direction_matches_a_double_loop(wide):
  module, params = _model()
  m = 6
  x = _images(m, seed=11)
  encode = lambda a: module.apply(params, a, method=ae.AutoencoderEnergy.encode)
  scores = jax.grad(lambda a: jnp.sum(module.apply(params, a)))(x)
  codes = np.asarray(encode(x), np.float64)
  big_h = 10.0 * float(np.median([np.sum((a - b) ** 2) for a in codes for b in codes])) if wide else None
  bandwidth = big_h if wide else ae.authors_code_bandwidth
  phi = steingan.nearest_neighbor_direction(x, scores, encode, bandwidth=bandwidth)
  if not wide:
    big_h = float(ae.authors_code_bandwidth(encode(x)))
  # Double loop: for each i, the nearest other code by explicit distances, then grad_{x_j} k(x_j, x_i) at j = nn(i).
  expected = np.array(scores, np.float64)
  for i in range(m):
    dists = [np.inf if j == i else float(np.sum((codes[j] - codes[i]) ** 2)) for j in range(m)]
    j = int(np.argmin(dists))
    k = lambda a: jnp.exp(-jnp.sum((encode(a[None])[0] - encode(x[i][None])[0]) ** 2) / big_h)
    expected[i] += 0.5 * np.asarray(jax.grad(k)(x[j]), np.float64)
  np.testing.assert_allclose(phi, expected, rtol=1e-4, atol=1e-6)
  repulsion = np.abs(np.asarray(phi) - np.asarray(scores)).max()
  assert repulsion > (1e-3 if wide else 0.0) * np.abs(np.asarray(scores)).max()
  # One particle: no neighbour, the score alone.
  np.testing.assert_array_equal(
    steingan.nearest_neighbor_direction(x[:1], scores[:1], encode, bandwidth=1.0), scores[:1]
  )


def test_batch_norm_energy_frozen_statistics_and_the_batch_of_one_error():
  module = ae.AutoencoderEnergy(SHAPE, code_dim=5, width=4, num_classes=0, batch_norm=True)
  x = _images(6, seed=2)
  params = module.init(jax.random.key(0), x)
  assert set(params) == {"params"}  # no statistics are stored at init: the optimiser sees trainable arrays only
  f = np.asarray(module.apply(params, x))
  # Batch statistics: the energy of an image depends on the rest of its batch ...
  assert abs(float(module.apply(params, x[:3])[0]) - f[0]) > 1e-6
  # ... frozen statistics make it a per-image function, equal to the batch's values at the captured batch.
  frozen = ae.freeze_norm_stats(params, ae.capture_norm_stats(module, params, x))
  one_by_one = np.array([float(module.apply(frozen, x[i : i + 1])[0]) for i in range(6)])
  np.testing.assert_allclose(one_by_one, f, rtol=1e-5)
  # One mean and one variance per channel of each normalised layer, kept with broadcastable shapes [1, ..., C].
  stats = ae.capture_norm_stats(module, params, x)
  assert all(leaf.shape[0] == 1 for leaf in jax.tree.leaves(stats))
  with pytest.raises(ValueError, match=r"config.model.energy_batch_norm=True.*batch of 1"):
    module.apply(params, x[:1])
  # Without batch norm nothing is captured and the energy is per image.
  plain, plain_params = _model()
  assert ae.capture_norm_stats(plain, plain_params, x) == {}


def test_input_dropout_only_in_training_and_keyed():
  module = ae.AutoencoderEnergy(SHAPE, code_dim=5, width=4, input_dropout=0.2)
  x = _images(4, seed=3)
  params = module.init(jax.random.key(0), x)
  base = np.asarray(module.apply(params, x))
  np.testing.assert_array_equal(module.apply(params, x, train=False), base)
  a = np.asarray(module.apply(params, x, train=True, rngs={"dropout": jax.random.key(1)}))
  b = np.asarray(module.apply(params, x, train=True, rngs={"dropout": jax.random.key(1)}))
  c = np.asarray(module.apply(params, x, train=True, rngs={"dropout": jax.random.key(2)}))
  np.testing.assert_array_equal(a, b)
  assert np.all(a != base) and np.any(a != c)
  # The reconstruction of the dropped-out input is compared with the clean image: f = -||x - D(E(drop(x)))||.
  f, state = module.apply(params, x, train=True, rngs={"dropout": jax.random.key(1)}, capture_intermediates=True)
  dropped = np.asarray(state["intermediates"]["dropout"]["__call__"][0])
  xs = np.asarray(x)
  kept = dropped != 0
  assert 0.1 < 1 - kept.mean() < 0.3  # about 20% of the values are zeroed
  np.testing.assert_allclose(dropped[kept], xs[kept] / 0.8, rtol=1e-6)  # the rest scaled by 1 / (1 - p)
  recon = np.asarray(module.apply(params, jnp.asarray(dropped), method=ae.AutoencoderEnergy.reconstruct))
  np.testing.assert_allclose(f, -np.sqrt(np.sum((xs - recon) ** 2, axis=(1, 2, 3))), rtol=1e-5)
  no_dropout = ae.AutoencoderEnergy(SHAPE, code_dim=5, width=4)
  np.testing.assert_array_equal(no_dropout.apply(params, x, train=True, rngs={"dropout": jax.random.key(1)}), base)
  with pytest.raises(ValueError, match=r"config.model.input_dropout\) must be in \[0, 1\)"):
    ae.AutoencoderEnergy(SHAPE, code_dim=5, width=4, input_dropout=1.0).init(jax.random.key(0), x)


def test_label_every_layer_feeds_the_label_to_each_transposed_convolution():
  k = 3
  xi, y = dcgan.uniform_noise(jax.random.key(0), 4, 10), jnp.array([0, 1, 2, 0])
  out = {}
  for every in (False, True):
    gen = dcgan.DCGANGenerator(16, 3, 4, num_classes=k, label_every_layer=every)
    variables = gen.init(jax.random.key(1), xi, y)
    p = variables["params"]
    convs = sorted(name for name in p if name.startswith("ConvTranspose"))
    widths = [p[name]["kernel"].shape[2] for name in convs]  # input channels of each transposed convolution
    # Remove the label from the noise input (zero its rows of the first dense layer): only the later layers see it.
    kernel = p["Dense_0"]["kernel"]
    p = {**p, "Dense_0": {**p["Dense_0"], "kernel": kernel.at[10:].set(0.0)}}
    outs = [np.asarray(gen.apply({"params": p}, xi, jnp.full((4,), c))) for c in range(k)]
    out[every] = (widths, outs)
  plain_widths, plain = out[False]
  every_widths, every = out[True]
  assert every_widths == [w + k for w in plain_widths]  # k more input channels at every layer
  np.testing.assert_allclose(plain[0], plain[1], atol=1e-6)  # the label entered through the noise only
  assert np.max(np.abs(every[0] - every[1])) > 1e-4 and np.max(np.abs(every[1] - every[2])) > 1e-4
  # At the last layer alone: zero every label channel except the last transposed convolution's; still label-dependent.
  gen = dcgan.DCGANGenerator(16, 3, 4, num_classes=k, label_every_layer=True)
  p = gen.init(jax.random.key(1), xi, y)["params"]
  convs = sorted(name for name in p if name.startswith("ConvTranspose"))
  p = {**p, "Dense_0": {**p["Dense_0"], "kernel": p["Dense_0"]["kernel"].at[10:].set(0.0)}}
  for name in convs[:-1]:
    p = {**p, name: {**p[name], "kernel": p[name]["kernel"].at[:, :, -k:, :].set(0.0)}}
  last = [np.asarray(gen.apply({"params": p}, xi, jnp.full((4,), c))) for c in range(k)]
  assert np.max(np.abs(last[0] - last[2])) > 1e-4
  with pytest.raises(ValueError, match="label_every_layer=True.*num_classes > 0"):
    dcgan.DCGANGenerator(16, 3, 4, label_every_layer=True).init(jax.random.key(0), xi)
