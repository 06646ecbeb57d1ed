r"""Poisson factor analysis: Stein VAE vs VAE against Gibbs sampling (Pu et al. 2017, sec. 5.1, Fig. 2).

    STEIN_JAX_DATA_DIR=/path/to/data python -m experiments.pfa --config=configs/pfa_20news.py \
        --config.method=vae --workdir=/tmp/pfa_vae
    STEIN_JAX_DATA_DIR=/path/to/data python -m experiments.pfa --config=configs/pfa_20news.py \
        --workdir=/tmp/pfa_stein --config.theta_file=/tmp/pfa_vae/pfa_theta.npz \
        --config.gibbs_file=/tmp/pfa_vae/pfa_gibbs_test.npz \
        --config.other_samples_file=/tmp/pfa_vae/pfa_samples.npz

Stages (model math and objectives: ``stein_jax.objectives.pfa``; encoders: ``stein_jax.models.pfa``; Gibbs: ``stein_jax.evaluation.pfa_gibbs``):

  1. theta by Gibbs sampling on the training corpus, point estimate = posterior mean
     (docs/pfa.md, sec. 5), cached in ``config.theta_file`` (default WORKDIR/pfa_theta.npz)
     with its hyper-parameters; a second run pointing at the file reuses it. The Gibbs
     ground truth of the test documents' z | x, theta is cached the same way
     (``config.gibbs_file``, default WORKDIR/pfa_gibbs_test.npz).
  2. The recognition model with theta fixed: Stein VAE (``method="stein_vae"``, SVGD on
     u = log z, encoder z = exp(MLP(log(1 + x), xi))) or VAE (``"vae"``, log-normal q).
  3. Evaluation against the Gibbs samples of each test document: marginal means
     (``eval/mean_error``: |mean_enc - mean_gibbs| / sd_gibbs, averaged over topics and
     documents), variances (``eval/var_ratio``: geometric mean of var_enc / var_gibbs;
     ``eval/var_ratio_top``: the same over each document's ``top_topics`` topics with the
     largest posterior means, the ones the words are about), MMD^2 between the two samples
     in z and in log z (``eval/mmd_z``, ``eval/mmd_log_z``, mean over documents). Per-document
     numbers go to WORKDIR/pfa_eval.json, encoder samples to WORKDIR/pfa_samples.npz, and
     Fig. 2 (univariate marginals and pairwise posteriors of ``figure_topics`` topics of one
     document: Gibbs, this method and, given ``other_samples_file``, the other method) to
     WORKDIR/figures/pfa_fig2.png.

The family is a package: this module (the experiment), ``checks`` (config validation), ``data`` (the corpora),
``gibbs`` (stage 1 and its caches), ``evaluation`` (stage 3), ``figures`` (Fig. 2) and ``__main__`` (the command
line).
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
import optax

from stein_jax.models import pfa
from stein_jax.objectives import pfa as pfa_obj
from stein_jax.objectives import stein_vae as stein_vae_obj
from stein_jax.train import AlgorithmExperiment, run_main, save_figure
from stein_jax.train.state import params_opt_state_layout

from experiments.pfa import evaluation
from experiments.pfa.checks import DATASETS, METHODS, _check_config
from experiments.pfa.data import load_corpus, synthetic_corpus
from experiments.pfa.evaluation import compare_to_gibbs
from experiments.pfa.figures import COLORS, LABELS, plot_fig2
from experiments.pfa.gibbs import _load_checked, _save_atomic, _theta_digest, get_gibbs, get_theta

__all__ = [
  "COLORS",
  "DATASETS",
  "LABELS",
  "METHODS",
  "PFAExperiment",
  "_check_config",
  "_load_checked",
  "_save_atomic",
  "_theta_digest",
  "compare_to_gibbs",
  "experiment_from_flags",
  "get_gibbs",
  "get_theta",
  "load_corpus",
  "main",
  "plot_fig2",
  "synthetic_corpus",
]


class PFAExperiment(AlgorithmExperiment):
  """Recognition models for PFA with theta fixed, evaluated against Gibbs (sec. 5.1).

  The state is an :class:`AlgorithmState` around :class:`stein_jax.objectives.pfa.PFAState`
  (``state.inner.params``: the encoder's parameters).
  """

  name = "pfa"
  legacy_defaults = {"kernel": "rbf"}  # added after the runs in docs/results; "rbf" reproduces them
  resumable_keys = (
    "eval_samples",
    "top_topics",
    "figure_doc",
    "figure_topics",
    "other_samples_file",
    "theta_file",
    "gibbs_file",
  )

  def __init__(self, config, workdir: str | None = None):
    super().__init__(config)
    _check_config(config)
    self.workdir = workdir
    self.prior = pfa_obj.PFAPrior(config.prior_a0, config.prior_r, config.prior_c)
    self.x_train, self.x_test, self.true_theta = load_corpus(config, self.prior)
    self.vocab_size = self.x_train.shape[1]
    theta, seconds = get_theta(config, self.x_train, self.prior, self._path(config.theta_file, "pfa_theta.npz"))
    if seconds is not None:
      self.theta_fit_seconds = seconds
    self.theta = jnp.asarray(theta)
    pfa_obj.check_theta(self.theta, self.vocab_size, config.num_topics)
    gibbs_path = self._path(config.gibbs_file, "pfa_gibbs_test.npz")
    self.gibbs = get_gibbs(config, self.theta, self.x_test, self.prior, gibbs_path)  # [D, C, V]
    hidden = tuple(config.hidden)
    if config.method == "stein_vae":
      self.encoder = pfa.PositiveNoiseEncoder(config.num_topics, hidden)
    else:
      self.encoder = pfa.LogNormalEncoder(config.num_topics, hidden)
    self.tx = optax.adam(config.learning_rate)
    self.algorithm = pfa_obj.make_trainer(
      config.method,
      self.encoder,
      self.tx,
      self.theta,
      self.prior,
      num_particles=config.num_particles,
      vae_samples=config.vae_samples,
      step_size=config.step_size,
      encoder_steps=config.encoder_steps,
      **stein_vae_obj.latent_step_options(config)[0],
    )

  def _path(self, value, default_name):
    if value:
      return value
    if self.workdir is None:
      return None
    return os.path.join(self.workdir, default_name)

  # ---------------------------------------------------------------------- training

  def legacy_state_layout(self):  # runs saved as a TrainState before the algorithm protocol
    return params_opt_state_layout(pfa_obj.PFAState)

  def batch(self, step):
    rng = np.random.default_rng([self.config.seed, step])
    idx = rng.integers(0, self.x_train.shape[0], self.config.batch_size)
    return {"x": self.x_train[idx]}

  # -------------------------------------------------------------------- evaluation

  def encoder_samples(self, params, x, num, seed=1234):
    """z = exp(log_z(x, xi)) with xi independent per document: [D, num, V]."""
    xi = jax.random.normal(jax.random.key(seed), (x.shape[0], num, self.config.num_topics))
    u = pfa.encode_log_z(self.encoder, params, jnp.asarray(x)[:, None, :], xi)
    return np.asarray(jnp.exp(u))

  def evaluate(self, state, step, workdir):
    cfg = self.config
    z = self.encoder_samples(state.inner.params, self.x_test, cfg.eval_samples)
    if not np.all(np.isfinite(z)):
      raise FloatingPointError("The encoder produced non-finite codes; lower learning_rate.")
    res = compare_to_gibbs(z, self.gibbs, cfg.top_topics)
    out = evaluation.summarize(res)
    evaluation.write_evaluation(workdir, step, cfg.method, res, out, z, self.theta)
    samples = {"gibbs": self.gibbs[cfg.figure_doc], cfg.method: z[cfg.figure_doc]}
    other = evaluation.other_samples(cfg.other_samples_file, self.theta, cfg.num_test_docs)
    if other is not None:
      samples[other[0]] = other[1][cfg.figure_doc]
    fig = plot_fig2(samples, cfg.figure_topics, f"test document {cfg.figure_doc}, step {step}")
    save_figure(fig, workdir, "pfa_fig2")
    return out


def experiment_from_flags(config) -> PFAExperiment:
  """The experiment of ``python -m experiments.pfa``: its caches default to files in ``--workdir``."""
  from absl import flags  # pylint: disable=g-import-not-at-top

  return PFAExperiment(config, workdir=flags.FLAGS.workdir)


def main():
  run_main(experiment_from_flags)
