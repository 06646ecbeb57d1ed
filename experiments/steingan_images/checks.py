"""The image SteinGAN's config keys, checks and optimiser: every bad value named at once, before any data is read.

The optimiser, Adam with the authors' coupled L2 term, is the library's
:func:`stein_jax.objectives.steingan.coupled_l2_adam`, shared with the SteinGAN-RBM family.
"""

import numpy as np

from stein_jax.data import images
from stein_jax.models import dcgan
from stein_jax.objectives import autoencoder_steingan
from stein_jax.objectives import steingan
from stein_jax.train import ConfigError
from stein_jax.train import config as config_lib

BANDWIDTH_RULES = ("paper", "authors_code")
_adam = steingan.coupled_l2_adam  # the name this family used before the optimiser moved to the library

# Where each key of the nested config was before the nesting: the flat names of the runs' fingerprints
# (docs/architecture.md, "Nested configs"). Two eval keys lost their prefix: eval_batches, num_eval_samples.
KEY_NAMES = config_lib.moved_keys(
  model=("code_dim", "energy_width", "margin", "generator_width", "noise_dim")
  + ("input_dropout", "energy_batch_norm", "label_every_layer"),
  svgd=("use_kernel", "step_size", "bandwidth_scale", "bandwidth_rule", "direction", "direction_norm_stats"),
  optimizer=("energy_learning_rate", "generator_learning_rate", "adam_b1", "weight_decay"),
  eval=dict(
    {k: k for k in ("num_accuracy_samples", "classifier_steps", "classifier_width", "classifier_cache_dir")},
    batches="eval_batches",
    num_score_samples="num_eval_samples",
    grid_columns="grid_columns",
  ),
)
# The top-level keys the experiment reads (besides the platform's schedule keys); the grouped ones are KEY_NAMES.
TOP_KEYS = ("seed", "data_dir", "dataset", "image_size", "channels", "max_train_examples", "synthetic_classes")
TOP_KEYS += ("joint_model", "batch_size", "discount", "discount_boosted", "discount_rule")
_POSITIVE_INTS = ("batch_size", "model.code_dim", "model.energy_width", "model.generator_width", "model.noise_dim")
_POSITIVE_INTS += ("eval.batches", "eval.num_score_samples", "eval.grid_columns", "eval.classifier_steps")
_POSITIVE_INTS += ("eval.classifier_width",)


def _validate(config) -> None:
  missing = [k for k in TOP_KEYS if k not in config]
  if missing:
    raise ConfigError(
      "Invalid SteinGAN config: " + "; ".join(f"the config lacks {k} (declare it in get_config())" for k in missing)
    )
  flat = config_lib.flatten_config(config)
  problems = []
  for key, allowed in (
    ("discount_rule", autoencoder_steingan.DISCOUNT_RULES),
    ("svgd.bandwidth_rule", BANDWIDTH_RULES),
    ("svgd.direction", autoencoder_steingan.DIRECTIONS),
    ("svgd.direction_norm_stats", autoencoder_steingan.DIRECTION_NORM_STATS),
  ):
    if flat[key] not in allowed:
      problems.append(f"config.{key} must be one of {allowed}; got {flat[key]!r}")
  for key in ("model.energy_batch_norm", "model.label_every_layer", "svgd.use_kernel", "joint_model"):
    if not isinstance(flat[key], (bool, np.bool_)):
      problems.append(f"config.{key} must be True or False; got {flat[key]!r}")
  dropout = config.model.input_dropout
  if not isinstance(dropout, (int, float)) or isinstance(dropout, bool) or not 0.0 <= dropout < 1.0:
    problems.append(f"config.model.input_dropout must be a float in [0, 1) (the authors: 0.2); got {dropout!r}")
  decay = config.optimizer.weight_decay
  if not isinstance(decay, (int, float)) or isinstance(decay, bool) or not decay >= 0.0:
    problems.append(f"config.optimizer.weight_decay must be a float >= 0 (the authors: 1e-5); got {decay!r}")
  if config.model.energy_batch_norm is True and int(config.batch_size) < 2:
    problems.append(
      f"config.model.energy_batch_norm=True normalises by batch statistics and needs config.batch_size >= 2;"
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
    if not 0.0 <= flat[key] < 1.0:
      problems.append(f"config.{key} must be in [0, 1); got {flat[key]}")
  for key in _POSITIVE_INTS:
    if int(flat[key]) < (2 if key == "batch_size" else 1):
      problems.append(f"config.{key} must be positive (batch_size >= 2: the kernel needs pairs); got {flat[key]}")
  for key in (
    "optimizer.energy_learning_rate",
    "optimizer.generator_learning_rate",
    "svgd.step_size",
    "svgd.bandwidth_scale",
  ):
    if not flat[key] > 0:
      problems.append(f"config.{key} must be > 0; got {flat[key]}")
  try:
    dcgan.num_resolution_steps(config.image_size)
  except ValueError as err:
    problems.append(f"config.image_size: {err}")
  if problems:
    raise ConfigError("Invalid SteinGAN config:\n  " + "\n  ".join(problems))
