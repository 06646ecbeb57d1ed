"""The schema of a named data set: what a catalogue entry and a reader are made of.

Belongs here: the record types shared by every other module of the split
registry and nothing that touches a particular file format or data set --
:class:`Dataset` (what :func:`~stein_jax.data.loading.load` returns),
:class:`DatasetSpec` (one catalogue entry), :class:`LocalLayout` (one on-disk
layout of a data set), and the reader protocol (:class:`ReadOptions` in,
:class:`Raw` out).  The bottom of the data-set modules: it imports none of them.
"""

from __future__ import annotations

import pathlib
from typing import Any, Callable, Mapping, NamedTuple, Optional, Tuple

import numpy as np


class Dataset(NamedTuple):
  """One split of a data set, as numpy arrays.

  Attributes:
    x: the inputs.  Images: ``[N, H, W, C]``, or ``[N, H * W * C]`` when
      flattened (the MNIST family's default); float32 for ``scale="unit"`` /
      ``"centered"``, the stored dtype (uint8 for most images) for
      ``scale=None``.  Bags of words: float32 counts ``[N, V]``.
    y: int32 labels ``[N]``, or None where the data set has none.
    vocab: the V words of a bag-of-words data set (column ``j`` of ``x``
      counts ``vocab[j]``), else None.
    info: metadata: ``name``, ``split``, ``source`` (``"local"``/``"tfds"``),
      ``files`` or ``tfds_name``, ``image_shape`` (H, W, C), ``num_classes``,
      ``class_names``, ``scale``, ``binarize``, ``flatten`` and, for text,
      ``num_documents_raw`` and ``num_dropped``.
  """

  x: np.ndarray
  y: Optional[np.ndarray]
  vocab: Optional[Tuple[str, ...]]
  info: Mapping[str, Any]

  @property
  def num_examples(self) -> int:
    """N, the number of examples."""
    return int(self.x.shape[0])


class ReadOptions(NamedTuple):
  """What a local reader needs besides the files."""

  verify: bool = True
  image_size: Optional[int] = None
  center_crop: Optional[int] = None


class Raw(NamedTuple):
  """A reader's output before scaling: stored dtype, ``[N, H, W, C]`` images."""

  x: np.ndarray
  y: Optional[np.ndarray]
  vocab: Optional[Tuple[str, ...]] = None
  info: Mapping[str, Any] = {}


Reader = Callable[[pathlib.Path, str, Tuple[str, ...], ReadOptions], Raw]


class LocalLayout(NamedTuple):
  """One on-disk layout a data set may have in the data directory.

  Attributes:
    description: e.g. ``"MNIST IDX files (gzip)"``, for error messages.
    expected: ``split -> relative paths`` this layout needs for ``split``
      (a trailing '/' marks a folder); empty if it cannot provide the split.
    read: ``(root, split, found, options) -> Raw``; ``found`` is the output of
      ``locate``.
    locate: ``(root, split) -> found relative paths or None``; by default, the
      ``expected`` paths if all exist.
  """

  description: str
  expected: Callable[[str], Tuple[str, ...]]
  read: Reader
  locate: Optional[Callable[[pathlib.Path, str], Optional[Tuple[str, ...]]]] = None

  def find(self, root: pathlib.Path, split: str) -> Optional[Tuple[str, ...]]:
    if self.locate is not None:
      return self.locate(root, split)
    rels = self.expected(split)
    if rels and all(_exists(root, r) for r in rels):
      return rels
    return None


class DatasetSpec(NamedTuple):
  """Everything :func:`load` needs to know about one named data set.

  Attributes:
    name: registry key.
    kind: ``"image"`` or ``"bow"`` (bag of words).
    splits: the split names :func:`load` accepts.
    layouts: local layouts, tried in order.
    tfds_name: TFDS builder name, or None if TFDS has no such data set.
    tfds_splits: our split -> TFDS split string.
    tfds_label_key: TFDS label feature, or None.
    image_shape: (H, W, C) of the stored images, or None if it depends on
      ``image_size``.
    pixel_max: the stored value of a white pixel (255 for uint8 images, 1 for
      {0,1} or [0,1] data); ``scale="unit"`` divides by it.
    flatten: default for :func:`load`'s ``flatten``.
    class_names: label names, if fixed.
    default_image_size: default ``image_size`` (square crop and resize) for
      sources whose images differ in size (TFDS CelebA / LSUN / ImageNet,
      image folders).
    center_crop: central square crop applied before resizing.
    how_to_obtain: instructions quoted in :class:`DatasetNotFoundError`.
  """

  name: str
  kind: str
  splits: Tuple[str, ...]
  layouts: Tuple[LocalLayout, ...]
  tfds_name: Optional[str] = None
  tfds_splits: Mapping[str, str] = {}
  tfds_label_key: Optional[str] = "label"
  image_shape: Optional[Tuple[int, int, int]] = None
  pixel_max: float = 255.0
  flatten: bool = False
  class_names: Optional[Tuple[str, ...]] = None
  default_image_size: Optional[int] = None
  center_crop: Optional[int] = None
  how_to_obtain: str = ""


def _exists(root: pathlib.Path, rel: str) -> bool:
  p = root / rel
  return p.is_dir() if rel.endswith("/") else p.is_file()
