"""Layout adapters: how each raw file format and folder layout maps to arrays.

Belongs here: the readers (``(root, split, found, options) -> Raw``) and the
:class:`~stein_jax.data.spec.LocalLayout` factories built from them (IDX,
binarized MNIST, CIFAR-10, generic image ``.npz`` / folders / zips, aligned
CelebA, LFW, bags of words), together with the constants a reader checks
(``MNIST_VALID_SIZE``, ``CIFAR10_CLASSES``).  The parsing of each format
itself is :mod:`stein_jax.data.formats`; decoded images are cached through
:mod:`stein_jax.data.cache`.  A new file format or layout goes here; a new data
set in a known layout needs nothing here (see :mod:`stein_jax.data.catalogue`).
"""

from __future__ import annotations

import hashlib
import pathlib
from typing import Sequence, Tuple

import numpy as np

from stein_jax.data import checksums
from stein_jax.data import formats
from stein_jax.data.cache import _CACHE_VERSION
from stein_jax.data.cache import _cached_arrays
from stein_jax.data.cache import _source_fingerprint
from stein_jax.data.cache import _tree_fingerprint
from stein_jax.data.spec import LocalLayout
from stein_jax.data.spec import Raw
from stein_jax.data.spec import ReadOptions

# MNIST-family "train"/"valid": the first 50,000 / last 10,000 of the 60,000
# training images, the split of Larochelle & Murray's binarized MNIST.
MNIST_VALID_SIZE = 10000


# ----------------------------------------------------------------------------
# Helpers shared by the readers.


def _checked(root: pathlib.Path, rel: str, options: ReadOptions) -> pathlib.Path:
  """``root / rel``, verified against its known checksum if ``options.verify``."""
  if options.verify:
    checksums.verify_known(root, rel)
  return root / rel


def _read_tree_cached(root: pathlib.Path, rel: str, split: str, options: ReadOptions, *, tag: str) -> Raw:
  """Decodes ``<split>/...`` images in the zip or folder ``root/rel``, cached."""
  source = _checked(root, rel.rstrip("/"), options) if not rel.endswith("/") else root / rel
  fp = _source_fingerprint(source)
  key = f"{tag}-{split}-{fp[:20]}-s{options.image_size}-c{options.center_crop}" f"-v{_CACHE_VERSION}"

  def build():
    x, y, classes = formats.read_image_tree(
      source, split, image_size=options.image_size, center_crop=options.center_crop
    )
    out = {"x": x, "classes": np.asarray(classes, dtype=np.str_)}
    if y is not None:
      out["y"] = y
    return out

  arrays = _cached_arrays(key, build)
  classes = tuple(str(c) for c in arrays["classes"])
  return Raw(arrays["x"], arrays.get("y"), info={"class_names": classes or None, "cache_key": key})


# ----------------------------------------------------------------------------
# MNIST family.


def _idx_layout(folder: str, gz: bool, title: str) -> LocalLayout:
  ext = ".gz" if gz else ""

  def expected(split):
    prefix = "t10k" if split == "test" else "train"
    return (f"{folder}/{prefix}-images-idx3-ubyte{ext}", f"{folder}/{prefix}-labels-idx1-ubyte{ext}")

  def read(root, split, found, options):
    images = formats.read_idx(_checked(root, found[0], options))
    labels = formats.read_idx(_checked(root, found[1], options))
    if images.ndim != 3 or labels.shape != images.shape[:1]:
      raise ValueError(
        f"IDX files {found} hold images {images.shape} and " f"labels {labels.shape}; expected [N, H, W] and [N]."
      )
    images = images[..., None]
    n_valid = MNIST_VALID_SIZE
    if split in ("train", "valid") and images.shape[0] <= n_valid:
      raise ValueError(
        f"Split '{split}' takes the last {n_valid} of the training images "
        f"as validation, but '{root / found[0]}' holds only "
        f"{images.shape[0]}; use split='train_full'."
      )
    if split == "train":
      images, labels = images[:-n_valid], labels[:-n_valid]
    elif split == "valid":
      images, labels = images[-n_valid:], labels[-n_valid:]
    return Raw(images, labels)

  return LocalLayout(f"{title} IDX files ({'gzip' if gz else 'uncompressed'})", expected, read)


def _binarized_npz_read(root, split, found, options):
  with np.load(_checked(root, found[0], options), allow_pickle=False) as f:
    if split not in f.files:
      raise ValueError(f"'{root / found[0]}' has keys {f.files}; expected " "'train', 'valid' and 'test'.")
    x = np.asarray(f[split], dtype=np.uint8)
  return Raw(x.reshape(-1, 28, 28, 1), None)


def _amat_read(root, split, found, options):
  x = formats.read_amat(_checked(root, found[0], options))
  return Raw(x.reshape(-1, 28, 28, 1), None)


# ----------------------------------------------------------------------------
# CIFAR-10.

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def _cifar_jpeg_read(root, split, found, options):
  raw = _read_tree_cached(root, found[0], split, ReadOptions(options.verify), tag="cifar10_jpeg")
  if raw.info["class_names"] != CIFAR10_CLASSES:
    raise ValueError(
      f"'{root / found[0]}' has class folders " f"{raw.info['class_names']}; expected {CIFAR10_CLASSES}."
    )
  return raw


def _cifar_pickle_layout(folder: str) -> LocalLayout:
  def expected(split):
    names = ("test_batch",) if split == "test" else tuple(f"data_batch_{i}" for i in range(1, 6))
    return tuple(f"{folder}/{n}" for n in names)

  def read(root, split, found, options):
    x, y = formats.read_cifar_batches([_checked(root, r, options) for r in found])
    return Raw(x, y)

  return LocalLayout("CIFAR-10 python pickle batches", expected, read)


# ----------------------------------------------------------------------------
# Generic image data sets (CelebA, LSUN, ImageNet): .npz, folders, zips.

_SPLIT_ALIASES = {"valid": ("valid", "validation", "val")}


def _aliases(split: str) -> Tuple[str, ...]:
  return _SPLIT_ALIASES.get(split, (split,))


def _npz_layout(folder: str) -> LocalLayout:
  """``<folder>/<split>.npz`` with ``x`` uint8 [N, H, W(, C)] and optional ``y``."""

  def locate(root, split):
    for alias in _aliases(split):
      rel = f"{folder}/{alias}.npz"
      if (root / rel).is_file():
        return (rel,)
    return None

  def read(root, split, found, options):
    with np.load(_checked(root, found[0], options), allow_pickle=False) as f:
      if "x" not in f.files:
        raise ValueError(
          f"'{root / found[0]}' has keys {f.files}; expected " "'x' (uint8 [N, H, W, C]) and optionally 'y' ([N])."
        )
      x = np.asarray(f["x"])
      y = np.asarray(f["y"]) if "y" in f.files else None
    if x.ndim == 3:
      x = x[..., None]
    if x.ndim != 4:
      raise ValueError(f"'{root / found[0]}': 'x' has shape {x.shape}; " "expected [N, H, W, C] or [N, H, W].")
    if y is not None and y.shape != x.shape[:1]:
      raise ValueError(f"'{root / found[0]}': 'y' has shape {y.shape}; " f"expected [{x.shape[0]}].")
    if options.image_size is not None or options.center_crop is not None:
      x = np.stack(
        [formats.crop_resize(im, image_size=options.image_size, center_crop=options.center_crop) for im in x]
      )
    return Raw(x, y)

  return LocalLayout(
    f"numpy archive '{folder}/<split>.npz' with arrays x " "(uint8 [N, H, W, C]) and optional y ([N])",
    lambda split: (f"{folder}/{split}.npz",),
    read,
    locate,
  )


def _folder_layout(folder: str) -> LocalLayout:
  """``<folder>/<split>/[<class>/]*.jpg`` image files."""

  def locate(root, split):
    for alias in _aliases(split):
      rel = f"{folder}/{alias}/"
      if (root / rel).is_dir():
        return (rel,)
    return None

  def read(root, split, found, options):
    alias = found[0].rstrip("/").rsplit("/", 1)[-1]
    return _read_tree_cached(root, f"{folder}/", alias, options, tag=folder.replace("/", "_"))

  return LocalLayout(
    f"image files '{folder}/<split>/[<class>/]*.jpg|png'", lambda split: (f"{folder}/{split}/",), read, locate
  )


def _zip_layout(folder: str) -> LocalLayout:
  """``<folder>/<folder>.zip`` holding ``<split>/[<class>/]*.jpg``."""
  rel = f"{folder}/{folder}.zip"

  def read(root, split, found, options):
    import zipfile

    with zipfile.ZipFile(root / rel) as z:
      names = set(n.split("/")[0] for n in z.namelist())
    alias = next((a for a in _aliases(split) if a in names), split)
    return _read_tree_cached(root, rel, alias, options, tag=folder)

  return LocalLayout(f"zip archive '{rel}' of '<split>/[<class>/]*.jpg'", lambda split: (rel,), read)


_CELEBA_PARTITION = {"train": 0, "valid": 1, "test": 2}


def _celeba_original_read(root, split, found, options):
  """Aligned CelebA: ``img_align_celeba/*.jpg`` + ``list_eval_partition.txt``."""
  part_file, img_dir = root / found[0], root / found[1]
  wanted = _CELEBA_PARTITION[split]
  names = []
  for line in part_file.read_text().splitlines():
    parts = line.split()
    if len(parts) == 2 and parts[1].isdigit() and int(parts[1]) == wanted:
      names.append(parts[0])
  if not names:
    raise ValueError(f"'{part_file}' lists no images for split '{split}'.")
  fp = hashlib.sha256(("\n".join(names) + _tree_fingerprint(img_dir)).encode())
  key = f"celeb_a-{split}-{fp.hexdigest()[:20]}-s{options.image_size}" f"-c{options.center_crop}-v{_CACHE_VERSION}"

  def build():
    return {
      "x": np.stack(
        [
          formats.decode_image(
            (img_dir / n).read_bytes(), image_size=options.image_size, center_crop=options.center_crop
          )
          for n in names
        ]
      )
    }

  return Raw(_cached_arrays(key, build)["x"], None, info={"cache_key": key})


def _image_layouts(folder: str) -> Tuple[LocalLayout, ...]:
  return (_npz_layout(folder), _folder_layout(folder), _zip_layout(folder))


# ----------------------------------------------------------------------------
# Bags of words.


def _bow_layout(
  folder: str, vocab_name: str, *, labels: bool, splits: Sequence[str] = ("train", "test")
) -> LocalLayout:
  def expected(split):
    if split not in splits:
      return ()
    return (f"{folder}/{split}.feat", f"{folder}/{vocab_name}")

  def read(root, split, found, options):
    vocab = formats.read_vocab(_checked(root, found[1], options))
    bow = formats.read_bow(_checked(root, found[0], options), len(vocab))
    keep = bow.nonempty
    y = None
    if labels:
      if bow.labels is None:
        raise ValueError(f"'{root / found[0]}' has no label tokens.")
      y = bow.labels[keep] - 1  # the file's labels are 1-based
    info = {"num_documents_raw": int(keep.size), "num_dropped": int(keep.size - keep.sum()), "vocab_size": len(vocab)}
    return Raw(bow.counts[keep], y, vocab, info)

  return LocalLayout(
    f"bag-of-words files ('[label] id:count ...' lines, " f"1-based ids) with vocabulary '{vocab_name}'", expected, read
  )


# ----------------------------------------------------------------------------
# LFW faces.


def _lfw_read(root, found, options):
  x = np.load(_checked(root, found[0], options), allow_pickle=False)
  if x.ndim != 3:
    raise ValueError(f"'{root / found[0]}' has shape {x.shape}; expected " "[N, H, W].")
  n_faces = x.shape[0] // 2
  y = np.concatenate([np.ones(n_faces, np.int64), np.zeros(x.shape[0] - n_faces, np.int64)])
  return Raw(x[..., None], y)
