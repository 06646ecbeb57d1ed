"""Deep autoencoder energies of SteinGAN on images (Liu & Wang 2017, sec. 5.2, eqs. (24)-(25)).

Negative energies (log p up to log Z) of NHWC images in ``[-1, 1]``:

  eq. (24)   f(x)    = -||x - D(E(x))||,
  eq. (25)   f(x, y) = -||x - D(E(x))|| - max(m, CE(y, W E(x) + b)),

with ``E`` a DCGAN-style convolutional encoder to a code of ``code_dim`` numbers, ``D`` a DCGAN-style decoder, and
``CE(y, logits) = logsumexp(logits) - logits[y]`` the cross entropy of a linear classifier on the code (the paper
sets m = 1). The norm is the Euclidean norm over all pixels, **not** its square: ``exp(f)`` decays like
``exp(-r)``, a Laplace-like (heavier-tailed than Gaussian) density around the reconstruction manifold.

``AutoencoderEnergy.encode`` exposes the code ``E(x)`` for the feature kernel of sec. 5.2,
``k(x, x') = exp(-||E(x) - E(x')||^2 / h^2)`` with ``h = 0.5 med / log m`` (:func:`code_bandwidth`).

Options of the authors' public code (docs/steingan_images.md sec. 5): ``input_dropout`` (dropout on the image
inside the energy, active only when the module is called with ``train=True`` and a ``"dropout"`` rng, so the
energy is a denoising autoencoder's reconstruction error ``||x - D(E(drop(x)))||``), and ``batch_norm`` (batch
normalisation with learned scale and shift in the hidden layers of the encoder and decoder, :class:`EnergyBatchNorm`).
With batch normalisation ``f(x)`` depends on the batch it is evaluated in. Applied with ``{"params": ...}`` only,
each call normalises by the statistics of its own batch (at least 2 images). :func:`capture_norm_stats` records the
statistics of one batch and :func:`freeze_norm_stats` makes the energy, its code and their gradients per-image
functions under those statistics (what the SVGD score and the per-particle Jacobian of the code kernel need).
:func:`authors_code_bandwidth` is the bandwidth of the authors' code.

The module holds the architecture; the energy formulas are the pure functions :func:`reconstruction_distance` and
:func:`clipped_cross_entropy`, tested against hand computations in ``tests/test_autoencoder_energy.py``.

References:
  Liu, Q. and Wang, D. "Learning Deep Energy Models: Contrastive Divergence vs. Amortized MLE", 2017, sec. 5.2.
  Zhao, J., Mathieu, M. and LeCun, Y. "Energy-based generative adversarial network", 2016 (the autoencoder
  discriminator that motivates eq. (24)).
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from stein_jax import kernels as kernels_lib
from stein_jax.models import dcgan

Array = jax.Array


def reconstruction_distance(x: Array, reconstruction: Array) -> Array:
  """``||x - x_hat||``, the Euclidean norm over all but the leading axis (eq. (24), not squared).

  The norm is not differentiable at 0; there its gradient is taken as 0 (a subgradient) instead of NaN, by the
  double-``where`` trick, so an exactly reconstructed image gives a finite score.

  Args:
    x: ``[batch, ...]``.
    reconstruction: same shape.

  Returns:
    ``[batch]`` distances.
  """
  r = (x - reconstruction).reshape(x.shape[0], -1)
  sq = jnp.sum(r * r, axis=-1)
  positive = sq > 0
  return jnp.where(positive, jnp.sqrt(jnp.where(positive, sq, 1.0)), 0.0)


def clipped_cross_entropy(logits: Array, labels: Array, margin: float = 1.0) -> Array:
  """``max(m, CE(y, logits))`` of eq. (25): cross entropy, clipped below at the margin m.

  Below m the term is constant, so a label predicted with probability above ``exp(-m)`` (0.37 for m = 1) exerts no
  force: the energy then only models the image.

  Args:
    logits: ``[batch, num_classes]``.
    labels: int ``[batch]``.
    margin: m (the paper: 1).

  Returns:
    ``[batch]``.
  """
  ce = jax.nn.logsumexp(logits, axis=-1) - jnp.take_along_axis(logits, labels[:, None].astype(jnp.int32), -1)[:, 0]
  return jnp.maximum(margin, ce)


def code_bandwidth(codes: Array, scale: float = 0.5) -> Array:
  """Bandwidth ``H = h^2`` of the code kernel of sec. 5.2, for this library's ``k = exp(-r^2 / H)``.

  The paper writes ``k(x, x') = exp(-||E(x) - E(x')||^2 / h^2)`` with ``h = scale * med / log m`` (scale 0.5), med the
  median pairwise distance of the m codes of the generated batch; hence ``H = h^2 = scale^2 med^2 / (log m)^2``.
  Pass ``functools.partial(code_bandwidth, scale=...)`` (or this function) as ``bandwidth=`` together with
  ``features=`` to ``stein_jax.svgd_direction``: the bandwidth callable receives the features, not the images.

  Args:
    codes: ``[m, k]`` codes of the generated batch.
    scale: the paper's 0.5.

  Returns:
    finite positive scalar H; 1.0 when m < 2 or all codes coincide (any H then gives the same direction).
  """
  m = codes.shape[0]
  if m < 2:
    return jnp.ones((), codes.dtype)
  centered = codes - jnp.mean(codes, axis=0)
  sq = kernels_lib.pairwise_sq_dists(centered, centered)[np.triu_indices(m, k=1)]
  # The median of the distances, not the root of the median squared distance: with an even number of pairs the two
  # differ (the mean of the middle two distances vs the root of the mean of their squares).
  med = jnp.median(jnp.sqrt(sq))
  return (scale * med / np.log(m)) ** 2


def authors_code_bandwidth(codes: Array) -> Array:
  """Bandwidth ``H`` (``k = exp(-r^2 / H)``) of the code kernel of the authors' public SteinGAN code.

  Their ``rbf_kernel`` (``cifar10/steingan_supervised.py`` lines 194-215 at commit ``db2735b^``; the same in
  ``vgd_kernel`` of ``cifar10/cifar10_steingan.py`` at ``480ad41``) takes ``med2``, the median of *all* ``m * m``
  squared code distances (the ``m`` zeros of the diagonal included; the mean of the two middle values when ``m * m``
  is even), sets ``h = sqrt(0.5 med2 / log(m + 1)) / 2`` and ``K = exp(-r^2 / (2 h^2))``. Hence

      H = 2 h^2 = med2 / (4 log(m + 1)),    k = exp(-4 log(m + 1) r^2 / med2).

  The paper's text (:func:`code_bandwidth`) gives ``k = exp(-4 (log m)^2 r^2 / med^2)`` instead: for m = 100 the
  exponent at the median distance is 18.5 here and 85 there.

  Args:
    codes: ``[m, k]`` codes of the generated batch.

  Returns:
    finite positive scalar H; 1.0 when m < 2 or the median squared distance is 0 (then no pair interacts anyway).
  """
  m = codes.shape[0]
  if m < 2:
    return jnp.ones((), codes.dtype)
  centered = codes - jnp.mean(codes, axis=0)
  sq = kernels_lib.pairwise_sq_dists(centered, centered)
  sq = jnp.where(jnp.eye(m, dtype=bool), 0.0, jnp.maximum(sq, 0.0))  # the diagonal exactly 0, as in exact arithmetic
  med2 = jnp.median(sq.reshape(-1))
  return jnp.where(med2 > 0, med2 / (4.0 * np.log(m + 1.0)), 1.0).astype(codes.dtype)


NORM_STATS = "norm_stats"
"""The variable collection holding frozen batch-norm statistics (:func:`capture_norm_stats`)."""


class EnergyBatchNorm(nn.Module):
  """Batch normalisation of the energy's hidden layers: learned scale and shift, no running averages.

  The statistics (mean and biased variance over all axes but the channels) are those of the batch being
  normalised, except when the variables hold a ``"norm_stats"`` collection and it is not being captured: then
  those frozen statistics are used and the layer is a per-example affine map.
  """

  epsilon: float = 1e-5

  @nn.compact
  def __call__(self, x: Array) -> Array:
    scale = self.param("scale", nn.initializers.ones_init(), (x.shape[-1],))
    bias = self.param("bias", nn.initializers.zeros_init(), (x.shape[-1],))
    capturing = self.is_mutable_collection(NORM_STATS) and not self.is_initializing()
    if self.has_variable(NORM_STATS, "mean") and not capturing:
      mean, var = self.get_variable(NORM_STATS, "mean"), self.get_variable(NORM_STATS, "var")
    else:
      if x.shape[0] < 2:
        raise ValueError(
          f"The autoencoder energy has batch normalisation (config.model.energy_batch_norm=True, "
          f"AutoencoderEnergy(batch_norm=True)) and normalises by batch statistics, which need at least 2 images "
          f"per call; got a batch of {x.shape[0]}. Evaluate it on batches of >= 2, freeze the statistics of a batch "
          f"(autoencoder_energy.freeze_norm_stats), or set --config.model.energy_batch_norm=False."
        )
      mean, var = dcgan.batch_moments(x)
      if capturing:
        self.put_variable(NORM_STATS, "mean", mean)
        self.put_variable(NORM_STATS, "var", var)
    return (x - mean) * jax.lax.rsqrt(var + self.epsilon) * scale + bias


class ConvEncoder(nn.Module):
  """``E``: images ``[batch, s, s, C] -> [batch, code_dim]`` (DCGAN trunk, then linear)."""

  code_dim: int
  width: int
  batch_norm: bool = False

  @nn.compact
  def __call__(self, x: Array) -> Array:
    trunk = dcgan.ConvTrunk(self.width, norm=EnergyBatchNorm if self.batch_norm else None)
    return nn.Dense(self.code_dim, kernel_init=dcgan.dcgan_init())(trunk(x))


class ConvDecoder(nn.Module):
  """``D``: codes ``[batch, code_dim] -> [batch, s, s, C]`` in ``[-1, 1]`` (the DCGAN generator's shape).

  No normalisation by default; ``batch_norm=True`` adds :class:`EnergyBatchNorm` to every hidden layer.
  """

  image_shape: Tuple[int, int, int]
  width: int
  batch_norm: bool = False

  @nn.compact
  def __call__(self, code: Array) -> Array:
    return dcgan.DCGANGenerator(
      image_size=self.image_shape[0],
      channels=self.image_shape[2],
      width=self.width,
      batch_norm=self.batch_norm,
      norm=EnergyBatchNorm,
    )(code)


class AutoencoderEnergy(nn.Module):
  """Negative energy of eq. (24) (``num_classes=0``) or the joint eq. (25): ``[batch, s, s, C] -> [batch]``.

  Methods (use with ``module.apply(variables, x, method=...)``): ``__call__(x, y=None)`` the negative energy,
  ``encode(x)`` the code ``E(x)``, ``reconstruct(x)`` ``D(E(x))``, ``class_logits(x)`` the label head.

  Attributes:
    image_shape: ``(s, s, C)``, s = 8, 16, 32, 64, ...
    code_dim: size of the code E(x).
    width: channels of the encoder's first convolution and the decoder's last hidden map.
    num_classes: 0 for eq. (24); else the number of labels of the joint model eq. (25).
    margin: m of eq. (25) (the paper: 1).
    batch_norm: :class:`EnergyBatchNorm` in the hidden layers of encoder and decoder (the authors' code).
    input_dropout: probability of zeroing each input value inside ``__call__(..., train=True)`` (the authors'
      0.2); the reconstruction is still compared with the clean image.
  """

  image_shape: Tuple[int, int, int] = (32, 32, 3)
  code_dim: int = 100
  width: int = 64
  num_classes: int = 0
  margin: float = 1.0
  batch_norm: bool = False
  input_dropout: float = 0.0

  def setup(self):
    if len(self.image_shape) != 3 or self.image_shape[0] != self.image_shape[1]:
      raise ValueError(f"AutoencoderEnergy needs image_shape = (s, s, C); got {self.image_shape}.")
    dcgan.num_resolution_steps(self.image_shape[0])
    if not 0.0 <= self.input_dropout < 1.0:
      raise ValueError(
        f"AutoencoderEnergy input_dropout (config.model.input_dropout) must be in [0, 1); got " f"{self.input_dropout}."
      )
    self.encoder = ConvEncoder(self.code_dim, self.width, self.batch_norm)
    self.decoder = ConvDecoder(tuple(self.image_shape), self.width, self.batch_norm)
    self.dropout = nn.Dropout(self.input_dropout)
    if self.num_classes:
      self.head = nn.Dense(self.num_classes, kernel_init=dcgan.dcgan_init())

  def _images(self, x: Array) -> Array:
    # Accept flat [batch, s*s*C] too: the feature kernel differentiates one flattened particle at a time.
    if jnp.ndim(x) == 2 and x.shape[1] == int(np.prod(self.image_shape)):
      x = x.reshape((x.shape[0],) + tuple(self.image_shape))
    dcgan.check_images(x, self.image_shape, "AutoencoderEnergy inputs")
    return x

  def encode(self, x: Array) -> Array:
    """The code ``E(x)``, ``[batch, code_dim]``."""
    return self.encoder(self._images(x))

  def reconstruct(self, x: Array) -> Array:
    """``D(E(x))``, same shape as the images."""
    return self.decoder(self.encode(x))

  def class_logits(self, x: Array) -> Array:
    """Logits of the label head on the code, ``[batch, num_classes]`` (joint model only)."""
    if not self.num_classes:
      raise ValueError("class_logits needs a joint model (num_classes > 0).")
    return self.head(self.encode(x))

  def __call__(self, x: Array, y: Optional[Array] = None, *, train: bool = False) -> Array:
    """Negative energy ``[batch]``; ``train=True`` applies the input dropout (pass ``rngs={"dropout": key}``)."""
    x = self._images(x)
    code = self.encoder(self.dropout(x, deterministic=not train or self.input_dropout == 0.0))
    f = -reconstruction_distance(x, self.decoder(code))
    if self.num_classes:
      if y is None or jnp.shape(y) != (x.shape[0],):
        raise ValueError(
          f"The joint energy (num_classes={self.num_classes}, eq. (25)) needs integer labels y of "
          f"shape ({x.shape[0]},); got {None if y is None else jnp.shape(y)}."
        )
      f = f - clipped_cross_entropy(self.head(code), y, self.margin)
    elif y is not None:
      raise ValueError("Labels y were given to an unconditional autoencoder energy (num_classes=0, eq. (24)).")
    return f


def energy_fn(module: AutoencoderEnergy, labels: Optional[Array] = None) -> Callable[[object, Array], Array]:
  """``apply_fn(variables, x [m, ...]) -> f [m]`` for ``stein_jax.objectives.steingan``, labels closed over.

  For the joint model the same ``labels [m]`` are used for every batch it is applied to (SteinGAN on images draws
  the generator's labels as those of the real minibatch, so positives and negatives share them).
  """
  if module.num_classes and labels is None:
    raise ValueError("The joint autoencoder energy needs labels; pass energy_fn(module, labels).")
  return lambda variables, x: module.apply(variables, x, labels)


def code_fn(module: AutoencoderEnergy, variables) -> Callable[[Array], Array]:
  """``x [m, ...] -> E(x) [m, code_dim]``, the features of the sec. 5.2 kernel (flat inputs accepted)."""
  return lambda x: module.apply(variables, x, method=AutoencoderEnergy.encode)


def capture_norm_stats(module: AutoencoderEnergy, variables, x: Array):
  """The batch-norm statistics of every :class:`EnergyBatchNorm` layer at the batch ``x`` (no dropout).

  Returns:
    the ``"norm_stats"`` collection (a pytree, ``{}`` without batch normalisation), a constant for differentiation.
  """
  if not module.batch_norm:
    return {}
  variables = {k: v for k, v in variables.items() if k != NORM_STATS}
  _, state = module.apply(variables, x, method=AutoencoderEnergy.reconstruct, mutable=[NORM_STATS])
  return jax.lax.stop_gradient(state[NORM_STATS])


def freeze_norm_stats(variables, stats):
  """``variables`` with the statistics ``stats`` of :func:`capture_norm_stats` frozen in (unchanged when empty)."""
  if not stats:
    return variables
  return {**variables, NORM_STATS: stats}


def count_parameters(tree) -> int:
  """Number of scalars in a parameter pytree (Table 1 of the paper compares these)."""
  return int(sum(np.prod(np.shape(leaf)) for leaf in jax.tree.leaves(tree)))


def default_code_bandwidth(scale: float = 0.5) -> Callable[[Array], Array]:
  """``codes -> H``: :func:`code_bandwidth` with its scale bound (a stable callable for jit)."""
  return lambda codes: code_bandwidth(codes, scale)


__all__: Sequence[str] = (
  "AutoencoderEnergy",
  "ConvDecoder",
  "ConvEncoder",
  "EnergyBatchNorm",
  "NORM_STATS",
  "authors_code_bandwidth",
  "capture_norm_stats",
  "clipped_cross_entropy",
  "code_bandwidth",
  "code_fn",
  "freeze_norm_stats",
  "count_parameters",
  "default_code_bandwidth",
  "energy_fn",
  "reconstruction_distance",
)
