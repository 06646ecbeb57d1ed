"""Poisson factor analysis (Pu et al. 2017, sec. 5.1) as a density: prior, likelihood, log joint, scores.

The model (Zhou et al. 2012's PFA with the paper's priors), for one document x in Z_+^P:

    theta[:, v] ~ Dirichlet(a0 1_P)        (topics, columns on the simplex), v = 1..V
    z_v         ~ Gamma(r, c)              (shape r, rate c), the factor scores
    x_p         ~ Poisson((theta z)_p)     p = 1..P

The latent codes are positive, so the Stein VAE runs SVGD on u = log z, whose density carries
the log-Jacobian sum_v u_v (docs/pfa.md, sec. 2):

    log p(x, u) = log p(x, z = e^u) + sum_v u_v,
    grad_u log p(x, u) = z * theta^T (x / (theta z)) - z * (colsum(theta) + c) + r.

Shapes: x [..., P] (dense counts), z, u [..., V], theta [P, V]; leading axes broadcast
([B, 1, P] against [B, S, V]). Used by the objectives (:mod:`stein_jax.objectives.pfa`) and the
Gibbs sampler (:mod:`stein_jax.evaluation.pfa_gibbs`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array


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
    raise ValueError(f"theta must be a [vocab_size, num_topics] matrix, got shape " f"{tuple(theta.shape)}.")
  if vocab_size is not None and theta.shape[0] != vocab_size:
    raise ValueError(
      f"theta has {theta.shape[0]} rows but the vocabulary has {vocab_size} "
      "words; learn theta on the same data set (or delete the stale theta file)."
    )
  if num_topics is not None and theta.shape[1] != num_topics:
    raise ValueError(
      f"theta has {theta.shape[1]} topics but num_topics={num_topics}; "
      "they must be equal (or delete the stale theta file)."
    )
  if isinstance(theta, jax.core.Tracer):
    return
  t = np.asarray(theta, np.float64)
  if not np.all(np.isfinite(t)) or t.min() <= 0:
    raise ValueError(
      "theta must be finite and strictly positive (a posterior mean of the "
      "Dirichlet topics is; a MAP with a0 < 1 is not)."
    )
  if not np.allclose(t.sum(0), 1.0, atol=1e-3):
    raise ValueError(
      f"theta's columns must sum to 1 (topics on the simplex); sums range "
      f"over [{t.sum(0).min():.4g}, {t.sum(0).max():.4g}]."
    )


def check_counts(x, vocab_size: int) -> None:
  """Raises ValueError unless x [..., P] holds finite non-negative integer counts."""
  if x.shape[-1] != vocab_size:
    raise ValueError(f"Counts must have last dimension {vocab_size} (the vocabulary), got " f"shape {tuple(x.shape)}.")
  if isinstance(x, jax.core.Tracer):
    return
  xn = np.asarray(x)
  if not np.all(np.isfinite(xn)) or xn.min() < 0 or np.any(xn != np.round(xn)):
    raise ValueError(
      "PFA needs non-negative integer word counts (a bag of words); got "
      "negative, fractional or non-finite values. Load with scale=None/'unit'."
    )


# ----------------------------------------------------------------- log joint and scores


def gamma_log_prob(z: Array, r: float, c: float) -> Array:
  """sum_v log Gamma(z_v; shape r, rate c): z [..., V] -> [...]."""
  return jnp.sum(r * math.log(c) - jax.scipy.special.gammaln(r) + (r - 1) * jnp.log(z) - c * z, -1)


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
