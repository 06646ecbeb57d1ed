"""The labelled / unlabelled splits of the semi-supervised runs and the synthetic data set of the tests.

Every draw is deterministic in its seed (``np.random.default_rng([seed, c])`` per class c), so a split is
reproduced from ``split_seed`` alone.
"""

from __future__ import annotations

import numpy as np


def balanced_split(y: np.ndarray, labels_per_class: int, seed: int, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
  """Indices of a class-balanced labelled subset and of the rest (unlabelled).

  For each class c, ``labels_per_class`` of its examples are drawn without replacement by
  ``np.random.default_rng([seed, c])``; the unlabelled set is every other example.

  Args:
    y: int labels [N] in [0, num_classes).
    labels_per_class: N_rho >= 1.
    seed: the split seed (non-negative int).
    num_classes: C.

  Returns:
    (labelled [C * N_rho], unlabelled [N - C * N_rho]) sorted int64 indices, disjoint.

  Raises:
    ValueError: a class has no more than ``labels_per_class`` examples (none would be
      left unlabelled), or bad arguments.
  """
  y = np.asarray(y)
  if y.ndim != 1:
    raise ValueError(f"y must be a 1-d array of labels, got shape {y.shape}.")
  if not (isinstance(labels_per_class, (int, np.integer)) and labels_per_class >= 1):
    raise ValueError(
      f"labels_per_class must be an int >= 1 (at least one labelled image per class, {num_classes} "
      f"classes), got {labels_per_class!r}."
    )
  if not (isinstance(seed, (int, np.integer)) and seed >= 0):
    raise ValueError(f"split_seed must be a non-negative int, got {seed!r}.")
  counts = np.bincount(y, minlength=num_classes)
  if counts.size > num_classes:
    raise ValueError(f"labels reach {y.max()} but num_classes is {num_classes}.")
  if labels_per_class >= counts.min():
    raise ValueError(
      f"labels_per_class={labels_per_class} is too large: the smallest class "
      f"has {counts.min()} training examples (class {counts.argmin()}); use at "
      f"most {counts.min() - 1} so that each class keeps unlabelled examples."
    )
  chosen = []
  for c in range(num_classes):
    idx = np.flatnonzero(y == c)
    rng = np.random.default_rng([int(seed), c])
    chosen.append(rng.choice(idx, labels_per_class, replace=False))
  labelled = np.sort(np.concatenate(chosen))
  mask = np.ones(y.shape[0], bool)
  mask[labelled] = False
  return labelled, np.flatnonzero(mask)


def fraction_counts(y: np.ndarray, fraction: float, num_classes: int) -> np.ndarray:
  """Labelled images per class for a labelled ``fraction``: round(fraction * N_c), the same ratio in every class.

  Raises:
    ValueError: the fraction is not in (0, 1), or gives some class no labelled image (or no
      unlabelled one); the message names the class, its size and the smallest valid fraction.
  """
  if not (isinstance(fraction, (float, int)) and 0 < fraction < 1):
    raise ValueError(f"labelled_fraction must be in (0, 1), got {fraction!r}.")
  counts = np.bincount(np.asarray(y), minlength=num_classes)
  per_class = np.rint(fraction * counts).astype(np.int64)
  if per_class.min() < 1:
    c = int(per_class.argmin())
    raise ValueError(
      f"labelled_fraction={fraction} gives fewer than one labelled image per class: class {c} has "
      f"{counts[c]} training images, and round({fraction} * {counts[c]}) = {per_class[c]}; use a "
      f"fraction of at least {0.5 / counts.min():.3g} (one image of the smallest class, {counts.min()} images)."
    )
  if np.any(per_class >= counts):
    c = int(np.argmax(per_class >= counts))
    raise ValueError(f"labelled_fraction={fraction} labels every image of class {c}; lower it.")
  return per_class


def balanced_counts_split(y: np.ndarray, per_class: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
  """:func:`balanced_split` with a count per class (``per_class`` [C]); same draws, same guarantees."""
  y = np.asarray(y)
  chosen = []
  for c, n_c in enumerate(per_class):
    idx = np.flatnonzero(y == c)
    rng = np.random.default_rng([int(seed), c])
    chosen.append(rng.choice(idx, int(n_c), replace=False))
  labelled = np.sort(np.concatenate(chosen))
  mask = np.ones(y.shape[0], bool)
  mask[labelled] = False
  return labelled, np.flatnonzero(mask)


def synthetic_classes(
  seed: int, num_examples: int, num_classes: int, dim: int, flip: float, split: str
) -> tuple[np.ndarray, np.ndarray]:
  """Easily separable binary data: x = prototype[y] with each bit flipped w.p. ``flip``.

  Prototypes depend on ``seed`` only; examples on (seed, split). Returns (x float32
  [N, dim] in {0, 1}, y int32 [N]) with classes cycling 0, 1, ..., C - 1.
  """
  protos = np.random.default_rng([seed, 0]).random((num_classes, dim)) < 0.5
  rng = np.random.default_rng([seed, 1 + ("train", "valid", "test").index(split)])
  y = (np.arange(num_examples) % num_classes).astype(np.int32)
  x = protos[y] ^ (rng.random((num_examples, dim)) < flip)
  return x.astype(np.float32), y
