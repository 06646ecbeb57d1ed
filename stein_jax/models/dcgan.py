"""DCGAN-style convolutional networks for SteinGAN on images (Liu & Wang 2017, sec. 5.2).

Architecture only (no losses, no optimisers):

* :class:`DCGANGenerator`: ``G(xi; eta)``, noise ``xi ~ Uniform([-1, 1]^100)`` (and optionally a class label ``y``)
  to images ``[batch, H, W, C]`` in ``[-1, 1]``; the generator of Radford et al. (2015), which the paper reuses.
* :class:`ConvTrunk`: the DCGAN discriminator's stack of strided convolutions, shared by the autoencoder energy's
  encoder (``stein_jax.models.autoencoder_energy``) and by the classifier of the sample-quality metrics.
* :class:`ConvClassifier`: the trunk plus a linear layer, ``[batch, H, W, C] -> [batch, num_classes]`` logits.

Sizes: images are square with a side ``8 * 2^k`` (8, 16, 32 for CIFAR-10, 64 for CelebA / LSUN); the networks go
through ``log2(side / 4)`` stride-2 layers between ``side`` and a 4 x 4 map, doubling (trunk) or halving (generator)
the channels each time from / to ``width``. Every kernel is initialised from ``N(0, 0.02)`` (sec. 5.2), biases at 0.

Normalisation. The generator uses batch normalisation as DCGAN does, computed from the batch's own statistics
(with a learned scale and shift and no running averages), so the parameters stay one pytree of trainable arrays;
sample in batches of the training batch size. The trunk has no normalisation by default: an energy ``f(x)`` is then
a function of one image, and the feature kernel differentiates the code of each particle separately. ``ConvTrunk(
norm=...)`` adds one (the authors' SteinGAN code normalises its autoencoder energy by batch statistics;
``stein_jax.models.autoencoder_energy`` explains how the statistics are frozen where a per-image function is needed).

References:
  Radford, A., Metz, L. and Chintala, S. "Unsupervised representation learning with deep convolutional generative
  adversarial networks", 2015.
  Liu, Q. and Wang, D. "Learning Deep Energy Models: Contrastive Divergence vs. Amortized MLE", 2017, sec. 5.2.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

Array = jax.Array
INIT_STDDEV = 0.02
"""Standard deviation of every initial weight (sec. 5.2: "N(0, 0.02)")."""
NOISE_DIM = 100


def dcgan_init():
  """The N(0, 0.02) weight initialiser of sec. 5.2."""
  return nn.initializers.normal(stddev=INIT_STDDEV)


def num_resolution_steps(image_size: int) -> int:
  """Number of stride-2 layers between ``image_size`` and 4 x 4: ``log2(image_size / 4)``.

  Raises:
    ValueError: if ``image_size`` is not 8, 16, 32, 64, ... (a power of two of at least 8).
  """
  size = int(image_size)
  if size < 8 or size & (size - 1):
    raise ValueError(
      f"DCGAN networks need square images of side 8, 16, 32, 64, ... (a power of two >= 8); "
      f"got side {image_size}. Resize the data (e.g. data.load(..., image_size=64))."
    )
  return size.bit_length() - 3


def check_images(x: Array, image_shape: Sequence[int], what: str = "images") -> None:
  """Raises a ValueError naming the fix when ``x`` is not ``[batch, *image_shape]``."""
  image_shape = tuple(int(s) for s in image_shape)
  if jnp.ndim(x) != 4 or tuple(jnp.shape(x)[1:]) != image_shape:
    raise ValueError(
      f"{what} must have shape [batch, {', '.join(map(str, image_shape))}] (NHWC, pixels in [-1, 1]); "
      f"got shape {tuple(jnp.shape(x))}. Check config.image_size / the data set's image shape."
    )


def batch_moments(x: Array) -> tuple[Array, Array]:
  """Mean and (biased) variance over all axes but the last, kept as ``[1, ..., 1, C]``."""
  axes = tuple(range(x.ndim - 1))
  mean = jnp.mean(x, axis=axes, keepdims=True)
  return mean, jnp.mean(jnp.square(x - mean), axis=axes, keepdims=True)


class BatchStatNorm(nn.Module):
  """Batch normalisation from the batch's own statistics over all axes but the last, with learned scale and shift.

  No running averages: the module has trainable parameters only (DCGAN's generator in training mode).
  """

  epsilon: float = 1e-5

  @nn.compact
  def __call__(self, x: Array) -> Array:
    mean, var = batch_moments(x)
    scale = self.param("scale", nn.initializers.ones_init(), (x.shape[-1],))
    bias = self.param("bias", nn.initializers.zeros_init(), (x.shape[-1],))
    return (x - mean) * jax.lax.rsqrt(var + self.epsilon) * scale + bias


class DCGANGenerator(nn.Module):
  """``G(xi; eta)``: ``xi [batch, noise_dim]`` (and labels ``y [batch]``) to images ``[batch, s, s, channels]``.

  Dense to a ``4 x 4 x (width * 2^(L-1))`` map, then ``L = log2(s / 4)`` transposed 4 x 4 convolutions of stride 2
  (batch norm and ReLU between them, tanh at the end); L = 3 for 32 x 32 (CIFAR-10), 4 for 64 x 64 (CelebA, LSUN).
  With ``num_classes > 0`` the one-hot label is concatenated to the noise (the label-conditional sampler of sec. 5.2)
  and, with ``label_every_layer``, also to the input feature map of every transposed convolution, broadcast over
  space (the authors' ``conv_cond_concat``, ``cifar10/steingan_supervised.py`` lines 140-150 of their repository).

  Attributes:
    image_size: side s of the square output.
    channels: C (3 for colour images).
    width: channels of the last hidden map (DCGAN's ``ngf``, 64 in the paper's networks).
    num_classes: 0 for an unconditional generator; else the number of labels y.
    batch_norm: DCGAN's batch normalisation (from batch statistics); False for none.
    label_every_layer: also concatenate the one-hot label to every transposed convolution's input (needs
      ``num_classes > 0``).
    norm: the normalisation module class used when ``batch_norm`` (default :class:`BatchStatNorm`; the autoencoder
      energy's decoder passes its own, which can also freeze the statistics).
  """

  image_size: int = 32
  channels: int = 3
  width: int = 64
  num_classes: int = 0
  batch_norm: bool = True
  label_every_layer: bool = False
  norm: Any = None

  @nn.compact
  def __call__(self, xi: Array, y: Optional[Array] = None) -> Array:
    steps = num_resolution_steps(self.image_size)
    if jnp.ndim(xi) != 2:
      raise ValueError(f"DCGANGenerator noise must be [batch, noise_dim]; got shape {jnp.shape(xi)}.")
    h = xi
    if self.label_every_layer and not self.num_classes:
      raise ValueError(
        "DCGANGenerator(label_every_layer=True) needs a label-conditional generator (num_classes > 0);"
        " set config.label_every_layer=False for an unconditional model."
      )
    onehot = None
    if self.num_classes:
      if y is None or jnp.shape(y) != (xi.shape[0],):
        raise ValueError(
          f"This generator is label-conditional (num_classes={self.num_classes}): pass integer "
          f"labels y of shape ({xi.shape[0]},); got {None if y is None else jnp.shape(y)}."
        )
      onehot = jax.nn.one_hot(y, self.num_classes, dtype=xi.dtype)
      h = jnp.concatenate([h, onehot], axis=-1)
    elif y is not None:
      raise ValueError("This generator is unconditional (num_classes=0) but labels y were given.")
    norm_cls = BatchStatNorm if self.norm is None else self.norm
    norm = norm_cls if self.batch_norm else (lambda: (lambda v: v))
    top = self.width * 2 ** (steps - 1)
    h = nn.Dense(4 * 4 * top, kernel_init=dcgan_init())(h).reshape(xi.shape[0], 4, 4, top)
    h = nn.relu(norm()(h))
    for i in range(steps):
      last = i == steps - 1
      features = self.channels if last else top // 2 ** (i + 1)
      if self.label_every_layer:
        h = concat_label_maps(h, onehot)
      h = nn.ConvTranspose(features, (4, 4), strides=(2, 2), padding="SAME", kernel_init=dcgan_init())(h)
      h = jnp.tanh(h) if last else nn.relu(norm()(h))
    return h


def concat_label_maps(h: Array, onehot: Array) -> Array:
  """``[b, s, s, c]`` maps and ``[b, K]`` one-hot labels -> ``[b, s, s, c + K]``, the label constant over space."""
  maps = jnp.broadcast_to(onehot[:, None, None, :], h.shape[:-1] + (onehot.shape[-1],)).astype(h.dtype)
  return jnp.concatenate([h, maps], axis=-1)


class ConvTrunk(nn.Module):
  """The DCGAN discriminator's convolutions: ``[batch, s, s, C] -> [batch, 4 * 4 * width * 2^(L-1)]``.

  ``L = log2(s / 4)`` 4 x 4 convolutions of stride 2 with ``width, 2 width, ...`` channels and leaky ReLU (0.2), no
  normalisation (each output depends on its own image only).

  Attributes:
    width: channels of the first convolution (DCGAN's ``ndf``).
    norm: None (no normalisation, the default) or a normalisation module class applied after every convolution
      but the first (DCGAN's discriminator; the authors' autoencoder energy likewise, ``steingan_supervised.py``
      lines 165-170). With it, each output depends on the whole batch unless the module freezes its statistics.
  """

  width: int = 64
  norm: Any = None

  @nn.compact
  def __call__(self, x: Array) -> Array:
    steps = num_resolution_steps(x.shape[1])
    h = x
    for i in range(steps):
      h = nn.Conv(self.width * 2**i, (4, 4), strides=(2, 2), padding="SAME", kernel_init=dcgan_init())(h)
      if self.norm is not None and i > 0:
        h = self.norm()(h)
      h = nn.leaky_relu(h, 0.2)
    return h.reshape(h.shape[0], -1)


class ConvClassifier(nn.Module):
  """A DCGAN trunk and a linear layer: images ``[batch, s, s, C]`` to ``[batch, num_classes]`` logits.

  The classifier of ``stein_jax.evaluation.sample_quality`` (the paper uses a ResNet, sec. 5.2).

  Attributes:
    num_classes: number of classes.
    width: trunk width.
  """

  num_classes: int
  width: int = 32

  @nn.compact
  def __call__(self, x: Array) -> Array:
    if jnp.ndim(x) != 4:
      raise ValueError(f"ConvClassifier takes images [batch, H, W, C]; got shape {jnp.shape(x)}.")
    h = ConvTrunk(self.width)(x)
    h = nn.leaky_relu(nn.Dense(4 * self.width, kernel_init=dcgan_init())(h), 0.2)
    return nn.Dense(self.num_classes, kernel_init=dcgan_init())(h)


def uniform_noise(rng: Array, batch: int, noise_dim: int = NOISE_DIM, dtype=jnp.float32) -> Array:
  """``xi ~ Uniform([-1, 1]^noise_dim)``, ``[batch, noise_dim]`` (sec. 5.2)."""
  return jax.random.uniform(rng, (batch, noise_dim), dtype, minval=-1.0, maxval=1.0)
