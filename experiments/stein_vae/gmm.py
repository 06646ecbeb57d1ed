"""Sec. 5.1: encoders against the exact two-component GMM posterior (Fig. 1), and its figures."""

from __future__ import annotations

import json
import math
import os

import jax
import jax.numpy as jnp
import numpy as np

from stein_jax.data import synthetic_gmm as gmm
from stein_jax.evaluation import bounds
from stein_jax.evaluation.mmd import mmd
from stein_jax.models import vae as vae_models
from stein_jax.objectives import stein_vae as sv
from stein_jax.train import save_figure
from experiments.stein_vae import keys
from experiments.stein_vae.base import SteinVAEExperiment


class GMMExperiment(SteinVAEExperiment):
  """Sec. 5.1: encoders against the exact two-component posterior (Fig. 1)."""

  name = "stein_vae_gmm"
  default_stein_encoder = "mlp"
  resumable_keys = ("eval",)  # eval.samples, eval.mode_samples, eval.plot
  legacy_key_names = keys.GMM_KEY_NAMES
  legacy_defaults = keys.GMM_LEGACY_DEFAULTS
  record_defaults = keys.GMM_RECORD_DEFAULTS

  def check_specific(self, config):
    if config.observation not in gmm.OBSERVATION_MATRICES:
      return [f"observation must be one of {sorted(gmm.OBSERVATION_MATRICES)}, got " f"{config.observation!r}"]
    if config.model.encoder_init not in ("default", "prior_moments"):
      return [f"model.encoder_init must be 'default' or 'prior_moments', got {config.model.encoder_init!r}"]
    return []

  def load_data(self, config):
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
    hidden = tuple(config.model.encoder_hidden)
    kind = self.encoder_kind()
    if kind == "gaussian":
      enc = vae_models.GaussianEncoder(gmm.LATENT_DIM, hidden)
    elif kind == "mlp":
      enc = vae_models.MLPNoiseEncoder(gmm.LATENT_DIM, hidden)
    else:
      enc = vae_models.FlowEncoder(gmm.LATENT_DIM, hidden, num_coupling_layers=4, coupling_hidden=hidden[-1])
    theta = jnp.asarray(a, jnp.float32)
    init = None if config.model.learn_decoder else (lambda *_: theta)
    dec = vae_models.LinearGaussianDecoder(dx, theta_init=init)
    return sv.LatentModel(enc, dec, gmm.LATENT_DIM, dx, "gaussian", gmm.NOISE_STD, gmm.log_prior)

  def adjust_init(self, enc_params, dec_params):
    if self.config.model.encoder_init != "prior_moments" or self.encoder_kind() != "mlp":
      return enc_params, dec_params
    return prior_moments_init(enc_params, self.model.data_dim), dec_params

  def batch(self, step):
    rng = np.random.default_rng([self.config.seed, step])
    idx = rng.integers(0, self.x_train.shape[0], self.config.batch_size)
    return {"x": self.x_train[idx]}

  def evaluate(self, state, step, workdir):
    cfg = self.config
    n = cfg.eval.samples
    z = self.encoder_samples(state.inner.params, self.data.x_test, n)  # [T, n, 2]
    exact = gmm.posterior_sample(jax.random.key(4321), self.post, n)
    bounds.check_finite("GMM encoder samples", z)
    mmds = np.array([float(mmd(z[t], exact[t])) for t in range(z.shape[0])])
    w_exact = np.asarray(jnp.exp(self.post.log_weights))
    z_mode = self.encoder_samples(state.inner.params, self.data.x_test, cfg.eval.mode_samples or n, seed=99)
    w_enc = np.asarray(gmm.mode_weights(self.post, z_mode))
    outside = outside_mass(self.post, z_mode)
    out = {"posterior_mmd": float(mmds.mean()), "outside_mass": float(outside.mean())}
    details = {
      "step": int(step),
      "method": cfg.method,
      "observation": cfg.observation,
      "num_particles": cfg.svgd.num_particles,
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
    if cfg.eval.plot:
      fig = plot_posteriors(
        self.post,
        np.asarray(z),
        np.asarray(exact),
        cfg.observation,
        f"{cfg.method} on the {cfg.observation} GMM posterior "
        f"({'x = z1 - z2 + noise' if cfg.observation == 'bimodal' else 'x = theta z + noise'}), "
        f"S = {cfg.svgd.num_particles} particles, step {step}",
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
