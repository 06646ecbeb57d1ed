"""Convolutional noise encoders and decoders for the semi-supervised Stein VAE (Pu et al. 2017, sec. 5.3).

Architecture only. Images travel flattened, x [..., H * W * C] (the layout every objective of
:mod:`stein_jax.objectives.stein_vae` uses); the modules reshape to [..., H, W, C] and back.

Encoders are noise encoders z = f_eta(x, xi) with the broadcasting of :mod:`stein_jax.models.vae`
(x [B, 1, dx] with xi [1, S, dz] gives z [B, S, dz]) and dim xi = dim z, so that the change of
variables gives log q(z | x) for Stein VIWAE's weights. The noise enters *as an image*: xi [dz] is
mapped by a learned linear layer to ``noise_channels`` extra channels of H x W and stacked with the
image's own channels before the first convolution ("spatially aligning and stacking x_n and xi",
sec. 5.3 (ii)). Everything after that is a plain convolutional net of the stacked input, so
q(z | x) has no assumed form (it is not Gaussian, not a flow).

Cost. The first convolution is linear in its input, so conv(stack(x, n)) = conv_x(x) + conv_n(n)
with the kernel split along its input channels; the encoders compute the x-part once per image and
the noise part once per xi and add them (B + S first-layer convolutions instead of B * S). The
literal stacked form (:meth:`StackedNoiseEncoder.stacked_forward`) is kept as the reference the
tests compare against.

log q(z | x). The stacked encoders deliberately have no ``forward_and_log_det``: where Stein VIWAE
needs log q, :func:`stein_jax.targets.latent.encode` takes log|det dz/dxi| of the dz x dz Jacobian
by ``jax.jacfwd`` (dz tangents per (x, xi) pair); everywhere else (SVGD codes, the encoder fit,
classification) only z is computed. The density is exact where xi -> z is a bijection, which a
generic network need not be (the caveat of :class:`stein_jax.models.vae.MLPNoiseEncoder`). (A
``forward_and_log_det`` is called by ``encode`` even when only z is wanted, and its Jacobian was
then not always removed by XLA: an encoder fit took 1.3 s instead of 0.07 s.) The Gaussian mode
(``gaussian=True``, the VAE's encoder on the same network) is the class
:class:`GaussianConvEncoder` / :class:`GaussianResidualEncoder`, which has the closed form.

Modules:

  * :class:`ConvNoiseEncoder` / :class:`ConvDecoder`: Table 3's CNN, sec. 5.3 (ii): two
    convolutions of 32 and 64 5 x 5 kernels with stride 2 and leaky ReLU, a dense layer to the
    50-d latent; the decoder mirrors it (dense, then 5 x 5 transposed convolutions of stride 2 back
    to the image).
  * :class:`ResidualConvEncoder` / :class:`ResidualConvDecoder`: Table 4's all-convolutional net
    (Springenberg et al. 2015: strided convolutions instead of pooling) with residual connections
    (He et al. 2016); the paper's Appendix E is not in our copy, the design is ours and is
    documented in docs/semi_supervised.md.

Sizes: every strided layer halves H and W with "SAME" padding (ceil(H / 2)), and every transposed
layer doubles them, so an image maps back exactly only if H and W are divisible by 2^L for L
strided layers (:func:`check_image_shape`, which names the sizes when they are not).

References:
  Springenberg, J. T., Dosovitskiy, A., Brox, T. and Riedmiller, M. "Striving for simplicity: the
  all convolutional net", 2015 (the paper's [31]).
  He, K., Zhang, X., Ren, S. and Sun, J. "Deep residual learning for image recognition", 2016.
  Maas, A., Hannun, A. and Ng, A. "Rectifier nonlinearities improve neural network acoustic
  models", 2013 (the leaky ReLU, slope 0.01, the paper's [16]).
"""

from __future__ import annotations

import math
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

Array = jax.Array
_DIMS = ("NHWC", "HWIO", "NHWC")


def strided_sizes(size: int, num_layers: int, stride: int = 2) -> list[int]:
  """[size, ceil(size / s), ...]: the side after each of ``num_layers`` "SAME" convolutions of stride s."""
  out = [int(size)]
  for _ in range(num_layers):
    out.append(-(-out[-1] // stride))
  return out


def check_image_shape(image_shape: Sequence[int], num_layers: int, stride: int = 2, name: str = "network") -> None:
  """Raises ValueError unless an (H, W, C) image survives ``num_layers`` stride-s layers and back.

  The encoder's "SAME" convolutions map a side n to ceil(n / s); the decoder's transposed
  convolutions map m to m * s. Both directions agree only when s^L divides H and W.
  """
  if len(image_shape) != 3 or not all(isinstance(v, int) and v >= 1 for v in image_shape):
    raise ValueError(f"{name}: image_shape must be (H, W, C) positive ints, got {tuple(image_shape)!r}.")
  factor = stride**num_layers
  for axis, side in zip(("height", "width"), image_shape[:2]):
    if side % factor:
      down = strided_sizes(side, num_layers, stride)
      up = [down[-1] * stride**i for i in range(num_layers + 1)]
      raise ValueError(
        f"{name}: an image {axis} of {side} cannot be mapped back by {num_layers} stride-{stride} layers: "
        f"the encoder maps {' -> '.join(map(str, down))} and the decoder's transposed convolutions give "
        f"{' -> '.join(map(str, up))} != {side}. Use image sides divisible by {factor} "
        f"(e.g. {side - side % factor or factor} or {side + factor - side % factor}), or pad or crop the images."
      )


def check_flat_images(x: Array, image_shape: Sequence[int], name: str) -> None:
  """Raises ValueError unless x [..., dx] has dx = H * W * C."""
  h, w, c = image_shape
  if x.shape[-1] != h * w * c:
    raise ValueError(
      f"{name}: images must be flattened to H * W * C = {h} * {w} * {c} = {h * w * c} values, got a last "
      f"dimension of {x.shape[-1]} (shape {tuple(x.shape)})."
    )


def _conv(h: Array, kernel: Array, stride: int) -> Array:
  return jax.lax.conv_general_dilated(h, kernel, (stride, stride), "SAME", dimension_numbers=_DIMS)


def _flat_apply(fn, h: Array, event_dims: int = 3) -> Array:
  """fn on h [..., H, W, C] with the batch dims flattened into one (convolutions want [N, H, W, C])."""
  batch = h.shape[:-event_dims]
  out = fn(h.reshape((-1,) + h.shape[-event_dims:]))
  return out.reshape(batch + out.shape[1:])


class StackedNoiseEncoder(nn.Module):
  """f_eta(x, xi) = head(trunk(leaky_relu(conv(stack(x, noise_image(xi)))))): the shared noise stacking.

  Subclasses define :meth:`trunk_layers` (the network after the stem convolution). Call as
  ``apply(params, x, xi)`` with x [..., H * W * C] and xi [..., dz] broadcast against each other.

  Attributes:
    latent_dim: dz = dim xi.
    image_shape: (H, W, C) of the flattened images.
    noise_channels: channels of the noise image stacked with x (the linear map xi -> [H, W,
      noise_channels] is learned).
    noise_scale: the initial standard deviation of each noise pixel (the map's weights are drawn
      with variance noise_scale^2 / dz, so for xi ~ N(0, I) every pixel of the noise image starts
      with standard deviation ~noise_scale; 1.0 is flax's default, LeCun-normal).
    stem_features, stem_kernel, stem_stride: the first convolution, on the C + noise_channels
      stacked channels.
    negative_slope: of the leaky ReLU.
    gaussian: False (the stacked noise encoder above). True: the VAE's Gaussian encoder on the
      same network, q(z | x) = N(mean(x), diag exp(log_var(x))), z = mean + exp(log_var / 2) xi;
      the stem then sees the image's channels only and the head gives (mean, log_var).
  """

  latent_dim: int
  image_shape: tuple = (28, 28, 1)
  noise_channels: int = 1
  noise_scale: float = 1.0
  stem_features: int = 32
  stem_kernel: int = 5
  stem_stride: int = 2
  negative_slope: float = 0.01
  gaussian: bool = False

  def num_strided(self) -> int:
    """Stride-2 layers in the whole encoder (the decoder must undo as many)."""
    raise NotImplementedError

  def trunk_layers(self):
    """Submodules/callables applied after the stem, [N, H', W', F] -> [N, ...]."""
    raise NotImplementedError

  def setup(self):
    name = type(self).__name__
    check_image_shape(self.image_shape, self.num_strided(), 2, name)
    if not (isinstance(self.noise_channels, int) and self.noise_channels >= 1):
      raise ValueError(f"{name}: noise_channels must be an int >= 1, got {self.noise_channels!r}.")
    if isinstance(self.noise_scale, bool) or not (isinstance(self.noise_scale, (int, float)) and self.noise_scale > 0):
      raise ValueError(f"{name}: noise_scale must be a number > 0, got {self.noise_scale!r}.")
    h, w, c = self.image_shape
    stacked = 0 if self.gaussian else self.noise_channels
    self.stem = self.param(
      "stem_kernel",
      nn.initializers.variance_scaling(1.0, "fan_in", "truncated_normal"),
      (self.stem_kernel, self.stem_kernel, c + stacked, self.stem_features),
    )
    self.stem_bias = self.param("stem_bias", nn.initializers.zeros, (self.stem_features,))
    if not self.gaussian:
      init = nn.initializers.variance_scaling(float(self.noise_scale) ** 2, "fan_in", "truncated_normal")
      self.noise_map = nn.Dense(h * w * self.noise_channels, kernel_init=init, name="noise_map")
    self.trunk = self.trunk_layers()
    self.head = nn.Dense(self.latent_dim * (2 if self.gaussian else 1), name="head")

  # ------------------------------------------------------------------ the two stem paths

  def _check_inputs(self, x: Array, xi: Array) -> None:
    name = type(self).__name__
    check_flat_images(x, self.image_shape, name)
    if xi.shape[-1] != self.latent_dim:
      raise ValueError(
        f"{name}: the noise xi has last dimension {xi.shape[-1]} but the latent size is {self.latent_dim}; "
        "the change of variables q(z|x) = q0(xi)|det dz/dxi|^-1 needs dim xi == dim z."
      )

  def noise_image(self, xi: Array) -> Array:
    """xi [..., dz] -> the noise image [..., H, W, noise_channels] stacked with x."""
    h, w, _ = self.image_shape
    return self.noise_map(xi).reshape(xi.shape[:-1] + (h, w, self.noise_channels))

  def image_features(self, x: Array) -> Array:
    """The x-part of the stem convolution (with its bias): x [..., dx] -> [..., H', W', F]."""
    c = self.image_shape[2]
    img = x.reshape(x.shape[:-1] + tuple(self.image_shape))
    return _flat_apply(lambda v: _conv(v, self.stem[:, :, :c], self.stem_stride), img) + self.stem_bias

  def from_features(self, hx: Array, xi: Array) -> Array:
    """z from the x-part of the stem hx [..., H', W', F] and xi [..., dz] (broadcast)."""
    c = self.image_shape[2]
    hn = _flat_apply(lambda v: _conv(v, self.stem[:, :, c:], self.stem_stride), self.noise_image(xi))
    return self._rest(hx + hn)

  def _rest(self, pre: Array) -> Array:
    h = nn.leaky_relu(pre, self.negative_slope)
    h = _flat_apply(lambda v: self._trunk_apply(v), h)
    return self.head(h.reshape(h.shape[:-3] + (-1,)))

  def _trunk_apply(self, h: Array) -> Array:
    for layer in self.trunk:
      h = layer(h)
    return h

  def stacked_input(self, x: Array, xi: Array) -> Array:
    """The literal stacked input [..., H, W, C + noise_channels] (x and its noise image, aligned)."""
    self._check_inputs(x, xi)
    if self.gaussian:
      raise ValueError(f"{type(self).__name__}: the Gaussian mode stacks no noise with x.")
    img = x.reshape(x.shape[:-1] + tuple(self.image_shape))
    return stack_noise(img, self.noise_image(xi), self.noise_channels)

  def stacked_forward(self, x: Array, xi: Array) -> Array:
    """Reference path: one stem convolution of :meth:`stacked_input` (equal to ``__call__``)."""
    s = self.stacked_input(x, xi)
    pre = _flat_apply(lambda v: _conv(v, self.stem, self.stem_stride), s) + self.stem_bias
    return self._rest(pre)

  def moments(self, x: Array) -> tuple[Array, Array]:
    """Gaussian mode: (mean [..., dz], log_var [..., dz]) of q(z | x)."""
    if not self.gaussian:
      raise ValueError(f"{type(self).__name__}: moments() needs gaussian=True.")
    check_flat_images(x, self.image_shape, type(self).__name__)
    out = self._rest(self.image_features(x))
    return out[..., : self.latent_dim], out[..., self.latent_dim :]

  def __call__(self, x: Array, xi: Array) -> Array:
    return self.gaussian_forward_and_log_det(x, xi)[0] if self.gaussian else self._stacked_call(x, xi)

  def _stacked_call(self, x: Array, xi: Array) -> Array:
    self._check_inputs(x, xi)
    return self.from_features(self.image_features(x), xi)

  def gaussian_forward_and_log_det(self, x: Array, xi: Array) -> tuple[Array, Array]:
    """Gaussian mode: z = mean + exp(log_var / 2) xi and log|det dz/dxi| = sum log_var / 2."""
    self._check_inputs(x, xi)
    mean, log_var = self.moments(x)
    z = mean + jnp.exp(0.5 * log_var) * xi
    return z, jnp.broadcast_to(0.5 * jnp.sum(log_var, -1), z.shape[:-1])


def stack_noise(image: Array, noise: Array, noise_channels: int) -> Array:
  """Concatenates image [..., H, W, C] and noise [..., H, W, c] (broadcast) along channels.

  Raises:
    ValueError: the noise image is not H x W, or has c != ``noise_channels``.
  """
  if noise.shape[-3:-1] != image.shape[-3:-1]:
    raise ValueError(
      f"The noise image is {noise.shape[-3]}x{noise.shape[-2]} but the image is {image.shape[-3]}x"
      f"{image.shape[-2]}; stacking needs them spatially aligned (the same H x W)."
    )
  if noise.shape[-1] != noise_channels:
    raise ValueError(
      f"The noise image has {noise.shape[-1]} channels but the encoder stacks {noise_channels} noise "
      f"channel(s) with the image's {image.shape[-1]} (its first convolution takes "
      f"{image.shape[-1] + noise_channels} input channels)."
    )
  batch = jnp.broadcast_shapes(image.shape[:-3], noise.shape[:-3])
  return jnp.concatenate(
    [jnp.broadcast_to(image, batch + image.shape[-3:]), jnp.broadcast_to(noise, batch + noise.shape[-3:])], -1
  )


class _LeakyConv(nn.Module):
  features: int
  kernel: int
  stride: int
  negative_slope: float

  @nn.compact
  def __call__(self, h: Array) -> Array:
    h = nn.Conv(self.features, (self.kernel, self.kernel), (self.stride, self.stride), "SAME")(h)
    return nn.leaky_relu(h, self.negative_slope)


class ConvNoiseEncoder(StackedNoiseEncoder):
  """Table 3's CNN encoder (sec. 5.3 (ii)): stack(x, noise image) -> 32 and 64 5x5 kernels, stride 2 -> dense dz.

  The stem is the first (32-kernel) convolution; ``features[1:]`` are the further stride-2 layers.
  """

  features: tuple = (32, 64)
  kernel_size: int = 5

  def num_strided(self) -> int:
    return len(self.features)

  def setup(self):
    if self.stem_features != self.features[0] or self.stem_kernel != self.kernel_size:
      raise ValueError(
        f"ConvNoiseEncoder: stem_features/stem_kernel ({self.stem_features}, {self.stem_kernel}) must equal "
        f"features[0]/kernel_size ({self.features[0]}, {self.kernel_size}); set features and kernel_size only."
      )
    super().setup()

  def trunk_layers(self):
    return [
      _LeakyConv(f, self.kernel_size, 2, self.negative_slope, name=f"conv_{i + 1}")
      for i, f in enumerate(self.features[1:])
    ]


def conv_encoder(latent_dim: int, image_shape: tuple, features=(32, 64), kernel_size: int = 5, **kw):
  """:class:`ConvNoiseEncoder` with its stem set from ``features[0]`` and ``kernel_size``."""
  return ConvNoiseEncoder(
    latent_dim,
    tuple(image_shape),
    stem_features=features[0],
    stem_kernel=kernel_size,
    stem_stride=2,
    features=tuple(features),
    kernel_size=kernel_size,
    **kw,
  )


class ConvDecoder(nn.Module):
  """Table 3's CNN decoder: dense dz -> (H/4, W/4, 64), stride-2 upsampling (64 -> 32 -> out) by :class:`SubPixelUp`.

  The upsampling layers are 5 x 5 transposed convolutions of stride 2 in the sub-pixel form
  (3 x 3 kernels per phase, a superset of them; see :class:`SubPixelUp`).

  z [..., dz] -> [..., H * W * out_channels] (logits for a Bernoulli likelihood, means for a
  Gaussian one), the mirror of :class:`ConvNoiseEncoder`.

  Attributes:
    image_shape: (H, W, C).
    features: the encoder's (32, 64); the decoder runs them backwards.
    kernel_size: 5.
    out_channels: output values per pixel (default C).
  """

  image_shape: tuple = (28, 28, 1)
  features: tuple = (32, 64)
  kernel_size: int = 5
  out_channels: int = 0
  negative_slope: float = 0.01

  @nn.compact
  def __call__(self, z: Array) -> Array:
    check_image_shape(self.image_shape, len(self.features), 2, "ConvDecoder")
    h, w, c = self.image_shape
    out_c = self.out_channels or c
    f = len(self.features)
    hs, ws = h // 2**f, w // 2**f
    top = self.features[-1]
    g = nn.leaky_relu(nn.Dense(hs * ws * top, name="dense")(z), self.negative_slope)
    g = g.reshape(z.shape[:-1] + (hs, ws, top))
    sub = -(-self.kernel_size // 2)
    chans = list(reversed(self.features[:-1])) + [out_c]

    def body(v):
      for i, ch in enumerate(chans):
        v = SubPixelUp(ch, sub, name=f"deconv_{i}")(v)
        if i < len(chans) - 1:
          v = nn.leaky_relu(v, self.negative_slope)
      return v

    out = _flat_apply(body, g)
    return out.reshape(z.shape[:-1] + (h * w * out_c,))


# ------------------------------------------------------------------ Table 4: residual nets


def depth_to_space(h: Array, factor: int = 2) -> Array:
  """[N, H, W, f*f*C] -> [N, f*H, f*W, C]: channel (i*f + j)*C + c goes to pixel offset (i, j)."""
  n, hh, ww, cc = h.shape
  c = cc // factor**2
  h = h.reshape(n, hh, ww, factor, factor, c).transpose(0, 1, 3, 2, 4, 5)
  return h.reshape(n, hh * factor, ww * factor, c)


class SubPixelUp(nn.Module):
  """Stride-2 upsampling as a stride-1 convolution to 4 * features channels and :func:`depth_to_space`.

  A k x k transposed convolution of stride 2 is this with ceil(k / 2) x ceil(k / 2) kernels (one per
  output phase; Shi et al. 2016), so ``kernel = 3`` contains every 5 x 5 stride-2 transposed
  convolution. Used instead of ``nn.ConvTranspose`` because XLA's CPU gradient of a transposed
  convolution's kernel was 17x slower here (52 s against 3 s for the 1,024-particle MNIST decoder).
  """

  features: int
  kernel: int = 3

  @nn.compact
  def __call__(self, h: Array) -> Array:
    h = nn.Conv(4 * self.features, (self.kernel, self.kernel), padding="SAME", name="conv")(h)
    return depth_to_space(h, 2)


class _ResidualBlock(nn.Module):
  """h + conv(act(conv(act(h)))): two 3x3 convolutions at constant width (pre-activation, He et al. 2016)."""

  features: int
  negative_slope: float

  @nn.compact
  def __call__(self, h: Array) -> Array:
    r = nn.leaky_relu(h, self.negative_slope)
    r = nn.Conv(self.features, (3, 3), padding="SAME", name="conv_a")(r)
    r = nn.leaky_relu(r, self.negative_slope)
    # zero-initialised last layer: each block starts as the identity, so a deep stack trains from step 0
    r = nn.Conv(self.features, (3, 3), padding="SAME", name="conv_b", kernel_init=nn.initializers.zeros)(r)
    return h + r


class _DownStage(nn.Module):
  features: int
  blocks: int
  negative_slope: float

  @nn.compact
  def __call__(self, h: Array) -> Array:
    h = nn.Conv(self.features, (3, 3), (2, 2), "SAME", name="down")(h)  # strided, no pooling
    for b in range(self.blocks):
      h = _ResidualBlock(self.features, self.negative_slope, name=f"block_{b}")(h)
    return h


class ResidualConvEncoder(StackedNoiseEncoder):
  """Table 4's encoder: stack(x, noise image) -> 3x3 stem -> [stride-2 conv, residual blocks] per stage -> dense dz.

  Defaults (CIFAR-10, 32x32): stem 32 channels at full resolution, stages of 64 (16x16) and 128
  (8x8) channels with ``blocks_per_stage`` residual blocks each, a dense layer to dz. For ImageNet
  crops of 224 use more stages (e.g. stem stride 2 and stages (64, 128, 256, 256, 512): 224 -> 112
  -> 56 -> 28 -> 14 -> 7).
  """

  stem_kernel: int = 3
  stem_stride: int = 1
  stage_features: tuple = (64, 128)
  blocks_per_stage: int = 1

  def num_strided(self) -> int:
    return len(self.stage_features) + (self.stem_stride == 2)

  def trunk_layers(self):
    return [
      _DownStage(f, self.blocks_per_stage, self.negative_slope, name=f"stage_{i}")
      for i, f in enumerate(self.stage_features)
    ] + [lambda h: nn.leaky_relu(h, self.negative_slope)]


class ResidualConvDecoder(nn.Module):
  """Table 4's decoder, the mirror: dense -> (H/2^L, W/2^L, F_L) -> [residual blocks, stride-2 transposed conv] -> 3x3 conv.

  z [..., dz] -> [..., H * W * out_channels].

  Attributes:
    image_shape: (H, W, C).
    stage_features: the encoder's stages (run backwards: 128 at 8x8, then 64 at 16x16, ...).
    stem_features: channels after the last transposed convolution, at full resolution.
    blocks_per_stage: residual blocks per stage.
    stem_stride: 2 adds one more transposed convolution (the encoder's strided stem).
    out_channels: output values per pixel (default C).
  """

  image_shape: tuple = (32, 32, 3)
  stage_features: tuple = (64, 128)
  stem_features: int = 32
  blocks_per_stage: int = 1
  stem_stride: int = 1
  out_channels: int = 0
  negative_slope: float = 0.01

  @nn.compact
  def __call__(self, z: Array) -> Array:
    n_up = len(self.stage_features) + (self.stem_stride == 2)
    check_image_shape(self.image_shape, n_up, 2, "ResidualConvDecoder")
    h, w, c = self.image_shape
    out_c = self.out_channels or c
    hs, ws = h // 2**n_up, w // 2**n_up
    top = self.stage_features[-1]
    g = nn.Dense(hs * ws * top, name="dense")(z).reshape(z.shape[:-1] + (hs, ws, top))
    widths = list(reversed(self.stage_features[:-1])) + [self.stem_features]
    slope = self.negative_slope

    def body(v):
      feats = list(reversed(self.stage_features))
      for i, (f, nxt) in enumerate(zip(feats, widths)):
        for b in range(self.blocks_per_stage):
          v = _ResidualBlock(f, slope, name=f"stage_{i}_block_{b}")(v)
        v = nn.leaky_relu(v, slope)
        v = SubPixelUp(nxt, 2, name=f"stage_{i}_up")(v)
      if self.stem_stride == 2:
        v = SubPixelUp(self.stem_features, 2, name="stem_up")(nn.leaky_relu(v, slope))
      v = nn.leaky_relu(v, slope)
      return nn.Conv(out_c, (3, 3), padding="SAME", name="out")(v)

    out = _flat_apply(body, g)
    return out.reshape(z.shape[:-1] + (h * w * out_c,))


def num_parameters(params) -> int:
  """Total size of a parameter pytree."""
  return int(sum(math.prod(p.shape) for p in jax.tree_util.tree_leaves(params)))


class GaussianConvEncoder(ConvNoiseEncoder):
  """The VAE's encoder on Table 3's CNN: q(z | x) = N(mean(x), diag exp(log_var(x))) (``gaussian`` forced on)."""

  gaussian: bool = True

  def forward_and_log_det(self, x: Array, xi: Array) -> tuple[Array, Array]:
    return self.gaussian_forward_and_log_det(x, xi)


class GaussianResidualEncoder(ResidualConvEncoder):
  """The VAE's encoder on Table 4's residual net (``gaussian`` forced on)."""

  gaussian: bool = True

  def forward_and_log_det(self, x: Array, xi: Array) -> tuple[Array, Array]:
    return self.gaussian_forward_and_log_det(x, xi)
