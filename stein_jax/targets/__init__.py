"""Densities: the targets that the Stein objectives sample or fit and that evaluation scores.

A layer below ``objectives`` and ``evaluation`` (both import it; it imports neither):

  planar   2-D targets with exact samplers and scores (mixture, ring, banana), ``stein_jax.targets.<name>``.
  latent   the latent-variable model of Pu et al. 2017: likelihoods, log joint over decoder particles,
           the encoder's change-of-variables density.
  rbm      the Gaussian-Bernoulli RBM: free energy, exact log Z by enumeration of the hidden states,
           exact log-likelihood and samples (Liu & Wang 2017, sec. 5.1).
  pfa      Poisson factor analysis: gamma prior, Poisson likelihood, log joint and scores in z and log z.
"""

# The 2-D targets, as stein_jax.targets.<name> (their home since the first release).
from stein_jax.targets.planar import (
  BANANA_BEND,
  BANANA_SCALE,
  MIX_MEANS,
  MIX_STD,
  MIX_WEIGHTS,
  RING_RADIUS,
  RING_WIDTH,
  TARGETS,
  Target,
  banana,
  get_target,
  mixture,
  mode_mass_error,
  ring,
)

__all__ = [
  "BANANA_BEND",
  "BANANA_SCALE",
  "MIX_MEANS",
  "MIX_STD",
  "MIX_WEIGHTS",
  "RING_RADIUS",
  "RING_WIDTH",
  "TARGETS",
  "Target",
  "banana",
  "get_target",
  "mixture",
  "mode_mass_error",
  "ring",
]
