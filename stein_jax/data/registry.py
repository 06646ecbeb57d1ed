"""Named data sets: the former one-file registry, now a re-export of its parts.

The registry is split along its seams (issue 13, item 5), lowest first:

* :mod:`stein_jax.data.spec`: the schema (``Dataset``, ``DatasetSpec``,
  ``LocalLayout``, the reader protocol ``ReadOptions`` -> ``Raw``);
* :mod:`stein_jax.data.cache`: the on-disk cache of decoded arrays;
* :mod:`stein_jax.data.layouts`: how each raw file format / layout maps to
  arrays (the readers and layout factories);
* :mod:`stein_jax.data.catalogue`: ``REGISTRY``, one entry per named data set
  (adding a data set touches this module only), ``list_datasets``,
  ``get_spec``;
* :mod:`stein_jax.data.loading`: ``load`` (option checks, resolution order
  local -> TFDS -> :class:`DatasetNotFoundError`, scaling).

This module keeps ``from stein_jax.data.registry import ...`` and
``registry.<name>`` (private helpers included) working; new code should import
from the modules above.  Patching a name here does not reach the module that
uses it: patch it in its home module.
"""

# pylint: disable=unused-import
from stein_jax.data import checksums
from stein_jax.data import formats
from stein_jax.data import paths
from stein_jax.data import tfds as tfds_lib
from stein_jax.data.cache import _CACHE_VERSION
from stein_jax.data.cache import _cache_path
from stein_jax.data.cache import _cached_arrays
from stein_jax.data.cache import _source_fingerprint
from stein_jax.data.cache import _tree_fingerprint
from stein_jax.data.catalogue import _GENERIC_IMAGE_HELP
from stein_jax.data.catalogue import _MNIST_SPLITS
from stein_jax.data.catalogue import _MNIST_TFDS_SPLITS
from stein_jax.data.catalogue import _MNIST_URL
from stein_jax.data.catalogue import REGISTRY
from stein_jax.data.catalogue import _add
from stein_jax.data.catalogue import get_spec
from stein_jax.data.catalogue import list_datasets
from stein_jax.data.errors import DatasetNotFoundError
from stein_jax.data.layouts import _CELEBA_PARTITION
from stein_jax.data.layouts import _SPLIT_ALIASES
from stein_jax.data.layouts import CIFAR10_CLASSES
from stein_jax.data.layouts import MNIST_VALID_SIZE
from stein_jax.data.layouts import _aliases
from stein_jax.data.layouts import _amat_read
from stein_jax.data.layouts import _binarized_npz_read
from stein_jax.data.layouts import _bow_layout
from stein_jax.data.layouts import _celeba_original_read
from stein_jax.data.layouts import _checked
from stein_jax.data.layouts import _cifar_jpeg_read
from stein_jax.data.layouts import _cifar_pickle_layout
from stein_jax.data.layouts import _folder_layout
from stein_jax.data.layouts import _idx_layout
from stein_jax.data.layouts import _image_layouts
from stein_jax.data.layouts import _lfw_read
from stein_jax.data.layouts import _npz_layout
from stein_jax.data.layouts import _read_tree_cached
from stein_jax.data.layouts import _zip_layout
from stein_jax.data.loading import BINARIZE
from stein_jax.data.loading import SCALES
from stein_jax.data.loading import SOURCES
from stein_jax.data.loading import _not_found
from stein_jax.data.loading import _scale
from stein_jax.data.loading import load
from stein_jax.data.spec import Dataset
from stein_jax.data.spec import DatasetSpec
from stein_jax.data.spec import LocalLayout
from stein_jax.data.spec import Raw
from stein_jax.data.spec import ReadOptions
from stein_jax.data.spec import Reader
from stein_jax.data.spec import _exists
