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
"""

from __future__ import annotations

import hashlib
import json
import os
import time

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np
import optax

from stein_jax import data as data_lib
from stein_jax.evaluation import pfa_gibbs
from stein_jax.evaluation.mmd import mmd
from stein_jax.models import pfa
from stein_jax.objectives import pfa as pfa_obj
from stein_jax.objectives import stein_vae as stein_vae_obj
from stein_jax.train import AlgorithmExperiment, ConfigError, run_main, save_figure
from stein_jax.train.state import params_opt_state_layout

METHODS = ("stein_vae", "vae")
DATASETS = ("20news", "synthetic")
COLORS = {"gibbs": "#7b3294", "vae": "#d7191c", "stein_vae": "#1a9641"}
LABELS = {"gibbs": "Gibbs (MCMC)", "vae": "VAE", "stein_vae": "Stein VAE"}


def _theta_digest(theta) -> str:
  return hashlib.sha256(np.ascontiguousarray(np.asarray(theta, np.float32)).tobytes()).hexdigest()


def synthetic_corpus(seed: int, num_docs: int, vocab_size: int, num_topics: int, prior: pfa_obj.PFAPrior):
  """Documents drawn from PFA itself: (counts [num_docs, P], the true theta [P, V]).

  Topics are Dir(0.3) draws (smoother than a0, so every word has mass), codes Gamma(r, c)
  scaled by 20 so documents have tens of words; empty documents are redrawn.
  """
  rng = np.random.default_rng(seed)
  theta = rng.dirichlet(np.full(vocab_size, 0.3), num_topics).T
  z = 20.0 * rng.gamma(prior.r, 1.0 / prior.c, (num_docs, num_topics))
  x = rng.poisson(z @ theta.T)
  empty = x.sum(1) == 0
  x[empty, rng.integers(0, vocab_size, empty.sum())] = 1
  return x.astype(np.float32), theta.astype(np.float32)


def _load_checked(path, key, meta, what, mismatch, config_key):
  """``key`` from the npz cache at ``path``, after checking its stored meta agrees with ``meta``."""
  with np.load(path) as f:
    stored = json.loads(str(f["meta"]))
    value = f[key]
  diff = {k: (stored.get(k), v) for k, v in meta.items() if stored.get(k) != v}
  if diff:
    raise ValueError(f"{what} {path} {mismatch} (stored, now): {diff}; point {config_key} " "elsewhere or delete it.")
  return value


def _save_atomic(path, meta, **arrays):
  """Writes ``arrays`` and ``meta`` (as JSON) to the npz cache ``path`` atomically."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  np.savez(path + ".tmp.npz", meta=json.dumps(meta), **arrays)
  os.replace(path + ".tmp.npz", path)


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
    self._check_config(config)
    self.workdir = workdir
    self.prior = pfa_obj.PFAPrior(config.prior_a0, config.prior_r, config.prior_c)
    self._load_data(config)
    self.theta = jnp.asarray(self._get_theta(config))
    pfa_obj.check_theta(self.theta, self.vocab_size, config.num_topics)
    self.gibbs = self._get_gibbs(config)  # [D, C, V]
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

  # ------------------------------------------------------------------ configuration

  def _check_config(self, config):
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

  def _load_data(self, config):
    if config.dataset == "synthetic":
      x, self.true_theta = synthetic_corpus(
        config.seed + 1,
        config.synthetic_docs + config.num_test_docs,
        config.synthetic_vocab,
        config.num_topics,
        self.prior,
      )
      self.x_train, self.x_test = x[: config.synthetic_docs], x[config.synthetic_docs :]
    else:
      self.x_train = data_lib.load(config.dataset, "train", config.data_dir).x
      self.x_test = data_lib.load(config.dataset, "test", config.data_dir, max_examples=config.num_test_docs).x
      self.true_theta = None
    self.x_train = np.asarray(self.x_train, np.float32)
    self.x_test = np.asarray(self.x_test, np.float32)
    if self.x_test.shape[0] < config.num_test_docs:
      raise ConfigError(
        f"invalid config: num_test_docs={config.num_test_docs} but the test "
        f"split has {self.x_test.shape[0]} documents."
      )
    self.vocab_size = self.x_train.shape[1]
    pfa_obj.check_counts(self.x_train, self.vocab_size)
    pfa_obj.check_counts(self.x_test, self.vocab_size)

  def _path(self, value, default_name):
    if value:
      return value
    if self.workdir is None:
      return None
    return os.path.join(self.workdir, default_name)

  def _theta_meta(self, config):
    return {
      "dataset": config.dataset,
      "num_topics": config.num_topics,
      "vocab_size": self.vocab_size,
      "a0": config.prior_a0,
      "r": config.prior_r,
      "c": config.prior_c,
    }

  def _get_theta(self, config):
    """Stage 1: theta from ``theta_file`` if it exists (checked), else Gibbs (then saved)."""
    path = self._path(config.theta_file, "pfa_theta.npz")
    meta = self._theta_meta(config)
    if path and os.path.exists(path):
      theta = _load_checked(path, "theta", meta, "theta file", "was learned with other settings", "theta_file")
      logging.info("Loaded theta from %s.", path)
      return theta
    n = config.theta_train_docs or self.x_train.shape[0]
    x = self.x_train[:n]
    tokens = pfa_gibbs.corpus_tokens(x, config.theta_chunk_size)
    t0 = time.time()
    fit = pfa_gibbs.learn_theta(
      jax.random.key(config.seed + 101),
      tokens,
      config.num_topics,
      self.prior,
      num_sweeps=config.theta_sweeps,
      num_burnin=config.theta_burnin,
      chunk_size=config.theta_chunk_size,
    )
    theta = np.asarray(fit.theta)
    seconds = time.time() - t0
    logging.info("Learned theta by %d Gibbs sweeps on %d documents in %.1f s.", config.theta_sweeps, n, seconds)
    self.theta_fit_seconds = seconds
    if path and jax.process_index() == 0:
      meta.update(
        train_docs=n,
        sweeps=config.theta_sweeps,
        burnin=config.theta_burnin,
        seconds=seconds,
        log_likelihood_per_token=np.asarray(fit.log_likelihood).tolist(),
      )
      _save_atomic(path, meta, theta=theta)
    return theta

  def _get_gibbs(self, config):
    """Gibbs samples of the test documents' z | x, theta, from ``gibbs_file`` or computed."""
    path = self._path(config.gibbs_file, "pfa_gibbs_test.npz")
    meta = {
      "theta_sha256": _theta_digest(self.theta),
      "num_test_docs": config.num_test_docs,
      "burnin": config.gibbs_burnin,
      "collect": config.gibbs_collect,
      "thin": config.gibbs_thin,
      "r": config.prior_r,
      "c": config.prior_c,
    }
    if path and os.path.exists(path):
      return _load_checked(path, "samples", meta, "Gibbs file", "belongs to another theta or protocol", "gibbs_file")
    t0 = time.time()
    samples = np.asarray(
      pfa_gibbs.posterior_z(
        jax.random.key(config.seed + 202),
        self.theta,
        pfa_gibbs.doc_tokens(self.x_test),
        self.prior,
        num_burnin=config.gibbs_burnin,
        num_collect=config.gibbs_collect,
        thin=config.gibbs_thin,
      )
    )
    meta["seconds"] = time.time() - t0
    logging.info("Gibbs ground truth for %d test documents in %.1f s.", config.num_test_docs, meta["seconds"])
    if path and jax.process_index() == 0:
      _save_atomic(path, meta, samples=samples)
    return samples

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
    out = {
      k: float(np.mean(v)) if k.startswith("mmd") or k == "mean_error" else float(np.exp(np.mean(np.log(v))))
      for k, v in res.items()
    }
    if jax.process_index() == 0:
      os.makedirs(workdir, exist_ok=True)
      details = {
        "step": int(step),
        "method": cfg.method,
        **{k: np.asarray(v).tolist() for k, v in res.items()},
        "summary": out,
      }
      with open(os.path.join(workdir, "pfa_eval.json"), "w") as f:
        json.dump(details, f, indent=1)
      np.savez(
        os.path.join(workdir, "pfa_samples.tmp.npz"),
        samples=z[:, :250],
        method=cfg.method,
        theta_sha256=_theta_digest(self.theta),
      )
      os.replace(os.path.join(workdir, "pfa_samples.tmp.npz"), os.path.join(workdir, "pfa_samples.npz"))
    samples = {"gibbs": self.gibbs[cfg.figure_doc], cfg.method: z[cfg.figure_doc]}
    other = self._other_samples()
    if other is not None:
      samples[other[0]] = other[1][cfg.figure_doc]
    fig = plot_fig2(samples, cfg.figure_topics, f"test document {cfg.figure_doc}, step {step}")
    save_figure(fig, workdir, "pfa_fig2")
    return out

  def _other_samples(self):
    path = self.config.other_samples_file
    if not path:
      return None
    if not os.path.exists(path):
      raise FileNotFoundError(
        f"other_samples_file {path} does not exist; run the other " "method first (it writes WORKDIR/pfa_samples.npz)."
      )
    with np.load(path) as f:
      method, samples, digest = str(f["method"]), f["samples"], str(f["theta_sha256"])
    if digest != _theta_digest(self.theta) or samples.shape[0] < self.config.num_test_docs:
      raise ValueError(
        f"other_samples_file {path} was made with another theta or fewer test "
        "documents; share theta_file between the two runs."
      )
    return method, samples


def compare_to_gibbs(z, gibbs, top_topics: int) -> dict:
  """Per-document comparison of encoder samples z [D, n, V] with Gibbs samples [D, C, V].

  Returns a dict of [D] arrays: ``mean_error`` (mean over topics of |mean difference| /
  Gibbs sd), ``var_ratio`` and ``var_ratio_top`` (geometric means over all topics, and over
  the ``top_topics`` largest Gibbs posterior means, of var_enc / var_gibbs), ``mmd_z`` and
  ``mmd_log_z`` (unbiased MMD^2 with the pooled-median RBF bandwidth, on an equal number
  of encoder samples as Gibbs samples).
  """
  z = np.asarray(z, np.float64)
  g = np.asarray(gibbs, np.float64)
  m_e, m_g = z.mean(1), g.mean(1)
  v_e, v_g = z.var(1, ddof=1), g.var(1, ddof=1)
  log_ratio = np.log(v_e) - np.log(v_g)
  top = np.argsort(-m_g, 1)[:, :top_topics]
  n = min(z.shape[1], g.shape[1])
  mmd_z = [float(mmd(jnp.asarray(z[d, :n], jnp.float32), jnp.asarray(g[d], jnp.float32))) for d in range(z.shape[0])]
  mmd_log = [
    float(mmd(jnp.log(jnp.asarray(z[d, :n], jnp.float32)), jnp.log(jnp.asarray(g[d], jnp.float32))))
    for d in range(z.shape[0])
  ]
  return {
    "mean_error": np.mean(np.abs(m_e - m_g) / np.sqrt(v_g), 1),
    "var_ratio": np.exp(log_ratio.mean(1)),
    "var_ratio_top": np.exp(np.take_along_axis(log_ratio, top, 1).mean(1)),
    "mmd_z": np.asarray(mmd_z),
    "mmd_log_z": np.asarray(mmd_log),
  }


def plot_fig2(samples: dict, num_topics: int, title: str):
  """Fig. 2: marginals (diagonal) and pairwise posteriors (below) of the top Gibbs topics.

  Args:
    samples: {"gibbs": [C, V], method: [n, V], ...} for one document.
    num_topics: how many topics (those with the largest Gibbs posterior means).
    title: the figure's title.
  """
  import matplotlib.pyplot as plt

  topics = np.argsort(-samples["gibbs"].mean(0))[:num_topics]
  k = len(topics)
  fig, axes = plt.subplots(k, k, figsize=(2.6 * k, 2.6 * k), squeeze=False)
  order = [m for m in ("gibbs", "vae", "stein_vae") if m in samples]
  for i in range(k):
    for j in range(k):
      ax = axes[i][j]
      if j > i:
        ax.axis("off")
        continue
      for m in order:
        s = np.asarray(samples[m])
        if i == j:
          lo, hi = np.percentile(samples["gibbs"][:, topics[i]], [0.5, 99.5])
          span = hi - lo
          bins = np.linspace(max(lo - 0.5 * span, 0), hi + 0.5 * span, 40)
          ax.hist(s[:, topics[i]], bins=bins, density=True, histtype="step", lw=1.5, color=COLORS[m], label=LABELS[m])
        else:
          ax.scatter(s[:500, topics[j]], s[:500, topics[i]], s=2, alpha=0.4, color=COLORS[m])
      if i == k - 1:
        ax.set_xlabel(f"z[{topics[j]}]", fontsize=8)
      if j == 0 and i > 0:
        ax.set_ylabel(f"z[{topics[i]}]", fontsize=8)
      ax.tick_params(labelsize=7)
  axes[0][0].legend(fontsize=7, loc="upper right")
  fig.suptitle(title, fontsize=9)
  fig.tight_layout()
  return fig


def main():
  from absl import flags  # pylint: disable=g-import-not-at-top

  run_main(lambda config: PFAExperiment(config, workdir=flags.FLAGS.workdir))


if __name__ == "__main__":
  main()
