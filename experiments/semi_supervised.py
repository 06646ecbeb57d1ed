r"""Semi-supervised Stein VAE / Stein VIWAE and the VAE baseline (Pu et al. 2017, sec. 4, 5.3).

    STEIN_JAX_DATA_DIR=/path/to/data python -m experiments.semi_supervised \
        --config=configs/semi_supervised_mnist.py --workdir=/tmp/ssl
    ... --config=configs/semi_supervised_mnist.py:cpu --config.method=vae \
        --config.labels_per_class=100 --config.split_seed=1

The training set is split by :func:`balanced_split` into ``labels_per_class`` labelled
images per class (deterministic in ``split_seed``) and the rest, unlabelled and disjoint.
Each step sees ``labelled_batch_size`` labelled and ``batch_size - labelled_batch_size``
unlabelled images and takes one step of
:mod:`stein_jax.objectives.semi_supervised` (``config.method``). Evaluations log
``valid/error`` and ``test/error`` (classification error, %, of argmax mean_j
softmax(theta~ f_eta(x, xi_j)) over ``eval_samples`` encoder samples); the last
evaluation is written to ``WORKDIR/final.json``.

Data sets: ``mnist`` and ``fashion_mnist`` through :func:`stein_jax.data.load`
("train" = the first 50,000 training images, "valid" the last 10,000, "test"), and
``synthetic`` (binary class prototypes with bit flips, for tests; flat, or images of
``synthetic.image_shape`` for the convolutional networks). Images are binarized:
dynamically per step for training (``binarization="dynamic"``) or once (``"fixed"``);
validation and test images always once, with a fixed seed.

Colour images (Table 4): ``cifar10`` (the scaled stand-in for ImageNet that we have:
``valid_per_class`` images of each class of its 50,000 training images are held out for
validation, the 10,000 test images are the test set) and ``imagenet2012`` through TFDS
(resized to ``resize`` pixels, random ``crop`` x ``crop`` crops with horizontal flips
for training, the central crop for evaluation, as sec. 5.3). Pixels are in [0, 1] minus
the training set's per-channel mean, and the likelihood is Gaussian (``noise_std``; see
docs/semi_supervised.md for why not a discretised logistic). ``labelled_fraction`` (for
example 0.01) labels that fraction of every class instead of ``labels_per_class`` images.

Networks (``network``): ``fnn`` (sec. 5.3 (i)), ``cnn`` (sec. 5.3 (ii), Table 3's CNN
column: :mod:`stein_jax.models.conv`) and ``resnet`` (Table 4's all-convolutional
residual net). The Stein methods' convolutional encoder stacks the noise with the image
(``encoder="noise"``); the VAE's is the same network with a Gaussian head
(``encoder="gaussian"``), chosen by ``encoder="auto"``.
"""

from __future__ import annotations

import json
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from stein_jax import data as data_lib
from stein_jax.data import augment
from stein_jax.models import conv as conv_models
from stein_jax.models import vae as vae_models
from stein_jax.objectives import semi_supervised as ss
from stein_jax.objectives import stein_vae as sv
from stein_jax.train import AlgorithmExperiment, ConfigError, run_main
from stein_jax.train.state import train_state_layout

DATASETS = ("mnist", "fashion_mnist", "synthetic", "cifar10", "imagenet2012")
COLOUR_DATASETS = ("cifar10", "imagenet2012")
IMAGE_SHAPES = {"mnist": (28, 28, 1), "fashion_mnist": (28, 28, 1), "cifar10": (32, 32, 3)}
NETWORKS = ("fnn", "cnn", "resnet")
ENCODERS = ("auto", "gaussian", "flow", "noise")
LIKELIHOODS = ("auto", "bernoulli", "gaussian")
ACTIVATIONS = {"softplus": nn.softplus, "tanh": nn.tanh, "relu": nn.relu}
# Seeds of the one-off binarizations (independent of the run's seed, so that every run
# sees the same validation and test images).
_EVAL_BINARIZE_SEED = 20170
_TRAIN_BINARIZE_SEED = 20171
_LABELLED_STREAM = 1_000_003  # labelled batcher seed offset: its own shuffle and binarization
_VALID_SPLIT_SEED = 20172  # the held-out validation images of cifar10 / imagenet2012 (fixed across runs)
_CROP_STREAM = 2_000_003  # seed offset of the random crops and flips


def balanced_split(y: np.ndarray, labels_per_class: int, seed: int, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
  """Indices of a class-balanced labelled subset and of the rest (unlabelled).

  For each class c, ``labels_per_class`` of its examples are drawn without replacement by
  ``np.random.default_rng([seed, c])``; the unlabelled set is every other example.

  Args:
    y: int labels [N] in [0, num_classes).
    labels_per_class: N_rho >= 1.
    seed: the split seed (non-negative int).
    num_classes: C.

  Returns:
    (labelled [C * N_rho], unlabelled [N - C * N_rho]) sorted int64 indices, disjoint.

  Raises:
    ValueError: a class has no more than ``labels_per_class`` examples (none would be
      left unlabelled), or bad arguments.
  """
  y = np.asarray(y)
  if y.ndim != 1:
    raise ValueError(f"y must be a 1-d array of labels, got shape {y.shape}.")
  if not (isinstance(labels_per_class, (int, np.integer)) and labels_per_class >= 1):
    raise ValueError(
      f"labels_per_class must be an int >= 1 (at least one labelled image per class, {num_classes} "
      f"classes), got {labels_per_class!r}."
    )
  if not (isinstance(seed, (int, np.integer)) and seed >= 0):
    raise ValueError(f"split_seed must be a non-negative int, got {seed!r}.")
  counts = np.bincount(y, minlength=num_classes)
  if counts.size > num_classes:
    raise ValueError(f"labels reach {y.max()} but num_classes is {num_classes}.")
  if labels_per_class >= counts.min():
    raise ValueError(
      f"labels_per_class={labels_per_class} is too large: the smallest class "
      f"has {counts.min()} training examples (class {counts.argmin()}); use at "
      f"most {counts.min() - 1} so that each class keeps unlabelled examples."
    )
  chosen = []
  for c in range(num_classes):
    idx = np.flatnonzero(y == c)
    rng = np.random.default_rng([int(seed), c])
    chosen.append(rng.choice(idx, labels_per_class, replace=False))
  labelled = np.sort(np.concatenate(chosen))
  mask = np.ones(y.shape[0], bool)
  mask[labelled] = False
  return labelled, np.flatnonzero(mask)


def fraction_counts(y: np.ndarray, fraction: float, num_classes: int) -> np.ndarray:
  """Labelled images per class for a labelled ``fraction``: round(fraction * N_c), the same ratio in every class.

  Raises:
    ValueError: the fraction is not in (0, 1), or gives some class no labelled image (or no
      unlabelled one); the message names the class, its size and the smallest valid fraction.
  """
  if not (isinstance(fraction, (float, int)) and 0 < fraction < 1):
    raise ValueError(f"labelled_fraction must be in (0, 1), got {fraction!r}.")
  counts = np.bincount(np.asarray(y), minlength=num_classes)
  per_class = np.rint(fraction * counts).astype(np.int64)
  if per_class.min() < 1:
    c = int(per_class.argmin())
    raise ValueError(
      f"labelled_fraction={fraction} gives fewer than one labelled image per class: class {c} has "
      f"{counts[c]} training images, and round({fraction} * {counts[c]}) = {per_class[c]}; use a "
      f"fraction of at least {0.5 / counts.min():.3g} (one image of the smallest class, {counts.min()} images)."
    )
  if np.any(per_class >= counts):
    c = int(np.argmax(per_class >= counts))
    raise ValueError(f"labelled_fraction={fraction} labels every image of class {c}; lower it.")
  return per_class


def balanced_counts_split(y: np.ndarray, per_class: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
  """:func:`balanced_split` with a count per class (``per_class`` [C]); same draws, same guarantees."""
  y = np.asarray(y)
  chosen = []
  for c, n_c in enumerate(per_class):
    idx = np.flatnonzero(y == c)
    rng = np.random.default_rng([int(seed), c])
    chosen.append(rng.choice(idx, int(n_c), replace=False))
  labelled = np.sort(np.concatenate(chosen))
  mask = np.ones(y.shape[0], bool)
  mask[labelled] = False
  return labelled, np.flatnonzero(mask)


def synthetic_classes(
  seed: int, num_examples: int, num_classes: int, dim: int, flip: float, split: str
) -> tuple[np.ndarray, np.ndarray]:
  """Easily separable binary data: x = prototype[y] with each bit flipped w.p. ``flip``.

  Prototypes depend on ``seed`` only; examples on (seed, split). Returns (x float32
  [N, dim] in {0, 1}, y int32 [N]) with classes cycling 0, 1, ..., C - 1.
  """
  protos = np.random.default_rng([seed, 0]).random((num_classes, dim)) < 0.5
  rng = np.random.default_rng([seed, 1 + ("train", "valid", "test").index(split)])
  y = (np.arange(num_examples) % num_classes).astype(np.int32)
  x = protos[y] ^ (rng.random((num_examples, dim)) < flip)
  return x.astype(np.float32), y


def _binarize_once(x: np.ndarray, seed: int) -> np.ndarray:
  return (np.random.default_rng(seed).random(x.shape, dtype=np.float32) < x).astype(np.float32)


class SemiSupervisedExperiment(AlgorithmExperiment):
  """Table 3 (FNN or CNN) or Table 4's model: one method, one N_rho (or labelled fraction), one labelled split.

  The state is an :class:`AlgorithmState` around the trainer's ``SteinVAEState``:
  ``state.inner.params = {"enc", "dec": {"x", "y"}}`` (decoder leaves stacked [M, ...]).
  """

  name = "semi_supervised"
  resumable_keys = ("eval_samples", "eval_batch_size", "valid_examples", "test_examples")

  def __init__(self, config):
    super().__init__(config)
    self._check_config(config)
    self._load_data(config)
    self.model = self._build_model(config)
    self.trainer = self.algorithm = self._make_trainer()
    self._predict = jax.jit(lambda enc, dec, x, xi: ss.predict_proba(self.model, enc, dec, x, xi))
    self._last_eval = None

  # -------------------------------------------------------------- configuration

  def _check_config(self, config):
    problems = []
    if config.method not in ss.METHODS:
      problems.append(f"method must be one of {ss.METHODS}, got {config.method!r}")
    if config.dataset not in DATASETS:
      problems.append(
        f"dataset must be one of {DATASETS}, got {config.dataset!r}"
        + (
          " (for ImageNet use 'imagenet2012' through TFDS, with random crops; imagenet32 is not supported)"
          if "imagenet" in str(config.dataset)
          else ""
        )
      )
    if config.network not in NETWORKS:
      problems.append(f"network must be one of {NETWORKS}, got {config.network!r}")
    if config.likelihood not in LIKELIHOODS:
      problems.append(f"likelihood must be one of {LIKELIHOODS}, got {config.likelihood!r}")
    if not config.noise_std > 0:
      problems.append(f"noise_std must be > 0, got {config.noise_std!r}")
    if config.encoder == "flow" and config.network != "fnn":
      problems.append(f"encoder='flow' is the FNN's; with network={config.network!r} use 'noise' or 'gaussian'")
    if config.encoder == "noise" and config.network == "fnn":
      problems.append("encoder='noise' (x and xi stacked as images) needs network='cnn' or 'resnet'")
    if config.dataset in COLOUR_DATASETS and config.network == "fnn":
      problems.append(f"dataset {config.dataset!r} has colour images: use network='cnn' or 'resnet'")
    if config.network != "fnn":
      try:
        shape = self.image_shape(config)
        conv_models.check_image_shape(shape, self.num_strided(config), 2, f"network={config.network!r}")
      except ValueError as e:
        problems.append(str(e).rstrip("."))
    if config.labelled_fraction is not None and not 0 < config.labelled_fraction < 1:
      problems.append(f"labelled_fraction must be in (0, 1) or None, got {config.labelled_fraction!r}")
    if config.binarization not in ("dynamic", "fixed"):
      problems.append(f"binarization must be 'dynamic' or 'fixed', got {config.binarization!r}")
    if config.vae_encoder_weighting not in ("batch", "data"):
      problems.append(f"vae_encoder_weighting must be 'batch' or 'data', got " f"{config.vae_encoder_weighting!r}")
    if config.encoder not in ENCODERS:
      problems.append(f"encoder must be one of {ENCODERS}, got {config.encoder!r}")
    if config.activation not in ACTIVATIONS:
      problems.append(f"activation must be one of {sorted(ACTIVATIONS)}, got " f"{config.activation!r}")
    for key in (
      "labels_per_class",
      "num_particles",
      "k",
      "num_decoder",
      "latent_dim",
      "eval_samples",
      "eval_batch_size",
      "encoder_steps",
      "labelled_batch_size",
    ):
      v = config[key]
      if not (isinstance(v, int) and v >= 1):
        problems.append(f"{key} must be an int >= 1, got {v!r}")
    if not (isinstance(config.split_seed, int) and config.split_seed >= 0):
      problems.append(f"split_seed must be a non-negative int, got {config.split_seed!r}")
    if isinstance(config.labelled_batch_size, int) and not 1 <= config.labelled_batch_size < config.batch_size:
      problems.append(
        f"labelled_batch_size must be in [1, batch_size - 1] = [1, "
        f"{config.batch_size - 1}], got {config.labelled_batch_size}"
      )
    if (
      config.method == "stein_viwae" and isinstance(config.k, int) and config.k >= 1 and config.num_particles % config.k
    ):
      problems.append(
        f"stein_viwae needs k to divide num_particles; got k={config.k}, " f"num_particles={config.num_particles}"
      )
    if not config.learning_rate > 0:
      problems.append(f"learning_rate must be > 0, got {config.learning_rate!r}")
    if not config.label_weight >= 0:
      problems.append(f"label_weight must be >= 0, got {config.label_weight!r}")
    if problems:
      raise ConfigError("invalid config: " + "; ".join(problems) + ".")

  @staticmethod
  def image_shape(config) -> tuple:
    """(H, W, C) of the images the networks see (ImageNet: the crop)."""
    if config.dataset == "synthetic":
      shape = config.synthetic.image_shape
      if shape is None:
        raise ValueError(
          f"network={config.network!r} needs images: set synthetic.image_shape (H, W, C) with "
          f"H * W * C = synthetic.dim = {config.synthetic.dim}"
        )
      return tuple(shape)
    if config.dataset == "imagenet2012":
      return (config.crop, config.crop, 3)
    return IMAGE_SHAPES[config.dataset]

  @staticmethod
  def num_strided(config) -> int:
    if config.network == "cnn":
      return len(config.conv_features)
    return len(config.resnet_stages) + (config.resnet_stem_stride == 2)

  def likelihood(self) -> str:
    if self.config.likelihood != "auto":
      return self.config.likelihood
    return "gaussian" if self.config.dataset in COLOUR_DATASETS else "bernoulli"

  def _load_colour(self, config) -> dict:
    """cifar10 / imagenet2012: {split: (x, y)}, x uint8 [N, H, W, 3] (ImageNet: resized, uncropped)."""
    kw = {"image_size": config.resize} if config.dataset == "imagenet2012" else {}
    train = data_lib.load(
      config.dataset, "train", config.data_dir, scale=None, flatten=False, max_examples=config.max_train_examples, **kw
    )
    test_split = "test" if config.dataset == "cifar10" else "valid"
    test = data_lib.load(config.dataset, test_split, config.data_dir, scale=None, flatten=False, **kw)
    if train.y is None or test.y is None:
      raise ConfigError(f"invalid config: data set {config.dataset!r} has no labels.")
    num_classes = int(max(train.y.max(), test.y.max())) + 1
    # Validation: valid_per_class images of every class of the training split, the same for every run.
    held, rest = balanced_split(train.y, config.valid_per_class, _VALID_SPLIT_SEED, num_classes)

    def subset(idx, y, limit):
      # The files are in class order, so a first-N cut would hold few classes: take a balanced subset.
      if limit is None or limit >= idx.size:
        return idx
      return idx[balanced_split(y[idx], max(1, limit // num_classes), _VALID_SPLIT_SEED + 1, num_classes)[0]]

    held = subset(held, train.y, config.valid_examples)
    keep = subset(np.arange(test.y.shape[0]), test.y, config.test_examples)
    return {
      "train": (train.x[rest], train.y[rest].astype(np.int32)),
      "valid": (train.x[held], train.y[held].astype(np.int32)),
      "test": (test.x[keep], test.y[keep].astype(np.int32)),
    }

  def _colour_to_model(self, x: np.ndarray, train: bool, step: int = 0) -> np.ndarray:
    """uint8 [N, H, W, 3] -> float32 [N, h * w * 3] in [0, 1] minus the training mean (random or central crop)."""
    cfg = self.config
    if cfg.dataset == "imagenet2012":
      if train:
        x = augment.random_crop_flip(x, cfg.crop, np.random.default_rng([cfg.seed + _CROP_STREAM, int(step)]))
      else:
        x = augment.center_crop(x, cfg.crop)
    elif train and cfg.flip:
      x = augment.random_crop_flip(x, x.shape[1], np.random.default_rng([cfg.seed + _CROP_STREAM, int(step)]))
    x = x.astype(np.float32) / 255.0 - self.pixel_mean
    return x.reshape(x.shape[0], -1)

  def _load_data(self, config):
    self.colour = config.dataset in COLOUR_DATASETS
    if self.colour:
      parts = self._load_colour(config)
      self.num_classes = int(parts["train"][1].max()) + 1
    elif config.dataset == "synthetic":
      syn = config.synthetic
      parts = {
        s: synthetic_classes(syn.data_seed, n, syn.num_classes, syn.dim, syn.flip, s)
        for s, n in (("train", syn.num_train), ("valid", syn.num_valid), ("test", syn.num_test))
      }
      self.num_classes = syn.num_classes
    else:
      parts = {}
      for split, limit in (("train", None), ("valid", config.valid_examples), ("test", config.test_examples)):
        ds = data_lib.load(config.dataset, split, config.data_dir, max_examples=limit)
        if ds.y is None:
          raise ConfigError(f"invalid config: data set {config.dataset!r} has no labels.")
        parts[split] = (np.asarray(ds.x, np.float32).reshape(ds.x.shape[0], -1), ds.y)
      self.num_classes = int(parts["train"][1].max()) + 1
    x_tr, y_tr = parts["train"]
    counts = np.bincount(y_tr, minlength=self.num_classes)
    if config.labelled_fraction is not None:
      try:
        per_class = fraction_counts(y_tr, config.labelled_fraction, self.num_classes)
      except ValueError as e:
        raise ConfigError(f"invalid config: {e}") from None
    elif config.labels_per_class >= counts.min():
      raise ConfigError(
        f"invalid config: labels_per_class={config.labels_per_class} is too large for "
        f"{config.dataset!r}, whose smallest class has {counts.min()} training images; use "
        f"at most {counts.min() - 1}."
      )
    else:
      per_class = np.full(self.num_classes, config.labels_per_class)
    lab, unl = balanced_counts_split(y_tr, per_class, config.split_seed)
    if config.labelled_batch_size > lab.size:
      raise ConfigError(
        f"invalid config: labelled_batch_size={config.labelled_batch_size} "
        f"exceeds the {lab.size} labelled images; lower it."
      )
    if config.batch_size - config.labelled_batch_size > unl.size:
      raise ConfigError("invalid config: the unlabelled batch exceeds the unlabelled set.")
    self.labelled_index, self.unlabelled_index = lab, unl
    if self.colour:
      # per-channel mean of the training split ("the mean subtracted", sec. 5.3), in [0, 1] units
      self.pixel_mean = np.asarray(x_tr.reshape(-1, 3).mean(0, dtype=np.float64) / 255.0, np.float32)
      self.x_valid = self._colour_to_model(parts["valid"][0], train=False)
      self.x_test = self._colour_to_model(parts["test"][0], train=False)
      binarize = None
    else:
      if config.binarization == "fixed":
        x_tr = _binarize_once(x_tr, _TRAIN_BINARIZE_SEED)
      self.x_valid = _binarize_once(parts["valid"][0], _EVAL_BINARIZE_SEED)
      self.x_test = _binarize_once(parts["test"][0], _EVAL_BINARIZE_SEED + 1)
      binarize = "dynamic" if config.binarization == "dynamic" else None
    self.y_valid = parts["valid"][1]
    self.y_test = parts["test"][1]
    self.unlabelled = data_lib.Batcher(
      {"x": x_tr[unl]}, config.batch_size - config.labelled_batch_size, config.seed, binarize=binarize
    )
    self.labelled = data_lib.Batcher(
      {"x": x_tr[lab], "y": y_tr[lab]}, config.labelled_batch_size, config.seed + _LABELLED_STREAM, binarize=binarize
    )

  def encoder_kind(self) -> str:
    if self.config.encoder == "auto":
      if self.config.method == "vae":
        return "gaussian"
      return "flow" if self.config.network == "fnn" else "noise"
    return self.config.encoder

  def _conv_model(self, config):
    shape = self.image_shape(config)
    dz = config.latent_dim
    gaussian = self.encoder_kind() == "gaussian"
    out_c = 0
    common = dict(noise_channels=config.noise_channels, negative_slope=config.negative_slope)
    if config.network == "cnn":
      feats = tuple(config.conv_features)
      k = config.conv_kernel
      enc = (conv_models.GaussianConvEncoder if gaussian else conv_models.ConvNoiseEncoder)(
        dz, shape, stem_features=feats[0], stem_kernel=k, stem_stride=2, features=feats, kernel_size=k, **common
      )
      dec = conv_models.ConvDecoder(shape, feats, k, out_c, config.negative_slope)
    else:
      stages = tuple(config.resnet_stages)
      enc = (conv_models.GaussianResidualEncoder if gaussian else conv_models.ResidualConvEncoder)(
        dz,
        shape,
        stem_features=config.resnet_stem,
        stem_kernel=3,
        stem_stride=config.resnet_stem_stride,
        stage_features=stages,
        blocks_per_stage=config.resnet_blocks,
        **common,
      )
      dec = conv_models.ResidualConvDecoder(
        shape, stages, config.resnet_stem, config.resnet_blocks, config.resnet_stem_stride, out_c, config.negative_slope
      )
    return enc, dec, int(np.prod(shape))

  def _build_model(self, config) -> ss.SemiSupervisedModel:
    hidden = tuple(config.hidden)
    act = ACTIVATIONS[config.activation]
    dz = config.latent_dim
    if config.network != "fnn":
      enc, dec, dx = self._conv_model(config)
      base = sv.LatentModel(enc, dec, dz, dx, self.likelihood(), float(config.noise_std))
      return ss.SemiSupervisedModel(base, nn.Dense(self.num_classes), self.num_classes, float(config.label_weight))
    if self.encoder_kind() == "gaussian":
      enc = vae_models.GaussianEncoder(dz, hidden, act)
    else:
      enc = vae_models.FlowEncoder(
        dz,
        hidden,
        num_coupling_layers=config.num_coupling_layers,
        coupling_hidden=config.coupling_hidden,
        activation=act,
      )
    dx = self.x_valid.shape[1]
    dec = vae_models.BernoulliDecoder(dx, hidden, act)
    base = sv.LatentModel(enc, dec, dz, dx, self.likelihood(), float(config.noise_std))
    return ss.SemiSupervisedModel(base, nn.Dense(self.num_classes), self.num_classes, float(config.label_weight))

  def _make_trainer(self):
    cfg = self.config
    kwargs = {"encoder_weighting": cfg.vae_encoder_weighting}
    if cfg.method != "vae":
      kwargs = dict(step_size=cfg.step_size, encoder_steps=cfg.encoder_steps, decoder_prior_std=cfg.decoder_prior_std)
    return ss.make_trainer(
      cfg.method,
      self.model,
      optax.adam(cfg.learning_rate),
      num_unlabelled=int(self.unlabelled_index.size),
      num_labelled=int(self.labelled_index.size),
      num_particles=cfg.num_particles,
      k=cfg.k,
      num_decoder=cfg.num_decoder,
      **kwargs,
    )

  # ------------------------------------------------------------------ the state

  def legacy_state_layout(self):  # runs saved as a TrainState before the algorithm protocol
    return train_state_layout(sv.split_state, sv.join_state)

  def batch(self, step):
    u = self.unlabelled.batch(step)
    l = self.labelled.batch(step)
    if self.colour:
      x_u = self._colour_to_model(u["x"], train=True, step=step)
      x_l = self._colour_to_model(l["x"], train=True, step=step + _LABELLED_STREAM)
      return {"x_u": x_u, "x_l": x_l, "y_l": l["y"].astype(np.int32)}
    return {"x_u": u["x"].astype(np.float32), "x_l": l["x"].astype(np.float32), "y_l": l["y"].astype(np.int32)}

  # ------------------------------------------------------------------ evaluation

  def error(self, params, x, y) -> float:
    """Classification error (%) on x [T, dx] with ``eval_samples`` shared encoder samples."""
    cfg = self.config
    xi = jax.random.normal(jax.random.key(cfg.seed + 777), (cfg.eval_samples, self.model.base.latent_dim))
    wrong = 0
    for i in range(0, x.shape[0], cfg.eval_batch_size):
      p = self._predict(params["enc"], params["dec"], jnp.asarray(x[i : i + cfg.eval_batch_size]), xi)
      p = np.asarray(p)
      if not np.all(np.isfinite(p)):
        raise FloatingPointError("non-finite class probabilities at evaluation; lower the " "learning rate.")
      wrong += int(np.sum(p.argmax(-1) != y[i : i + cfg.eval_batch_size]))
    return 100.0 * wrong / x.shape[0]

  def evaluate(self, state, step, workdir):
    del workdir
    out = {
      "valid/error": self.error(state.inner.params, self.x_valid, self.y_valid),
      "test/error": self.error(state.inner.params, self.x_test, self.y_test),
    }
    self._last_eval = (int(step), out)
    return out

  def finalize(self, state, workdir):
    step = int(jax.device_get(state.step))
    if self._last_eval is not None and self._last_eval[0] == step:
      res = self._last_eval[1]
    else:
      res = self.evaluate(state, step, workdir)
    cfg = self.config
    record = {
      "step": step,
      "method": cfg.method,
      "dataset": cfg.dataset,
      "network": cfg.network,
      "labels_per_class": cfg.labels_per_class,
      "labelled_fraction": cfg.labelled_fraction,
      "split_seed": cfg.split_seed,
      "seed": cfg.seed,
      "num_labelled": int(self.labelled_index.size),
      "num_unlabelled": int(self.unlabelled_index.size),
      "num_particles": cfg.num_particles,
      "k": cfg.k,
      "eval_samples": cfg.eval_samples,
      **res,
    }
    if jax.process_index() == 0:
      os.makedirs(workdir, exist_ok=True)
      with open(os.path.join(workdir, "final.json"), "w") as f:
        json.dump(record, f, indent=1)


if __name__ == "__main__":
  run_main(SemiSupervisedExperiment)
