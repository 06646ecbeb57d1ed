r"""Stein VAE / Stein VIWAE with VAE and IWAE baselines (Pu et al. 2017, secs. 5.1-5.2).

    python -m experiments.stein_vae --config=configs/stein_vae_gmm.py --workdir=/tmp/svae_gmm
    python -m experiments.stein_vae --config=configs/stein_vae_gmm.py \
        --config.observation=paper --config.method=vae --workdir=/tmp/svae_gmm_vae
    STEIN_JAX_DATA_DIR=/path/to/data python -m experiments.stein_vae \
        --config=configs/stein_vae_mnist.py --workdir=/tmp/svae_mnist
    STEIN_JAX_DATA_DIR=/path/to/data python -m experiments.stein_vae \
        --config=configs/stein_vae_text.py:cpu --workdir=/tmp/svae_20news

Two experiments share one training step (the objectives of
``stein_jax.objectives.stein_vae``, selected by ``config.method``):

  * GMM (sec. 5.1, ``config.dataset = "gmm"``): the two-component mixture prior with
    x = theta z + noise (``observation="paper"``) or the truly bimodal x = z_1 - z_2
    (``"bimodal"``). Evaluations log ``eval/posterior_mmd`` (mean over the test points of
    the MMD^2 between encoder samples and exact posterior samples) and, bimodal only,
    ``eval/mode_weight_error`` (max over test points of |encoder mass on a mode - exact
    weight|) and ``eval/outside_mass`` (mean fraction of encoder samples more than 3
    posterior standard deviations, Mahalanobis, from both modes; exact: 0.011), draw encoder samples over each test point's exact posterior density and
    write the per-test-point numbers to ``WORKDIR/gmm_eval.json``.
  * MNIST (sec. 5.2, ``config.dataset = "binarized_mnist"``): evaluations log
    ``test/nll_elbo``, ``test/nll_s_elbo`` (nats, positive) and ``test/seconds_per_image``.
  * Text (sec. 5.2, Table 2, ``config.dataset = "20news"`` or ``"reuters"``): word counts
    under a multinomial decoder (docs/results/stein_vae_text.md); evaluations log
    ``test/perplexity_elbo``, ``test/perplexity_s_elbo`` (exp(- sum_d log p(x_d) /
    sum_d N_d) with log p(x_d) bounded by the ELBO / S-ELBO), ``test/nll_elbo``,
    ``test/nll_s_elbo`` (nats per document), the ELBO's terms ``test/reconstruction``
    and ``test/kl`` (nats per document, 50 samples) and ``test/perplexity_unigram``
    (the add-one-smoothed training unigram, a sanity baseline).

Remedies for SVGD's lack of mass transport between modes (docs/results/stein_vae_gmm.md):
``model.encoder_init="prior_moments"`` starts q(z | x) at the prior's mean and covariance for
every x; ``svgd.bandwidth_anneal_steps`` / ``svgd.bandwidth_anneal_factor`` start with a kernel
``factor`` times wider than the median rule and decay it geometrically to the median rule.

The configs are nested (``model``, ``svgd``, ``optimizer``, ``eval``) and declare every key; each
experiment's ``legacy_key_names`` keeps the fingerprints of the flat configs they replace
(docs/architecture.md, "Nested configs").

The family is a package: ``base`` (config checks, model, trainer, state), ``keys`` (where each config
key was before the nesting), ``gmm``, ``mnist`` and ``text`` (one experiment each, with its evaluation
and figures); this module picks one by ``config.dataset`` and reopens saved runs; ``__main__`` is the
command line.
"""

from __future__ import annotations

import os

from stein_jax.train import ConfigError
from stein_jax.train import runs

from experiments.stein_vae import keys
from experiments.stein_vae.base import ENCODERS, DatasetExperiment, SteinVAEExperiment
from experiments.stein_vae.gmm import (
  OUTSIDE_MASS_EXACT,
  GMMExperiment,
  draw_posterior_panel,
  outside_mass,
  plot_posteriors,
  prior_moments_init,
)
from experiments.stein_vae.mnist import EVAL_SUBSETS, MNISTExperiment, early_stopping_record, evaluation_subset
from experiments.stein_vae.text import ELBO_TERM_SAMPLES, TEXT_DATASETS, TEXT_MODELS, TextExperiment, _elbo_terms_fn


__all__ = [
  "DatasetExperiment",
  "ELBO_TERM_SAMPLES",
  "ENCODERS",
  "EVAL_SUBSETS",
  "EXPERIMENT_NAMES",
  "GMMExperiment",
  "MNISTExperiment",
  "OUTSIDE_MASS_EXACT",
  "SteinVAEExperiment",
  "TEXT_DATASETS",
  "TEXT_MODELS",
  "TextExperiment",
  "_elbo_terms_fn",
  "draw_posterior_panel",
  "early_stopping_record",
  "evaluation_subset",
  "load_run",
  "experiment_type",
  "keys",
  "make_experiment",
  "outside_mass",
  "plot_posteriors",
  "prior_moments_init",
  "resumable_defaults",
]


def make_experiment(config):
  """The experiment for ``config.dataset``: "gmm", "binarized_mnist", "20news" or "reuters"."""
  if config.dataset == "gmm":
    return GMMExperiment(config)
  if config.dataset == "binarized_mnist":
    return MNISTExperiment(config)
  if config.dataset in TEXT_DATASETS:
    return TextExperiment(config)
  raise ConfigError(
    f"invalid config: dataset must be 'gmm', 'binarized_mnist', '20news' or " f"'reuters', got {config.dataset!r}."
  )


# ------------------------------------------------------------------ reopening runs

EXPERIMENT_NAMES = ("stein_vae_gmm", "stein_vae_mnist", "stein_vae_text")


def experiment_type(name: str) -> type:
  """The experiment class of a run named ``name`` (one of :data:`EXPERIMENT_NAMES`)."""
  return {"stein_vae_gmm": GMMExperiment, "stein_vae_mnist": MNISTExperiment, "stein_vae_text": TextExperiment}[name]


def resumable_defaults(name: str, data_dir: str | None = None) -> dict:
  """Values (by key path) for the keys run.json leaves out (they never change the model or its data)."""
  shared = {
    "num_steps": 1,
    "eval_every": 1,
    "checkpoint_every": 1,
    "log_every": 1,
    "max_to_keep": 3,
    "data_dir": data_dir or os.environ.get("STEIN_JAX_DATA_DIR"),
  }
  if name == "stein_vae_gmm":
    return {**shared, "eval.samples": 1000, "eval.mode_samples": 1000, "eval.plot": False}
  out = {**shared, "eval.samples": 1, "eval.test_examples": None, "eval.batch_size": 100, "eval.chunk_size": 100}
  if name == "stein_vae_mnist":  # resumable there, in the text runs' run.json
    out.update({"eval.valid_examples": 0, "eval.subset": "first"})
  return out


def load_run(run_dir: str, step: int | None = None, data_dir: str | None = None) -> runs.Run:
  """Reopens a run of this family read-only (:func:`stein_jax.train.runs.load_run`).

  Raises:
    stein_jax.train.runs.RunLoadError: no trained model there, another experiment, or a
      rebuild whose fingerprint differs from the run's.
  """
  return runs.load_run(
    run_dir,
    lambda name, cfg, path: make_experiment(cfg),
    supported=EXPERIMENT_NAMES,
    step=step,
    defaults=lambda name, path: resumable_defaults(name, data_dir),
    experiment_type=experiment_type,
  )
