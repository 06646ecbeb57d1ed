"""Named data sets for stein_jax, offline first, TFDS when online.

Quick start::

  from stein_jax import data
  data.list_datasets()
  train = data.load("binarized_mnist", "train")      # x: float32 [50000, 784]
  batcher = data.Batcher(train, batch_size=100, seed=0)
  batch = batcher.batch(step)                        # pure in (seed, step)

Data come from ``data_dir`` (else ``$STEIN_JAX_DATA_DIR``), then from
TensorFlow Datasets if it is installed; see ``docs/data.md`` for the layouts,
splits, scaling, caching and checksums.  The named data sets live in
:mod:`stein_jax.data.catalogue` (one entry each), over :mod:`~stein_jax.data.spec`
(schema), :mod:`~stein_jax.data.cache` and :mod:`~stein_jax.data.layouts` (file
formats); :mod:`~stein_jax.data.loading` holds :func:`load`.
"""

from stein_jax.data.batching import BINARIZE_STREAM
from stein_jax.data.batching import Batcher
from stein_jax.data.batching import binarize_dynamic
from stein_jax.data.checksums import KNOWN_CHECKSUMS
from stein_jax.data.checksums import sha256_file
from stein_jax.data.checksums import verify_file
from stein_jax.data.errors import ChecksumError
from stein_jax.data.errors import DatasetNotFoundError
from stein_jax.data.paths import ENV_CACHE_DIR
from stein_jax.data.paths import ENV_DATA_DIR
from stein_jax.data.paths import cache_dir
from stein_jax.data.paths import resolve_data_dir
from stein_jax.data.catalogue import REGISTRY
from stein_jax.data.catalogue import get_spec
from stein_jax.data.catalogue import list_datasets
from stein_jax.data.loading import load
from stein_jax.data.spec import Dataset
from stein_jax.data.spec import DatasetSpec
from stein_jax.data.spec import LocalLayout

__all__ = [
  "BINARIZE_STREAM",
  "Batcher",
  "ChecksumError",
  "Dataset",
  "DatasetNotFoundError",
  "DatasetSpec",
  "ENV_CACHE_DIR",
  "ENV_DATA_DIR",
  "KNOWN_CHECKSUMS",
  "LocalLayout",
  "REGISTRY",
  "binarize_dynamic",
  "cache_dir",
  "get_spec",
  "list_datasets",
  "load",
  "resolve_data_dir",
  "sha256_file",
  "verify_file",
]
