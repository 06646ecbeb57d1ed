"""Two-dimensional target densities with exact samplers, for SVGD demos and tests.

Each target provides an unnormalised log density of one point [2], batched scores,
exact samples, and (for the mixture) the component a point belongs to, so that
experiments can measure KSD, MMD to exact samples and per-mode mass.

  * ``mixture``: three Gaussians with unequal weights (0.5, 0.3, 0.2).
  * ``ring``: p(x) ∝ exp(-(||x|| - 3)^2 / (2 * 0.3^2)).
  * ``banana``: x1 ~ N(0, 2^2), x2 | x1 ~ N(0.5 (x1^2 - 4), 1) (a bent Gaussian).
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np


class Target(NamedTuple):
  """A 2-D target.

  Attributes:
    name: registry name.
    logdensity: log p(x) up to a constant, for one point x [2].
    sample: (key, n) -> exact samples [n, 2].
    weights: mixture weights [K] (None if not a mixture).
    assign: x [n, 2] -> component index [n] (None if not a mixture).
  """

  name: str
  logdensity: Callable[[jax.Array], jax.Array]
  sample: Callable[[jax.Array, int], jax.Array]
  weights: Optional[np.ndarray] = None
  assign: Optional[Callable[[jax.Array], jax.Array]] = None

  def score(self, x: jax.Array) -> jax.Array:
    """grad log p for a batch x [..., 2]."""
    g = jax.grad(self.logdensity)
    flat = x.reshape(-1, x.shape[-1])
    return jax.vmap(g)(flat).reshape(x.shape)


MIX_MEANS = np.array([[-2.0, 0.0], [2.0, 0.0], [0.0, 3.5]], np.float32)
MIX_WEIGHTS = np.array([0.5, 0.3, 0.2], np.float32)
MIX_STD = 1.0


def _mixture_component_logps(x):
  sq = jnp.sum((x[..., None, :] - MIX_MEANS) ** 2, axis=-1)
  return jnp.log(MIX_WEIGHTS) - 0.5 * sq / MIX_STD**2


def mixture() -> Target:
  def logdensity(x):
    return jax.nn.logsumexp(_mixture_component_logps(x))

  def sample(key, n):
    kc, kx = jax.random.split(key)
    comp = jax.random.choice(kc, len(MIX_WEIGHTS), (n,), p=jnp.asarray(MIX_WEIGHTS))
    return jnp.asarray(MIX_MEANS)[comp] + MIX_STD * jax.random.normal(kx, (n, 2))

  def assign(x):
    return jnp.argmax(_mixture_component_logps(x), axis=-1)

  return Target("mixture", logdensity, sample, MIX_WEIGHTS, assign)


RING_RADIUS, RING_WIDTH = 3.0, 0.3


def ring() -> Target:
  def logdensity(x):
    r = jnp.sqrt(jnp.sum(x**2) + 1e-12)
    return -0.5 * (r - RING_RADIUS) ** 2 / RING_WIDTH**2

  def sample(key, n):
    # Radial density ∝ r exp(-(r - R)^2 / 2 s^2) (polar Jacobian): rejection from N(R, s).
    rs = np.random.default_rng(np.asarray(jax.random.key_data(key)).ravel().tolist())
    out = np.empty(0)
    rmax = RING_RADIUS + 6 * RING_WIDTH
    while out.size < n:
      r = rs.normal(RING_RADIUS, RING_WIDTH, size=2 * n)
      keep = (r > 0) & (rs.uniform(size=2 * n) < r / rmax)
      out = np.concatenate([out, r[keep]])
    theta = rs.uniform(0, 2 * np.pi, size=n)
    r = out[:n]
    return jnp.asarray(np.stack([r * np.cos(theta), r * np.sin(theta)], 1), jnp.float32)

  return Target("ring", logdensity, sample)


BANANA_SCALE, BANANA_BEND = 2.0, 0.5


def banana() -> Target:
  def logdensity(x):
    return -0.5 * x[0] ** 2 / BANANA_SCALE**2 - 0.5 * (x[1] - BANANA_BEND * (x[0] ** 2 - BANANA_SCALE**2)) ** 2

  def sample(key, n):
    z = jax.random.normal(key, (n, 2))
    x1 = BANANA_SCALE * z[:, 0]
    return jnp.stack([x1, z[:, 1] + BANANA_BEND * (x1**2 - BANANA_SCALE**2)], 1)

  return Target("banana", logdensity, sample)


TARGETS = {"mixture": mixture, "ring": ring, "banana": banana}


def get_target(name: str) -> Target:
  if name not in TARGETS:
    raise ValueError(f"Unknown target {name!r}; choose one of {sorted(TARGETS)}.")
  return TARGETS[name]()


def mode_mass_error(target: Target, x: jax.Array) -> jax.Array:
  """max_k | share of x assigned to component k - true weight of k | (mixtures only)."""
  if target.assign is None:
    raise ValueError(f"target {target.name!r} is not a mixture.")
  k = len(target.weights)
  share = jnp.bincount(target.assign(x), length=k) / x.shape[0]
  return jnp.max(jnp.abs(share - jnp.asarray(target.weights)))
