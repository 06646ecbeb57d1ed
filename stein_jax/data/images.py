"""Labelled image sets for the image experiments: real data through :func:`stein_jax.data.load`, or a synthetic set.

The synthetic set needs no download: class c is a square of colour ``palette[c]`` in quadrant ``c % 4`` on dark
noise, so the classes are separable by construction and a run on it shows whether a model learns them.
"""

from __future__ import annotations

import functools

import numpy as np

from stein_jax.data import loading

DATASETS = ("cifar10", "celeb_a", "lsun", "synthetic")
SYNTHETIC_DATA_SEED = 1234  # the synthetic data set does not change with a run's seed
SYNTHETIC_TRAIN, SYNTHETIC_TEST = 2000, 500
SUBSET_SEED = 20171202  # the training subset ``max_train_examples`` keeps (the same for every run)
MAX_SYNTHETIC_CLASSES = 8


def synthetic_images(num: int, image_size: int, num_classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
  """A labelled toy image set: class c is a square of colour ``palette[c]`` in quadrant ``c % 4`` on dark noise.

  Returns:
    ``(uint8 [num, s, s, 3], int32 [num])``, deterministic in ``seed``.

  Raises:
    ValueError: ``num_classes`` outside 1..8.
  """
  if not 1 <= num_classes <= MAX_SYNTHETIC_CLASSES:
    raise ValueError(f"synthetic data have 1 to {MAX_SYNTHETIC_CLASSES} classes; got num_classes={num_classes}.")
  rng = np.random.default_rng(seed)
  palette = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, 0, 1], [0, 1, 1], [1, 1, 1], [1, 0.5, 0]])
  y = rng.integers(0, num_classes, num).astype(np.int32)
  x = 0.15 * rng.random((num, image_size, image_size, 3))
  half = image_size // 2
  for i, c in enumerate(y):
    r, q = divmod(int(c) % 4, 2)
    x[i, r * half : (r + 1) * half, q * half : (q + 1) * half] = 0.3 + 0.6 * palette[c] + 0.1 * rng.random(3)
  return np.round(np.clip(x, 0, 1) * 255).astype(np.uint8), y


class ImageData:
  """uint8 train / test images ``[n, s, s, C]`` and int labels (or None), with the class names."""

  def __init__(self, train_x, train_y, test_x, test_y, class_names):
    self.train_x, self.train_y, self.test_x, self.test_y = train_x, train_y, test_x, test_y
    self.class_names = class_names

  @property
  def image_shape(self):
    return tuple(self.train_x.shape[1:])

  @property
  def num_classes(self) -> int:
    return 0 if self.train_y is None else int(self.train_y.max()) + 1


@functools.lru_cache(maxsize=2)
def load_image_data(dataset: str, data_dir, image_size: int, max_train_examples, synthetic_classes: int = 4):
  """The train and test images of ``dataset`` (cached per process); the test split of LSUN is its "valid".

  ``max_train_examples`` keeps a fixed random subset of the training images (in their source order), not the
  first ones: the CIFAR-10 and image-folder sources are sorted by class, so a first-N cut held a single class.

  Raises:
    ValueError: an unknown data set; the loader's errors for absent or corrupt data.
  """
  if dataset == "synthetic":
    train_x, train_y = synthetic_images(SYNTHETIC_TRAIN, image_size, synthetic_classes, SYNTHETIC_DATA_SEED)
    test_x, test_y = synthetic_images(SYNTHETIC_TEST, image_size, synthetic_classes, SYNTHETIC_DATA_SEED + 1)
    return ImageData(train_x, train_y, test_x, test_y, tuple(f"class {c}" for c in range(synthetic_classes)))
  if dataset not in DATASETS:
    raise ValueError(f"dataset must be one of {DATASETS}; got {dataset!r}.")
  kwargs = {} if dataset == "cifar10" else {"image_size": image_size}
  test_split = "test" if dataset in ("cifar10", "celeb_a") else "valid"
  if max_train_examples is not None and max_train_examples < 1:
    raise ValueError(f"max_train_examples must be a positive int or None, not {max_train_examples!r}.")
  train = loading.load(dataset, "train", data_dir, scale=None, **kwargs)
  test = loading.load(dataset, test_split, data_dir, scale=None, **kwargs)
  train_x, train_y = train.x, train.y
  if max_train_examples is not None and max_train_examples < train_x.shape[0]:
    keep = np.sort(np.random.default_rng(SUBSET_SEED).permutation(train_x.shape[0])[:max_train_examples])
    train_x, train_y = train_x[keep], None if train_y is None else train_y[keep]
  return ImageData(train_x, train_y, test.x, test.y, train.info.get("class_names"))
