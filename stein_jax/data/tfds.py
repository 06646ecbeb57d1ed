"""TensorFlow Datasets backend, used when a data set is not found locally.

``tensorflow_datasets`` is a dependency of the project but TensorFlow is not (1.3 GB), so there are two readers:

* with TensorFlow installed: ``tfds.load`` (which also downloads and prepares a data set on first use);
* without it: ``tfds.data_source``, TFDS's random-access reader that needs no TensorFlow, for data sets prepared
  in the ``array_record`` file format (``tfds build --file_format=array_record NAME`` on any machine with TF).

``tensorflow_datasets`` is imported lazily, so importing :mod:`stein_jax` stays fast. TFDS keeps its own data
directory (``$TFDS_DATA_DIR``, default ``~/tensorflow_datasets``), independent of ``STEIN_JAX_DATA_DIR``; local
files, when present, are always preferred.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Optional, Tuple

import numpy as np

from stein_jax.data import formats


def tfds_available() -> bool:
  """Whether ``tensorflow_datasets`` can be imported (without importing it)."""
  try:
    return importlib.util.find_spec("tensorflow_datasets") is not None
  except (ImportError, ValueError):
    return False


def tensorflow_available() -> bool:
  """Whether TensorFlow can be imported (``tfds.load``), else only ``tfds.data_source`` works."""
  try:
    return importlib.util.find_spec("tensorflow") is not None
  except (ImportError, ValueError):
    return False


def load_tfds(
  name: str,
  split: str,
  *,
  image_key: str = "image",
  label_key: Optional[str] = "label",
  image_size: Optional[int] = None,
  center_crop: Optional[int] = None,
  max_examples: Optional[int] = None,
) -> Tuple[np.ndarray, Optional[np.ndarray]]:
  """Loads a TFDS image split into numpy arrays, in TFDS's deterministic order.

  Args:
    name: TFDS name, e.g. ``"mnist"`` or ``"lsun/bedroom"``.
    split: TFDS split string, e.g. ``"train[:50000]"``.
    image_key: feature holding the image.
    label_key: feature holding an integer label, or None.
    image_size: optional square size to center-crop and resize to (needed for
      data sets whose images differ in size, such as LSUN).
    center_crop: optional central square crop before resizing.
    max_examples: stop after this many examples.

  Returns:
    ``(images, labels)``: uint8 ``[N, H, W, C]`` and int64 ``[N]`` or None.

  Without TensorFlow the split must have been prepared in the ``array_record`` format (``tfds.data_source``).
  """
  tfds = importlib.import_module("tensorflow_datasets")
  if tensorflow_available():
    examples = tfds.as_numpy(tfds.load(name, split=split, shuffle_files=False))
  else:
    source = tfds.data_source(name, split=split)
    examples = (source[i] for i in range(len(source)))
  xs, ys = [], []
  for i, ex in enumerate(examples):
    if max_examples is not None and i >= max_examples:
      break
    xs.append(formats.crop_resize(np.asarray(ex[image_key]), image_size=image_size, center_crop=center_crop))
    if label_key is not None:
      ys.append(int(ex[label_key]))
  if not xs:
    raise ValueError(f"TFDS split '{name}:{split}' is empty.")
  labels = np.asarray(ys, dtype=np.int64) if label_key is not None else None
  return np.stack(xs), labels
