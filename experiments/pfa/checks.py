"""The PFA experiment's config check: every bad value named in one :class:`ConfigError`, before any data is read."""

from stein_jax.objectives import stein_vae as stein_vae_obj
from stein_jax.train import ConfigError
from stein_jax.train import config as config_lib

METHODS = ("stein_vae", "vae")
DATASETS = ("20news", "synthetic")


def _check_config(config) -> None:
  problems = []
  if config.method not in METHODS:
    problems.append(f"method must be one of {METHODS}, got {config.method!r}")
  if config.dataset not in DATASETS:
    problems.append(f"dataset must be one of {DATASETS}, got {config.dataset!r}")
  flat = config_lib.flatten_config(config)
  for key in (
    "model.num_topics",
    "svgd.num_particles",
    "vae_samples",
    "batch_size",
    "num_test_docs",
    "theta.sweeps",
    "gibbs.collect",
    "gibbs.thin",
    "eval.samples",
    "svgd.encoder_steps",
    "eval.top_topics",
    "eval.figure_topics",
    "theta.chunk_size",
  ):
    v = flat[key]
    if not (isinstance(v, int) and v >= 1):
      problems.append(f"{key} must be an int >= 1, got {v!r}")
  for key in ("theta.burnin", "gibbs.burnin", "theta.train_docs", "eval.figure_doc"):
    v = flat[key]
    if not (isinstance(v, int) and v >= 0):
      problems.append(f"{key} must be an int >= 0, got {v!r}")
  theta, gibbs, ev, model = config.theta, config.gibbs, config.eval, config.model
  if not theta.sweeps > theta.burnin:
    problems.append(f"theta.sweeps ({theta.sweeps}) must exceed theta.burnin ({theta.burnin})")
  if gibbs.collect % gibbs.thin:
    problems.append(f"gibbs.thin ({gibbs.thin}) must divide gibbs.collect ({gibbs.collect})")
  if ev.figure_doc >= config.num_test_docs:
    problems.append(f"eval.figure_doc ({ev.figure_doc}) must be < num_test_docs ({config.num_test_docs})")
  if ev.top_topics > model.num_topics or ev.figure_topics > model.num_topics:
    problems.append("eval.top_topics and eval.figure_topics must be <= model.num_topics")
  problems += stein_vae_obj.latent_step_options(config.svgd, "svgd.")[1]
  for key in ("model.prior_a0", "model.prior_r", "model.prior_c", "optimizer.learning_rate", "svgd.step_size"):
    if not flat[key] > 0:
      problems.append(f"{key} must be > 0, got {flat[key]!r}")
  if not tuple(model.hidden):
    problems.append("model.hidden must list at least one layer width (the paper: (100,))")
  if problems:
    raise ConfigError("invalid config: " + "; ".join(problems) + ".")
