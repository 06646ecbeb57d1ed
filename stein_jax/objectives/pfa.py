"""Poisson factor analysis (Pu et al. 2017, sec. 5.1): the model's math and the two objectives.

The model (Zhou et al. 2012's PFA with the paper's priors), for one document x in Z_+^P:

    theta[:, v] ~ Dirichlet(a0 1_P)        (topics, columns on the simplex), v = 1..V
    z_v         ~ Gamma(r, c)              (shape r, rate c), the factor scores
    x_p         ~ Poisson((theta z)_p)     p = 1..P

With theta fixed (as in the paper's experiment), the recognition models approximate
p(z | x, theta). The latent codes are positive, so the Stein VAE runs SVGD on
u = log z, whose density carries the log-Jacobian sum_v u_v (docs/pfa.md, sec. 2):

    log p(x, u) = log p(x, z = e^u) + sum_v u_v,
    grad_u log p(x, u) = z * theta^T (x / (theta z)) - z * (colsum(theta) + c) + r.

Shapes: x [..., P] (dense counts), z, u [..., V], theta [P, V]; leading axes broadcast
([B, 1, P] against [B, S, V]).

The objectives (the Stein VAE step on u, eqs. 6-7, and the VAE's ELBO) are here rather than in
:mod:`stein_jax.objectives.stein_vae`, whose generic trainers support Bernoulli and Gaussian
likelihoods; the encoders are in :mod:`stein_jax.models.pfa`, the Gibbs sampler in
:mod:`stein_jax.evaluation.pfa_gibbs`.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from stein_jax import amortized, stein
from stein_jax.models.pfa import LogNormalEncoder, encode_log_z
from stein_jax.objectives import stein_vae as stein_vae_obj

Array = jax.Array
PyTree = Any

_LOG_2PI = math.log(2 * math.pi)

class PFAPrior(NamedTuple):
  """Hyper-parameters of PFA's priors.

  Attributes:
    a0: Dirichlet concentration of every topic's entries (theta[:, v] ~ Dir(a0 1_P)).
    r: Gamma shape of each factor score z_v.
    c: Gamma rate of each factor score z_v (prior mean r / c).
  """
  a0: float = 0.05
  r: float = 1.0
  c: float = 1.0


def check_prior(prior: PFAPrior) -> None:
  """Raises ValueError unless a0, r and c are positive and finite."""
  for name in ("a0", "r", "c"):
    v = float(getattr(prior, name))
    if not (np.isfinite(v) and v > 0):
      raise ValueError(f"PFA prior: {name} must be a positive number, got {v!r}.")


def check_theta(theta, vocab_size: int | None = None, num_topics: int | None = None) -> None:
  """Raises ValueError unless theta [P, V] is positive with columns summing to 1.

  Values are checked only for concrete arrays (shapes always).
  """
  if theta.ndim != 2:
    raise ValueError(f"theta must be a [vocab_size, num_topics] matrix, got shape "
                     f"{tuple(theta.shape)}.")
  if vocab_size is not None and theta.shape[0] != vocab_size:
    raise ValueError(f"theta has {theta.shape[0]} rows but the vocabulary has {vocab_size} "
                     "words; learn theta on the same data set (or delete the stale theta file).")
  if num_topics is not None and theta.shape[1] != num_topics:
    raise ValueError(f"theta has {theta.shape[1]} topics but num_topics={num_topics}; "
                     "they must be equal (or delete the stale theta file).")
  if isinstance(theta, jax.core.Tracer):
    return
  t = np.asarray(theta, np.float64)
  if not np.all(np.isfinite(t)) or t.min() <= 0:
    raise ValueError("theta must be finite and strictly positive (a posterior mean of the "
                     "Dirichlet topics is; a MAP with a0 < 1 is not).")
  if not np.allclose(t.sum(0), 1.0, atol=1e-3):
    raise ValueError(f"theta's columns must sum to 1 (topics on the simplex); sums range "
                     f"over [{t.sum(0).min():.4g}, {t.sum(0).max():.4g}].")


def check_counts(x, vocab_size: int) -> None:
  """Raises ValueError unless x [..., P] holds finite non-negative integer counts."""
  if x.shape[-1] != vocab_size:
    raise ValueError(f"Counts must have last dimension {vocab_size} (the vocabulary), got "
                     f"shape {tuple(x.shape)}.")
  if isinstance(x, jax.core.Tracer):
    return
  xn = np.asarray(x)
  if not np.all(np.isfinite(xn)) or xn.min() < 0 or np.any(xn != np.round(xn)):
    raise ValueError("PFA needs non-negative integer word counts (a bag of words); got "
                     "negative, fractional or non-finite values. Load with scale=None/'unit'.")


# ----------------------------------------------------------------- log joint and scores


def gamma_log_prob(z: Array, r: float, c: float) -> Array:
  """sum_v log Gamma(z_v; shape r, rate c): z [..., V] -> [...]."""
  return jnp.sum(r * math.log(c) - jax.scipy.special.gammaln(r) + (r - 1) * jnp.log(z) - c * z,
                 -1)


def poisson_log_likelihood(x: Array, z: Array, theta: Array) -> Array:
  """sum_p log Pois(x_p; (theta z)_p): x [..., P], z [..., V] (broadcast) -> [...]."""
  lam = z @ theta.T
  return jnp.sum(jax.scipy.special.xlogy(x, lam) - lam - jax.scipy.special.gammaln(x + 1), -1)


def log_joint(x: Array, z: Array, theta: Array, prior: PFAPrior) -> Array:
  """log p(x, z | theta) = log Pois(x; theta z) + log Gamma(z; r, c), normalised: -> [...]."""
  return poisson_log_likelihood(x, z, theta) + gamma_log_prob(z, prior.r, prior.c)


def log_joint_u(x: Array, u: Array, theta: Array, prior: PFAPrior) -> Array:
  """log density of (x, u = log z): log p(x, e^u | theta) + sum_v u_v (the log-Jacobian)."""
  return log_joint(x, jnp.exp(u), theta, prior) + jnp.sum(u, -1)


def score_z(x: Array, z: Array, theta: Array, prior: PFAPrior) -> Array:
  """grad_z log p(x, z | theta) = theta^T (x / theta z) - colsum(theta) - c + (r - 1) / z.

  x [..., P], z [..., V] (broadcast) -> [..., V].
  """
  lam = z @ theta.T
  return (x / lam) @ theta - jnp.sum(theta, 0) - prior.c + (prior.r - 1) / z


def score_u(x: Array, u: Array, theta: Array, prior: PFAPrior) -> Array:
  """grad_u log p(x, u), u = log z (docs/pfa.md, eq. (2)).

  = z * theta^T (x / theta z) - z * (colsum(theta) + c) + r, with z = e^u. Everything is
  finite for finite u: the (r - 1) / z of :func:`score_z` cancels against the Jacobian.
  """
  z = jnp.exp(u)
  lam = z @ theta.T
  return z * ((x / lam) @ theta) - z * (jnp.sum(theta, 0) + prior.c) + prior.r



# -------------------------------------------------------------------------- objectives


def stein_vae_step(encoder: nn.Module, params: PyTree, opt_state: Any,
                   optimizer: optax.GradientTransformation, x: Array, xi: Array,
                   theta: Array, prior: PFAPrior, *, step_size: float = 1.0,
                   encoder_steps: int = 1, bandwidth="median", latent_update: str = "sgd",
                   repulsion_scale: float = 1.0, kernel_normalization: str = "mean",
                   kernel_metric: str = "isotropic"):
  """One Stein VAE update of the encoder with theta fixed (Pu et al. 2017, eqs. 6-7), on u.

  Each document's S particles u_jn = g_eta(x_n, xi_j) move by eps * phi, phi the SVGD
  direction (eq. 6) for the density of u = log z (:func:`score_u`); the encoder is then
  regressed onto the moved particles by ``encoder_steps`` optimiser steps (eq. 7,
  :func:`stein_jax.amortized.fit_to_targets` with ``reduction="mean"``; the moved
  particles are :func:`stein_jax.objectives.stein_vae.move_particles`, as in
  ``objectives.stein_vae``). Running SVGD on u rather than z keeps every particle
  positive and the target smooth (docs/pfa.md, sec. 2).

  Args:
    encoder: a module with ``log_z`` (:class:`PositiveNoiseEncoder`).
    params, opt_state, optimizer: the encoder's parameters and optax optimiser.
    x: counts [B, P].
    xi: noise [S, V] shared across the batch (sec. 5) or [B, S, V].
    theta: topics [P, V], fixed.
    prior: :class:`PFAPrior`.
    step_size: eps in u + eps * phi.
    encoder_steps: K of eq. (7).
    bandwidth: kernel bandwidth rule of the SVGD direction.
    latent_update: the particle step before the fit, "sgd" (u + eps phi), "adam" or "rms"
      (:func:`stein_jax.objectives.stein_vae.move_particles`).
    repulsion_scale, kernel_normalization, kernel_metric: the grad-k multiplier, the kernel
      normalisation and metric of the direction (:func:`stein_jax.svgd_direction`; 1,
      "mean" and "isotropic" are eq. 6).

  Returns:
    (params, opt_state, metrics) with metrics ``fit_loss``, ``phi_rms`` (root mean square
    entry of phi) and ``log_joint`` (mean log p(x, u) at the particles before the move).
  """
  xb = x[:, None, :]
  xib = xi if xi.ndim == 3 else xi[None]
  apply_fn = lambda p, xx, ee: encode_log_z(encoder, p, xx, ee)
  u0 = jax.lax.stop_gradient(apply_fn(params, xb, xib))
  phi = jax.lax.stop_gradient(stein.svgd_direction(
      u0, score_u(xb, u0, theta, prior), bandwidth=bandwidth, repulsion=float(repulsion_scale),
      normalization=kernel_normalization, metric=kernel_metric))
  targets = stein_vae_obj.move_particles(u0, phi, step_size, latent_update)
  params, opt_state, fit = amortized.fit_to_targets(apply_fn, params, opt_state, optimizer,
                                                    (xb, xib), targets, encoder_steps, "mean")
  metrics = {"fit_loss": fit, "phi_rms": jnp.sqrt(jnp.mean(phi**2)),
             "log_joint": jnp.mean(log_joint_u(xb, u0, theta, prior))}
  return params, opt_state, metrics


def elbo(encoder: LogNormalEncoder, params: PyTree, x: Array, xi: Array, theta: Array,
         prior: PFAPrior) -> Array:
  """Per-document ELBO of the log-normal encoder (eq. 1), in u = log z: [B].

  ELBO = E_q(u|x)[log p(x, u)] + H[q(u | x)], with the expectation by the reparameterised
  samples u = mu + sigma xi (xi [B, k, V]) and the Gaussian entropy exactly,
  H = sum_v (log_var_v + 1 + log 2 pi) / 2. It equals the ELBO in z (the Jacobian of
  u -> z cancels between log p and log q; docs/pfa.md, sec. 3).
  """
  mean, log_var = encoder.apply(params, x, method=encoder.moments)
  u = mean[:, None, :] + jnp.exp(0.5 * log_var)[:, None, :] * xi
  expected = jnp.mean(log_joint_u(x[:, None, :], u, theta, prior), -1)
  entropy = 0.5 * jnp.sum(log_var + 1.0 + _LOG_2PI, -1)
  return expected + entropy


def vae_step(encoder: LogNormalEncoder, params: PyTree, opt_state: Any,
             optimizer: optax.GradientTransformation, x: Array, xi: Array, theta: Array,
             prior: PFAPrior):
  """One VAE update with theta fixed: ``optimizer`` on minus the mean :func:`elbo`.

  Returns (params, opt_state, metrics) with metric ``elbo`` (mean over the batch, nats).
  """
  loss_fn = lambda p: -jnp.mean(elbo(encoder, p, x, xi, theta, prior))
  loss, g = jax.value_and_grad(loss_fn)(params)
  updates, opt_state = optimizer.update(g, opt_state, params)
  return optax.apply_updates(params, updates), opt_state, {"elbo": -loss}
