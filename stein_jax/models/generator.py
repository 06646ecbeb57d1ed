"""Generators: noise xi -> samples, trained by amortized SVGD (architecture only)."""

from __future__ import annotations

from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

OUTPUTS = ("linear", "sigmoid")


def batch_standardize(h: jax.Array, eps: float = 1e-8) -> jax.Array:
  """Batch normalisation without learned scale or shift, always with the batch's own statistics.

  Each feature (the last axis; for feature maps ``[n, H, W, C]`` per channel over batch and space) is centred and
  scaled by the mean and variance over the batch, the ``batchnorm(X, g=None, b=None)`` of the authors' SteinGAN code
  (DartML/SteinGAN ``lib/ops.py``). Every batch is spread out in every hidden feature, so a generator with it cannot
  map a whole batch of noise to one image. Samples are therefore a function of their whole batch (also when
  sampling); a batch of one has no statistics and is refused by the caller.
  """
  axes = tuple(range(h.ndim - 1))
  mean = jnp.mean(h, axis=axes, keepdims=True)
  var = jnp.mean(jnp.square(h - mean), axis=axes, keepdims=True)
  return (h - mean) * jax.lax.rsqrt(var + eps)


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
  ``activation`` (after :func:`batch_standardize` when ``normalize``); the output is ``linear`` (samples in an
  unbounded space, e.g. centred-and-scaled pixels) or ``sigmoid`` (pixels in ``[0, 1]``, the authors' code).

  Attributes:
    image_shape: ``(side, side, channels)`` of the output; ``side`` divisible by 4 (MNIST: ``(28, 28, 1)``).
    hidden: width of the first dense layer.
    channels: channels after the first transposed convolution (the reshaped dense output has twice as many).
    flatten: True returns ``[n, side * side * channels]`` (the RBM's flat visibles), False ``[n, *image_shape]``.
    activation: nonlinearity between layers.
    normalize: batch-statistics normalisation without scale/shift after every hidden layer (the authors' code);
      the hidden layers then have no bias (the normalisation removes it).
    output: "linear" or "sigmoid".
  """

  image_shape: Sequence[int] = (28, 28, 1)
  hidden: int = 1024
  channels: int = 64
  flatten: bool = True
  activation: Callable[[jax.Array], jax.Array] = nn.relu
  normalize: bool = False
  output: str = "linear"

  @nn.compact
  def __call__(self, xi: jax.Array) -> jax.Array:
    height, width, out_channels = (int(s) for s in self.image_shape)
    if height % 4 or width % 4:
      raise ValueError(
        f"ConvGenerator needs image sides divisible by 4 (two stride-2 upsamplings); got "
        f"image_shape={tuple(self.image_shape)}."
      )
    if xi.ndim != 2:
      raise ValueError(f"ConvGenerator takes noise of shape [n, noise_dim]; got {xi.shape}.")
    if self.output not in OUTPUTS:
      raise ValueError(f"ConvGenerator output must be one of {OUTPUTS}; got {self.output!r}.")
    if self.normalize and xi.shape[0] < 2:
      raise ValueError(
        f"ConvGenerator(normalize=True) normalises with batch statistics and needs a batch of at least "
        f"2 noise vectors; got {xi.shape[0]}. Generate samples in batches (or set normalize=False)."
      )
    bias = not self.normalize
    hidden = lambda h: self.activation(batch_standardize(h) if self.normalize else h)
    h = hidden(nn.Dense(self.hidden, use_bias=bias)(xi))
    h = hidden(nn.Dense((height // 4) * (width // 4) * 2 * self.channels, use_bias=bias)(h))
    h = h.reshape(xi.shape[0], height // 4, width // 4, 2 * self.channels)
    h = hidden(nn.ConvTranspose(self.channels, (5, 5), strides=(2, 2), padding="SAME", use_bias=bias)(h))
    h = nn.ConvTranspose(out_channels, (5, 5), strides=(2, 2), padding="SAME")(h)
    if self.output == "sigmoid":
      h = nn.sigmoid(h)
    return h.reshape(xi.shape[0], -1) if self.flatten else h
