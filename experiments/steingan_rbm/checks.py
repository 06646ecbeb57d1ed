"""The SteinGAN-RBM experiment's checks: config values before any data is read, then the data against the model."""

from stein_jax import kernels
from stein_jax.objectives import steingan
from stein_jax.targets import rbm as rbm_eval
from stein_jax.train import ConfigError

GENERATORS = ("conv", "mlp")
NOISES = ("uniform", "normal")
RBM_INITS = ("normal", "uniform")
GENERATOR_OUTPUTS = ("linear", "sigmoid")
KERNEL_NORMALIZATIONS = ("mean", "row_sum")
_adam = steingan.coupled_l2_adam  # Adam, with the authors' coupled L2 term for weight_decay > 0


def _check_config(config) -> None:
  def need(ok, message):
    if not ok:
      raise ConfigError(message)

  need(
    isinstance(config.alpha, (int, float)) and 0.0 <= config.alpha <= 1.0,
    f"config.alpha must lie in [0, 1] (0: SteinGAN, 1: SteinCD); got {config.alpha!r}.",
  )
  need(isinstance(config.use_kernel, bool), f"config.use_kernel must be True or False; got {config.use_kernel!r}.")
  need(
    config.generator_update in steingan.GENERATOR_UPDATES,
    f"config.generator_update must be one of {steingan.GENERATOR_UPDATES}; got {config.generator_update!r}.",
  )
  need(
    isinstance(config.discount, (int, float)) and 0.0 <= config.discount < 1.0,
    f"config.discount (gamma) must lie in [0, 1); got {config.discount!r}.",
  )
  need(config.generator in GENERATORS, f"config.generator must be one of {GENERATORS}; got {config.generator!r}.")
  need(config.noise in NOISES, f"config.noise must be one of {NOISES}; got {config.noise!r}.")
  need(config.rbm_init in RBM_INITS, f"config.rbm_init must be one of {RBM_INITS}; got {config.rbm_init!r}.")
  need(
    config.generator_output in GENERATOR_OUTPUTS,
    f"config.generator_output must be one of {GENERATOR_OUTPUTS}; got {config.generator_output!r}.",
  )
  need(
    config.kernel_normalization in KERNEL_NORMALIZATIONS,
    f"config.kernel_normalization must be one of {KERNEL_NORMALIZATIONS} ('mean': the paper's 1/m, 'row_sum': "
    f"the authors' code); got {config.kernel_normalization!r}.",
  )
  need(
    isinstance(config.generator_normalization, bool),
    f"config.generator_normalization must be True or False; got {config.generator_normalization!r}.",
  )
  need(
    not (config.generator_normalization and config.batch_size < 2),
    f"config.generator_normalization=True normalises with batch statistics and needs config.batch_size >= 2; "
    f"got batch_size={config.batch_size}.",
  )
  need(
    not (config.generator_normalization and config.generator != "conv"),
    "config.generator_normalization=True is implemented for config.generator='conv' (the paper's generator).",
  )
  need(
    config.generator_output == "linear" or config.preprocess == "unit",
    f"config.generator_output='sigmoid' makes pixels in [0, 1], but config.preprocess={config.preprocess!r} maps "
    "the data elsewhere; use --config.preprocess=unit (the authors' [0, 1] pixels) or "
    "--config.generator_output=linear.",
  )
  need(
    config.generator_output == "linear" or config.generator == "conv",
    "config.generator_output='sigmoid' is implemented for config.generator='conv'.",
  )
  need(
    isinstance(config.weight_decay, (int, float)) and config.weight_decay >= 0,
    f"config.weight_decay must be >= 0; got {config.weight_decay!r}.",
  )
  need(config.init_scale > 0, f"config.init_scale must be positive; got {config.init_scale!r}.")
  for key in ("step_size", "cd_step_size", "energy_learning_rate", "generator_learning_rate"):
    need(config[key] > 0, f"config.{key} must be positive; got {config[key]!r}.")
  for key in (
    "noise_dim",
    "num_fit_steps",
    "num_score_samples",
    "num_samples",
    "batch_size",
    "generator_hidden",
    "generator_channels",
  ):
    need(
      isinstance(config[key], int) and config[key] >= 1, f"config.{key} must be a positive int; got {config[key]!r}."
    )
  need(0.0 <= config.adam_b1 < 1.0, f"config.adam_b1 must lie in [0, 1); got {config.adam_b1!r}.")
  need(
    config.num_hidden <= rbm_eval.MAX_EXACT_HIDDEN,
    f"config.num_hidden={config.num_hidden} exceeds MAX_EXACT_HIDDEN={rbm_eval.MAX_EXACT_HIDDEN}: the exact "
    "log-likelihood enumerates all 2**num_hidden hidden states.",
  )


def _bandwidth(value):
  if isinstance(value, str) and value not in kernels.BANDWIDTH_RULES:
    try:
      value = float(value)
    except ValueError:
      raise ConfigError(
        f"config.bandwidth must be one of {sorted(kernels.BANDWIDTH_RULES)} or a positive number; " f"got {value!r}."
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
  if config.generator == "conv" and (side * side != dim or side % 4):
    raise ConfigError(
      f"config.generator='conv' makes square images with sides divisible by 4, but the data "
      f"dimension is {dim}; use --config.generator=mlp."
    )
  if config.generator_output == "sigmoid" and (data.train.min() < 0 or data.train.max() > 1):
    raise ConfigError(
      f"config.generator_output='sigmoid' makes pixels in [0, 1], but the {config.dataset!r} data "
      f"span [{data.train.min():.3g}, {data.train.max():.3g}]; use "
      "--config.generator_output=linear."
    )
  return side
