"""stein_jax: Stein variational methods in JAX.

Core API (pure functions):
  svgd_direction: SVGD / importance-weighted SVGD direction, dense or tiled.
  SteinKernel: one hashable value for an SVGD kernel (kernel, bandwidth, metric, repulsion, ...).
  ksd: kernel Stein discrepancy (U- and V-statistics), a diagnostic and a loss.
  birth_death: a kill-and-replace step that moves mass between separated modes.
  kernels: RBF / IMQ kernels and bandwidth rules.
  algorithm: the one protocol of every method (Algorithm: init(rng, ...), step(rng, state, batch); step_key, run).
  sampler: SVGD as an optax-driven sampler (an Algorithm).
  svgd_transform: SVGD as an optax GradientTransformation (grads of -log p -> -phi), for optax.chain.
  amortized: amortized SVGD (fit a network to SVGD-moved outputs).
"""

from stein_jax import algorithm
from stein_jax import amortized
from stein_jax import kernels
from stein_jax import sampler
from stein_jax.stein import SteinKernel, birth_death, ksd, normalized_weights, svgd_direction
from stein_jax.algorithm import Algorithm
from stein_jax.transform import svgd_transform

__version__ = "0.1.0"

__all__ = [
  "algorithm",
  "amortized",
  "kernels",
  "sampler",
  "SteinKernel",
  "birth_death",
  "ksd",
  "normalized_weights",
  "svgd_direction",
  "svgd_transform",
  "Algorithm",
  "__version__",
]
