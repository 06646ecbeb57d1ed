"""The semi-supervised experiment's data: the labelled / unlabelled split, the batchers and the evaluation sets.

Grey images (``mnist``, ``fashion_mnist``, ``synthetic``) are binarized: training images per step
(``binarization="dynamic"``) or once (``"fixed"``), the validation and test images once with fixed seeds.
Colour images (``cifar10``, ``imagenet2012``) are uint8 until a batch is drawn, then cropped (ImageNet; CIFAR-10
flipped with ``flip``), scaled to [0, 1] and centred by the training split's per-channel mean.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from stein_jax import data as data_lib
from stein_jax.data import augment
from stein_jax.train import ConfigError

from experiments.semi_supervised.checks import COLOUR_DATASETS
from experiments.semi_supervised.splits import balanced_counts_split, balanced_split, fraction_counts, synthetic_classes

# Seeds of the one-off binarizations (independent of the run's seed, so that every run
# sees the same validation and test images).
_EVAL_BINARIZE_SEED = 20170
_TRAIN_BINARIZE_SEED = 20171
_LABELLED_STREAM = 1_000_003  # labelled batcher seed offset: its own shuffle and binarization
_VALID_SPLIT_SEED = 20172  # the held-out validation images of cifar10 / imagenet2012 (fixed across runs)
_CROP_STREAM = 2_000_003  # seed offset of the random crops and flips
_PROBE_BINARIZE_SEED = 20173  # the one binarization of the labelled images the linear probe is fitted on


@dataclasses.dataclass
class SemiSupervisedData:
  """What :func:`load_data` returns (x as the networks see them: float32 [N, dx], colour images uint8 until batched).

  ``labelled`` yields ``{"x", "y"}`` batches of ``labelled_batch_size``, ``unlabelled`` ``{"x"}`` batches of
  ``batch_size - labelled_batch_size``; ``labelled_index`` / ``unlabelled_index`` index the training split.
  ``pixel_mean`` [3] is the colour images' training mean in [0, 1] units (None for grey images).
  ``x_labelled`` / ``y_labelled`` are the labelled images as stored (grey in [0, 1] before a dynamic
  binarization, colour uint8): the same arrays the labelled batcher draws from, for the linear probe.
  """

  colour: bool
  num_classes: int
  labelled_index: np.ndarray
  unlabelled_index: np.ndarray
  labelled: data_lib.Batcher
  unlabelled: data_lib.Batcher
  x_valid: np.ndarray
  y_valid: np.ndarray
  x_test: np.ndarray
  y_test: np.ndarray
  pixel_mean: np.ndarray | None = None
  x_labelled: np.ndarray | None = None
  y_labelled: np.ndarray | None = None


def binarize_once(x: np.ndarray, seed: int) -> np.ndarray:
  """One Bernoulli(pixel) draw of x [N, dx] in [0, 1], deterministic in ``seed``."""
  return (np.random.default_rng(seed).random(x.shape, dtype=np.float32) < x).astype(np.float32)


def load_colour(config) -> dict:
  """cifar10 / imagenet2012: {split: (x, y)}, x uint8 [N, H, W, 3] (ImageNet: resized, uncropped)."""
  kw = {"image_size": config.resize} if config.dataset == "imagenet2012" else {}
  train = data_lib.load(
    config.dataset, "train", config.data_dir, scale=None, flatten=False, max_examples=config.max_train_examples, **kw
  )
  test_split = "test" if config.dataset == "cifar10" else "valid"
  test = data_lib.load(config.dataset, test_split, config.data_dir, scale=None, flatten=False, **kw)
  if train.y is None or test.y is None:
    raise ConfigError(f"invalid config: data set {config.dataset!r} has no labels.")
  num_classes = int(max(train.y.max(), test.y.max())) + 1
  # Validation: valid_per_class images of every class of the training split, the same for every run.
  held, rest = balanced_split(train.y, config.valid_per_class, _VALID_SPLIT_SEED, num_classes)

  def subset(idx, y, limit):
    # The files are in class order, so a first-N cut would hold few classes: take a balanced subset.
    if limit is None or limit >= idx.size:
      return idx
    return idx[balanced_split(y[idx], max(1, limit // num_classes), _VALID_SPLIT_SEED + 1, num_classes)[0]]

  held = subset(held, train.y, config.eval.valid_examples)
  keep = subset(np.arange(test.y.shape[0]), test.y, config.eval.test_examples)
  return {
    "train": (train.x[rest], train.y[rest].astype(np.int32)),
    "valid": (train.x[held], train.y[held].astype(np.int32)),
    "test": (test.x[keep], test.y[keep].astype(np.int32)),
  }


def colour_to_model(config, pixel_mean: np.ndarray, x: np.ndarray, train: bool, step: int = 0) -> np.ndarray:
  """uint8 [N, H, W, 3] -> float32 [N, h * w * 3] in [0, 1] minus the training mean (random or central crop)."""
  if config.dataset == "imagenet2012":
    if train:
      x = augment.random_crop_flip(x, config.crop, np.random.default_rng([config.seed + _CROP_STREAM, int(step)]))
    else:
      x = augment.center_crop(x, config.crop)
  elif train and config.flip:
    x = augment.random_crop_flip(x, x.shape[1], np.random.default_rng([config.seed + _CROP_STREAM, int(step)]))
  x = x.astype(np.float32) / 255.0 - pixel_mean
  return x.reshape(x.shape[0], -1)


def load_data(config) -> SemiSupervisedData:
  """The run's splits and batchers (a checked config; a label count the data cannot meet is a ConfigError)."""
  colour = config.dataset in COLOUR_DATASETS
  if colour:
    parts = load_colour(config)
    num_classes = int(parts["train"][1].max()) + 1
  elif config.dataset == "synthetic":
    syn = config.synthetic
    parts = {
      s: synthetic_classes(syn.data_seed, n, syn.num_classes, syn.dim, syn.flip, s)
      for s, n in (("train", syn.num_train), ("valid", syn.num_valid), ("test", syn.num_test))
    }
    num_classes = syn.num_classes
  else:
    parts = {}
    for split, limit in (("train", None), ("valid", config.eval.valid_examples), ("test", config.eval.test_examples)):
      ds = data_lib.load(config.dataset, split, config.data_dir, max_examples=limit)
      if ds.y is None:
        raise ConfigError(f"invalid config: data set {config.dataset!r} has no labels.")
      parts[split] = (np.asarray(ds.x, np.float32).reshape(ds.x.shape[0], -1), ds.y)
    num_classes = int(parts["train"][1].max()) + 1
  x_tr, y_tr = parts["train"]
  counts = np.bincount(y_tr, minlength=num_classes)
  if config.labelled_fraction is not None:
    try:
      per_class = fraction_counts(y_tr, config.labelled_fraction, num_classes)
    except ValueError as e:
      raise ConfigError(f"invalid config: {e}") from None
  elif config.labels_per_class >= counts.min():
    raise ConfigError(
      f"invalid config: labels_per_class={config.labels_per_class} is too large for "
      f"{config.dataset!r}, whose smallest class has {counts.min()} training images; use "
      f"at most {counts.min() - 1}."
    )
  else:
    per_class = np.full(num_classes, config.labels_per_class)
  lab, unl = balanced_counts_split(y_tr, per_class, config.split_seed)
  if config.labelled_batch_size > lab.size:
    raise ConfigError(
      f"invalid config: labelled_batch_size={config.labelled_batch_size} "
      f"exceeds the {lab.size} labelled images; lower it."
    )
  if config.batch_size - config.labelled_batch_size > unl.size:
    raise ConfigError("invalid config: the unlabelled batch exceeds the unlabelled set.")
  pixel_mean = None
  if colour:
    # per-channel mean of the training split ("the mean subtracted", sec. 5.3), in [0, 1] units
    pixel_mean = np.asarray(x_tr.reshape(-1, 3).mean(0, dtype=np.float64) / 255.0, np.float32)
    x_valid = colour_to_model(config, pixel_mean, parts["valid"][0], train=False)
    x_test = colour_to_model(config, pixel_mean, parts["test"][0], train=False)
    binarize = None
  else:
    if config.binarization == "fixed":
      x_tr = binarize_once(x_tr, _TRAIN_BINARIZE_SEED)
    x_valid = binarize_once(parts["valid"][0], _EVAL_BINARIZE_SEED)
    x_test = binarize_once(parts["test"][0], _EVAL_BINARIZE_SEED + 1)
    binarize = "dynamic" if config.binarization == "dynamic" else None
  unlabelled = data_lib.Batcher(
    {"x": x_tr[unl]}, config.batch_size - config.labelled_batch_size, config.seed, binarize=binarize
  )
  x_lab, y_lab = x_tr[lab], y_tr[lab]
  labelled = data_lib.Batcher(
    {"x": x_lab, "y": y_lab}, config.labelled_batch_size, config.seed + _LABELLED_STREAM, binarize=binarize
  )
  return SemiSupervisedData(
    colour=colour,
    num_classes=num_classes,
    labelled_index=lab,
    unlabelled_index=unl,
    labelled=labelled,
    unlabelled=unlabelled,
    x_valid=x_valid,
    y_valid=parts["valid"][1],
    x_test=x_test,
    y_test=parts["test"][1],
    pixel_mean=pixel_mean,
    x_labelled=x_lab,
    y_labelled=y_lab,
  )
