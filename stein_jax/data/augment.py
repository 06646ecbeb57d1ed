"""Image crops and flips for the ImageNet protocol of Pu et al. 2017, sec. 5.3 (after Krizhevsky et al. 2012).

Training images (resized to 256 x 256 by :func:`stein_jax.data.load` with ``image_size=256``) are
seen as a random 224 x 224 crop, or its horizontal mirror, per step (:func:`random_crop_flip`);
evaluation uses the central crop (:func:`center_crop`). Both take and return images
[N, H, W, C] of any dtype and are deterministic in the numpy ``Generator`` passed.
"""

from __future__ import annotations

import numpy as np


def _check(images: np.ndarray, crop: int) -> None:
  if images.ndim != 4:
    raise ValueError(f"images must be [N, H, W, C], got shape {images.shape}.")
  if not (isinstance(crop, (int, np.integer)) and 1 <= crop <= min(images.shape[1:3])):
    raise ValueError(
      f"crop must be an int in [1, {min(images.shape[1:3])}] for {images.shape[1]}x{images.shape[2]} "
      f"images, got {crop!r}."
    )


def random_crop_flip(images: np.ndarray, crop: int, rng: np.random.Generator) -> np.ndarray:
  """A uniformly placed crop x crop window of each image, mirrored left-right with probability 1/2.

  Args:
    images: [N, H, W, C].
    crop: the side of the square crop (224 for ImageNet).
    rng: numpy Generator (one per step, e.g. ``default_rng([seed, step])``, for resumable runs).

  Returns:
    [N, crop, crop, C], same dtype.
  """
  _check(images, crop)
  n, h, w, _ = images.shape
  top = rng.integers(0, h - crop + 1, n)
  left = rng.integers(0, w - crop + 1, n)
  flip = rng.random(n) < 0.5
  out = np.empty((n, crop, crop, images.shape[3]), images.dtype)
  for i in range(n):
    patch = images[i, top[i] : top[i] + crop, left[i] : left[i] + crop]
    out[i] = patch[:, ::-1] if flip[i] else patch
  return out


def center_crop(images: np.ndarray, crop: int) -> np.ndarray:
  """The central crop x crop window of each image (offsets floor((H - crop) / 2))."""
  _check(images, crop)
  top = (images.shape[1] - crop) // 2
  left = (images.shape[2] - crop) // 2
  return images[:, top : top + crop, left : left + crop]
