"""Moved to :mod:`stein_jax.targets.rbm` (the RBM's exact log Z is a property of the density); kept as an alias."""

from stein_jax.targets.rbm import *  # noqa: F401,F403
from stein_jax.targets.rbm import DEFAULT_CHUNK_SIZE, MAX_EXACT_HIDDEN  # noqa: F401
