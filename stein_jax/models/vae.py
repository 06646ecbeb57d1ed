"""Encoders and decoders for the Stein VAE and its baselines (Pu et al. 2017). Architecture only.

Encoders are *noise encoders* z = f_eta(x, xi), xi ~ q0 = N(0, I), with dim xi = dim z.
Called as ``module.apply(params, x, xi)`` with x [..., dx] and xi [..., dz] broadcast
against each other (x [B, 1, dx] with xi [1, M, dz] gives the particles z_jn =
f(x_n, xi_j) of sec. 5 with xi shared across the batch), they return z [..., dz].

Those that are bijections in xi with a cheap exact Jacobian also define
``forward_and_log_det(x, xi) -> (z, log|det dz/dxi|)``, so that the encoder density
is available by the change of variables of sec. 5.2,

    log q(z | x) = log q0(xi) - log|det d f_eta(x, xi) / d xi|,

which Stein VIWAE (importance weights) and the ELBO's entropy need.

  * :class:`FlowEncoder` (the Stein encoder we use; see docs/stein_vae.md): an
    x-conditioned RealNVP (Dinh et al. 2017) on xi followed by an x-dependent affine
    map, z = mu(x) + sigma(x) * g_x(xi), g_x a stack of affine coupling layers whose
    scale and shift networks see both the other half of xi and features of x. Exact
    log-det (a sum of log-scales), exact inverse, no assumed density family: g_x makes
    q(z | x) non-Gaussian (skewed, multimodal in the limit) while staying invertible.
    With ``num_coupling_layers=0`` it is exactly the diagonal Gaussian encoder.
  * :class:`MLPNoiseEncoder`: the plain sec. 5.1 encoder, an MLP on concat(x, xi).
    Not invertible in general, no ``forward_and_log_det``; its log-det can be taken
    by autodiff (``stein_jax.objectives.stein_vae.encode``) where it is a bijection.
  * :class:`AffineEncoder`: z = W x + b + L xi with L lower-triangular (positive
    diagonal); its q(z | x) = N(W x + b, L L^T) exactly. Used for conjugate checks.
  * :class:`GaussianEncoder`: the VAE encoder (mean, log-variance), also usable as
    a noise encoder z = mean + exp(log_var / 2) xi.

Decoders map z [..., dz] to the parameters of p(x | z): :class:`BernoulliDecoder`
(logits, tanh MLP, sec. 5.2; the same logits serve the multinomial likelihood of text)
and :class:`LinearGaussianDecoder` (mean theta z, sec. 5.1).
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

Array = jax.Array


class MLP(nn.Module):
  """Dense layers with ``activation`` between them (none after the last)."""

  features: Sequence[int]
  activation: Callable[[Array], Array] = nn.tanh
  final_activation: bool = False

  @nn.compact
  def __call__(self, h: Array) -> Array:
    for i, f in enumerate(self.features):
      h = nn.Dense(f, name=f"dense_{i}")(h)
      if i < len(self.features) - 1 or self.final_activation:
        h = self.activation(h)
    return h


INPUT_TRANSFORMS = ("identity", "log1p")


def _transform_input(x: Array, transform: str) -> Array:
  """The encoder's view of x: as given, or log(1 + x) (word counts, whose scale is heavy-tailed)."""
  if transform == "identity":
    return x
  if transform == "log1p":
    return jnp.log1p(x)
  raise ValueError(f"input_transform must be one of {INPUT_TRANSFORMS}, got {transform!r}.")


def _check_xi(xi: Array, latent_dim: int, name: str) -> None:
  if xi.shape[-1] != latent_dim:
    raise ValueError(
      f"{name}: the noise xi has last dimension {xi.shape[-1]} but the "
      f"latent size is {latent_dim}; the change of variables "
      "q(z|x) = q0(xi)|det df/dxi|^-1 needs dim xi == dim z."
    )


class GaussianEncoder(nn.Module):
  """Gaussian VAE encoder q(z | x) = N(mean(x), diag(exp(log_var(x)))) (Kingma & Welling).

  Attributes:
    latent_dim: dz.
    hidden: deterministic layers (sec. 5.2: (200, 200); sec. 5.1: (100,)).
    activation: nonlinearity (tanh in sec. 5.2).
    input_transform: "identity", or "log1p" to read word counts as log(1 + x).
  """

  latent_dim: int
  hidden: Sequence[int] = (200, 200)
  activation: Callable[[Array], Array] = nn.tanh
  input_transform: str = "identity"

  def setup(self):
    self.trunk = MLP(tuple(self.hidden), self.activation, final_activation=True)
    self.mean_head = nn.Dense(self.latent_dim)
    self.log_var_head = nn.Dense(self.latent_dim)

  def moments(self, x: Array) -> tuple[Array, Array]:
    """(mean [..., dz], log_var [..., dz]) for x [..., dx]."""
    h = self.trunk(_transform_input(x, self.input_transform))
    return self.mean_head(h), self.log_var_head(h)

  def forward_and_log_det(self, x: Array, xi: Array) -> tuple[Array, Array]:
    """Reparameterised z = mean + exp(log_var / 2) xi and log|det dz/dxi| = sum log_var / 2."""
    _check_xi(xi, self.latent_dim, "GaussianEncoder")
    mean, log_var = self.moments(x)
    z = mean + jnp.exp(0.5 * log_var) * xi
    log_det = 0.5 * jnp.sum(log_var, -1)
    return z, jnp.broadcast_to(log_det, z.shape[:-1])

  def __call__(self, x: Array, xi: Array) -> Array:
    return self.forward_and_log_det(x, xi)[0]


class _Coupling(nn.Module):
  """Affine coupling: y_b = x_b * exp(s) + t with (s, t) = net(x_a, context).

  The log-scale is bounded, s = scale_bound * tanh(raw / scale_bound), so one layer
  cannot blow up; the last layer is zero-initialised so each coupling starts as the
  identity.
  """

  mask: tuple  # booleans, True = passed through (conditioning half a)
  hidden: int
  activation: Callable[[Array], Array]
  scale_bound: float = 3.0

  def _net(self, xa: Array, context: Array) -> tuple[Array, Array]:
    h = nn.Dense(self.hidden, name="in_xi")(xa) + nn.Dense(self.hidden, name="in_ctx", use_bias=False)(context)
    h = self.activation(h)
    h = self.activation(nn.Dense(self.hidden, name="mid")(h))
    n_b = len(self.mask) - sum(self.mask)
    out = nn.Dense(2 * n_b, name="out", kernel_init=nn.initializers.zeros)(h)
    raw_s, t = out[..., :n_b], out[..., n_b:]
    s = self.scale_bound * jnp.tanh(raw_s / self.scale_bound)
    return s, t

  def _idx(self):
    a = [i for i, m in enumerate(self.mask) if m]
    b = [i for i, m in enumerate(self.mask) if not m]
    return a, b

  def _split(self, u: Array):
    """(u_a, u_b): strided slices for the alternating masks FlowEncoder builds (a gather otherwise)."""
    ia, ib = self._idx()
    if _alternating(ia, ib, len(self.mask)):
      return u[..., ia[0] :: 2], u[..., ib[0] :: 2]
    return u[..., jnp.array(ia)], u[..., jnp.array(ib)]

  def _merge(self, ua: Array, ub: Array) -> Array:
    """The inverse of :meth:`_split`, broadcasting u_a against u_b's batch shape."""
    ia, ib = self._idx()
    shape = jnp.broadcast_shapes(ua.shape[:-1], ub.shape[:-1])
    ua = jnp.broadcast_to(ua, shape + ua.shape[-1:])
    ub = jnp.broadcast_to(ub, shape + ub.shape[-1:])
    d = len(self.mask)
    if _alternating(ia, ib, d):
      # Interleave: the even coordinates, then the odd ones (padded by one when d is odd), zipped.
      even, odd = (ua, ub) if ia[0] == 0 else (ub, ua)
      if d % 2:
        odd = jnp.concatenate([odd, jnp.zeros(shape + (1,), odd.dtype)], -1)
      return jnp.stack([even, odd], -1).reshape(shape + (2 * even.shape[-1],))[..., :d]
    out = jnp.zeros(shape + (d,), ua.dtype)
    return out.at[..., jnp.array(ia)].set(ua).at[..., jnp.array(ib)].set(ub)

  @nn.compact
  def __call__(self, u: Array, context: Array, inverse: bool = False):
    ua, ub = self._split(u)
    s, t = self._net(ua, context)
    if inverse:
      ub = (ub - t) * jnp.exp(-s)
      log_det = -jnp.sum(s, -1)
    else:
      ub = ub * jnp.exp(s) + t
      log_det = jnp.sum(s, -1)
    return self._merge(ua, ub), log_det


def _alternating(ia, ib, d: int) -> bool:
  """Whether the halves are the even and the odd coordinates (in either role)."""
  evens, odds = list(range(0, d, 2)), list(range(1, d, 2))
  return (ia, ib) in ((evens, odds), (odds, evens))


class FlowEncoder(nn.Module):
  """Stein encoder f_eta(x, xi): x-conditioned affine coupling flow on xi (dim xi = dim z).

  z = mu(x) + exp(log_sigma(x)) * g_x(xi), where h = MLP(x) are deterministic features
  (sec. 5.2: two tanh layers of 200), mu and log_sigma are linear heads on h, and g_x is
  ``num_coupling_layers`` affine couplings (alternating halves of xi) whose networks
  take the fixed half of xi and h. log|det dz/dxi| = sum log_sigma + sum of coupling
  log-scales, exactly; :meth:`inverse` gives xi from z.

  Attributes:
    latent_dim: dz (= dim xi); must be >= 2 when there are coupling layers.
    hidden: layers of the x-trunk.
    num_coupling_layers: couplings in g_x (0 gives the diagonal Gaussian encoder).
    coupling_hidden: width of each coupling's two hidden layers.
    activation: nonlinearity.
    input_transform: "identity", or "log1p" to read word counts as log(1 + x).
  """

  latent_dim: int
  hidden: Sequence[int] = (200, 200)
  num_coupling_layers: int = 4
  coupling_hidden: int = 64
  activation: Callable[[Array], Array] = nn.tanh
  input_transform: str = "identity"

  def setup(self):
    if self.num_coupling_layers > 0 and self.latent_dim < 2:
      raise ValueError(
        "FlowEncoder: coupling layers need latent_dim >= 2; use " "num_coupling_layers=0 for a 1-d latent."
      )
    self.trunk = MLP(tuple(self.hidden), self.activation, final_activation=True)
    self.mu_head = nn.Dense(self.latent_dim)
    self.log_sigma_head = nn.Dense(self.latent_dim)
    couplings = []
    for layer in range(self.num_coupling_layers):
      # Alternate even/odd coordinates; odd layers swap roles so every coordinate moves.
      mask = tuple(bool((i + layer) % 2 == 0) for i in range(self.latent_dim))
      couplings.append(_Coupling(mask, self.coupling_hidden, self.activation, name=f"coupling_{layer}"))
    self.couplings = couplings

  def forward_and_log_det(self, x: Array, xi: Array) -> tuple[Array, Array]:
    """z [..., dz] and log|det dz/dxi| [...] for x [..., dx], xi [..., dz] (broadcast)."""
    _check_xi(xi, self.latent_dim, "FlowEncoder")
    h = self.trunk(_transform_input(x, self.input_transform))
    u = xi
    log_det = jnp.zeros(jnp.broadcast_shapes(h.shape[:-1], xi.shape[:-1]), xi.dtype)
    for c in self.couplings:
      u, ld = c(u, h)
      log_det = log_det + ld
    log_sigma = self.log_sigma_head(h)
    z = self.mu_head(h) + jnp.exp(log_sigma) * u
    log_det = log_det + jnp.sum(log_sigma, -1)
    return z, jnp.broadcast_to(log_det, z.shape[:-1])

  def inverse(self, x: Array, z: Array) -> tuple[Array, Array]:
    """xi = f_eta(x, .)^-1(z) and log|det dxi/dz| (= minus the forward log-det)."""
    _check_xi(z, self.latent_dim, "FlowEncoder.inverse")
    h = self.trunk(_transform_input(x, self.input_transform))
    log_sigma = self.log_sigma_head(h)
    u = (z - self.mu_head(h)) * jnp.exp(-log_sigma)
    log_det = -jnp.sum(log_sigma, -1)
    for c in reversed(self.couplings):
      u, ld = c(u, h, inverse=True)
      log_det = log_det + ld
    return u, jnp.broadcast_to(log_det, u.shape[:-1])

  def __call__(self, x: Array, xi: Array) -> Array:
    return self.forward_and_log_det(x, xi)[0]


class MLPNoiseEncoder(nn.Module):
  """The sec. 5.1 Stein encoder: z = MLP(concat(x, xi)) (100 hidden units there).

  No density form and no guaranteed invertibility: fine for Stein VAE training, which
  only samples. The change-of-variables density is valid only where xi -> z is a
  bijection; ``objectives.stein_vae.encode(..., with_log_det=True)`` then takes the
  log-det by ``jax.jacfwd`` (cheap for the 2-d latent of sec. 5.1).
  """

  latent_dim: int
  hidden: Sequence[int] = (100,)
  activation: Callable[[Array], Array] = nn.tanh

  @nn.compact
  def __call__(self, x: Array, xi: Array) -> Array:
    _check_xi(xi, self.latent_dim, "MLPNoiseEncoder")
    shape = jnp.broadcast_shapes(x.shape[:-1], xi.shape[:-1])
    h = jnp.concatenate([jnp.broadcast_to(x, shape + x.shape[-1:]), jnp.broadcast_to(xi, shape + xi.shape[-1:])], -1)
    return MLP(tuple(self.hidden) + (self.latent_dim,), self.activation)(h)


class AffineEncoder(nn.Module):
  """z = W x + b + L xi, L lower-triangular with diagonal exp(raw): q(z|x) = N(Wx+b, LL^T)."""

  latent_dim: int

  @nn.compact
  def forward_and_log_det(self, x: Array, xi: Array) -> tuple[Array, Array]:
    _check_xi(xi, self.latent_dim, "AffineEncoder")
    d = self.latent_dim
    loc = nn.Dense(d, name="loc")(x)
    raw = self.param("scale_raw", nn.initializers.zeros, (d, d))
    lower = jnp.tril(raw, -1) + jnp.diag(jnp.exp(jnp.diag(raw)))
    z = loc + xi @ lower.T
    log_det = jnp.sum(jnp.diag(raw))
    return z, jnp.broadcast_to(log_det, z.shape[:-1])

  def __call__(self, x: Array, xi: Array) -> Array:
    return self.forward_and_log_det(x, xi)[0]


class BernoulliDecoder(nn.Module):
  """p(x | z) = Bernoulli(sigmoid(logits)), logits = MLP(z) (sec. 5.2: tanh 200-200, 784 out)."""

  output_dim: int = 784
  hidden: Sequence[int] = (200, 200)
  activation: Callable[[Array], Array] = nn.tanh

  @nn.compact
  def __call__(self, z: Array) -> Array:
    # The particles [B, S, dz] as one [B * S, dz] matrix: the same values, but the weight gradients are then plain
    # matrix products (XLA's CPU backward pass over two batch dimensions is about 1.6x slower; docs/results/
    # stein_vae_step.md).
    flat = z.reshape((-1, z.shape[-1]))
    out = MLP(tuple(self.hidden) + (self.output_dim,), self.activation)(flat)
    return out.reshape(z.shape[:-1] + (self.output_dim,))


class LinearGaussianDecoder(nn.Module):
  """Mean of p(x | z) = N(theta z, s^2 I) (sec. 5.1); theta [dx, dz] is a parameter.

  The noise s is part of the likelihood (``objectives.stein_vae.gaussian_likelihood``).
  ``theta_init`` sets the initial theta (e.g. the known sec. 5.1 matrix, for runs that
  keep the decoder fixed and study the encoder alone, as the paper does).
  """

  output_dim: int
  theta_init: Optional[Callable] = None

  @nn.compact
  def __call__(self, z: Array) -> Array:
    init = self.theta_init or nn.initializers.lecun_normal()
    theta = self.param("theta", init, (self.output_dim, z.shape[-1]))
    return z @ theta.T
