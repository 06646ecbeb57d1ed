"""The semi-supervised experiment's config checks: every bad value named in one ConfigError, before any data is read.

Also the choices a config may name (data sets, networks, encoders, likelihoods, activations) and the image shape
the convolutional networks see.
"""

from __future__ import annotations

import flax.linen as nn

from stein_jax.models import conv as conv_models
from stein_jax.objectives import semi_supervised as ss
from stein_jax.train import ConfigError

DATASETS = ("mnist", "fashion_mnist", "synthetic", "cifar10", "imagenet2012")
COLOUR_DATASETS = ("cifar10", "imagenet2012")
IMAGE_SHAPES = {"mnist": (28, 28, 1), "fashion_mnist": (28, 28, 1), "cifar10": (32, 32, 3)}
NETWORKS = ("fnn", "cnn", "resnet")
ENCODERS = ("auto", "gaussian", "flow", "noise")
LIKELIHOODS = ("auto", "bernoulli", "gaussian")
ACTIVATIONS = {"softplus": nn.softplus, "tanh": nn.tanh, "relu": nn.relu}


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


def num_strided(config) -> int:
  """How many stride-2 layers the convolutional network of ``config.network`` has."""
  if config.network == "cnn":
    return len(config.conv_features)
  return len(config.resnet_stages) + (config.resnet_stem_stride == 2)


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
      shape = image_shape(config)
      conv_models.check_image_shape(shape, num_strided(config), 2, f"network={config.network!r}")
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
  if config.method == "stein_viwae" and isinstance(config.k, int) and config.k >= 1 and config.num_particles % config.k:
    problems.append(
      f"stein_viwae needs k to divide num_particles; got k={config.k}, " f"num_particles={config.num_particles}"
    )
  if not config.learning_rate > 0:
    problems.append(f"learning_rate must be > 0, got {config.learning_rate!r}")
  if not config.label_weight >= 0:
    problems.append(f"label_weight must be >= 0, got {config.label_weight!r}")
  if not isinstance(config.eval_probe, bool):
    problems.append(f"eval_probe must be True or False, got {config.eval_probe!r}")
  l2s = config.probe_l2s
  if not (isinstance(l2s, tuple) and l2s and all(isinstance(v, (int, float)) and v > 0 for v in l2s)):
    problems.append(f"probe_l2s must be a non-empty tuple of penalties > 0, e.g. '(1e-3,1e-2)', got {l2s!r}")
  if problems:
    raise ConfigError("invalid config: " + "; ".join(problems) + ".")
