"""The PFA experiment's config check: every bad value named in one :class:`ConfigError`, before any data is read."""

from stein_jax.objectives import stein_vae as stein_vae_obj
from stein_jax.train import ConfigError

METHODS = ("stein_vae", "vae")
DATASETS = ("20news", "synthetic")


def _check_config(config) -> None:
  problems = []
  if config.method not in METHODS:
    problems.append(f"method must be one of {METHODS}, got {config.method!r}")
  if config.dataset not in DATASETS:
    problems.append(f"dataset must be one of {DATASETS}, got {config.dataset!r}")
  for key in (
    "num_topics",
    "num_particles",
    "vae_samples",
    "batch_size",
    "num_test_docs",
    "theta_sweeps",
    "gibbs_collect",
    "gibbs_thin",
    "eval_samples",
    "encoder_steps",
    "top_topics",
    "figure_topics",
    "theta_chunk_size",
  ):
    v = config[key]
    if not (isinstance(v, int) and v >= 1):
      problems.append(f"{key} must be an int >= 1, got {v!r}")
  for key in ("theta_burnin", "gibbs_burnin", "theta_train_docs", "figure_doc"):
    v = config[key]
    if not (isinstance(v, int) and v >= 0):
      problems.append(f"{key} must be an int >= 0, got {v!r}")
  if not config.theta_sweeps > config.theta_burnin:
    problems.append(f"theta_sweeps ({config.theta_sweeps}) must exceed theta_burnin " f"({config.theta_burnin})")
  if config.gibbs_collect % config.gibbs_thin:
    problems.append(f"gibbs_thin ({config.gibbs_thin}) must divide gibbs_collect " f"({config.gibbs_collect})")
  if config.figure_doc >= config.num_test_docs:
    problems.append(f"figure_doc ({config.figure_doc}) must be < num_test_docs " f"({config.num_test_docs})")
  if config.top_topics > config.num_topics or config.figure_topics > config.num_topics:
    problems.append("top_topics and figure_topics must be <= num_topics")
  problems += stein_vae_obj.latent_step_options(config)[1]
  for key in ("prior_a0", "prior_r", "prior_c", "learning_rate", "step_size"):
    if not config[key] > 0:
      problems.append(f"{key} must be > 0, got {config[key]!r}")
  if not tuple(config.hidden):
    problems.append("hidden must list at least one layer width (the paper: (100,))")
  if problems:
    raise ConfigError("invalid config: " + "; ".join(problems) + ".")
