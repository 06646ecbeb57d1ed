"""Generators: noise xi -> samples, trained by amortized SVGD (architecture only)."""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax


class MLPGenerator(nn.Module):
  """G(xi; eta): an MLP from noise [..., noise_dim] to samples [..., out_dim].

  Attributes:
    out_dim: dimension of the generated samples.
    hidden: widths of the hidden layers (tanh activations: smooth maps, so that
      the Jacobian d G / d eta used by amortized SVGD is well conditioned).
  """

  out_dim: int
  hidden: Sequence[int] = (64, 64)

  @nn.compact
  def __call__(self, xi: jax.Array) -> jax.Array:
    h = xi
    for width in self.hidden:
      h = nn.tanh(nn.Dense(width)(h))
    return nn.Dense(self.out_dim)(h)
