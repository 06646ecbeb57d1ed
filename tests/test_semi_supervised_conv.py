"""Convolutional networks of the semi-supervised Stein VAE (Pu et al. 2017, sec. 5.3 (ii) and Table 4).

Independent references: the literal stacked input (one convolution of [x, noise image]) for the
encoders' split first layer; a brute-force transposed convolution (a double loop scattering each
input pixel) for the sub-pixel upsampling; numpy windows for the crops; closed forms for the
Gaussian encoder's log-det; and separable synthetic images that every method must classify far
better than chance, traced once (the known-answer style of tests/test_algorithms.py).
"""

import json

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from configs import semi_supervised_cifar10, semi_supervised_mnist
from experiments import semi_supervised as exp
from experiments import semi_supervised_grid as grid
from experiments.semi_supervised import model as ss_model
from stein_jax import data as data_lib
from stein_jax.algorithm import step_key
from stein_jax.data import augment
from stein_jax.models import conv
from stein_jax.objectives import semi_supervised as ss
from stein_jax.objectives import stein_vae as sv
from stein_jax.train import ConfigError, train_and_evaluate
from stein_jax.train import config as config_lib

KEY = jax.random.key(0)


def _init(enc, shape, dz, b=3, s=2):
  dx = int(np.prod(shape))
  x = jax.random.uniform(jax.random.key(1), (b, 1, dx))
  xi = jax.random.normal(jax.random.key(2), (1, s, dz))
  return enc.init(KEY, x[:, 0], xi[0, :1]), x, xi


# ------------------------------------------------------------------------ shapes


@pytest.mark.parametrize(
  "make_enc, make_dec, shape",
  [
    (lambda: conv.ConvNoiseEncoder(5, (8, 8, 1)), lambda: conv.ConvDecoder((8, 8, 1)), (8, 8, 1)),
    (lambda: conv.GaussianConvEncoder(5, (8, 8, 1)), lambda: conv.ConvDecoder((8, 8, 1)), (8, 8, 1)),
    (
      lambda: conv.ResidualConvEncoder(5, (8, 8, 3), stem_features=4, stage_features=(6, 8), noise_channels=2),
      lambda: conv.ResidualConvDecoder((8, 8, 3), (6, 8), 4),
      (8, 8, 3),
    ),
    (
      lambda: conv.GaussianResidualEncoder(5, (8, 8, 3), stem_features=4, stage_features=(6, 8)),
      lambda: conv.ResidualConvDecoder((8, 8, 3), (6, 8), 4, out_channels=2),
      (8, 8, 3),
    ),
  ],
)
def test_shapes_broadcast_like_the_mlp_encoders(make_enc, make_dec, shape):
  enc, dec = make_enc(), make_dec()
  p, x, xi = _init(enc, shape, 5)
  z = enc.apply(p, x, xi)
  assert z.shape == (3, 2, 5)
  pd = dec.init(KEY, z)
  out = dec.apply(pd, z)
  assert out.shape == (3, 2, shape[0] * shape[1] * (dec.out_channels or shape[2]))
  # one image and one xi (no batch dims)
  assert enc.apply(p, x[0, 0], xi[0, 0]).shape == (5,)


def test_table3_cnn_has_the_papers_layers():
  enc = conv.ConvNoiseEncoder(50, (28, 28, 1))
  p, _, _ = _init(enc, (28, 28, 1), 50)
  p = p["params"]
  assert p["stem_kernel"].shape == (5, 5, 2, 32)  # 5x5, image + 1 noise channel -> 32, stride 2
  assert p["conv_1"]["Conv_0"]["kernel"].shape == (5, 5, 32, 64)  # 5x5, 32 -> 64, stride 2
  assert p["head"]["kernel"].shape == (7 * 7 * 64, 50)  # dense to the 50-d latent
  assert p["noise_map"]["kernel"].shape == (50, 28 * 28)  # xi -> one 28x28 channel


# ----------------------------------------------------------- known answers


@pytest.mark.parametrize("residual", [False, True])
def test_split_first_layer_equals_the_literal_stacked_input(residual):
  """conv(stack(x, n)) = conv_x(x) + conv_n(n): the fast path against one convolution of the stack."""
  if residual:
    enc = conv.ResidualConvEncoder(4, (8, 8, 3), stem_features=5, stage_features=(6,), noise_channels=2)
  else:
    enc = conv.ConvNoiseEncoder(4, (8, 8, 1), noise_channels=3)
  p, x, xi = _init(enc, enc.image_shape, 4, b=4, s=3)
  p = jax.tree_util.tree_map(lambda a: a + 0.1 * jax.random.normal(jax.random.key(7), a.shape), p)
  fast = enc.apply(p, x, xi)
  literal = enc.apply(p, x, xi, method=enc.stacked_forward)
  np.testing.assert_allclose(fast, literal, rtol=1e-5, atol=1e-5)
  stacked = enc.apply(p, x, xi, method=enc.stacked_input)
  c = enc.image_shape[2]
  assert stacked.shape == (4, 3, 8, 8, c + enc.noise_channels)
  np.testing.assert_array_equal(stacked[:, 0, ..., :c], x[:, 0].reshape(4, 8, 8, c))
  # the noise channels vary with xi and not with x
  np.testing.assert_array_equal(stacked[0, :, ..., c:], stacked[1, :, ..., c:])
  assert not np.allclose(stacked[0, 0, ..., c:], stacked[0, 1, ..., c:])


def _transposed_conv_loop(img, kernel, stride):
  """Brute force: each input pixel scatters kernel * value into the output (SAME: crop (k - s) // 2 ... )."""
  h, w, _ = img.shape
  k = kernel.shape[0]
  full = np.zeros(((h - 1) * stride + k, (w - 1) * stride + k, kernel.shape[3]))
  for i in range(h):
    for j in range(w):
      full[i * stride : i * stride + k, j * stride : j * stride + k] += np.einsum("abio,i->abo", kernel, img[i, j])
  off = (k - stride) // 2
  return full[off : off + h * stride, off : off + w * stride]


def test_sub_pixel_upsampling_contains_the_5x5_stride_2_transposed_convolution():
  """Every 5x5 stride-2 transposed convolution is a SubPixelUp(kernel=3) with kernels read off its phases."""
  rng = np.random.default_rng(0)
  k5 = rng.normal(size=(5, 5, 2, 3))
  img = rng.normal(size=(4, 4, 2))
  want = _transposed_conv_loop(img, k5, 2)  # [8, 8, 3]
  # Output pixel 2i + a (phase a) takes input pixel i + d (d in -1, 0, 1) through tap t = a - 2d + off.
  off = (5 - 2) // 2
  k3 = np.zeros((3, 3, 2, 4 * 3))
  for a in range(2):
    for b in range(2):
      for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
          ti, tj = a - 2 * di + off, b - 2 * dj + off
          if 0 <= ti < 5 and 0 <= tj < 5:
            ch = (a * 2 + b) * 3
            k3[di + 1, dj + 1, :, ch : ch + 3] = k5[ti, tj]
  up = conv.SubPixelUp(3, 3)
  params = {"params": {"conv": {"kernel": jnp.asarray(k3, jnp.float32), "bias": jnp.zeros(12)}}}
  got = up.apply(params, jnp.asarray(img, jnp.float32)[None])[0]
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_gaussian_encoder_log_det_is_the_closed_form_and_the_jacobian():
  enc = conv.GaussianConvEncoder(3, (4, 4, 1), features=(2, 3), stem_features=2)
  p, x, xi = _init(enc, (4, 4, 1), 3)
  z, log_det = enc.apply(p, x, xi, method=enc.forward_and_log_det)
  _, log_var = enc.apply(p, x, method=enc.moments)
  np.testing.assert_allclose(log_det, jnp.broadcast_to(0.5 * log_var.sum(-1), (3, 2)), rtol=1e-6)
  jac = jax.jacfwd(lambda e: enc.apply(p, x[0, 0], e))(xi[0, 0])
  np.testing.assert_allclose(jnp.linalg.slogdet(jac)[1], log_det[0, 0], rtol=1e-5, atol=1e-5)


def test_stacked_encoder_log_q_is_the_change_of_variables():
  """encode() takes log|det dz/dxi| by jacfwd for the stacked encoder (it has no forward_and_log_det)."""
  enc = conv.ConvNoiseEncoder(3, (4, 4, 1), features=(2, 3), stem_features=2)
  assert not hasattr(enc, "forward_and_log_det")
  base = sv.LatentModel(enc, conv.ConvDecoder((4, 4, 1), (2, 3)), 3, 16)
  p, x, xi = _init(enc, (4, 4, 1), 3)
  z, log_q = sv.sample_with_log_q(base, p, x, xi)
  jac = jax.jacfwd(lambda e: enc.apply(p, x[1, 0], e))(xi[0, 1])
  want = -0.5 * float(xi[0, 1] @ xi[0, 1]) - 1.5 * np.log(2 * np.pi) - float(jnp.linalg.slogdet(jac)[1])
  np.testing.assert_allclose(log_q[1, 1], want, rtol=1e-5)


# -------------------------------------------------------------------- bad input


def test_image_sizes_the_strides_cannot_map_back_name_the_sizes():
  with pytest.raises(
    ValueError, match=r"height of 30 cannot be mapped back by 2 stride-2 layers.*30 -> 15 -> 8.*8 -> 16 -> 32"
  ):
    conv.check_image_shape((30, 28, 1), 2)
  with pytest.raises(ValueError, match="width of 30"):
    conv.ConvDecoder((28, 30, 1)).init(KEY, jnp.zeros((1, 50)))
  with pytest.raises(ValueError, match="height of 36 cannot be mapped back by 3"):
    conv.ResidualConvEncoder(5, (36, 36, 3), stage_features=(4, 4, 4)).init(
      KEY, jnp.zeros((1, 36 * 36 * 3)), jnp.zeros((1, 5))
    )
  conv.check_image_shape((28, 28, 1), 2)
  conv.check_image_shape((224, 224, 3), 5)


def test_wrong_flat_size_and_noise_channels_are_clear_errors():
  enc = conv.ConvNoiseEncoder(5, (8, 8, 1), noise_channels=2)
  p, x, xi = _init(enc, (8, 8, 1), 5)
  with pytest.raises(ValueError, match=r"H \* W \* C = 8 \* 8 \* 1 = 64 values, got a last dimension of 63"):
    enc.apply(p, x[..., :63], xi)
  with pytest.raises(ValueError, match="noise xi has last dimension 4 but the latent size is 5"):
    enc.apply(p, x, xi[..., :4])
  img = jnp.zeros((2, 8, 8, 1))
  with pytest.raises(ValueError, match=r"noise image has 3 channels but the encoder stacks 2 noise channel\(s\)"):
    conv.stack_noise(img, jnp.zeros((2, 8, 8, 3)), 2)
  with pytest.raises(ValueError, match="noise image is 4x8 but the image is 8x8"):
    conv.stack_noise(img, jnp.zeros((2, 4, 8, 2)), 2)
  assert conv.stack_noise(img, jnp.zeros((1, 8, 8, 2)), 2).shape == (2, 8, 8, 3)


def test_label_counts_below_one_per_class_are_clear_errors():
  y = np.repeat(np.arange(4), [50, 60, 70, 200])
  with pytest.raises(
    ValueError, match=r"fewer than one labelled image per class: class 0 has 50 .*round\(0.005 \* 50\) = 0"
  ):
    exp.fraction_counts(y, 0.005, 4)
  np.testing.assert_array_equal(exp.fraction_counts(y, 0.1, 4), [5, 6, 7, 20])
  with pytest.raises(ValueError, match="labelled_fraction must be in"):
    exp.fraction_counts(y, 1.5, 4)
  with pytest.raises(ValueError, match="at least one labelled image per class, 4 classes"):
    exp.balanced_split(y, 0, 0, 4)
  lab, unl = exp.balanced_counts_split(y, exp.fraction_counts(y, 0.1, 4), 3)
  np.testing.assert_array_equal(np.bincount(y[lab]), [5, 6, 7, 20])
  assert np.intersect1d(lab, unl).size == 0 and lab.size + unl.size == y.size


# ------------------------------------------------------------------- training


def _images(n, seed, split):
  x, y = exp.synthetic_classes(seed, n, 3, 64, 0.05, split)
  return x, y


X_TR, Y_TR = _images(240, 0, "train")
X_TE, Y_TE = _images(90, 0, "test")
LAB, UNL = exp.balanced_split(Y_TR, 4, 0, 3)


def _model(method):
  shape = (8, 8, 1)
  kw = dict(features=(4, 8), stem_features=4)
  enc = conv.GaussianConvEncoder(4, shape, **kw) if method == "vae" else conv.ConvNoiseEncoder(4, shape, **kw)
  base = sv.LatentModel(enc, conv.ConvDecoder(shape, (4, 8)), 4, 64, "bernoulli")
  return ss.SemiSupervisedModel(base, nn.Dense(3), 3)


@pytest.mark.parametrize("method", ss.METHODS)
def test_a_few_steps_classify_separable_images_traced_once(method):
  model = _model(method)
  alg = ss.make_trainer(
    method, model, optax.adam(1e-2), num_unlabelled=UNL.size, num_labelled=LAB.size, num_particles=4, k=2
  )
  traces = []

  def traced(rng, state, batch):
    traces.append(1)
    return alg.step(rng, state, batch)

  step = jax.jit(traced)
  state = alg.init(KEY)
  first = last = None
  for t in range(80):
    rng = np.random.default_rng(t)
    iu, il = rng.choice(UNL, 16), rng.choice(LAB, 6)
    state, info = step(step_key(KEY, t), state, {"x_u": X_TR[iu], "x_l": X_TR[il], "y_l": Y_TR[il]})
    obj = float(info["bound" if method == "vae" else "log_joint"])
    first = obj if first is None else first
    last = obj
  assert len(traces) == 1
  for leaf in jax.tree.leaves(info):
    assert np.all(np.isfinite(np.asarray(leaf))), info
  assert last > first + 5, (first, last)  # the bound / log joint rises
  xi = jax.random.normal(jax.random.key(3), (8, 4))
  err = float(ss.classification_error(model, state.enc_params, state.dec_params, X_TE, Y_TE, xi))
  assert err < 25.0, err  # chance: 66.7 %


# ------------------------------------------------------------------ experiment


def _cnn_config(**kw):
  c = semi_supervised_mnist.get_config("cnn_cpu")
  c.dataset = "synthetic"
  c.synthetic.dim, c.synthetic.image_shape = 64, (8, 8, 1)
  c.num_steps, c.eval_every, c.checkpoint_every, c.log_every = 2, 2, 2, 1
  c.model.latent_dim, c.model.conv_features = 3, (2, 4)
  c.svgd.num_particles, c.svgd.k = 2, 2
  c.batch_size, c.labelled_batch_size, c.labels_per_class = 8, 3, 2
  c.eval.samples, c.eval.batch_size = 2, 25
  c.eval.valid_examples = c.eval.test_examples = None
  config_lib.override(c, kw)  # keys by path: "model.network"
  return c


@pytest.mark.parametrize("scale", [1.0, 0.1])
def test_noise_scale_is_the_noise_images_initial_std(scale):
  # The map's weights have variance scale^2 / dz (flax's variance_scaling undoes the truncation's shrinkage) and its
  # bias starts at 0, so for xi ~ N(0, I) a noise pixel has variance sum_j w_j^2 ~ scale^2: the std over pixels and
  # draws is scale to ~1 % (256 pixels of 50 weights each).
  dz, shape = 50, (16, 16, 1)
  enc = conv.ConvNoiseEncoder(dz, shape, noise_scale=scale)
  p, _, _ = _init(enc, shape, dz)
  xi = jax.random.normal(jax.random.key(3), (400, dz))
  img = enc.apply(p, xi, method=enc.noise_image)
  assert img.shape == (400, 16, 16, 1)
  np.testing.assert_allclose(float(jnp.std(img)), scale, rtol=0.05)
  with pytest.raises(ValueError, match="noise_scale must be a number > 0, got -1.0"):
    _init(conv.ConvNoiseEncoder(dz, shape, noise_scale=-1.0), shape, dz)
  with pytest.raises(ValueError, match="noise_scale must be a number > 0, got True"):
    _init(conv.ConvNoiseEncoder(dz, shape, noise_scale=True), shape, dz)


def test_noise_scale_leaves_the_vae_untouched():
  # The VAE's Gaussian encoder has no noise image, so its runs at 1.0 and at 0.1 (the CNN default since
  # 2026-12-02) are the same network from the same weights: Table 3's VAE column holds at either scale.
  params = []
  for scale in (1.0, 0.1):
    enc, _, _ = ss_model.conv_networks(_cnn_config(method="vae", **{"model.noise_scale": scale}))
    params.append(enc.init(KEY, jnp.zeros((2, 64)), jnp.zeros((1, 3))))  # latent_dim 3
  assert "noise_map" not in params[0]["params"]
  jax.tree.map(np.testing.assert_array_equal, params[0], params[1])


def test_noise_scale_one_is_flax_default_dense_init():
  # At 1.0 the map's kernel initializer is flax's default Dense one (LeCun normal), so runs made before the key
  # existed are the same network: the two initializers draw bit-identical kernels of the map's shape from one key.
  dz, shape = 6, (8, 8, 1)
  enc = conv.ConvNoiseEncoder(dz, shape, noise_scale=1.0)
  p, _, _ = _init(enc, shape, dz)
  kernel = p["params"]["noise_map"]["kernel"]
  init = nn.initializers.lecun_normal()
  key = jax.random.key(0)
  np.testing.assert_array_equal(
    nn.initializers.variance_scaling(1.0, "fan_in", "truncated_normal")(key, kernel.shape), init(key, kernel.shape)
  )
  assert kernel.shape == (dz, 8 * 8 * 1)


def test_bad_conv_configs_are_config_errors():
  for kw, needle in [
    ({"synthetic.image_shape": (10, 8, 1)}, "height of 10 cannot be mapped back"),
    ({"synthetic.image_shape": (6, 6, 1), "synthetic.dim": 36}, r"height of 6 cannot be mapped back.*6 -> 3 -> 2"),
    ({"model.network": "vgg"}, "model.network must be one of"),
    ({"model.encoder": "flow"}, "model.encoder='flow' is the FNN's"),
    ({"labelled_fraction": 0.001}, "fewer than one labelled image per class"),
    ({"model.noise_scale": 0.0}, "model.noise_scale must be a number > 0, got 0.0"),
  ]:
    with pytest.raises(ConfigError, match=needle):
      exp.SemiSupervisedExperiment(_cnn_config(**kw))


@pytest.mark.slow
@pytest.mark.parametrize("method", ["stein_viwae", "vae"])
def test_cnn_experiment_runs_and_writes_final_json(tmp_path, method):
  config = _cnn_config(method=method)
  train_and_evaluate(exp.SemiSupervisedExperiment(config), config, str(tmp_path))
  final = json.loads((tmp_path / "final.json").read_text())
  assert final["network"] == "cnn" and final["step"] == 2 and 0 <= final["test/error"] <= 100


def _fake_imagenet(monkeypatch, size=12, n_train=60, n_valid=20):
  """A few synthetic colour images in place of TFDS imagenet2012 (uint8, resized already)."""
  calls = []

  def load(name, split, data_dir=None, **kw):
    calls.append((name, split, kw))
    n = n_train if split == "train" else n_valid
    rng = np.random.default_rng(len(split))
    y = np.arange(n) % 3
    x = (rng.random((n, size, size, 3)) * 60 + 60 * y[:, None, None, None]).astype(np.uint8)
    return data_lib.Dataset(x=x, y=y, info={}, vocab=None)

  monkeypatch.setattr(exp.data_lib, "load", load)
  return calls


def _imagenet_config(**kw):
  c = semi_supervised_cifar10.get_config("imagenet")
  c.resize, c.crop = 12, 8
  c.num_steps, c.eval_every, c.checkpoint_every, c.log_every = 2, 2, 2, 1
  c.model.latent_dim, c.model.resnet_stem, c.model.resnet_stages, c.model.resnet_stem_stride = 3, 2, (3, 4), 1
  c.svgd.num_particles, c.svgd.k = 2, 2
  c.batch_size, c.labelled_batch_size, c.labelled_fraction = 8, 3, 0.2
  c.eval.samples, c.eval.batch_size, c.valid_per_class = 2, 25, 2
  config_lib.override(c, kw)  # keys by path: "model.network"
  return c


@pytest.mark.slow
def test_imagenet_path_crops_flips_and_trains_on_synthetic_images(monkeypatch, tmp_path):
  calls = _fake_imagenet(monkeypatch)
  config = _imagenet_config(method="stein_vae")
  e = exp.SemiSupervisedExperiment(config)
  assert [(n, s, kw.get("image_size")) for n, s, kw in calls] == [
    ("imagenet2012", "train", 12),
    ("imagenet2012", "valid", 12),
  ]
  assert e.model.base.data_dim == 8 * 8 * 3 and e.x_test.shape == (20, 192)
  # 20 images per class, 2 held out for validation, round(0.2 * 18) = 4 labelled in each of 3 classes
  assert e.labelled_index.size == 12 and e.x_valid.shape == (6, 192)
  b0, b0_again, b1 = e.batch(0), e.batch(0), e.batch(1)
  np.testing.assert_array_equal(b0["x_u"], b0_again["x_u"])  # resumable: a step's crops are fixed
  assert b0["x_u"].shape == (5, 192) and not np.array_equal(b0["x_u"], b1["x_u"])
  assert abs(float(e.x_test.mean())) < 0.2  # mean subtracted
  train_and_evaluate(e, config, str(tmp_path))
  assert json.loads((tmp_path / "final.json").read_text())["step"] == 2


def test_crops_are_windows_or_their_mirrors():
  imgs = np.arange(2 * 6 * 7 * 2).reshape(2, 6, 7, 2)
  out = augment.random_crop_flip(imgs, 4, np.random.default_rng(0))
  assert out.shape == (2, 4, 4, 2)
  for i in range(2):
    windows = [imgs[i, t : t + 4, l : l + 4] for t in range(3) for l in range(4)]
    assert any(np.array_equal(out[i], w) or np.array_equal(out[i], w[:, ::-1]) for w in windows)
  np.testing.assert_array_equal(out, augment.random_crop_flip(imgs, 4, np.random.default_rng(0)))
  flips = [augment.random_crop_flip(imgs[:1], 6, np.random.default_rng(s))[0] for s in range(20)]
  assert any(np.array_equal(f, imgs[0, :, :6]) for f in flips) or any(np.array_equal(f, imgs[0, :, 1:]) for f in flips)
  assert any(np.array_equal(f[:, ::-1], imgs[0, :, :6]) or np.array_equal(f[:, ::-1], imgs[0, :, 1:]) for f in flips)
  np.testing.assert_array_equal(augment.center_crop(imgs, 4), imgs[:, 1:5, 1:5])
  with pytest.raises(ValueError, match="crop must be an int in"):
    augment.center_crop(imgs, 7)


def test_grid_table_reads_finished_runs(tmp_path):
  for split, err in ((0, 10.0), (1, 14.0)):
    d = tmp_path / grid.run_name("vae", "10", str(split), False)
    d.mkdir()
    (d / "final.json").write_text(json.dumps({"test/error": err, "valid/error": err, "step": 5, "complete": True}))
  text = grid.table(str(tmp_path), ["vae", "stein_vae"], ["10"], ["0", "1"], False, "cnn")
  assert "| 10 | 12.00 ± 2.83 (n=2) | - | 2.44 ± 0.17 | 1.94 ± 0.24 |" in text
  for split, err, probe in ((0, 10.0, 8.0), (1, 14.0, 9.0)):  # runs with the linear probe: its mean joins the cell
    d = tmp_path / grid.run_name("stein_vae", "10", str(split), False)
    d.mkdir()
    rec = {"test/error": err, "valid/error": err, "step": 5, "complete": True}
    rec.update({"test/probe_error": probe, "valid/probe_error": probe, "probe/l2": 0.01})
    (d / "final.json").write_text(json.dumps(rec))
  text = grid.table(str(tmp_path), ["vae", "stein_vae"], ["10"], ["0", "1"], False, "cnn")
  assert "| 10 | 12.00 ± 2.83 (n=2) | 12.00 ± 2.83 (n=2; probe 8.50) |" in text
  assert (
    "stein_vae 10 split 1: valid 14.00 / test 14.00 (step 5); linear probe valid 9.00 / test 9.00 (l2 0.01)" in text
  )
  md = tmp_path / "r.md"
  md.write_text("a\n<!-- grid:x:begin -->\nold\n<!-- grid:x:end -->\nb\n")
  grid.write_results("new\n", str(md), "x")
  assert md.read_text() == "a\n<!-- grid:x:begin -->\nnew\n<!-- grid:x:end -->\nb\n"


def test_grid_curves_average_the_splits_at_each_step(tmp_path):
  # metrics.jsonl as the experiment writes it: training records, then evaluations with test/error (and the probe's).
  logs = {
    ("vae", 0): [(2, 30.0, None), (4, 20.0, None)],
    ("vae", 1): [(2, 34.0, None), (4, 26.0, None)],
    ("stein_vae", 0): [(2, 28.0, 25.0), (4, 18.0, 17.0), (6, 15.0, 14.0)],  # a longer run: the mean is its own
  }
  for (m, split), evals in logs.items():
    d = tmp_path / grid.run_name(m, "10", str(split), False)
    d.mkdir()
    recs = [{"step": 1, "train/log_joint": -100.0}]
    for step, err, probe in evals:
      rec = {"step": step, "test/error": err, "valid/error": err}
      if probe is not None:
        rec["test/probe_error"] = probe
      recs.append(rec)
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
  data = grid.learning_curves(str(tmp_path), ["vae", "stein_vae"], ["10"], False)
  assert sorted(data) == [("10", "stein_vae"), ("10", "vae")]
  assert grid.mean_curve(data[("10", "vae")]) == {2: 32.0, 4: 23.0}
  assert grid.mean_curve(data[("10", "vae")], 1) == {}
  assert grid.mean_curve(data[("10", "stein_vae")], 1) == {2: 25.0, 4: 17.0, 6: 14.0}
  lines = grid.draw_curves(str(tmp_path), ["vae", "stein_vae", "stein_viwae"], ["10"], False)
  assert "| step | VAE | Stein VAE |" in lines
  assert "| 4 | 23.00 | 18.00 (17.00) |" in lines
  assert "| 6 | - | 15.00 (14.00) |" in lines
  assert (tmp_path / "figures" / "curves.png").stat().st_size > 0
  assert grid.draw_curves(str(tmp_path), ["vae"], ["60"], False) == []  # no runs of that cell: nothing drawn
