"""The image SteinGAN's config checks and optimiser: every bad value named at once, before any data is read.

The optimiser, Adam with the authors' coupled L2 term, is the library's
:func:`stein_jax.objectives.steingan.coupled_l2_adam`, shared with the SteinGAN-RBM family.
"""

import numpy as np

from stein_jax.data import images
from stein_jax.models import dcgan
from stein_jax.objectives import autoencoder_steingan
from stein_jax.objectives import steingan
from stein_jax.train import ConfigError

BANDWIDTH_RULES = ("paper", "authors_code")
_adam = steingan.coupled_l2_adam  # the name this family used before the optimiser moved to the library


def _validate(config) -> None:
  problems = []
  for key, allowed in (
    ("discount_rule", autoencoder_steingan.DISCOUNT_RULES),
    ("bandwidth_rule", BANDWIDTH_RULES),
    ("direction", autoencoder_steingan.DIRECTIONS),
    ("direction_norm_stats", autoencoder_steingan.DIRECTION_NORM_STATS),
  ):
    if config.get(key) not in allowed:
      problems.append(f"config.{key} must be one of {allowed}; got {config.get(key)!r}")
  for key in ("energy_batch_norm", "label_every_layer", "use_kernel", "joint_model"):
    if not isinstance(config.get(key), (bool, np.bool_)):
      problems.append(f"config.{key} must be True or False; got {config.get(key)!r}")
  dropout = config.get("input_dropout")
  if not isinstance(dropout, (int, float)) or isinstance(dropout, bool) or not 0.0 <= dropout < 1.0:
    problems.append(f"config.input_dropout must be a float in [0, 1) (the authors: 0.2); got {dropout!r}")
  decay = config.get("weight_decay")
  if not isinstance(decay, (int, float)) or isinstance(decay, bool) or not decay >= 0.0:
    problems.append(f"config.weight_decay must be a float >= 0 (the authors: 1e-5); got {decay!r}")
  if config.get("energy_batch_norm") is True and int(config.batch_size) < 2:
    problems.append(
      f"config.energy_batch_norm=True normalises by batch statistics and needs config.batch_size >= 2;"
      f" got batch_size={config.batch_size}"
    )
  if config.dataset not in images.DATASETS:
    problems.append(f"config.dataset must be one of {images.DATASETS}; got {config.dataset!r}")
  elif config.dataset == "synthetic" and not 1 <= config.synthetic_classes <= images.MAX_SYNTHETIC_CLASSES:
    problems.append(
      f"synthetic data have 1 to {images.MAX_SYNTHETIC_CLASSES} classes; got config.synthetic_classes="
      f"{config.synthetic_classes}"
    )
  for key in ("discount", "discount_boosted"):
    if not 0.0 <= config[key] < 1.0:
      problems.append(f"config.{key} must be in [0, 1); got {config[key]}")
  for key in (
    "batch_size",
    "code_dim",
    "energy_width",
    "generator_width",
    "noise_dim",
    "eval_batches",
    "num_eval_samples",
    "grid_columns",
    "classifier_steps",
    "classifier_width",
  ):
    if int(config[key]) < (2 if key == "batch_size" else 1):
      problems.append(f"config.{key} must be positive (batch_size >= 2: the kernel needs pairs); got {config[key]}")
  for key in ("energy_learning_rate", "generator_learning_rate", "step_size", "bandwidth_scale"):
    if not config[key] > 0:
      problems.append(f"config.{key} must be > 0; got {config[key]}")
  try:
    dcgan.num_resolution_steps(config.image_size)
  except ValueError as err:
    problems.append(f"config.image_size: {err}")
  if problems:
    raise ConfigError("Invalid SteinGAN config:\n  " + "\n  ".join(problems))
