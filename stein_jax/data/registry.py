"""Named data sets: one registry entry each, loaded offline or through TFDS.

Resolution order for ``load(name, split, data_dir)``:

1. the local data directory (``data_dir``, else ``$STEIN_JAX_DATA_DIR``): each
   of the data set's :class:`LocalLayout` s is tried in order, the first whose
   files are all present is read; known files are checked against
   :data:`stein_jax.data.checksums.KNOWN_CHECKSUMS` (once per process);
2. TensorFlow Datasets, if ``tensorflow_datasets`` is importable and the data
   set has a TFDS name;
3. otherwise :class:`DatasetNotFoundError`, naming the folder searched, the
   files expected there and how to obtain them.

Adding a data set is one ``REGISTRY[name] = DatasetSpec(...)`` entry.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import tempfile
import warnings
from typing import (Any, Callable, Dict, Mapping, NamedTuple, Optional,
                    Sequence, Tuple)

import numpy as np

from stein_jax.data import checksums
from stein_jax.data import formats
from stein_jax.data import paths
from stein_jax.data import tfds as tfds_lib
from stein_jax.data.errors import DatasetNotFoundError

SCALES = ("unit", "centered", None)
BINARIZE = (None, "dynamic")
SOURCES = ("auto", "local", "tfds")
# Bump when a cached decoded array would change meaning.
_CACHE_VERSION = 1
# MNIST-family "train"/"valid": the first 50,000 / last 10,000 of the 60,000
# training images, the split of Larochelle & Murray's binarized MNIST.
MNIST_VALID_SIZE = 10000


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


# ----------------------------------------------------------------------------
# Helpers shared by the readers.


def _exists(root: pathlib.Path, rel: str) -> bool:
  p = root / rel
  return p.is_dir() if rel.endswith("/") else p.is_file()


def _checked(root: pathlib.Path, rel: str, options: ReadOptions) -> pathlib.Path:
  """``root / rel``, verified against its known checksum if ``options.verify``."""
  if options.verify:
    checksums.verify_known(root, rel)
  return root / rel


def _cache_path(key: str) -> pathlib.Path:
  return paths.cache_dir() / f"{key}.npz"


def _cached_arrays(key: str, build: Callable[[], Dict[str, np.ndarray]]
                   ) -> Dict[str, np.ndarray]:
  """Loads ``key`` from the cache dir, or builds it and saves it atomically.

  A cache that cannot be written (read-only home, full disk) only warns: the
  decoded arrays are still returned.
  """
  path = _cache_path(key)
  if path.is_file():
    try:
      with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}
    except (OSError, ValueError) as e:  # a truncated cache is rebuilt
      warnings.warn(f"Ignoring unreadable cache file '{path}': {e}")
  arrays = build()
  try:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    with os.fdopen(fd, "wb") as f:
      np.savez(f, **arrays)
    os.replace(tmp, path)
  except OSError as e:
    warnings.warn(f"Could not write the decoded-array cache '{path}' ({e}); set "
                  f"${paths.ENV_CACHE_DIR} to a writable folder to avoid "
                  "decoding again next time.")
  return arrays


def _tree_fingerprint(folder: pathlib.Path) -> str:
  """Cheap identity of a folder of files: names, sizes and mtimes."""
  h = hashlib.sha256()
  for p in sorted(folder.rglob("*")):
    if p.is_file():
      st = p.stat()
      h.update(f"{p.relative_to(folder).as_posix()}|{st.st_size}|"
               f"{st.st_mtime_ns}\n".encode())
  return h.hexdigest()


def _source_fingerprint(path: pathlib.Path) -> str:
  return (_tree_fingerprint(path) if path.is_dir()
          else checksums.sha256_file(path))


def _read_tree_cached(root: pathlib.Path, rel: str, split: str,
                      options: ReadOptions, *, tag: str) -> Raw:
  """Decodes ``<split>/...`` images in the zip or folder ``root/rel``, cached."""
  source = _checked(root, rel.rstrip("/"), options) if not rel.endswith("/") \
      else root / rel
  fp = _source_fingerprint(source)
  key = (f"{tag}-{split}-{fp[:20]}-s{options.image_size}-c{options.center_crop}"
         f"-v{_CACHE_VERSION}")

  def build():
    x, y, classes = formats.read_image_tree(
        source, split, image_size=options.image_size,
        center_crop=options.center_crop)
    out = {"x": x, "classes": np.asarray(classes, dtype=np.str_)}
    if y is not None:
      out["y"] = y
    return out

  arrays = _cached_arrays(key, build)
  classes = tuple(str(c) for c in arrays["classes"])
  return Raw(arrays["x"], arrays.get("y"),
             info={"class_names": classes or None, "cache_key": key})


# ----------------------------------------------------------------------------
# MNIST family.


def _idx_layout(folder: str, gz: bool, title: str) -> LocalLayout:
  ext = ".gz" if gz else ""

  def expected(split):
    prefix = "t10k" if split == "test" else "train"
    return (f"{folder}/{prefix}-images-idx3-ubyte{ext}",
            f"{folder}/{prefix}-labels-idx1-ubyte{ext}")

  def read(root, split, found, options):
    images = formats.read_idx(_checked(root, found[0], options))
    labels = formats.read_idx(_checked(root, found[1], options))
    if images.ndim != 3 or labels.shape != images.shape[:1]:
      raise ValueError(f"IDX files {found} hold images {images.shape} and "
                       f"labels {labels.shape}; expected [N, H, W] and [N].")
    images = images[..., None]
    n_valid = MNIST_VALID_SIZE
    if split in ("train", "valid") and images.shape[0] <= n_valid:
      raise ValueError(
          f"Split '{split}' takes the last {n_valid} of the training images "
          f"as validation, but '{root / found[0]}' holds only "
          f"{images.shape[0]}; use split='train_full'.")
    if split == "train":
      images, labels = images[:-n_valid], labels[:-n_valid]
    elif split == "valid":
      images, labels = images[-n_valid:], labels[-n_valid:]
    return Raw(images, labels)

  return LocalLayout(f"{title} IDX files ({'gzip' if gz else 'uncompressed'})",
                     expected, read)


_MNIST_SPLITS = ("train", "valid", "train_full", "test")
_MNIST_TFDS_SPLITS = {"train": f"train[:-{MNIST_VALID_SIZE}]",
                      "valid": f"train[-{MNIST_VALID_SIZE}:]",
                      "train_full": "train", "test": "test"}


def _binarized_npz_read(root, split, found, options):
  with np.load(_checked(root, found[0], options), allow_pickle=False) as f:
    if split not in f.files:
      raise ValueError(f"'{root / found[0]}' has keys {f.files}; expected "
                       "'train', 'valid' and 'test'.")
    x = np.asarray(f[split], dtype=np.uint8)
  return Raw(x.reshape(-1, 28, 28, 1), None)


def _amat_read(root, split, found, options):
  x = formats.read_amat(_checked(root, found[0], options))
  return Raw(x.reshape(-1, 28, 28, 1), None)


# ----------------------------------------------------------------------------
# CIFAR-10.

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog",
                   "frog", "horse", "ship", "truck")


def _cifar_jpeg_read(root, split, found, options):
  raw = _read_tree_cached(root, found[0], split, ReadOptions(options.verify),
                          tag="cifar10_jpeg")
  if raw.info["class_names"] != CIFAR10_CLASSES:
    raise ValueError(f"'{root / found[0]}' has class folders "
                     f"{raw.info['class_names']}; expected {CIFAR10_CLASSES}.")
  return raw


def _cifar_pickle_layout(folder: str) -> LocalLayout:
  def expected(split):
    names = ("test_batch",) if split == "test" else tuple(
        f"data_batch_{i}" for i in range(1, 6))
    return tuple(f"{folder}/{n}" for n in names)

  def read(root, split, found, options):
    x, y = formats.read_cifar_batches(
        [_checked(root, r, options) for r in found])
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
        raise ValueError(f"'{root / found[0]}' has keys {f.files}; expected "
                         "'x' (uint8 [N, H, W, C]) and optionally 'y' ([N]).")
      x = np.asarray(f["x"])
      y = np.asarray(f["y"]) if "y" in f.files else None
    if x.ndim == 3:
      x = x[..., None]
    if x.ndim != 4:
      raise ValueError(f"'{root / found[0]}': 'x' has shape {x.shape}; "
                       "expected [N, H, W, C] or [N, H, W].")
    if y is not None and y.shape != x.shape[:1]:
      raise ValueError(f"'{root / found[0]}': 'y' has shape {y.shape}; "
                       f"expected [{x.shape[0]}].")
    if options.image_size is not None or options.center_crop is not None:
      x = np.stack([formats.crop_resize(im, image_size=options.image_size,
                                        center_crop=options.center_crop)
                    for im in x])
    return Raw(x, y)

  return LocalLayout(f"numpy archive '{folder}/<split>.npz' with arrays x "
                     "(uint8 [N, H, W, C]) and optional y ([N])",
                     lambda split: (f"{folder}/{split}.npz",), read, locate)


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
    return _read_tree_cached(root, f"{folder}/", alias, options,
                             tag=folder.replace("/", "_"))

  return LocalLayout(f"image files '{folder}/<split>/[<class>/]*.jpg|png'",
                     lambda split: (f"{folder}/{split}/",), read, locate)


def _zip_layout(folder: str) -> LocalLayout:
  """``<folder>/<folder>.zip`` holding ``<split>/[<class>/]*.jpg``."""
  rel = f"{folder}/{folder}.zip"

  def read(root, split, found, options):
    import zipfile
    with zipfile.ZipFile(root / rel) as z:
      names = set(n.split("/")[0] for n in z.namelist())
    alias = next((a for a in _aliases(split) if a in names), split)
    return _read_tree_cached(root, rel, alias, options, tag=folder)

  return LocalLayout(f"zip archive '{rel}' of '<split>/[<class>/]*.jpg'",
                     lambda split: (rel,), read)


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
  key = (f"celeb_a-{split}-{fp.hexdigest()[:20]}-s{options.image_size}"
         f"-c{options.center_crop}-v{_CACHE_VERSION}")

  def build():
    return {"x": np.stack([
        formats.decode_image((img_dir / n).read_bytes(),
                             image_size=options.image_size,
                             center_crop=options.center_crop) for n in names])}

  return Raw(_cached_arrays(key, build)["x"], None, info={"cache_key": key})


def _image_layouts(folder: str) -> Tuple[LocalLayout, ...]:
  return (_npz_layout(folder), _folder_layout(folder), _zip_layout(folder))


# ----------------------------------------------------------------------------
# Bags of words.


def _bow_layout(folder: str, vocab_name: str, *, labels: bool,
                splits: Sequence[str] = ("train", "test")) -> LocalLayout:

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
    info = {"num_documents_raw": int(keep.size),
            "num_dropped": int(keep.size - keep.sum()),
            "vocab_size": len(vocab)}
    return Raw(bow.counts[keep], y, vocab, info)

  return LocalLayout(f"bag-of-words files ('[label] id:count ...' lines, "
                     f"1-based ids) with vocabulary '{vocab_name}'",
                     expected, read)


# ----------------------------------------------------------------------------
# The registry.

_MNIST_URL = "https://storage.googleapis.com/cvdf-datasets/mnist/"
_GENERIC_IMAGE_HELP = (
    "Local formats under <data_dir>/{folder}/: '<split>.npz' with x uint8 "
    "[N, H, W, C] (and optional y), or a folder '<split>/' of image files "
    "(optionally one sub-folder per class), or '{folder}.zip' holding such "
    "folders; splits named {splits} ('val'/'validation' also accepted). ")

REGISTRY: Dict[str, DatasetSpec] = {}


def _add(spec: DatasetSpec) -> None:
  REGISTRY[spec.name] = spec


_add(DatasetSpec(
    name="mnist", kind="image", splits=_MNIST_SPLITS,
    layouts=(_idx_layout("mnist", True, "MNIST"),
             _idx_layout("mnist", False, "MNIST")),
    tfds_name="mnist", tfds_splits=_MNIST_TFDS_SPLITS,
    image_shape=(28, 28, 1), flatten=True,
    class_names=tuple(str(i) for i in range(10)),
    how_to_obtain=(f"Download train-images-idx3-ubyte.gz, "
                   "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and "
                   f"t10k-labels-idx1-ubyte.gz from {_MNIST_URL} (mirror of "
                   "http://yann.lecun.com/exdb/mnist/) into <data_dir>/mnist/.")))

_add(DatasetSpec(
    name="fashion_mnist", kind="image", splits=_MNIST_SPLITS,
    layouts=(_idx_layout("fashion_mnist", True, "Fashion-MNIST"),
             _idx_layout("fashion_mnist", False, "Fashion-MNIST")),
    tfds_name="fashion_mnist", tfds_splits=_MNIST_TFDS_SPLITS,
    image_shape=(28, 28, 1), flatten=True,
    class_names=("t-shirt/top", "trouser", "pullover", "dress", "coat",
                 "sandal", "shirt", "sneaker", "bag", "ankle boot"),
    how_to_obtain=("Download the four IDX .gz files from "
                   "https://github.com/zalandoresearch/fashion-mnist "
                   "(data/fashion/) into <data_dir>/fashion_mnist/, or on "
                   "Debian `apt-get install dataset-fashion-mnist` and copy or "
                   "link /usr/share/datasets/fashion-mnist to "
                   "<data_dir>/fashion_mnist.")))

_add(DatasetSpec(
    name="binarized_mnist", kind="image", splits=("train", "valid", "test"),
    layouts=(
        LocalLayout("numpy archive with uint8 {0,1} arrays train, valid, test "
                    "of shape [N, 784]",
                    lambda split: ("binarized_mnist/binarized_mnist_uint8.npz",),
                    _binarized_npz_read),
        LocalLayout("Larochelle's .amat text files",
                    lambda split: (f"binarized_mnist/binarized_mnist_{split}.amat",),
                    _amat_read)),
    tfds_name="binarized_mnist",
    tfds_splits={"train": "train", "valid": "validation", "test": "test"},
    tfds_label_key=None, image_shape=(28, 28, 1), pixel_max=1.0, flatten=True,
    how_to_obtain=("The fixed binarization of Larochelle & Murray (2011), "
                   "50,000/10,000/10,000: download binarized_mnist_"
                   "{train,valid,test}.amat from http://www.cs.toronto.edu/"
                   "~larocheh/public/datasets/binarized_mnist/ into "
                   "<data_dir>/binarized_mnist/.")))

_add(DatasetSpec(
    name="cifar10", kind="image", splits=("train", "test"),
    layouts=(
        LocalLayout("zip of JPEGs '{train,test}/<class>/NNNN.jpg' (lossy; "
                    "decoded once, then cached)",
                    lambda split: ("cifar10_jpeg/cifar10_jpeg.zip",),
                    _cifar_jpeg_read),
        _cifar_pickle_layout("cifar-10-batches-py"),
        _cifar_pickle_layout("cifar10/cifar-10-batches-py")),
    tfds_name="cifar10", tfds_splits={"train": "train", "test": "test"},
    image_shape=(32, 32, 3), class_names=CIFAR10_CLASSES,
    how_to_obtain=("Download and extract "
                   "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz "
                   "into <data_dir>/ (giving <data_dir>/cifar-10-batches-py/).")))

_add(DatasetSpec(
    name="celeb_a", kind="image", splits=("train", "valid", "test"),
    layouts=(_image_layouts("celeb_a") + (
        LocalLayout("aligned CelebA: celeb_a/img_align_celeba/*.jpg and "
                    "celeb_a/list_eval_partition.txt",
                    lambda split: ("celeb_a/list_eval_partition.txt",
                                   "celeb_a/img_align_celeba/"),
                    _celeba_original_read),)),
    tfds_name="celeb_a",
    tfds_splits={"train": "train", "valid": "validation", "test": "test"},
    tfds_label_key=None, default_image_size=64, center_crop=140,
    how_to_obtain=(_GENERIC_IMAGE_HELP.format(folder="celeb_a",
                                              splits="train/valid/test") +
                   "Or the original aligned images and list_eval_partition.txt "
                   "from https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html. "
                   "Images are center-cropped to 140 px and resized to "
                   "image_size (default 64).")))

_add(DatasetSpec(
    name="lsun", kind="image", splits=("train", "valid"),
    layouts=_image_layouts("lsun"),
    tfds_name="lsun/bedroom",
    tfds_splits={"train": "train", "valid": "validation"},
    tfds_label_key=None, default_image_size=64,
    how_to_obtain=(_GENERIC_IMAGE_HELP.format(folder="lsun",
                                              splits="train/valid") +
                   "LSUN bedroom is distributed as LMDB "
                   "(https://github.com/fyu/lsun: download.py -c bedroom, "
                   "then data.py export ... --out_dir <data_dir>/lsun/train); "
                   "images are center-cropped to a square and resized to "
                   "image_size (default 64).")))

_add(DatasetSpec(
    name="imagenet2012", kind="image", splits=("train", "valid"),
    layouts=_image_layouts("imagenet2012"),
    tfds_name="imagenet2012",
    tfds_splits={"train": "train", "valid": "validation"},
    default_image_size=64,
    how_to_obtain=(_GENERIC_IMAGE_HELP.format(folder="imagenet2012",
                                              splits="train/valid") +
                   "The ILSVRC-2012 train folder (one sub-folder per synset) "
                   "fits the folder layout; TFDS 'imagenet2012' needs the "
                   "tar files downloaded manually from https://image-net.org "
                   "into its manual_dir. For a CPU-sized version use "
                   "'imagenet32'.")))

_add(DatasetSpec(
    name="imagenet32", kind="image", splits=("train", "valid"),
    layouts=_image_layouts("imagenet32"),
    tfds_name="imagenet_resized/32x32",
    tfds_splits={"train": "train", "valid": "validation"},
    image_shape=(32, 32, 3),
    how_to_obtain=(_GENERIC_IMAGE_HELP.format(folder="imagenet32",
                                              splits="train/valid") +
                   "Downsampled ImageNet 32x32 (Chrabaszcz et al. 2017, "
                   "https://image-net.org/download-images): convert to "
                   "<split>.npz with x uint8 [N, 32, 32, 3] and y, or use "
                   "TFDS 'imagenet_resized/32x32'.")))

_add(DatasetSpec(
    name="lfw_faces", kind="image", splits=("train",),
    layouts=(LocalLayout(
        "scikit-image LFW subset: (200, 25, 25) float64 in [0, 1], "
        "100 faces then 100 non-faces",
        lambda split: ("faces/lfw_subset.npy",),
        lambda root, split, found, options: _lfw_read(root, found, options)),),
    image_shape=(25, 25, 1), pixel_max=1.0, class_names=("non_face", "face"),
    how_to_obtain=("pip install scikit-image, then "
                   "np.save('<data_dir>/faces/lfw_subset.npy', "
                   "skimage.data.lfw_subset()).")))


def _lfw_read(root, found, options):
  x = np.load(_checked(root, found[0], options), allow_pickle=False)
  if x.ndim != 3:
    raise ValueError(f"'{root / found[0]}' has shape {x.shape}; expected "
                     "[N, H, W].")
  n_faces = x.shape[0] // 2
  y = np.concatenate([np.ones(n_faces, np.int64),
                      np.zeros(x.shape[0] - n_faces, np.int64)])
  return Raw(x[..., None], y)


_add(DatasetSpec(
    name="20news", kind="bow", splits=("train", "test"),
    layouts=(_bow_layout("20news", "vocab.new", labels=False),),
    how_to_obtain=("The '20news_clean' bag of words of ProdLDA (Srivastava & "
                   "Sutton 2017), 1,995 words, in NVDM format: train.feat, "
                   "test.feat and vocab.new from https://github.com/"
                   "sophieburkhardt/dirichlet-vae-topic-models into "
                   "<data_dir>/20news/.")))

_add(DatasetSpec(
    name="20news_nvdm", kind="bow", splits=("train", "test"),
    layouts=(_bow_layout("20news_nvdm", "vocab.new", labels=True),
             _bow_layout("20news_nvdm_test", "vocab.new", labels=True,
                         splits=("test",))),
    class_names=None,
    how_to_obtain=("The NVDM split of 20 Newsgroups (Miao et al. 2016), "
                   "2,000 words, labels 1-20 (returned as 0-19): "
                   "train.feat, test.feat, vocab.new from "
                   "https://github.com/ysmiao/nvdm into <data_dir>/20news_nvdm/ "
                   "(a test-only copy may live in <data_dir>/20news_nvdm_test/).")))

_add(DatasetSpec(
    name="reuters", kind="bow", splits=("train", "test"),
    layouts=(_bow_layout("reuters", "reuters.vocab", labels=False),),
    how_to_obtain=("Reuters-21578 (ModApte) bag of words, 2,000 words: "
                   "train.feat, test.feat and reuters.vocab from "
                   "https://github.com/mxiny/NB-NTM (data/reuters) into "
                   "<data_dir>/reuters/.")))


# ----------------------------------------------------------------------------
# Public API.


def list_datasets() -> Tuple[str, ...]:
  """Names accepted by :func:`load`, sorted."""
  return tuple(sorted(REGISTRY))


def get_spec(name: str) -> DatasetSpec:
  """The registry entry for ``name``.

  Raises:
    KeyError: naming the available data sets.
  """
  try:
    return REGISTRY[name]
  except KeyError:
    raise KeyError(f"Unknown data set '{name}'; available: "
                   f"{', '.join(list_datasets())}.") from None


def _not_found(spec: DatasetSpec, split: str, data_dir, source: str,
               tfds_error: Optional[BaseException]) -> DatasetNotFoundError:
  lines = [f"Data set '{spec.name}' (split '{split}') was not found.",
           f"Searched: {paths.describe_data_dir(data_dir)}."
           if source != "tfds" else "Local files were not searched "
           "(source='tfds')."]
  root = paths.resolve_data_dir(data_dir)
  where = str(root) if root is not None else "<data_dir>"
  layouts = [l for l in spec.layouts if l.expected(split)]
  if layouts and source != "tfds":
    lines.append(f"Expected one of these layouts under {where}/:")
    for l in layouts:
      lines.append(f"  - {l.description}: {', '.join(l.expected(split))}")
  if spec.tfds_name is None:
    lines.append("TFDS has no copy of this data set; local files are the "
                 "only source.")
  elif source == "local":
    lines.append(f"TFDS was not tried (source='local'); its name is "
                 f"'{spec.tfds_name}'.")
  elif tfds_error is not None:
    lines.append(f"TFDS '{spec.tfds_name}' failed: {tfds_error!r}")
  else:
    lines.append(f"Online: tensorflow_datasets is not installed "
                 f"(pip install tensorflow-datasets; TFDS name "
                 f"'{spec.tfds_name}').")
  lines.append("How to obtain: " + spec.how_to_obtain)
  lines.append(f"Then pass data_dir=... or set ${paths.ENV_DATA_DIR}.")
  return DatasetNotFoundError("\n".join(lines))


def _scale(x: np.ndarray, pixel_max: float, scale: Optional[str]) -> np.ndarray:
  if scale is None:
    return x
  unit = x.astype(np.float32)
  if pixel_max != 1.0:
    unit /= np.float32(pixel_max)
  if scale == "centered":
    unit = 2.0 * unit - 1.0
  return unit


def load(name: str, split: str = "train", data_dir: Optional[paths.PathLike] = None,
         *, binarize: Optional[str] = None, scale: Optional[str] = "unit",
         flatten: Optional[bool] = None, image_size: Optional[int] = None,
         max_examples: Optional[int] = None, source: str = "auto",
         verify: bool = True) -> Dataset:
  """Loads one split of a named data set as numpy arrays.

  Args:
    name: a key of :data:`REGISTRY` (see :func:`list_datasets`).
    split: ``"train"``, ``"valid"``, ``"test"`` where the data set defines
      them.  MNIST and Fashion-MNIST: ``"train"`` is the first 50,000 and
      ``"valid"`` the last 10,000 of the 60,000 training images (the split of
      binarized MNIST), ``"train_full"`` all 60,000, ``"test"`` the 10,000.
    data_dir: local data directory; default ``$STEIN_JAX_DATA_DIR``.
    binarize: None, or ``"dynamic"``: ``x`` stays the pixel intensities in
      [0, 1] and ``info["binarize"] = "dynamic"`` makes
      :class:`~stein_jax.data.Batcher` draw a fresh Bernoulli(x) sample for
      each batch, deterministic in (seed, step).  Needs ``scale="unit"``.
    scale: image pixels as float32 in [0, 1] (``"unit"``), float32 in
      [-1, 1] (``"centered"``), or as stored (None: uint8 0-255 for most
      images, uint8 {0, 1} for binarized MNIST, float64 for LFW).  Bags of
      words are always float32 counts; for them only ``"unit"`` (the default)
      and None are accepted, and both leave the counts unchanged.
    flatten: reshape images to ``[N, H * W * C]``; default True for the MNIST
      family (whose models in the papers are MLPs), False otherwise.
    image_size: square size to center-crop and resize images to, for data
      sets whose images differ in size (CelebA, LSUN, ImageNet; default 64)
      or to downsample.  Must be None for fixed-size data sets.
    max_examples: keep only the first ``max_examples`` (in the source's
      deterministic order), e.g. for a quick run.
    source: ``"auto"`` (local first, then TFDS), ``"local"`` or ``"tfds"``.
    verify: check known files against their checksums (once per process).

  Returns:
    A :class:`Dataset`.  For bags of words, documents with no counts are
    dropped (``info["num_dropped"]`` says how many; the 20news files end with
    one such line, Reuters has blank lines).

  Raises:
    KeyError: unknown data set.
    ValueError: unknown split or bad option value.
    DatasetNotFoundError: neither local files nor TFDS could provide it.
    ChecksumError: a local file's digest differs from the known value.
  """
  spec = get_spec(name)
  if split not in spec.splits:
    raise ValueError(f"Data set '{name}' has splits {spec.splits}, not "
                     f"'{split}'.")
  if scale not in SCALES:
    raise ValueError(f"scale must be one of {SCALES}, not {scale!r}.")
  if binarize not in BINARIZE:
    raise ValueError(f"binarize must be one of {BINARIZE}, not {binarize!r}.")
  if source not in SOURCES:
    raise ValueError(f"source must be one of {SOURCES}, not {source!r}.")
  if max_examples is not None and max_examples < 1:
    raise ValueError(f"max_examples must be positive, not {max_examples}.")
  if spec.kind == "bow":
    if scale == "centered" or binarize is not None or flatten or image_size:
      raise ValueError(f"'{name}' is a bag-of-words data set: scale must be "
                       "'unit' or None, and binarize, flatten and image_size "
                       "must be left unset.")
  elif binarize == "dynamic" and scale != "unit":
    raise ValueError("binarize='dynamic' samples Bernoulli(x), so it needs "
                     f"pixel probabilities: use scale='unit', not {scale!r}.")
  if image_size is not None and spec.default_image_size is None:
    raise ValueError(f"'{name}' has fixed-size images {spec.image_shape}; "
                     "image_size must be None.")
  if image_size is not None and image_size < 1:
    raise ValueError(f"image_size must be positive, not {image_size}.")
  options = ReadOptions(verify=verify,
                        image_size=image_size or spec.default_image_size,
                        center_crop=spec.center_crop)

  raw, info = None, {"name": name, "split": split}
  root = paths.resolve_data_dir(data_dir)
  if source != "tfds" and root is not None and root.is_dir():
    for layout in spec.layouts:
      found = layout.find(root, split)
      if found is not None:
        raw = layout.read(root, split, found, options)
        info.update(source="local", layout=layout.description,
                    files=tuple(str(root / f) for f in found))
        break
  tfds_error = None
  if (raw is None and source != "local" and spec.tfds_name is not None
      and spec.kind == "image" and tfds_lib.tfds_available()):
    try:
      x, y = tfds_lib.load_tfds(
          spec.tfds_name, spec.tfds_splits[split],
          label_key=spec.tfds_label_key, image_size=options.image_size,
          center_crop=options.center_crop, max_examples=max_examples)
      raw = Raw(x, y)
      info.update(source="tfds", tfds_name=spec.tfds_name,
                  tfds_split=spec.tfds_splits[split])
    except Exception as e:  # no network, manual download missing, ...
      tfds_error = e
  if raw is None:
    raise _not_found(spec, split, data_dir, source, tfds_error) from tfds_error

  x, y = raw.x, raw.y
  if max_examples is not None:
    x = x[:max_examples]
    y = None if y is None else y[:max_examples]
  info.update(raw.info)
  info.pop("cache_key", None)
  if spec.kind == "image":
    info["image_shape"] = tuple(int(d) for d in x.shape[1:])
    flatten = spec.flatten if flatten is None else flatten
    x = _scale(x, spec.pixel_max, scale)
    if flatten:
      x = x.reshape(x.shape[0], -1)
    class_names = info.get("class_names") or spec.class_names
    info.update(scale=scale, binarize=binarize, flatten=flatten,
                class_names=class_names,
                num_classes=None if y is None else (
                    len(class_names) if class_names else int(y.max()) + 1))
  else:
    x = x.astype(np.float32, copy=False)
    info.update(num_classes=None if y is None else int(y.max()) + 1)
  y = None if y is None else y.astype(np.int32)
  return Dataset(x, y, raw.vocab, info)
