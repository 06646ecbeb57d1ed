"""Poisson factor analysis (Pu et al. 2017, sec. 5.1): the recognition models (architecture only).

The model's log joint, scores and objectives are in :mod:`stein_jax.objectives.pfa`; the
Gibbs sampler in :mod:`stein_jax.evaluation.pfa_gibbs`.

  * :class:`PositiveNoiseEncoder`: the Stein VAE encoder z = exp(g_eta(x, xi)), g an MLP
    on concat(log(1 + x), xi) (sec. 5.1: 100 hidden units); ``log_z`` returns u = g.
  * :class:`LogNormalEncoder`: the VAE baseline, u | x ~ N(mu(x), diag sigma^2(x)), i.e.
    a log-normal q(z | x); ``log_z`` reparameterises u = mu + sigma xi.

Shapes: counts x [..., P], noise xi and codes u = log z [..., V]; leading axes broadcast.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

Array = jax.Array
PyTree = Any


class PositiveNoiseEncoder(nn.Module):
  """Stein VAE encoder for positive codes: z = exp(g_eta(x, xi)), u = g_eta = log z.

  g is an MLP on concat(log(1 + x), xi) with ``hidden`` tanh layers (sec. 5.1: one of
  100). The first layer is computed as W_x log(1 + x) + W_xi xi, which is exactly a
  dense layer on the concatenation but costs one [P, H] product per document instead
  of one per (document, particle).

  Attributes:
    latent_dim: V (= dim xi).
    hidden: hidden layer widths.
    activation: nonlinearity.
  """

  latent_dim: int
  hidden: Sequence[int] = (100,)
  activation: Callable[[Array], Array] = nn.tanh

  @nn.compact
  def log_z(self, x: Array, xi: Array) -> Array:
    """u = log z [..., V] for counts x [..., P] and noise xi [..., V] (broadcast)."""
    if xi.shape[-1] != self.latent_dim:
      raise ValueError(
        f"PositiveNoiseEncoder: xi has last dimension {xi.shape[-1]} but the " f"latent size is {self.latent_dim}."
      )
    hidden = tuple(self.hidden)
    if not hidden:
      raise ValueError("PositiveNoiseEncoder needs at least one hidden layer.")
    h = nn.Dense(hidden[0], name="in_x")(jnp.log1p(x)) + nn.Dense(hidden[0], name="in_xi", use_bias=False)(xi)
    h = self.activation(h)
    for i, width in enumerate(hidden[1:]):
      h = self.activation(nn.Dense(width, name=f"dense_{i + 1}")(h))
    return nn.Dense(self.latent_dim, name="out")(h)

  def __call__(self, x: Array, xi: Array) -> Array:
    return jnp.exp(self.log_z(x, xi))


class LogNormalEncoder(nn.Module):
  """VAE encoder: u = log z | x ~ N(mu(x), diag exp(log_var(x))), a log-normal q(z | x).

  mu and log_var are linear heads on an MLP of log(1 + x) (sec. 5.1: 100 hidden units).

  Attributes:
    latent_dim: V.
    hidden: hidden layer widths.
    activation: nonlinearity.
  """

  latent_dim: int
  hidden: Sequence[int] = (100,)
  activation: Callable[[Array], Array] = nn.tanh

  def setup(self):
    self.trunk = [nn.Dense(w, name=f"dense_{i}") for i, w in enumerate(self.hidden)]
    self.mean_head = nn.Dense(self.latent_dim)
    self.log_var_head = nn.Dense(self.latent_dim)

  def moments(self, x: Array) -> tuple[Array, Array]:
    """(mean [..., V], log_var [..., V]) of u = log z given counts x [..., P]."""
    h = jnp.log1p(x)
    for layer in self.trunk:
      h = self.activation(layer(h))
    return self.mean_head(h), self.log_var_head(h)

  def log_z(self, x: Array, xi: Array) -> Array:
    """Reparameterised u = mean + exp(log_var / 2) * xi, xi ~ N(0, I)."""
    if xi.shape[-1] != self.latent_dim:
      raise ValueError(
        f"LogNormalEncoder: xi has last dimension {xi.shape[-1]} but the " f"latent size is {self.latent_dim}."
      )
    mean, log_var = self.moments(x)
    return mean + jnp.exp(0.5 * log_var) * xi

  def __call__(self, x: Array, xi: Array) -> Array:
    return jnp.exp(self.log_z(x, xi))


def init_encoder(key: Array, encoder: nn.Module, vocab_size: int) -> PyTree:
  """Parameters of either encoder, initialised through its ``log_z`` method."""
  return encoder.init(key, jnp.zeros((1, vocab_size)), jnp.zeros((1, encoder.latent_dim)), method=encoder.log_z)


def encode_log_z(encoder: nn.Module, params: PyTree, x: Array, xi: Array) -> Array:
  """u = log z = encoder.log_z(x, xi) (broadcast x [B, 1, P] with xi [B or 1, S, V])."""
  return encoder.apply(params, x, xi, method=encoder.log_z)
