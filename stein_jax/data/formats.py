"""Pure parsers for the on-disk formats the data sets come in.

Every function here takes a path (or bytes) and returns numpy arrays; none of
them looks at environment variables, caches or checksums (that is the job of
:mod:`stein_jax.data.layouts` and :mod:`stein_jax.data.cache`), so each can be
tested on a tiny file.

Formats:
  * IDX (MNIST, Fashion-MNIST), gzip-compressed or raw: :func:`read_idx`.
  * NVDM / LDA-C style bag of words, ``[label] id:count id:count ...`` with
    1-based ids: :func:`read_bow`, with its vocabulary file :func:`read_vocab`.
  * Larochelle's binarized MNIST ``.amat`` text: :func:`read_amat`.
  * CIFAR-10 python pickle batches: :func:`read_cifar_batches`.
  * Trees of image files, ``<split>/<class>/<name>.jpg`` or
    ``<split>/<name>.jpg``, in a zip or a directory: :func:`read_image_tree`.
"""

from __future__ import annotations

import gzip
import io
import os
import pathlib
import pickle
import zipfile
from typing import Callable, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")

_IDX_DTYPES = {
  0x08: np.dtype(np.uint8),
  0x09: np.dtype(np.int8),
  0x0B: np.dtype(">i2"),
  0x0C: np.dtype(">i4"),
  0x0D: np.dtype(">f4"),
  0x0E: np.dtype(">f8"),
}


def _read_maybe_gzip(path: os.PathLike) -> bytes:
  with open(path, "rb") as f:
    data = f.read()
  if data[:2] == b"\x1f\x8b":  # gzip magic, whatever the file is called
    data = gzip.decompress(data)
  return data


def read_idx(path: os.PathLike) -> np.ndarray:
  """Reads an IDX file (the MNIST format), gzip-compressed or not.

  Args:
    path: an ``*-idx{1,3}-ubyte`` file, optionally ``.gz``.

  Returns:
    The array with the shape stored in the header, in native byte order
    (uint8 ``[N, 28, 28]`` for MNIST images, ``[N]`` for labels).

  Raises:
    ValueError: if the header is malformed or the payload has the wrong size.
  """
  data = _read_maybe_gzip(path)
  if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
    raise ValueError(f"'{path}' is not an IDX file (bad magic number " f"{data[:4].hex() if data else 'empty'}).")
  dtype = _IDX_DTYPES[data[2]]
  ndim = data[3]
  header = 4 + 4 * ndim
  if len(data) < header:
    raise ValueError(f"IDX file '{path}' is truncated inside its header.")
  shape = tuple(int(d) for d in np.frombuffer(data[4:header], dtype=">u4"))
  count = int(np.prod(shape, dtype=np.int64))
  if len(data) - header != count * dtype.itemsize:
    raise ValueError(
      f"IDX file '{path}' should hold {count} values of shape {shape} "
      f"({count * dtype.itemsize} bytes) but has {len(data) - header} bytes "
      "after its header; the file is truncated or corrupt."
    )
  arr = np.frombuffer(data, dtype=dtype, count=count, offset=header)
  return arr.reshape(shape).astype(dtype.newbyteorder("="), copy=True)


def read_vocab(path: os.PathLike) -> Tuple[str, ...]:
  """Reads a vocabulary file: one word per line, optionally ``word count``.

  Args:
    path: e.g. ``20news/vocab.new`` (``word 0`` lines) or
      ``reuters/reuters.vocab`` (``word count`` lines).

  Returns:
    The words in file order; word ``i`` (0-based) has bag-of-words id ``i + 1``.

  Raises:
    ValueError: on an empty line (it would shift every later id).
  """
  words = []
  with open(path, "r", encoding="utf-8") as f:
    for lineno, line in enumerate(f.read().splitlines(), 1):
      parts = line.split()
      if not parts:
        raise ValueError(f"Vocabulary file '{path}' has an empty line " f"{lineno}; every line must hold one word.")
      words.append(parts[0])
  return tuple(words)


class BagOfWords(NamedTuple):
  """Parsed bag-of-words file.

  Attributes:
    counts: float32 ``[N, V]`` word counts, one row per line of the file
      (documents without counts included; see ``nonempty``).
    labels: int64 ``[N]`` labels as written in the file, or None when the lines
      carry no label token.
    nonempty: bool ``[N]``, True where the document has a positive total count.
  """

  counts: np.ndarray
  labels: Optional[np.ndarray]
  nonempty: np.ndarray


def read_bow(path: os.PathLike, vocab_size: int) -> BagOfWords:
  """Reads an NVDM / LDA-C style bag-of-words file.

  Each line is one document: an optional integer label token, then
  ``id:count`` pairs with 1-based word ids into the vocabulary.  Repeated ids
  are summed.  A line with no pairs (blank, or only a label) is an empty
  document; it is kept here and flagged in ``nonempty``.

  Args:
    path: the ``.feat`` file.
    vocab_size: V, the number of words in the vocabulary.

  Returns:
    A :class:`BagOfWords` with ``counts`` of shape ``[N, V]``.

  Raises:
    ValueError: naming file and line, on a malformed token or an id outside
      ``[1, V]``.
  """
  with open(path, "r", encoding="utf-8") as f:
    lines = f.read().splitlines()
  rows: List[int] = []
  cols: List[int] = []
  vals: List[float] = []
  labels: List[int] = []
  has_label = None
  for lineno, line in enumerate(lines):
    tokens = line.split()
    label = None
    if tokens and ":" not in tokens[0]:
      label = tokens[0]
      tokens = tokens[1:]
    line_has_label = label is not None
    if line.strip():
      if has_label is None:
        has_label = line_has_label
      elif has_label != line_has_label and tokens:
        raise ValueError(f"'{path}' line {lineno + 1}: some lines start with a " "label token and others do not.")
    try:
      labels.append(int(label) if label is not None else 0)
      for tok in tokens:
        i, c = tok.split(":")
        rows.append(lineno)
        cols.append(int(i))
        vals.append(float(c))
    except ValueError as e:
      raise ValueError(
        f"'{path}' line {lineno + 1}: malformed token ({e}); " "expected '[label] id:count id:count ...'."
      ) from None
  cols_arr = np.asarray(cols, dtype=np.int64)
  if cols_arr.size and (cols_arr.min() < 1 or cols_arr.max() > vocab_size):
    bad = int(np.argmax((cols_arr < 1) | (cols_arr > vocab_size)))
    raise ValueError(
      f"'{path}' line {rows[bad] + 1}: word id {cols_arr[bad]} "
      f"is outside [1, {vocab_size}] (ids are 1-based into a "
      f"vocabulary of {vocab_size} words)."
    )
  counts = np.zeros((len(lines), vocab_size), dtype=np.float32)
  np.add.at(counts, (np.asarray(rows, dtype=np.int64), cols_arr - 1), np.asarray(vals, dtype=np.float32))
  label_arr = np.asarray(labels, dtype=np.int64) if has_label else None
  return BagOfWords(counts, label_arr, counts.sum(axis=1) > 0)


def read_amat(path: os.PathLike, dim: int = 784) -> np.ndarray:
  """Reads a Larochelle ``.amat`` file of 0/1 pixels (binarized MNIST).

  Args:
    path: e.g. ``binarized_mnist_train.amat``: one image per line, ``dim``
      space-separated 0/1 values.
    dim: values per line.

  Returns:
    uint8 ``[N, dim]`` in {0, 1}.

  Raises:
    ValueError: on other characters or a count not divisible by ``dim``.
  """
  with open(path, "rb") as f:
    raw = f.read()
  digits = raw.translate(None, b" \t\r\n")
  arr = np.frombuffer(digits, dtype=np.uint8) - ord("0")
  if arr.size % dim or (arr.size and arr.max() > 1):
    raise ValueError(f"'{path}' is not a 0/1 .amat file with {dim} values per " "line.")
  return arr.reshape(-1, dim)


def read_cifar_batches(paths: Sequence[os.PathLike]) -> Tuple[np.ndarray, np.ndarray]:
  """Reads CIFAR-10 python pickle batches (``data_batch_1`` ... ``test_batch``).

  Args:
    paths: batch files, concatenated in the given order.

  Returns:
    ``(images, labels)``: uint8 ``[N, 32, 32, 3]`` and int64 ``[N]``.
  """
  xs, ys = [], []
  for p in paths:
    with open(p, "rb") as f:
      d = pickle.load(f, encoding="bytes")
    data = np.asarray(d[b"data"], dtype=np.uint8)
    xs.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    ys.append(np.asarray(d[b"labels"], dtype=np.int64))
  return np.concatenate(xs), np.concatenate(ys)


def crop_resize(
  image: np.ndarray, *, image_size: Optional[int] = None, center_crop: Optional[int] = None
) -> np.ndarray:
  """Center-crops and resizes one uint8 image with Pillow.

  Args:
    image: uint8 ``[H, W, C]`` (C = 1 or 3) or ``[H, W]``.
    image_size: if given, crop to a central square (side ``center_crop`` if
      given, else the shorter side) and resize to ``image_size`` x
      ``image_size`` with a bicubic filter.
    center_crop: side of the central square crop (applied even without
      ``image_size``).

  Returns:
    uint8 ``[H', W', C]`` (a channel axis is added to 2-D input).
  """
  from PIL import Image  # lazy: Pillow is only needed for image data

  image = np.asarray(image, dtype=np.uint8)
  if image.ndim == 2:
    image = image[..., None]
  if image_size is None and center_crop is None:
    return image
  channels = image.shape[-1]
  img = Image.fromarray(image[..., 0] if channels == 1 else image)
  w, h = img.size
  side = min(w, h) if center_crop is None else min(center_crop, w, h)
  left, top = (w - side) // 2, (h - side) // 2
  img = img.crop((left, top, left + side, top + side))
  if image_size is not None and img.size != (image_size, image_size):
    img = img.resize((image_size, image_size), Image.BICUBIC)
  out = np.asarray(img, dtype=np.uint8)
  return out.reshape(out.shape[0], out.shape[1], channels)


def decode_image(
  data: bytes, *, channels: int = 3, image_size: Optional[int] = None, center_crop: Optional[int] = None
) -> np.ndarray:
  """Decodes one image file's bytes with Pillow.

  Args:
    data: the encoded file (JPEG, PNG, ...).
    channels: 3 for RGB, 1 for grayscale.
    image_size: optional square output size (see :func:`crop_resize`).
    center_crop: optional central square crop (see :func:`crop_resize`).

  Returns:
    uint8 ``[H, W, channels]``.
  """
  from PIL import Image  # lazy: Pillow is only needed for image data

  with Image.open(io.BytesIO(data)) as img:
    arr = np.asarray(img.convert("RGB" if channels == 3 else "L"), dtype=np.uint8)
  arr = arr.reshape(arr.shape[0], arr.shape[1], channels)
  return crop_resize(arr, image_size=image_size, center_crop=center_crop)


def _list_tree(names: Sequence[str], split: str) -> Tuple[List[str], List[str]]:
  """Image entries under ``split/`` and the sorted class folder names."""
  prefix = split.rstrip("/") + "/"
  entries = [n for n in names if n.startswith(prefix) and n.lower().endswith(IMAGE_EXTENSIONS)]
  depth = {n[len(prefix) :].count("/") for n in entries}
  if len(depth) > 1 or (depth and depth.pop() > 1):
    raise ValueError(f"Images under '{prefix}' must all be either directly in " "it or exactly one class folder deep.")
  classes = sorted({n[len(prefix) :].split("/")[0] for n in entries if "/" in n[len(prefix) :]})
  return entries, classes


def read_image_tree(
  source: os.PathLike,
  split: str,
  *,
  channels: int = 3,
  image_size: Optional[int] = None,
  center_crop: Optional[int] = None,
) -> Tuple[np.ndarray, Optional[np.ndarray], Tuple[str, ...]]:
  """Decodes a tree of image files from a zip archive or a directory.

  Layout: ``<split>/<class>/<file>`` (labelled; classes are the sorted folder
  names, so alphabetical order gives the CIFAR-10 class order) or
  ``<split>/<file>`` (unlabelled).  Images are ordered by (class, file name),
  which makes the result independent of archive order.

  Args:
    source: a ``.zip`` file or a directory.
    split: the top-level folder to read, e.g. ``"train"``.
    channels: 3 (RGB) or 1 (grayscale).
    image_size: optional square output size (see :func:`decode_image`); needed
      when the images do not all have one size.
    center_crop: optional central crop before resizing.

  Returns:
    ``(images, labels, class_names)``: uint8 ``[N, H, W, channels]``, int64
    ``[N]`` or None, and the class folder names.

  Raises:
    ValueError: if the split holds no images or their sizes differ.
  """
  source = pathlib.Path(source)
  if source.is_dir():
    names = [p.relative_to(source).as_posix() for p in source.rglob("*") if p.is_file()]
    read: Callable[[str], bytes] = lambda n: (source / n).read_bytes()
    archive = None
  else:
    archive = zipfile.ZipFile(source)
    names = archive.namelist()
    read = archive.read
  try:
    entries, classes = _list_tree(names, split)
    if not entries:
      raise ValueError(f"No image files ({', '.join(IMAGE_EXTENSIONS)}) under " f"'{split}/' in '{source}'.")
    prefix = split.rstrip("/") + "/"
    class_index = {c: i for i, c in enumerate(classes)}

    def sort_key(n):
      rel = n[len(prefix) :]
      cls = rel.split("/")[0] if "/" in rel else ""
      return (class_index.get(cls, -1), rel)

    entries.sort(key=sort_key)
    images = [decode_image(read(n), channels=channels, image_size=image_size, center_crop=center_crop) for n in entries]
  finally:
    if archive is not None:
      archive.close()
  shapes = {im.shape for im in images}
  if len(shapes) > 1:
    raise ValueError(
      f"Images under '{split}/' in '{source}' have different "
      f"sizes {sorted(shapes)[:4]}...; pass image_size=... to "
      "crop and resize them to one square size."
    )
  labels = None
  if classes:
    labels = np.asarray([class_index[n[len(prefix) :].split("/")[0]] for n in entries], dtype=np.int64)
  return np.stack(images), labels, tuple(classes)
