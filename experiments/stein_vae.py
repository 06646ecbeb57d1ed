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
``encoder_init="prior_moments"`` starts q(z | x) at the prior's mean and covariance for
every x; ``bandwidth_anneal_steps`` / ``bandwidth_anneal_factor`` start with a kernel
``factor`` times wider than the median rule and decay it geometrically to the median rule.
"""

from __future__ import annotations

import functools
import json
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax

from stein_jax import data as data_lib
from stein_jax.data import synthetic_gmm as gmm
from stein_jax.evaluation import bounds
from stein_jax.evaluation.mmd import mmd
from stein_jax.models import deep_poisson
from stein_jax.models import vae as vae_models
from stein_jax.objectives import stein_vae as sv
from stein_jax.data.checksums import array_fingerprint
from stein_jax.train import AlgorithmExperiment, AlgorithmState, ConfigError, read_metrics, run_main, save_figure
from stein_jax.train import config as config_lib
from stein_jax.train import runs
from stein_jax.train.state import train_state_layout

ENCODERS = ("auto", "gaussian", "mlp", "flow")
TEXT_MODELS = ("softmax", "deep_poisson")


# The keys a config of this family may leave out, with the value each then takes: one table
# instead of a default at every use (the GMM, MNIST and text configs declare different subsets,
# and a run.json written before a key existed lacks it). Filled into the experiment's copy of
# the config, so they never change a run's fingerprint.
OPTIONAL_KEYS = {
  "encoder": "auto",
  "lr_decay": "constant",
  "latent_k": None,
  "birth_death_rate": 0.0,
  "birth_death_start": 0,
  "bandwidth_anneal_steps": 0,
  "bandwidth_anneal_factor": 1.0,
  "learn_decoder": True,
  "decoder_prior_std": 1.0,
  "num_decoder": 1,
  "bandwidth": "median",
  "mode_samples": None,
  "eval_subset": "first",
  "valid_examples": 0,
  "text_model": "softmax",
  "def_layers": (200, 200, 50),
  "def_shape": 1.0,
}


def complete_config(config):
  """A copy of ``config`` with :data:`OPTIONAL_KEYS` filled in where missing."""
  return config_lib.with_defaults(config, OPTIONAL_KEYS)


class SteinVAEExperiment(AlgorithmExperiment):
  """Shared part: model, trainer (the algorithm), config checks.

  The state is an :class:`AlgorithmState` whose ``inner`` is the trainer's
  :class:`stein_jax.objectives.stein_vae.SteinVAEState` (decoder leaves stacked
  [M, ...]); ``state.inner.params`` is ``{"enc", "dec"}``.
  """

  name = "stein_vae"
  # ``kernel`` was added after the runs in docs/results existed; "rbf" reproduces them.
  legacy_defaults = {"kernel": "rbf"}

  def __init__(self, config):
    config = complete_config(config)
    super().__init__(config)
    self._check_config(config)
    self.model = self.build_model(config)
    self.trainer = self.algorithm = self._make_trainer()

  # -------------------------------------------------------------- configuration

  def _check_config(self, config):
    problems = []
    if config.method not in sv.METHODS:
      problems.append(f"method must be one of {sv.METHODS}, got {config.method!r}")
    if not (isinstance(config.num_particles, int) and config.num_particles >= 1):
      problems.append(f"num_particles must be an int >= 1, got {config.num_particles!r}")
    k = config.k
    if not (isinstance(k, int) and k >= 1):
      problems.append(f"k must be an int >= 1, got {k!r}")
    elif config.method == "stein_viwae" and config.num_particles % k:
      problems.append(
        f"stein_viwae needs k to divide num_particles; got k={k}, " f"num_particles={config.num_particles}"
      )
    if config.encoder not in ENCODERS:
      problems.append(f"encoder must be one of {ENCODERS}, got {config.encoder!r}")
    if not config.batch_size >= 1:
      problems.append(f"batch_size must be >= 1, got {config.batch_size!r}")
    if not config.learning_rate > 0:
      problems.append(f"learning_rate must be > 0, got {config.learning_rate!r}")
    if config.lr_decay not in ("constant", "cosine"):
      problems.append(f"lr_decay must be 'constant' or 'cosine', got {config.lr_decay!r}")
    problems += sv.latent_step_options(config)[1]
    latent_k = config.latent_k
    if latent_k is not None and not (
      isinstance(latent_k, int) and latent_k >= 1 and config.num_particles % latent_k == 0
    ):
      problems.append(f"latent_k must be an int >= 1 dividing num_particles, got {latent_k!r}")
    if not config.birth_death_rate >= 0:
      problems.append(f"birth_death_rate must be >= 0, got {config.birth_death_rate!r}")
    if config.birth_death_rate > 0 and config.method not in ("stein_vae", "stein_viwae"):
      problems.append("birth_death_rate applies to the Stein methods only (method=" f"{config.method!r})")
    if config.bandwidth_anneal_steps < 0:
      problems.append("bandwidth_anneal_steps must be >= 0")
    if config.bandwidth_anneal_factor < 1.0:
      problems.append("bandwidth_anneal_factor must be >= 1 (a kernel at least as wide " "as the median rule)")
    problems += self.check_specific(config)
    if problems:
      raise ConfigError("invalid config: " + "; ".join(problems) + ".")

  def check_specific(self, config) -> list:
    del config
    return []

  def build_model(self, config) -> sv.LatentModel:
    raise NotImplementedError

  def encoder_kind(self) -> str:
    kind = self.config.encoder
    if kind == "auto":
      return "gaussian" if self.config.method in ("vae", "iwae") else self.default_stein_encoder
    return kind

  @property
  def num_data(self) -> int:
    raise NotImplementedError

  def _make_trainer(self):
    cfg = self.config
    tx = optax.adam(self.learning_rate_schedule())
    dec_tx = tx if cfg.learn_decoder else optax.set_to_zero()
    kwargs = {}
    if cfg.method in ("stein_vae", "stein_viwae"):
      kwargs = dict(
        decoder_optimizer=dec_tx,
        step_size=cfg.step_size,
        encoder_steps=cfg.encoder_steps,
        num_data=self.num_data,
        decoder_prior_std=cfg.decoder_prior_std,
        latent_bandwidth_schedule=self.bandwidth_schedule(),
        birth_death_rate=float(cfg.birth_death_rate),
        birth_death_start=int(cfg.birth_death_start),
      )
      kwargs.update(sv.latent_step_options(cfg)[0])
      if cfg.method == "stein_viwae" and cfg.latent_k is not None:
        kwargs["latent_group_size"] = int(cfg.latent_k)
    elif not cfg.learn_decoder:
      # VAE/IWAE update both with one optimizer: freeze the decoder's part.
      tx = optax.multi_transform(
        {"enc": tx, "dec": optax.set_to_zero()},
        lambda p: (jax.tree_util.tree_map(lambda _: "enc", p[0]), jax.tree_util.tree_map(lambda _: "dec", p[1])),
      )
    return sv.make_trainer(
      cfg.method, self.model, tx, num_particles=cfg.num_particles, k=cfg.k, num_decoder=cfg.num_decoder, **kwargs
    )

  def learning_rate_schedule(self):
    """Adam's learning rate: ``config.learning_rate``, constant or (``lr_decay="cosine"``)
    cosine-decayed to 0 over ``num_steps`` (a decayed rate freezes the encoder's final state
    instead of leaving it jittering with the last minibatches)."""
    cfg = self.config
    if cfg.lr_decay == "cosine":
      return optax.cosine_decay_schedule(cfg.learning_rate, max(int(cfg.num_steps), 1))
    return cfg.learning_rate

  @property
  def bandwidth_rule(self) -> str:
    """``config.bandwidth``: "median" (h = med^2, default) or "median_log" (h = med^2 / log n)."""
    return self.config.bandwidth

  def bandwidth_schedule(self):
    """``step -> factor`` of the latent kernel's bandwidth, or None (no annealing).

    factor = F^(1 - step / T) for step < T (F = ``bandwidth_anneal_factor``, T =
    ``bandwidth_anneal_steps``), then 1: a kernel that starts nearly constant over the
    particle cloud (SVGD then matches the cloud's low moments to the posterior's) and
    shrinks geometrically to the median rule.
    """
    steps = self.config.bandwidth_anneal_steps
    factor0 = float(self.config.bandwidth_anneal_factor)
    if steps <= 0 or factor0 == 1.0:
      return None

    def schedule(step):
      frac = jnp.clip(1.0 - step.astype(jnp.float32) / steps, 0.0, 1.0)
      return jnp.exp(frac * math.log(factor0))

    return schedule

  # ------------------------------------------------------------------ the state

  def adjust_init(self, enc_params, dec_params):
    return enc_params, dec_params

  def init_state(self, rng, config):
    s = self.trainer.init(rng)
    enc, dec = self.adjust_init(s.enc_params, s.dec_params)
    s = s._replace(enc_params=enc, dec_params=dec)  # Adam's zero moments do not change
    return AlgorithmState.create(s, rng)

  def legacy_state_layout(self):  # runs saved as a TrainState before the algorithm protocol
    return train_state_layout(sv.split_state, sv.join_state)

  def encoder_samples(self, params, x, num, seed=1234):
    """num encoder samples for each x [T, dx]: [T, num, dz] (xi independent per x)."""
    xi = jax.random.normal(jax.random.key(seed), (x.shape[0], num, self.model.latent_dim))
    return sv.encode(self.model, params["enc"], x[:, None, :], xi)


# ------------------------------------------------------------------------ GMM


class GMMExperiment(SteinVAEExperiment):
  """Sec. 5.1: encoders against the exact two-component posterior (Fig. 1)."""

  name = "stein_vae_gmm"
  default_stein_encoder = "mlp"
  resumable_keys = ("eval_samples", "mode_samples", "plot")

  def check_specific(self, config):
    if config.observation not in gmm.OBSERVATION_MATRICES:
      return [f"observation must be one of {sorted(gmm.OBSERVATION_MATRICES)}, got " f"{config.observation!r}"]
    if config.encoder_init not in ("default", "prior_moments"):
      return [f"encoder_init must be 'default' or 'prior_moments', got {config.encoder_init!r}"]
    return []

  def __init__(self, config):
    config = complete_config(config)
    self.data = None
    super().__init__(config)
    self.data = gmm.make_dataset(
      jax.random.key(config.data_seed), config.observation, num_train=config.num_train, num_test=config.num_test
    )
    self.x_train = np.asarray(self.data.x_train, np.float32)
    self.post = gmm.exact_posterior(self.data.x_test, config.observation)

  @property
  def num_data(self):
    return self.config.num_train

  def build_model(self, config):
    a = gmm.observation_matrix(config.observation)
    dx = a.shape[0]
    hidden = tuple(config.encoder_hidden)
    kind = self.encoder_kind()
    if kind == "gaussian":
      enc = vae_models.GaussianEncoder(gmm.LATENT_DIM, hidden)
    elif kind == "mlp":
      enc = vae_models.MLPNoiseEncoder(gmm.LATENT_DIM, hidden)
    else:
      enc = vae_models.FlowEncoder(gmm.LATENT_DIM, hidden, num_coupling_layers=4, coupling_hidden=hidden[-1])
    theta = jnp.asarray(a, jnp.float32)
    init = None if config.learn_decoder else (lambda *_: theta)
    dec = vae_models.LinearGaussianDecoder(dx, theta_init=init)
    return sv.LatentModel(enc, dec, gmm.LATENT_DIM, dx, "gaussian", gmm.NOISE_STD, gmm.log_prior)

  def adjust_init(self, enc_params, dec_params):
    if self.config.encoder_init != "prior_moments" or self.encoder_kind() != "mlp":
      return enc_params, dec_params
    return prior_moments_init(enc_params, self.model.data_dim), dec_params

  def batch(self, step):
    rng = np.random.default_rng([self.config.seed, step])
    idx = rng.integers(0, self.x_train.shape[0], self.config.batch_size)
    return {"x": self.x_train[idx]}

  def evaluate(self, state, step, workdir):
    cfg = self.config
    n = cfg.eval_samples
    z = self.encoder_samples(state.inner.params, self.data.x_test, n)  # [T, n, 2]
    exact = gmm.posterior_sample(jax.random.key(4321), self.post, n)
    bounds.check_finite("GMM encoder samples", z)
    mmds = np.array([float(mmd(z[t], exact[t])) for t in range(z.shape[0])])
    w_exact = np.asarray(jnp.exp(self.post.log_weights))
    z_mode = self.encoder_samples(state.inner.params, self.data.x_test, cfg.mode_samples or n, seed=99)
    w_enc = np.asarray(gmm.mode_weights(self.post, z_mode))
    outside = outside_mass(self.post, z_mode)
    out = {"posterior_mmd": float(mmds.mean()), "outside_mass": float(outside.mean())}
    details = {
      "step": int(step),
      "method": cfg.method,
      "observation": cfg.observation,
      "num_particles": cfg.num_particles,
      "mmd": mmds.tolist(),
      "mode_weights_encoder": w_enc.tolist(),
      "mode_weights_exact": w_exact.tolist(),
      "outside_mass": outside.tolist(),
      "outside_mass_exact": OUTSIDE_MASS_EXACT,
    }
    if cfg.observation == "bimodal":
      err = np.abs(w_enc - w_exact).max(-1)
      out["mode_weight_error"] = float(err.max())
      details["mode_weight_error"] = err.tolist()
    if jax.process_index() == 0:
      os.makedirs(workdir, exist_ok=True)
      with open(os.path.join(workdir, "gmm_eval.json"), "w") as f:
        json.dump(details, f, indent=1)
    if cfg.plot:
      fig = plot_posteriors(
        self.post,
        np.asarray(z),
        np.asarray(exact),
        cfg.observation,
        f"{cfg.method} on the {cfg.observation} GMM posterior "
        f"({'x = z1 - z2 + noise' if cfg.observation == 'bimodal' else 'x = theta z + noise'}), "
        f"S = {cfg.num_particles} particles, step {step}",
        mmds=mmds,
        weights=w_enc,
      )
      save_figure(fig, workdir, f"posteriors_step{step:06d}")
    return out


# P(chi^2_2 > 9) = exp(-4.5): the exact posterior's mass beyond 3 "sigmas" of both components.
OUTSIDE_MASS_EXACT = math.exp(-4.5)


def outside_mass(post, z):
  """Fraction of z [T, n, 2] farther than Mahalanobis distance 3 from every component mean.

  Under the exact posterior (both components share the covariance) this is at most
  exp(-4.5) = 0.011. It catches encoder mass smeared between the modes, which the
  mode-weight metric (which side of the valley a sample is on) does not see.
  """
  prec = jnp.linalg.inv(post.cov)
  d = z[..., None, :] - post.means[..., None, :, :]  # [T, n, 2, 2]
  m2 = jnp.einsum("...ci,ij,...cj->...c", d, prec, d)
  return np.asarray(jnp.mean(jnp.min(m2, -1) > 9.0, -1))


def prior_moments_init(enc_params, data_dim):
  """MLPNoiseEncoder params with q(z | x) at the prior's mean and covariance for every x.

  The first layer's x-weights are zeroed (no x-dependence at the start: the encoder
  begins at the prior, as a VAE's does when its KL is 0), and the output layer is
  affinely re-mapped so that the output cloud over xi ~ N(0, I) has the prior's mean
  and covariance (measured on 4,096 fixed xi). Uses only the prior, not the posterior.
  """
  p = jax.tree_util.tree_map(lambda a: a, enc_params)
  mlp = p["params"]["MLP_0"]
  names = sorted(mlp)
  first, last = mlp[names[0]], mlp[names[-1]]
  first = dict(first, kernel=first["kernel"].at[:data_dim].set(0.0))
  hidden = [first] + [mlp[n] for n in names[1:-1]]
  xi = jax.random.normal(jax.random.key(0), (4096, gmm.LATENT_DIM))
  h = jnp.concatenate([jnp.zeros((xi.shape[0], data_dim)), xi], -1)
  for layer in hidden:
    h = jnp.tanh(h @ layer["kernel"] + layer["bias"])
  out = h @ last["kernel"]
  mean = out.mean(0)
  cov = jnp.cov(out.T) + 1e-6 * jnp.eye(gmm.LATENT_DIM)
  pm = jnp.asarray(gmm.PRIOR_MEANS, jnp.float32)
  prior_mean = pm.mean(0)
  prior_cov = jnp.eye(gmm.LATENT_DIM) + jnp.cov(pm.T, bias=True)

  def sqrtm(c, inv=False):
    e, v = jnp.linalg.eigh(c)
    e = 1 / jnp.sqrt(e) if inv else jnp.sqrt(e)
    return (v * e) @ v.T

  a = sqrtm(cov, inv=True) @ sqrtm(prior_cov)
  last = dict(last, kernel=last["kernel"] @ a, bias=prior_mean - mean @ a)
  new_mlp = dict(mlp)
  new_mlp[names[0]] = first
  new_mlp[names[-1]] = last
  return {**p, "params": {**p["params"], "MLP_0": new_mlp}}


def draw_posterior_panel(ax, post, i, z, exact, max_points=500, axis_labels=True):
  """Test point i: the exact posterior density as contour lines (blue), encoder samples z [n, 2] as dots (red).

  Contour lines rather than a filled density, and small translucent dots, so that both modes stay visible under
  the samples.
  """
  lo, hi = np.percentile(exact, 0.5, 0), np.percentile(exact, 99.5, 0)
  span = (hi - lo).max()
  c = (lo + hi) / 2
  half = 0.75 * span + 1e-3
  g0 = np.linspace(c[0] - half, c[0] + half, 120)
  g1 = np.linspace(c[1] - half, c[1] + half, 120)
  gx, gy = np.meshgrid(g0, g1)
  pts = jnp.asarray(np.stack([gx.ravel(), gy.ravel()], 1), jnp.float32)
  sub = gmm.GMMPosterior(post.log_weights[i], post.means[i], post.cov)
  logp = np.asarray(gmm.posterior_log_prob(sub, pts)).reshape(gx.shape)
  density = np.exp(logp - logp.max())
  ax.contour(gx, gy, density, levels=[0.01, 0.05, 0.2, 0.5, 0.8], colors="tab:blue", linewidths=0.8)
  zi = z[:max_points]
  ax.scatter(zi[:, 0], zi[:, 1], s=2, c="crimson", alpha=0.35, linewidths=0)
  ax.set_xlim(g0[0], g0[-1])
  ax.set_ylim(g1[0], g1[-1])
  ax.tick_params(labelsize=6)
  if axis_labels:
    ax.set_xlabel("$z_1$", fontsize=7, labelpad=1)
    ax.set_ylabel("$z_2$", fontsize=7, labelpad=1)


def plot_posteriors(post, z, exact, observation, title, mmds=None, weights=None):
  """One panel per test point: encoder samples over the exact posterior's contours, with a caption."""
  import matplotlib.pyplot as plt
  from matplotlib.lines import Line2D

  t = z.shape[0]
  cols = min(5, t)
  rows = -(-t // cols)
  fig, axes = plt.subplots(rows, cols, figsize=(2.8 * cols, 2.8 * rows + 0.9), squeeze=False)
  w_exact = np.asarray(jnp.exp(post.log_weights))
  for i in range(t):
    ax = axes[i // cols][i % cols]
    draw_posterior_panel(ax, post, i, z[i], exact[i], axis_labels=(i % cols == 0 or i // cols == rows - 1))
    label = [f"test point {i}"]
    if mmds is not None:
      label.append(f"MMD$^2$ {mmds[i]:.3f}")
    title_lines = [", ".join(label)]
    if weights is not None and observation == "bimodal":
      title_lines.append(f"mass on mode 1: encoder {weights[i][0]:.2f}, exact {w_exact[i][0]:.2f}")
    ax.set_title("\n".join(title_lines), fontsize=7)
  for j in range(t, rows * cols):
    axes[j // cols][j % cols].axis("off")
  handles = [
    Line2D(
      [],
      [],
      color="tab:blue",
      lw=1,
      label="exact posterior p(z | x): density contours at " "1, 5, 20, 50, 80 % of its peak",
    ),
    Line2D(
      [],
      [],
      color="crimson",
      marker="o",
      ls="",
      ms=3,
      alpha=0.6,
      label=f"encoder samples z = f(x, xi) ({min(500, z.shape[1])} per panel)",
    ),
  ]
  fig.legend(handles=handles, loc="lower center", ncol=2, fontsize=7, frameon=False)
  fig.suptitle(title, fontsize=9)
  fig.tight_layout(rect=(0, 0.05, 1, 1))
  return fig


# ---------------------------------------------------------------------- MNIST


class MNISTExperiment(SteinVAEExperiment):
  """Sec. 5.2: binarized MNIST density estimation (Table 1, Fig. 3)."""

  name = "stein_vae_mnist"
  default_stein_encoder = "flow"
  resumable_keys = (
    "eval_samples",
    "test_examples",
    "valid_examples",
    "eval_subset",
    "eval_batch_size",
    "eval_chunk_size",
  )

  def __init__(self, config):
    config = complete_config(config)
    self.train_data = data_lib.load("binarized_mnist", "train", config.data_dir, max_examples=config.max_train_examples)
    subset = config.eval_subset
    if subset not in EVAL_SUBSETS:  # checked before any data is read
      raise ConfigError(f"eval_subset must be one of {EVAL_SUBSETS}, got {subset!r}")
    self.test_data = evaluation_subset(
      data_lib.load("binarized_mnist", "test", config.data_dir), config.test_examples, subset
    )
    self.valid_data = None
    valid = config.valid_examples
    if valid is None or (isinstance(valid, int) and valid > 0):  # else: off, or a config error
      self.valid_data = evaluation_subset(
        data_lib.load("binarized_mnist", "valid", config.data_dir), config.valid_examples, subset
      )
    super().__init__(config)
    self.batcher = data_lib.Batcher(self.train_data, config.batch_size, config.seed)
    sv.check_data(self.model, jnp.asarray(self.batcher.batch(0)["x"]))
    sv.check_data(self.model, jnp.asarray(self.test_data.x))
    if self.valid_data is not None:
      sv.check_data(self.model, jnp.asarray(self.valid_data.x))

  @property
  def num_data(self):
    return self.train_data.num_examples

  def data_fingerprint(self):
    return array_fingerprint(self.train_data.x)

  def check_specific(self, config):
    problems = []
    if not config.latent_dim >= 1:
      problems.append(f"latent_dim must be >= 1, got {config.latent_dim!r}")
    valid = config.valid_examples
    if valid is not None and not (isinstance(valid, int) and valid >= 0):
      problems.append(f"valid_examples must be None (all), 0 (no validation) or a positive " f"int, got {valid!r}")
    return problems

  def build_model(self, config):
    hidden = tuple(config.hidden)
    dz = config.latent_dim
    kind = self.encoder_kind()
    if kind == "gaussian":
      enc = vae_models.GaussianEncoder(dz, hidden)
    elif kind == "flow":
      enc = vae_models.FlowEncoder(
        dz, hidden, num_coupling_layers=config.num_coupling_layers, coupling_hidden=config.coupling_hidden
      )
    else:
      enc = vae_models.MLPNoiseEncoder(dz, hidden)
    dx = int(np.prod(self.train_data.x.shape[1:]))
    dec = vae_models.BernoulliDecoder(dx, hidden)
    return sv.LatentModel(enc, dec, dz, dx, "bernoulli")

  def batch(self, step):
    return {"x": self.batcher.batch(step)["x"].astype(np.float32)}

  def _bounds(self, state, data):
    cfg = self.config
    return bounds.evaluate(
      jax.random.key(cfg.seed + 777),
      self.model,
      state.inner.params["enc"],
      state.inner.params["dec"],
      jnp.asarray(data.x, jnp.float32),
      batch_size=min(cfg.eval_batch_size, data.num_examples),
      num_samples=cfg.eval_samples,
      chunk_size=cfg.eval_chunk_size,
    )

  def evaluate(self, state, step, workdir):
    res = self._bounds(state, self.test_data)
    out = {
      "test/nll_elbo": res["nll_elbo"],
      "test/nll_s_elbo": res["nll_s_elbo"],
      "test/seconds_per_image": res["seconds_per_image"],
    }
    if self.valid_data is None:
      return out
    val = self._bounds(state, self.valid_data)
    out["valid/nll_elbo"], out["valid/nll_s_elbo"] = val["nll_elbo"], val["nll_s_elbo"]
    out.update(early_stopping_record(read_metrics(workdir), int(step), out))
    return out


EVAL_SUBSETS = ("first", "random")


def evaluation_subset(data, num, subset="first"):
  """``num`` images of a split for evaluation (None or >= its size: all of them).

  "first": the first ``num`` (the source's order; MNIST's first 1,000 test images are denser
  than the whole test set: 17.0 % of pixels on against 13.3 %). "random": a fixed uniform
  sample without replacement (numpy seed 0, sorted), the same images for every run and method,
  representative of the split.
  """
  n = data.x.shape[0]
  if num is None or num >= n:
    return data
  if subset == "first":
    idx = np.arange(num)
  else:
    idx = np.sort(np.random.default_rng(0).permutation(n)[:num])
  return data._replace(x=data.x[idx], y=None if data.y is None else data.y[idx])


def early_stopping_record(records, step, current):
  """Model selection on the validation set (the paper's early stopping, sec. 5).

  ``records``: earlier metric records of the run (metrics.jsonl, truncated to the restored
  checkpoint on resume, so this survives restarts); ``current``: this evaluation's metrics.
  Returns ``best/*``: the step with the lowest ``valid/nll_s_elbo`` so far and the test
  NLLs at that step, i.e. what training stopped at the best validation score would report.
  """
  best = {
    "best/step": float(step),
    "best/valid_nll_s_elbo": current["valid/nll_s_elbo"],
    "best/test_nll_elbo": current["test/nll_elbo"],
    "best/test_nll_s_elbo": current["test/nll_s_elbo"],
  }
  for rec in records:
    if rec.get("step", -1) >= step or "best/valid_nll_s_elbo" not in rec:
      continue
    if rec["best/valid_nll_s_elbo"] < best["best/valid_nll_s_elbo"]:
      best = {k: rec[k] for k in best}
  return best


# ----------------------------------------------------------------------- text

TEXT_DATASETS = ("20news", "reuters")
ELBO_TERM_SAMPLES = 50


class TextExperiment(SteinVAEExperiment):
  """Sec. 5.2, Table 2: document models p(z) p(x | z) with a multinomial decoder.

  z ~ N(0, I_dz), logits = MLP(z) (tanh layers ``config.hidden``, V outputs), and
  log p(x | z) = sum_w x_w log softmax(logits)_w (no multinomial coefficient, see
  :func:`stein_jax.objectives.stein_vae.log_likelihood`). Encoders read log(1 + x).
  """

  name = "stein_vae_text"
  default_stein_encoder = "flow"
  resumable_keys = ("eval_samples", "test_examples", "eval_batch_size", "eval_chunk_size")

  def __init__(self, config):
    config = complete_config(config)
    self.train_data = data_lib.load(config.dataset, "train", config.data_dir, max_examples=config.max_train_examples)
    self.test_data = data_lib.load(config.dataset, "test", config.data_dir, max_examples=config.test_examples)
    v = int(self.train_data.x.shape[1])
    if v != config.vocab_size or self.test_data.x.shape[1] != v:
      raise ValueError(
        f"The '{config.dataset}' data have a vocabulary of {v} words (test: "
        f"{self.test_data.x.shape[1]}) but config.vocab_size is "
        f"{config.vocab_size}; set --config.vocab_size={v} (20news: 1995, "
        "reuters: 2000)."
      )
    super().__init__(config)
    sv.check_data(self.model, jnp.asarray(self.train_data.x))
    sv.check_data(self.model, jnp.asarray(self.test_data.x))
    self.batcher = data_lib.Batcher(self.train_data, config.batch_size, config.seed)
    self.test_x = np.asarray(self.test_data.x, np.float32)
    self.test_lengths = self.test_x.sum(-1)
    # Add-one smoothing: a word absent from the training documents keeps a finite log-prob.
    counts = self.train_data.x.sum(0).astype(np.float64) + 1.0
    self.unigram_log_probs = np.log(counts / counts.sum())

  @property
  def num_data(self):
    return self.train_data.num_examples

  def data_fingerprint(self):
    return array_fingerprint(self.train_data.x)

  def check_specific(self, config):
    problems = []
    if not (isinstance(config.latent_dim, int) and config.latent_dim >= 1):
      problems.append(f"latent_dim must be an int >= 1, got {config.latent_dim!r}")
    if not (isinstance(config.vocab_size, int) and config.vocab_size >= 2):
      problems.append(f"vocab_size must be an int >= 2, got {config.vocab_size!r}")
    if not (isinstance(config.eval_samples, int) and config.eval_samples >= 1):
      problems.append(f"eval_samples must be an int >= 1, got {config.eval_samples!r}")
    if config.encoder == "mlp":
      problems.append(
        "the text experiment needs an encoder with a density for the ELBO "
        "(encoder='flow', 'gaussian' or 'auto'), got 'mlp'"
      )
    text_model = config.text_model
    if text_model not in TEXT_MODELS:
      problems.append(f"text_model must be one of {TEXT_MODELS}, got {text_model!r}")
    elif text_model == "deep_poisson":
      layers = tuple(config.def_layers)
      if not (layers and all(isinstance(n, int) and n >= 1 for n in layers)):
        problems.append(f"def_layers must be positive ints, got {layers!r}")
      elif config.latent_dim != sum(layers):
        problems.append(
          f"text_model='deep_poisson' with def_layers={layers} needs latent_dim="
          f"{sum(layers)} (every layer's log z is a latent), got "
          f"{config.latent_dim}"
        )
      if not config.def_shape > 0:
        problems.append(f"def_shape must be > 0, got {config.def_shape!r}")
    return problems

  def build_model(self, config):
    hidden = tuple(config.hidden)
    dz = config.latent_dim
    if config.text_model == "deep_poisson":
      layers = tuple(config.def_layers)
      shape = float(config.def_shape)
      mean_length = float(self.train_data.x.sum(-1).mean())
      dec = deep_poisson.DeepPoissonDecoder(
        config.vocab_size, layers, shape, log_rate_init=math.log(mean_length / config.vocab_size)
      )
      return sv.LatentModel(
        self._text_encoder(config),
        dec,
        dz,
        config.vocab_size,
        "deep_poisson",
        log_prior=deep_poisson.log_prior_fn(layers, shape),
      )
    dec = vae_models.BernoulliDecoder(config.vocab_size, hidden)  # an MLP giving V logits
    return sv.LatentModel(self._text_encoder(config), dec, dz, config.vocab_size, "multinomial")

  def _text_encoder(self, config):
    hidden = tuple(config.hidden)
    dz = config.latent_dim
    if self.encoder_kind() == "gaussian":
      enc = vae_models.GaussianEncoder(dz, hidden, input_transform="log1p")
    else:
      enc = vae_models.FlowEncoder(
        dz,
        hidden,
        num_coupling_layers=config.num_coupling_layers,
        coupling_hidden=config.coupling_hidden,
        input_transform="log1p",
      )
    return enc

  def batch(self, step):
    return {"x": self.batcher.batch(step)["x"].astype(np.float32)}

  def unigram_perplexity(self):
    """Perplexity of the test documents under the add-one-smoothed training unigram."""
    log_p = self.test_x.astype(np.float64) @ self.unigram_log_probs
    return bounds.perplexity(log_p, self.test_lengths)

  def evaluate(self, state, step, workdir):
    del step, workdir
    cfg = self.config
    res = bounds.evaluate(
      jax.random.key(cfg.seed + 777),
      self.model,
      state.inner.params["enc"],
      state.inner.params["dec"],
      jnp.asarray(self.test_x),
      batch_size=min(cfg.eval_batch_size, self.test_x.shape[0]),
      num_samples=cfg.eval_samples,
      chunk_size=cfg.eval_chunk_size,
      return_per_example=True,
    )
    rec, kl = self.elbo_terms(state.inner.params, jnp.asarray(self.test_x))
    return {
      "test/perplexity_elbo": bounds.perplexity(res["elbo"], self.test_lengths),
      "test/perplexity_s_elbo": bounds.perplexity(res["s_elbo"], self.test_lengths),
      "test/nll_elbo": res["nll_elbo"],
      "test/nll_s_elbo": res["nll_s_elbo"],
      "test/reconstruction": rec,
      "test/kl": kl,
      "test/perplexity_unigram": self.unigram_perplexity(),
      "test/seconds_per_document": res["seconds_per_image"],
    }

  def elbo_terms(self, params, x, num_samples=ELBO_TERM_SAMPLES, batch_size=100):
    """The ELBO's two terms, mean over documents x [D, V] (nats per document).

    reconstruction = E_q log mean_m p(x | z, theta_m) and kl = E_q [log q(z | x) - log p(z)]
    (change-of-variables log q), each by ``num_samples`` encoder samples, so that
    ELBO = reconstruction - kl: it tells a poor decoder from an encoder far from the prior.
    """
    terms = _elbo_terms_fn(self.model, int(num_samples))
    rec, kl = 0.0, 0.0
    key = jax.random.key(self.config.seed + 778)
    for i, start in enumerate(range(0, x.shape[0], batch_size)):
      r, k = terms(jax.random.fold_in(key, i), params, x[start : start + batch_size])
      rec, kl = rec + float(r), kl + float(k)
    bounds.check_finite("ELBO terms", [rec, kl])
    return rec / x.shape[0], kl / x.shape[0]


@functools.lru_cache(maxsize=8)
def _elbo_terms_fn(model, num_samples):
  """Jitted (key, params, x [B, V]) -> (sum_d reconstruction, sum_d KL), one per (model, S)."""

  def terms(key, p, xb):
    xi = jax.random.normal(key, (xb.shape[0], num_samples, model.latent_dim))
    z, log_q = sv.sample_with_log_q(model, p["enc"], xb[:, None, :], xi)
    log_pz = model.log_prior(z)
    if model.likelihood == "deep_poisson":  # the layers below the top belong to the prior
      out = jax.vmap(lambda th: model.decoder.apply(th, z))(p["dec"])
      log_pz = log_pz + jnp.mean(out[..., -1], 0)
    ll = sv.log_joint(model, p["dec"], xb, z, "logmeanexp") - log_pz
    return jnp.sum(jnp.mean(ll, -1)), jnp.sum(jnp.mean(log_q - log_pz, -1))

  return jax.jit(terms)


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


def resumable_defaults(name: str, data_dir: str | None = None) -> dict:
  """Values for the keys run.json leaves out (they never change the model or its data)."""
  shared = {
    "num_steps": 1,
    "eval_every": 1,
    "checkpoint_every": 1,
    "log_every": 1,
    "max_to_keep": 3,
    "data_dir": data_dir or os.environ.get("STEIN_JAX_DATA_DIR"),
  }
  if name == "stein_vae_gmm":
    return dict(shared, eval_samples=1000, mode_samples=1000, plot=False)
  return dict(shared, eval_samples=1, test_examples=None, eval_batch_size=100, eval_chunk_size=100)


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
  )


if __name__ == "__main__":
  run_main(make_experiment)
