"""The semi-supervised experiment's config checks: every bad value named in one ConfigError, before any data is read.

Also the choices a config may name (data sets, networks, encoders, likelihoods, activations), the image shape
the convolutional networks see, and the flat names of the nested config's keys (``KEY_NAMES``, the experiment's
``legacy_key_names``: the runs keep the fingerprints of the flat configs) with ``RECORD_DEFAULTS``.
"""

from __future__ import annotations

import flax.linen as nn

from stein_jax.models import conv as conv_models
from stein_jax.objectives import semi_supervised as ss
from stein_jax.train import ConfigError
from stein_jax.train import config as config_lib

DATASETS = ("mnist", "fashion_mnist", "synthetic", "cifar10", "imagenet2012")
COLOUR_DATASETS = ("cifar10", "imagenet2012")
IMAGE_SHAPES = {"mnist": (28, 28, 1), "fashion_mnist": (28, 28, 1), "cifar10": (32, 32, 3)}
NETWORKS = ("fnn", "cnn", "resnet")
ENCODERS = ("auto", "gaussian", "flow", "noise")
LIKELIHOODS = ("auto", "bernoulli", "gaussian")
ACTIVATIONS = {"softplus": nn.softplus, "tanh": nn.tanh, "relu": nn.relu}


# Where each key of the nested config was before the nesting (the runs' fingerprint names).
KEY_NAMES = config_lib.moved_keys(
  model=(
    "network",
    "latent_dim",
    "hidden",
    "activation",
    "encoder",
    "num_coupling_layers",
    "coupling_hidden",
    "conv_features",
    "conv_kernel",
    "noise_channels",
    "negative_slope",
    "resnet_stem",
    "resnet_stem_stride",
    "resnet_stages",
    "resnet_blocks",
    "likelihood",
    "noise_std",
    "label_weight",
    "decoder_prior_std",
  ),
  svgd=("num_particles", "k", "num_decoder", "step_size", "encoder_steps"),
  optimizer=("learning_rate",),
  eval={
    "samples": "eval_samples",
    "batch_size": "eval_batch_size",
    "valid_examples": "valid_examples",
    "test_examples": "test_examples",
    "probe": "eval_probe",
    "probe_l2s": "probe_l2s",
  },
)
# Keys new since the nesting keep their own path; at these values they stay out of the fingerprint, so the runs
# made before them (which ran at these values) resume.
KEY_NAMES["model.noise_scale"] = "model.noise_scale"
LEGACY_DEFAULTS = {"model.noise_scale": 1.0}

# The runs made before the convolutional and colour paths (FNN on MNIST) have run.json files without these
# keys; they ran with these values (the FNN, a Bernoulli likelihood, no colour preprocessing).
RECORD_DEFAULTS = {
  "model.network": "fnn",
  "model.conv_features": (32, 64),
  "model.conv_kernel": 5,
  "model.noise_channels": 1,
  "model.negative_slope": 0.01,
  "model.resnet_stem": 32,
  "model.resnet_stem_stride": 1,
  "model.resnet_stages": (64, 128),
  "model.resnet_blocks": 1,
  "model.likelihood": "auto",
  "model.noise_std": 0.1,
  "synthetic.image_shape": None,
  "labelled_fraction": None,
  "valid_per_class": 500,
  "max_train_examples": None,
  "resize": 256,
  "crop": 224,
  "flip": False,
}


def image_shape(config) -> tuple:
  """(H, W, C) of the images the networks see (ImageNet: the crop)."""
  if config.dataset == "synthetic":
    shape = config.synthetic.image_shape
    if shape is None:
      raise ValueError(
        f"network={config.model.network!r} needs images: set synthetic.image_shape (H, W, C) with "
        f"H * W * C = synthetic.dim = {config.synthetic.dim}"
      )
    return tuple(shape)
  if config.dataset == "imagenet2012":
    return (config.crop, config.crop, 3)
  return IMAGE_SHAPES[config.dataset]


def num_strided(config) -> int:
  """How many stride-2 layers the convolutional network of ``config.model.network`` has."""
  if config.model.network == "cnn":
    return len(config.model.conv_features)
  return len(config.model.resnet_stages) + (config.model.resnet_stem_stride == 2)


def check_config(config) -> None:
  """Raises ConfigError naming every bad key of a configs/semi_supervised_*.py config."""
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
  if config.model.network not in NETWORKS:
    problems.append(f"model.network must be one of {NETWORKS}, got {config.model.network!r}")
  if config.model.likelihood not in LIKELIHOODS:
    problems.append(f"model.likelihood must be one of {LIKELIHOODS}, got {config.model.likelihood!r}")
  if not config.model.noise_std > 0:
    problems.append(f"model.noise_std must be > 0, got {config.model.noise_std!r}")
  scale = config.model.noise_scale
  if isinstance(scale, bool) or not (isinstance(scale, (int, float)) and scale > 0):
    problems.append(f"model.noise_scale must be a number > 0, got {config.model.noise_scale!r}")
  if config.model.encoder == "flow" and config.model.network != "fnn":
    problems.append(
      f"model.encoder='flow' is the FNN's; with network={config.model.network!r} use 'noise' or 'gaussian'"
    )
  if config.model.encoder == "noise" and config.model.network == "fnn":
    problems.append("model.encoder='noise' (x and xi stacked as images) needs model.network='cnn' or 'resnet'")
  if config.dataset in COLOUR_DATASETS and config.model.network == "fnn":
    problems.append(f"dataset {config.dataset!r} has colour images: use model.network='cnn' or 'resnet'")
  if config.model.network != "fnn":
    try:
      shape = image_shape(config)
      conv_models.check_image_shape(shape, num_strided(config), 2, f"network={config.model.network!r}")
    except ValueError as e:
      problems.append(str(e).rstrip("."))
  if config.labelled_fraction is not None and not 0 < config.labelled_fraction < 1:
    problems.append(f"labelled_fraction must be in (0, 1) or None, got {config.labelled_fraction!r}")
  if config.binarization not in ("dynamic", "fixed"):
    problems.append(f"binarization must be 'dynamic' or 'fixed', got {config.binarization!r}")
  if config.vae_encoder_weighting not in ("batch", "data"):
    problems.append(f"vae_encoder_weighting must be 'batch' or 'data', got " f"{config.vae_encoder_weighting!r}")
  if config.model.encoder not in ENCODERS:
    problems.append(f"model.encoder must be one of {ENCODERS}, got {config.model.encoder!r}")
  if config.model.activation not in ACTIVATIONS:
    problems.append(f"model.activation must be one of {sorted(ACTIVATIONS)}, got " f"{config.model.activation!r}")
  for path in (
    "labels_per_class",
    "svgd.num_particles",
    "svgd.k",
    "svgd.num_decoder",
    "model.latent_dim",
    "eval.samples",
    "eval.batch_size",
    "svgd.encoder_steps",
    "labelled_batch_size",
  ):
    v = config
    for part in path.split("."):
      v = v[part]
    if not (isinstance(v, int) and v >= 1):
      problems.append(f"{path} must be an int >= 1, got {v!r}")
  if not (isinstance(config.split_seed, int) and config.split_seed >= 0):
    problems.append(f"split_seed must be a non-negative int, got {config.split_seed!r}")
  if isinstance(config.labelled_batch_size, int) and not 1 <= config.labelled_batch_size < config.batch_size:
    problems.append(
      f"labelled_batch_size must be in [1, batch_size - 1] = [1, "
      f"{config.batch_size - 1}], got {config.labelled_batch_size}"
    )
  if (
    config.method == "stein_viwae"
    and isinstance(config.svgd.k, int)
    and config.svgd.k >= 1
    and config.svgd.num_particles % config.svgd.k
  ):
    problems.append(
      f"stein_viwae needs svgd.k to divide svgd.num_particles; got k={config.svgd.k}, "
      f"num_particles={config.svgd.num_particles}"
    )
  if not config.optimizer.learning_rate > 0:
    problems.append(f"optimizer.learning_rate must be > 0, got {config.optimizer.learning_rate!r}")
  if not config.model.label_weight >= 0:
    problems.append(f"model.label_weight must be >= 0, got {config.model.label_weight!r}")
  if not isinstance(config.eval.probe, bool):
    problems.append(f"eval.probe must be True or False, got {config.eval.probe!r}")
  l2s = config.eval.probe_l2s
  if not (isinstance(l2s, tuple) and l2s and all(isinstance(v, (int, float)) and v > 0 for v in l2s)):
    problems.append(f"eval.probe_l2s must be a non-empty tuple of penalties > 0, e.g. '(1e-3,1e-2)', got {l2s!r}")
  if problems:
    raise ConfigError("invalid config: " + "; ".join(problems) + ".")
