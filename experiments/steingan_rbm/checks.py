"""The SteinGAN-RBM experiment's checks: config values before any data is read, then the data against the model."""

from stein_jax import kernels
from stein_jax.objectives import steingan
from stein_jax.targets import rbm as rbm_eval
from stein_jax.train import ConfigError
from stein_jax.train import config as config_lib

GENERATORS = ("conv", "mlp")
NOISES = ("uniform", "normal")
RBM_INITS = ("normal", "uniform")
GENERATOR_OUTPUTS = ("linear", "sigmoid")
KERNEL_NORMALIZATIONS = ("mean", "row_sum")
_adam = steingan.coupled_l2_adam
# Where each key of the nested config was before the nesting: the flat names of the runs' fingerprints.
KEY_NAMES = config_lib.moved_keys(
  model=("num_hidden", "rbm_init", "init_scale", "generator", "noise_dim", "noise")
  + ("generator_hidden", "generator_channels", "generator_normalization", "generator_output"),
  svgd=("use_kernel", "generator_update", "num_fit_steps", "step_size", "kernel_normalization", "bandwidth")
  + ("cd_step_size",),
  optimizer=("energy_learning_rate", "generator_learning_rate", "adam_b1", "weight_decay"),
  eval=("num_score_samples", "classifier_cache_dir", "classifier_epochs", "num_samples"),
)  # Adam, with the authors' coupled L2 term for weight_decay > 0


def _check_config(config) -> None:
  def need(ok, message):
    if not ok:
      raise ConfigError(message)

  need(
    isinstance(config.alpha, (int, float)) and 0.0 <= config.alpha <= 1.0,
    f"config.alpha must lie in [0, 1] (0: SteinGAN, 1: SteinCD); got {config.alpha!r}.",
  )
  need(
    isinstance(config.svgd.use_kernel, bool),
    f"config.svgd.use_kernel must be True or False; got {config.svgd.use_kernel!r}.",
  )
  need(
    config.svgd.generator_update in steingan.GENERATOR_UPDATES,
    f"config.svgd.generator_update must be one of {steingan.GENERATOR_UPDATES}; got {config.svgd.generator_update!r}.",
  )
  need(
    isinstance(config.discount, (int, float)) and 0.0 <= config.discount < 1.0,
    f"config.discount (gamma) must lie in [0, 1); got {config.discount!r}.",
  )
  need(
    config.model.generator in GENERATORS,
    f"config.model.generator must be one of {GENERATORS}; got {config.model.generator!r}.",
  )
  need(config.model.noise in NOISES, f"config.model.noise must be one of {NOISES}; got {config.model.noise!r}.")
  need(
    config.model.rbm_init in RBM_INITS,
    f"config.model.rbm_init must be one of {RBM_INITS}; got {config.model.rbm_init!r}.",
  )
  need(
    config.model.generator_output in GENERATOR_OUTPUTS,
    f"config.model.generator_output must be one of {GENERATOR_OUTPUTS}; got {config.model.generator_output!r}.",
  )
  need(
    config.svgd.kernel_normalization in KERNEL_NORMALIZATIONS,
    f"config.svgd.kernel_normalization must be one of {KERNEL_NORMALIZATIONS} ('mean': the paper's 1/m, 'row_sum': "
    f"the authors' code); got {config.svgd.kernel_normalization!r}.",
  )
  need(
    isinstance(config.model.generator_normalization, bool),
    f"config.model.generator_normalization must be True or False; got {config.model.generator_normalization!r}.",
  )
  need(
    not (config.model.generator_normalization and config.batch_size < 2),
    f"config.model.generator_normalization=True normalises with batch statistics and needs config.batch_size >= 2; "
    f"got batch_size={config.batch_size}.",
  )
  need(
    not (config.model.generator_normalization and config.model.generator != "conv"),
    "config.model.generator_normalization=True is implemented for config.model.generator='conv' (the paper's generator).",
  )
  need(
    config.model.generator_output == "linear" or config.preprocess == "unit",
    f"config.model.generator_output='sigmoid' makes pixels in [0, 1], but config.preprocess={config.preprocess!r} maps "
    "the data elsewhere; use --config.preprocess=unit (the authors' [0, 1] pixels) or "
    "--config.model.generator_output=linear.",
  )
  need(
    config.model.generator_output == "linear" or config.model.generator == "conv",
    "config.model.generator_output='sigmoid' is implemented for config.model.generator='conv'.",
  )
  need(
    isinstance(config.optimizer.weight_decay, (int, float)) and config.optimizer.weight_decay >= 0,
    f"config.optimizer.weight_decay must be >= 0; got {config.optimizer.weight_decay!r}.",
  )
  need(config.model.init_scale > 0, f"config.model.init_scale must be positive; got {config.model.init_scale!r}.")
  flat = config_lib.flatten_config(config)
  for key in (
    "svgd.step_size",
    "svgd.cd_step_size",
    "optimizer.energy_learning_rate",
    "optimizer.generator_learning_rate",
  ):
    need(flat[key] > 0, f"config.{key} must be positive; got {flat[key]!r}.")
  for key in (
    "model.noise_dim",
    "svgd.num_fit_steps",
    "eval.num_score_samples",
    "eval.num_samples",
    "batch_size",
    "model.generator_hidden",
    "model.generator_channels",
  ):
    need(isinstance(flat[key], int) and flat[key] >= 1, f"config.{key} must be a positive int; got {flat[key]!r}.")
  need(
    0.0 <= config.optimizer.adam_b1 < 1.0,
    f"config.optimizer.adam_b1 must lie in [0, 1); got {config.optimizer.adam_b1!r}.",
  )
  need(
    config.model.num_hidden <= rbm_eval.MAX_EXACT_HIDDEN,
    f"config.model.num_hidden={config.model.num_hidden} exceeds MAX_EXACT_HIDDEN={rbm_eval.MAX_EXACT_HIDDEN}: the exact "
    "log-likelihood enumerates all 2**num_hidden hidden states.",
  )


def _bandwidth(value):
  if isinstance(value, str) and value not in kernels.BANDWIDTH_RULES:
    try:
      value = float(value)
    except ValueError:
      raise ConfigError(
        f"config.svgd.bandwidth must be one of {sorted(kernels.BANDWIDTH_RULES)} or a positive number; "
        f"got {value!r}."
      ) from None
  kernels.check_bandwidth(value)
  return value


def _check_data(config, data) -> int:
  """The data's dimension against the config's model; returns the side of the (square) images."""
  dim = data.train.shape[1]
  if dim != config.num_visible:
    raise ConfigError(
      f"The {config.dataset!r} data have dimension {dim} but config.num_visible={config.num_visible}; set "
      f"--config.num_visible={dim}."
    )
  side = int(round(dim**0.5))
  if config.model.generator == "conv" and (side * side != dim or side % 4):
    raise ConfigError(
      f"config.model.generator='conv' makes square images with sides divisible by 4, but the data "
      f"dimension is {dim}; use --config.model.generator=mlp."
    )
  if config.model.generator_output == "sigmoid" and (data.train.min() < 0 or data.train.max() > 1):
    raise ConfigError(
      f"config.model.generator_output='sigmoid' makes pixels in [0, 1], but the {config.dataset!r} data "
      f"span [{data.train.min():.3g}, {data.train.max():.3g}]; use "
      "--config.model.generator_output=linear."
    )
  return side
