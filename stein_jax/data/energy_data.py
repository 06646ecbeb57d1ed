"""Data of the energy-model experiments: MNIST or samples of a fixed random RBM, preprocessed.

Shared by the RBM experiments of Liu & Wang 2017 sec. 5.1 (``experiments.energy``) and the
SteinGAN-RBM experiment (``experiments.steingan_rbm``).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from stein_jax.data import loading
from stein_jax.targets import rbm as rbm_targets

PREPROCESSINGS = ("center_scale", "unit")
ENERGY_DATASETS = ("mnist", "synthetic_rbm", "synthetic_pixels")
SYNTHETIC_DATA_SEED = 1234  # the synthetic data set does not change with config.seed


class EnergyData:
  """Preprocessed train / valid / test arrays and the map back to pixels.

  Attributes:
    train, valid, test, train_subset: float32 ``[n, d]`` in the model's space.
    mean: ``[d]`` subtracted before scaling (zeros for "unit").
    scale: scalar divisor.
  """

  def __init__(self, train, valid, test, num_eval_train, preprocess):
    if preprocess not in PREPROCESSINGS:
      raise ValueError(f"config.preprocess must be one of {PREPROCESSINGS}; got {preprocess!r}.")
    if preprocess == "center_scale":
      self.mean = train.mean(0).astype(np.float32)
      self.scale = np.float32((train - self.mean).std())
    else:
      self.mean = np.zeros(train.shape[1], np.float32)
      self.scale = np.float32(1.0)
    fwd = lambda x: ((x - self.mean) / self.scale).astype(np.float32)
    self.train, self.valid, self.test = fwd(train), fwd(valid), fwd(test)
    self.train_subset = self.train[:num_eval_train]

  def to_pixels(self, x):
    return np.clip(np.asarray(x) * self.scale + self.mean, 0.0, 1.0)


def _synthetic_rbm_data(dim: int, num_hidden: int):
  """Samples of a fixed random RBM (train 2000, valid 500, test 500), as pixel-like arrays."""
  key = jax.random.key(SYNTHETIC_DATA_SEED)
  k_w, k_b, k_s = jax.random.split(key, 3)
  params = rbm_targets.RBMParams(
    jax.random.normal(k_w, (dim, num_hidden)) * 0.7, jax.random.normal(k_b, (dim,)), jnp.zeros(num_hidden)
  )
  x, _ = rbm_targets.sample(k_s, params, 3000)
  x = np.asarray(x, np.float32)
  return x[:2000], x[2000:2500], x[2500:]


@functools.lru_cache(maxsize=4)
def load_energy_data(
  dataset: str,
  data_dir: str | None,
  preprocess: str,
  num_eval_train: int,
  synthetic_dim: int = 16,
  num_hidden: int = 10,
) -> EnergyData:
  """The data of ``config`` (cached per process, so a sweep loads MNIST once)."""
  if dataset == "mnist":
    split = lambda name: loading.load("mnist", name, data_dir).x
    train, valid, test = split("train"), split("valid"), split("test")
  elif dataset == "synthetic_rbm":
    train, valid, test = _synthetic_rbm_data(synthetic_dim, num_hidden)
  elif dataset == "synthetic_pixels":
    # The same samples squashed into (0, 1): a pixel-like stand-in for MNIST with [0, 1] preprocessing (tests).
    train, valid, test = (1.0 / (1.0 + np.exp(-2.0 * a)) for a in _synthetic_rbm_data(synthetic_dim, num_hidden))
  else:
    raise ValueError(f"config.dataset must be one of {ENERGY_DATASETS}; got {dataset!r}.")
  return EnergyData(train, valid, test, num_eval_train, preprocess)
