"""Generators: noise xi -> samples, trained by amortized SVGD (architecture only)."""

from __future__ import annotations

from typing import Callable, Sequence

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


class ConvGenerator(nn.Module):
  """The MNIST generator of Liu & Wang 2017, sec. 5.1: 2 dense layers, then 2 transposed 5x5 convolutions.

  ``xi [n, noise_dim] -> Dense(hidden) -> Dense(side/4 * side/4 * 2 channels) -> reshape ->
  ConvT(channels, 5x5, stride 2) -> ConvT(image channels, 5x5, stride 2)``, each layer but the last followed by
  ``activation``; the output is linear (samples live in the energy model's unbounded space).

  Attributes:
    image_shape: ``(side, side, channels)`` of the output; ``side`` divisible by 4 (MNIST: ``(28, 28, 1)``).
    hidden: width of the first dense layer.
    channels: channels after the first transposed convolution (the reshaped dense output has twice as many).
    flatten: True returns ``[n, side * side * channels]`` (the RBM's flat visibles), False ``[n, *image_shape]``.
    activation: nonlinearity between layers.
  """

  image_shape: Sequence[int] = (28, 28, 1)
  hidden: int = 1024
  channels: int = 64
  flatten: bool = True
  activation: Callable[[jax.Array], jax.Array] = nn.relu

  @nn.compact
  def __call__(self, xi: jax.Array) -> jax.Array:
    height, width, out_channels = (int(s) for s in self.image_shape)
    if height % 4 or width % 4:
      raise ValueError(f"ConvGenerator needs image sides divisible by 4 (two stride-2 upsamplings); got "
                       f"image_shape={tuple(self.image_shape)}.")
    if xi.ndim != 2:
      raise ValueError(f"ConvGenerator takes noise of shape [n, noise_dim]; got {xi.shape}.")
    h = self.activation(nn.Dense(self.hidden)(xi))
    h = self.activation(nn.Dense((height // 4) * (width // 4) * 2 * self.channels)(h))
    h = h.reshape(xi.shape[0], height // 4, width // 4, 2 * self.channels)
    h = self.activation(nn.ConvTranspose(self.channels, (5, 5), strides=(2, 2), padding="SAME")(h))
    h = nn.ConvTranspose(out_channels, (5, 5), strides=(2, 2), padding="SAME")(h)
    return h.reshape(xi.shape[0], -1) if self.flatten else h
