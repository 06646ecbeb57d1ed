"""Loading: ``load(name, split, data_dir)`` resolves a catalogue entry to arrays.

Belongs here: option checking, the resolution order, the not-found message,
scaling / flattening and the ``info`` metadata of the returned
:class:`~stein_jax.data.spec.Dataset`.  Sits over all the other data-set
modules (:mod:`~stein_jax.data.spec`, :mod:`~stein_jax.data.catalogue` and,
through it, the layouts and the cache).

Resolution order for ``load(name, split, data_dir)``:

1. the local data directory (``data_dir``, else ``$STEIN_JAX_DATA_DIR``): each
   of the data set's :class:`~stein_jax.data.spec.LocalLayout` s is tried in
   order, the first whose files are all present is read; known files are
   checked against :data:`stein_jax.data.checksums.KNOWN_CHECKSUMS` (once per
   process);
2. TensorFlow Datasets, if ``tensorflow_datasets`` is importable and the data
   set has a TFDS name;
3. otherwise :class:`DatasetNotFoundError`, naming the folder searched, the
   files expected there and how to obtain them.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from stein_jax.data import paths
from stein_jax.data import tfds as tfds_lib
from stein_jax.data.catalogue import get_spec
from stein_jax.data.errors import DatasetNotFoundError
from stein_jax.data.spec import Dataset
from stein_jax.data.spec import DatasetSpec
from stein_jax.data.spec import Raw
from stein_jax.data.spec import ReadOptions

SCALES = ("unit", "centered", None)
BINARIZE = (None, "dynamic")
SOURCES = ("auto", "local", "tfds")


def _not_found(
  spec: DatasetSpec, split: str, data_dir, source: str, tfds_error: Optional[BaseException]
) -> DatasetNotFoundError:
  lines = [
    f"Data set '{spec.name}' (split '{split}') was not found.",
    f"Searched: {paths.describe_data_dir(data_dir)}."
    if source != "tfds"
    else "Local files were not searched " "(source='tfds').",
  ]
  root = paths.resolve_data_dir(data_dir)
  where = str(root) if root is not None else "<data_dir>"
  layouts = [l for l in spec.layouts if l.expected(split)]
  if layouts and source != "tfds":
    lines.append(f"Expected one of these layouts under {where}/:")
    for l in layouts:
      lines.append(f"  - {l.description}: {', '.join(l.expected(split))}")
  if spec.tfds_name is None:
    lines.append("TFDS has no copy of this data set; local files are the " "only source.")
  elif source == "local":
    lines.append(f"TFDS was not tried (source='local'); its name is " f"'{spec.tfds_name}'.")
  elif tfds_error is not None:
    lines.append(f"TFDS '{spec.tfds_name}' failed: {tfds_error!r}")
  else:
    lines.append(
      f"Online: tensorflow_datasets is not installed "
      f"(pip install tensorflow-datasets; TFDS name "
      f"'{spec.tfds_name}')."
    )
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


def load(
  name: str,
  split: str = "train",
  data_dir: Optional[paths.PathLike] = None,
  *,
  binarize: Optional[str] = None,
  scale: Optional[str] = "unit",
  flatten: Optional[bool] = None,
  image_size: Optional[int] = None,
  max_examples: Optional[int] = None,
  source: str = "auto",
  verify: bool = True,
) -> Dataset:
  """Loads one split of a named data set as numpy arrays.

  Args:
    name: a key of :data:`~stein_jax.data.catalogue.REGISTRY` (see
      :func:`~stein_jax.data.catalogue.list_datasets`).
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
    raise ValueError(f"Data set '{name}' has splits {spec.splits}, not " f"'{split}'.")
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
      raise ValueError(
        f"'{name}' is a bag-of-words data set: scale must be "
        "'unit' or None, and binarize, flatten and image_size "
        "must be left unset."
      )
  elif binarize == "dynamic" and scale != "unit":
    raise ValueError(
      "binarize='dynamic' samples Bernoulli(x), so it needs " f"pixel probabilities: use scale='unit', not {scale!r}."
    )
  if image_size is not None and spec.default_image_size is None:
    raise ValueError(f"'{name}' has fixed-size images {spec.image_shape}; " "image_size must be None.")
  if image_size is not None and image_size < 1:
    raise ValueError(f"image_size must be positive, not {image_size}.")
  options = ReadOptions(verify=verify, image_size=image_size or spec.default_image_size, center_crop=spec.center_crop)

  raw, info = None, {"name": name, "split": split}
  root = paths.resolve_data_dir(data_dir)
  if source != "tfds" and root is not None and root.is_dir():
    for layout in spec.layouts:
      found = layout.find(root, split)
      if found is not None:
        raw = layout.read(root, split, found, options)
        info.update(source="local", layout=layout.description, files=tuple(str(root / f) for f in found))
        break
  tfds_error = None
  if (
    raw is None
    and source != "local"
    and spec.tfds_name is not None
    and spec.kind == "image"
    and tfds_lib.tfds_available()
  ):
    try:
      x, y = tfds_lib.load_tfds(
        spec.tfds_name,
        spec.tfds_splits[split],
        label_key=spec.tfds_label_key,
        image_size=options.image_size,
        center_crop=options.center_crop,
        max_examples=max_examples,
      )
      raw = Raw(x, y)
      info.update(source="tfds", tfds_name=spec.tfds_name, tfds_split=spec.tfds_splits[split])
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
    info.update(
      scale=scale,
      binarize=binarize,
      flatten=flatten,
      class_names=class_names,
      num_classes=None if y is None else (len(class_names) if class_names else int(y.max()) + 1),
    )
  else:
    x = x.astype(np.float32, copy=False)
    info.update(num_classes=None if y is None else int(y.max()) + 1)
  y = None if y is None else y.astype(np.int32)
  return Dataset(x, y, raw.vocab, info)
