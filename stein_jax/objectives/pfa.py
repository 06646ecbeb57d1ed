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

The model's densities are in :mod:`stein_jax.targets.pfa` (re-exported here). The objectives (the
Stein VAE step on u, eqs. 6-7, and the VAE's ELBO) are here rather than in
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

from stein_jax import algorithm as algorithm_lib
from stein_jax import amortized, stein
from stein_jax.models.pfa import LogNormalEncoder, encode_log_z, init_encoder
from stein_jax.objectives import stein_vae as stein_vae_obj

Array = jax.Array
PyTree = Any

_LOG_2PI = math.log(2 * math.pi)

# The model's densities live in stein_jax.targets.pfa (the Gibbs sampler uses them too); re-exported here.
from stein_jax.targets.pfa import (  # pylint: disable=unused-import
  PFAPrior,
  check_prior,
  check_theta,
  check_counts,
  gamma_log_prob,
  poisson_log_likelihood,
  log_joint,
  log_joint_u,
  score_z,
  score_u,
)


# -------------------------------------------------------------------------- objectives


def stein_vae_step(
  encoder: nn.Module,
  params: PyTree,
  opt_state: Any,
  optimizer: optax.GradientTransformation,
  x: Array,
  xi: Array,
  theta: Array,
  prior: PFAPrior,
  *,
  step_size: float = 1.0,
  encoder_steps: int = 1,
  latent_update: str = "sgd",
  latent_kernel: stein.SteinKernel = stein.SteinKernel(),
):
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
    latent_update: the particle step before the fit, "sgd" (u + eps phi), "adam" or "rms"
      (:func:`stein_jax.objectives.stein_vae.move_particles`).
    latent_kernel: the SVGD kernel (:class:`stein_jax.SteinKernel`; the default is eq. 6's).

  Returns:
    (params, opt_state, metrics) with metrics ``fit_loss``, ``phi_rms`` (root mean square
    entry of phi) and ``log_joint`` (mean log p(x, u) at the particles before the move).
  """
  xb = x[:, None, :]
  xib = xi if xi.ndim == 3 else xi[None]
  apply_fn = lambda p, xx, ee: encode_log_z(encoder, p, xx, ee)
  u0 = jax.lax.stop_gradient(apply_fn(params, xb, xib))
  phi = jax.lax.stop_gradient(latent_kernel.direction(u0, score_u(xb, u0, theta, prior)))
  targets = stein_vae_obj.move_particles(u0, phi, step_size, latent_update)
  params, opt_state, fit = amortized.fit_to_targets(
    apply_fn, params, opt_state, optimizer, (xb, xib), targets, encoder_steps, "mean"
  )
  metrics = {
    "fit_loss": fit,
    "phi_rms": jnp.sqrt(jnp.mean(phi**2)),
    "log_joint": jnp.mean(log_joint_u(xb, u0, theta, prior)),
  }
  return params, opt_state, metrics


def elbo(encoder: LogNormalEncoder, params: PyTree, x: Array, xi: Array, theta: Array, prior: PFAPrior) -> Array:
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


def vae_step(
  encoder: LogNormalEncoder,
  params: PyTree,
  opt_state: Any,
  optimizer: optax.GradientTransformation,
  x: Array,
  xi: Array,
  theta: Array,
  prior: PFAPrior,
):
  """One VAE update with theta fixed: ``optimizer`` on minus the mean :func:`elbo`.

  Returns (params, opt_state, metrics) with metric ``elbo`` (mean over the batch, nats).
  """
  loss_fn = lambda p: -jnp.mean(elbo(encoder, p, x, xi, theta, prior))
  loss, g = jax.value_and_grad(loss_fn)(params)
  updates, opt_state = optimizer.update(g, opt_state, params)
  return optax.apply_updates(params, updates), opt_state, {"elbo": -loss}


# -------------------------------------------------------------------- the algorithm

METHODS = ("stein_vae", "vae")


class PFAState(NamedTuple):
  """State of :func:`make_trainer`: the encoder's parameters and optimizer state (theta is fixed)."""

  params: PyTree
  opt_state: Any
  step: Array


def make_trainer(
  method: str,
  encoder: nn.Module,
  optimizer: optax.GradientTransformation,
  theta: Array,
  prior: PFAPrior,
  *,
  num_particles: int = 100,
  vae_samples: int = 1,
  step_size: float = 1.0,
  encoder_steps: int = 1,
  latent_update: str = "sgd",
  latent_kernel: stein.SteinKernel = stein.SteinKernel(),
) -> algorithm_lib.Algorithm:
  """The PFA recognition models (sec. 5.1) as an :class:`~stein_jax.algorithm.Algorithm`.

  ``init(rng) -> PFAState`` (:func:`stein_jax.models.pfa.init_encoder` for the vocabulary
  of ``theta``); ``step(rng, state, {"x": counts [B, P]}) -> (state, metrics)``: for
  "stein_vae", :func:`stein_vae_step` with xi [S, V] drawn from ``rng`` and shared across
  the batch (sec. 5); for "vae", :func:`vae_step` with xi [B, vae_samples, V].
  """
  if method not in METHODS:
    raise ValueError(f"method must be one of {METHODS}, got {method!r}.")
  check_theta(theta)
  vocab_size, num_topics = theta.shape

  def init(rng: Array) -> PFAState:
    params = init_encoder(rng, encoder, vocab_size)
    return PFAState(params, optimizer.init(params), jnp.zeros((), jnp.int32))

  def step(rng: Array, state: PFAState, batch: dict):
    x = stein_vae_obj.batch_x(batch)
    if method == "stein_vae":
      xi = jax.random.normal(rng, (num_particles, num_topics))
      params, opt_state, metrics = stein_vae_step(
        encoder,
        state.params,
        state.opt_state,
        optimizer,
        x,
        xi,
        theta,
        prior,
        step_size=step_size,
        encoder_steps=encoder_steps,
        latent_update=latent_update,
        latent_kernel=latent_kernel,
      )
    else:
      xi = jax.random.normal(rng, (x.shape[0], vae_samples, num_topics))
      params, opt_state, metrics = vae_step(encoder, state.params, state.opt_state, optimizer, x, xi, theta, prior)
    return PFAState(params, opt_state, state.step + 1), metrics

  return algorithm_lib.Algorithm(init, step)
