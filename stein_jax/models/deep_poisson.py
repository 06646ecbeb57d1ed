"""A deep exponential family for documents: gamma latent layers and Poisson counts.

Our reading of Pu et al.'s "three-layer deep Poisson network [24]" (sec. 5.2, after
Ranganath et al. 2015, "Deep exponential families"), written out in docs/deep_poisson.md:

    z_L       ~ Gamma(a, rate a)                            (top layer, mean 1)
    z_l | z_{l+1} ~ Gamma(a, rate a / (W_l z_{l+1}))        l = L-1, ..., 1 (mean W_l z_{l+1})
    x | z_1   ~ Poisson(lambda),  lambda = exp(b) * (W_0 z_1)

with positive weights W_l = softplus(V_l) (point estimates, the "decoder"), a per-word log
scale b, layers of 200, 200 and 50 units in the paper's setting. SVGD and the encoders
work on u = log z (all layers concatenated, bottom first: u = [u_1, ..., u_L]), as for PFA
(docs/pfa.md), so every particle stays positive and the target is smooth. In u the
densities carry the Jacobian dz / du = z:

    log p(u_l | z_{l+1}) = sum_k [a log r_k - lgamma(a) + a u_lk - r_k exp(u_lk)],
    r = a / (W_l z_{l+1}).

:class:`DeepPoissonDecoder` maps u [..., sum(layers)] to [..., V + 1]: the V Poisson log
rates, and in the last slot the log density of the hidden layers below the top given the
layer above, sum_{l<L} log p(u_l | z_{l+1}, W_l). The top layer's density is the model's
``log_prior`` (:func:`top_log_prior`), fixed and free of parameters, as in
:class:`stein_jax.objectives.stein_vae.LatentModel`; the likelihood "deep_poisson" of
:func:`stein_jax.objectives.stein_vae.log_likelihood` adds the Poisson term to the slot.
"""

from __future__ import annotations

import functools
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

Array = jax.Array


def gamma_log_prob_u(u: Array, shape: float, rate: Array) -> Array:
  """log density of u = log z for z ~ Gamma(shape, rate), elementwise: a log r - lgamma(a)
  + a u - r e^u (the Gamma log density plus the Jacobian log z = u)."""
  return gamma_log_prob_u_log_rate(u, shape, jnp.log(rate))


def gamma_log_prob_u_log_rate(u: Array, shape: float, log_rate: Array) -> Array:
  """:func:`gamma_log_prob_u` from log r: a (log r + u) - lgamma(a) - exp(log r + u), which
  stays finite wherever r z does (no inf * 0 from a huge rate at a tiny z)."""
  t = log_rate + u
  return shape * t - jax.scipy.special.gammaln(shape) - jnp.exp(t)


def log_positive_matmul(u: Array, w: Array) -> Array:
  """log(exp(u) @ w.T) for u [..., n_in] and positive w [n_out, n_in], without overflow or
  underflow of exp(u): the max of u is factored out first."""
  m = jax.lax.stop_gradient(jnp.max(u, -1, keepdims=True))
  return m + jnp.log(jnp.exp(u - m) @ w.T)


def top_log_prior(u: Array, top_size: int, shape: float = 1.0) -> Array:
  """log p(u_L) for z_L ~ Gamma(a, rate a) iid: the last ``top_size`` entries of u [..., d]
  (the top layer; the layers below enter through :class:`DeepPoissonDecoder`) -> [...]."""
  u_top = u[..., u.shape[-1] - top_size :]
  return jnp.sum(gamma_log_prob_u(u_top, shape, jnp.asarray(shape, u.dtype)), -1)


def log_prior_fn(layers: Sequence[int], shape: float = 1.0):
  """``u -> top_log_prior(u, layers[-1], shape)``, the ``log_prior`` of a LatentModel."""
  return functools.partial(top_log_prior, top_size=int(layers[-1]), shape=float(shape))


class DeepPoissonDecoder(nn.Module):
  """Gamma DEF decoder: u = log z [..., sum(layers)] -> [..., V + 1] (see the module doc).

  Attributes:
    vocab_size: V.
    layers: the latent layer sizes bottom to top (the paper: (200, 200, 50)).
    shape: a, the gamma shape of every latent layer (the top layer's prior is Gamma(a, a)).
    log_rate_init: the initial per-word log scale b (e.g. log(mean document length / V)),
      with every W_l initialised near 1 / n_{l+1} so that each layer's mean starts at ~1
      and lambda at exp(b).
    init_noise: relative spread of the initial weights (log-normal jitter that breaks the
      symmetry between units).
  """

  vocab_size: int
  layers: Sequence[int] = (200, 200, 50)
  shape: float = 1.0
  log_rate_init: float = 0.0
  init_noise: float = 0.3

  def weights(self) -> list:
    """The positive weights [W_0 (V x n_1), W_1 (n_1 x n_2), ...] (call inside apply)."""
    sizes = (self.vocab_size,) + tuple(self.layers)
    out = []
    for l in range(len(self.layers)):
      n_out, n_in = sizes[l], sizes[l + 1]

      def init(key, shp, n_in=n_in):
        # softplus(raw) = (1 / n_in) x log-normal jitter: W z has mean ~1 for z ~ 1.
        target = jnp.exp(self.init_noise * jax.random.normal(key, shp)) / n_in
        return jnp.log(jnp.expm1(target))

      out.append(jax.nn.softplus(self.param(f"w{l}", init, (n_out, n_in))))
    return out

  @nn.compact
  def __call__(self, u: Array) -> Array:
    sizes = tuple(self.layers)
    if u.shape[-1] != sum(sizes):
      raise ValueError(
        f"DeepPoissonDecoder with layers {sizes} needs u of size {sum(sizes)} "
        f"(the layers concatenated, bottom first); got {u.shape[-1]}."
      )
    bias = self.param("log_scale", nn.initializers.constant(self.log_rate_init), (self.vocab_size,))
    ws = self.weights()
    offsets = [0]
    for n in sizes:
      offsets.append(offsets[-1] + n)
    us = [u[..., offsets[l] : offsets[l + 1]] for l in range(len(sizes))]
    hidden = jnp.zeros(u.shape[:-1])
    log_a = jnp.log(jnp.asarray(self.shape, u.dtype))
    for l in range(len(sizes) - 1):
      log_mean = log_positive_matmul(us[l + 1], ws[l + 1])  # log(W_l z_{l+1})
      hidden = hidden + jnp.sum(gamma_log_prob_u_log_rate(us[l], self.shape, log_a - log_mean), -1)
    log_rate = log_positive_matmul(us[0], ws[0]) + bias
    return jnp.concatenate([log_rate, hidden[..., None]], -1)
