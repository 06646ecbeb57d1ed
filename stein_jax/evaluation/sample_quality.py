"""Quality of generated labelled images: the two metrics of Fig. 2 of Liu & Wang 2017 (sec. 5.2).

1. **Classifier ("inception") score** ``exp(E_x KL(p(y|x) || p(y)))`` of generated images, computed by
   ``stein_jax.evaluation.classifier_score.inception_score`` from the class probabilities of *some* classifier. The
   paper uses the ImageNet Inception network of Salimans et al. (2016); its weights cannot be downloaded on this
   machine (no network), so :func:`cifar10_classifier` trains a small DCGAN-trunk CNN on the CIFAR-10 training set
   instead (the same protocol as Fig. 1(b), which scored MNIST samples with an MNIST classifier). Its scores are
   **not comparable** with the paper's Inception scores (11.24 for real CIFAR-10). Any other classifier can be used:
   every function here takes ``apply_fn(params, images [n, H, W, C] in [-1, 1]) -> logits [n, C]``.

2. **Train-on-generated test accuracy**: train a classifier on generated images labelled by the generator's input
   label, and report its accuracy on the *real* test set (:func:`train_on_samples_accuracy`). The paper trains a
   ResNet on 50,000 samples; it compares with the real training set (92.58%) and with 500 real images each duplicated
   100 times (44.96%, :func:`duplicated_subset`). Here the classifier is :class:`stein_jax.models.dcgan.ConvClassifier`
   with the same training budget for every training set, so the three numbers are comparable with each other.

Images may be given as uint8 (0..255, converted batch by batch, so 50,000 CIFAR images never exist as float32) or as
float32 in ``[-1, 1]``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import pathlib
import warnings
from typing import Any, Callable, NamedTuple, Optional

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import optax

from stein_jax import data as data_lib
from stein_jax.evaluation import classifier_score as score_lib
from stein_jax.models.dcgan import ConvClassifier

Array = jax.Array
PyTree = Any
ApplyFn = Callable[[PyTree, Array], Array]
CACHE_SUBDIR = "classifiers"
CACHE_FORMAT_VERSION = 1


def as_centered(images: np.ndarray) -> np.ndarray:
  """uint8 images (0..255) to float32 in ``[-1, 1]``; float images are returned as float32 unchanged."""
  images = np.asarray(images)
  if images.dtype == np.uint8:
    return images.astype(np.float32) / 127.5 - 1.0
  return images.astype(np.float32, copy=False)


def _check_labelled(images, labels, num_classes: int, what: str) -> None:
  if np.ndim(images) != 4:
    raise ValueError(f"{what} images must be [n, H, W, C]; got shape {np.shape(images)}.")
  labels = np.asarray(labels)
  if labels.shape != (np.shape(images)[0],):
    raise ValueError(f"{what} labels must be [n] with n = {np.shape(images)[0]}; got shape {labels.shape}.")
  if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
    raise ValueError(f"{what} labels must lie in [0, {num_classes}); got range [{labels.min()}, {labels.max()}].")


def train_image_classifier(
  images: np.ndarray,
  labels: np.ndarray,
  *,
  num_classes: int,
  width: int = 32,
  num_steps: int = 1000,
  batch_size: int = 64,
  learning_rate: float = 1e-3,
  seed: int = 0,
) -> PyTree:
  """Trains :class:`ConvClassifier` by Adam on softmax cross entropy; deterministic in ``seed``.

  Batches are drawn without replacement within each pass over the data (numpy permutations of ``seed``), so a set of
  500 images duplicated 100 times is seen exactly as often as 50,000 distinct ones.

  Args:
    images: ``[n, H, W, C]``, uint8 or float in ``[-1, 1]``.
    labels: int ``[n]`` in ``[0, num_classes)``.
    num_classes, width: the architecture.
    num_steps, batch_size, learning_rate, seed: the schedule.

  Returns:
    The variables of ``ConvClassifier(num_classes, width)``.
  """
  _check_labelled(images, labels, num_classes, "Training")
  n = np.shape(images)[0]
  if not 1 <= batch_size <= n:
    raise ValueError(f"batch_size={batch_size} must be in [1, {n}] (the number of training images).")
  module = ConvClassifier(int(num_classes), int(width))
  params = module.init(jax.random.key(seed), jnp.zeros((1,) + tuple(np.shape(images)[1:]), jnp.float32))
  tx = optax.adam(learning_rate)
  opt_state = tx.init(params)

  step = score_lib.make_classifier_step(module, tx)

  rng = np.random.default_rng(seed)
  labels = np.asarray(labels, np.int32)
  order, pos = rng.permutation(n), 0
  for _ in range(int(num_steps)):
    if pos + batch_size > n:
      order, pos = rng.permutation(n), 0
    idx = np.sort(order[pos : pos + batch_size])
    pos += batch_size
    params, opt_state = step(params, opt_state, jnp.asarray(as_centered(images[idx])), jnp.asarray(labels[idx]))
  return params


@functools.lru_cache(maxsize=16)
def _jitted_probabilities(apply_fn: ApplyFn):
  return jax.jit(lambda p, b: jax.nn.softmax(apply_fn(p, b), axis=-1))


def _probabilities_fn(apply_fn: ApplyFn):
  """One jitted ``softmax(apply_fn)`` per classifier, so repeated evaluations do not recompile."""
  try:
    return _jitted_probabilities(apply_fn)
  except TypeError:  # an unhashable apply_fn: jit it afresh
    return jax.jit(lambda p, b: jax.nn.softmax(apply_fn(p, b), axis=-1))


def predict_probabilities(
  apply_fn: ApplyFn, params: PyTree, images: np.ndarray, *, batch_size: int = 1000
) -> np.ndarray:
  """``softmax(apply_fn(params, x))`` in batches (uint8 or float images), ``[n, C]`` numpy."""
  fn = _probabilities_fn(apply_fn)
  out = [
    np.asarray(fn(params, jnp.asarray(as_centered(images[i : i + batch_size]))))
    for i in range(0, np.shape(images)[0], batch_size)
  ]
  return np.concatenate(out, axis=0)


def accuracy(apply_fn: ApplyFn, params: PyTree, images: np.ndarray, labels: np.ndarray) -> float:
  """Fraction of ``images`` whose most probable class is ``labels``."""
  probs = predict_probabilities(apply_fn, params, images)
  return float(np.mean(np.argmax(probs, -1) == np.asarray(labels)))


def classifier_score(apply_fn: ApplyFn, params: PyTree, images: np.ndarray, *, num_splits: int = 1) -> float:
  """The inception-style score of ``images`` under any classifier (``classifier_score.inception_score``)."""
  return float(score_lib.inception_score(predict_probabilities(apply_fn, params, images), num_splits))


def train_on_samples_accuracy(
  train_images: np.ndarray,
  train_labels: np.ndarray,
  test_images: np.ndarray,
  test_labels: np.ndarray,
  *,
  num_classes: int,
  **hparams,
) -> float:
  """Test accuracy of a classifier trained on (generated) labelled images: the second metric of Fig. 2.

  Args:
    train_images, train_labels: e.g. generated images and the labels the generator was given.
    test_images, test_labels: the real held-out set.
    num_classes: number of classes.
    **hparams: :func:`train_image_classifier` settings (keep them equal across the sets being compared).

  Returns:
    Accuracy in ``[0, 1]`` on the test set.
  """
  _check_labelled(test_images, test_labels, num_classes, "Test")
  params = train_image_classifier(train_images, train_labels, num_classes=num_classes, **hparams)
  module = ConvClassifier(int(num_classes), int(hparams.get("width", 32)))
  return accuracy(module.apply, params, test_images, test_labels)


def duplicated_subset(
  images: np.ndarray, labels: np.ndarray, *, num_unique: int = 500, copies: int = 100, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
  """The "500 Duplicate" baseline of Fig. 2: ``num_unique`` random images, each repeated ``copies`` times."""
  n = np.shape(images)[0]
  if not 1 <= num_unique <= n or copies < 1:
    raise ValueError(f"num_unique={num_unique} must be in [1, {n}] and copies={copies} >= 1.")
  idx = np.sort(np.random.default_rng(seed).choice(n, num_unique, replace=False))
  return np.repeat(np.asarray(images)[idx], copies, axis=0), np.repeat(np.asarray(labels)[idx], copies, axis=0)


class ImageClassifier(NamedTuple):
  """A trained image classifier.

  Attributes:
    apply_fn: ``apply_fn(params, images [n, H, W, C] in [-1, 1]) -> logits [n, C]``.
    params: its variables.
    test_accuracy: accuracy on the held-out set given when it was trained.
    path: its cache file, or None.
    trained: True if trained by this call, False if loaded.
  """

  apply_fn: ApplyFn
  params: PyTree
  test_accuracy: float
  path: Optional[str]
  trained: bool


def cached_image_classifier(
  name: str,
  train_images: np.ndarray,
  train_labels: np.ndarray,
  test_images: np.ndarray,
  test_labels: np.ndarray,
  *,
  num_classes: int,
  cache_dir: Optional[str] = None,
  **hparams,
) -> ImageClassifier:
  """:func:`train_image_classifier`, cached in ``<cache_dir>/classifiers/<name>_<key>.msgpack``.

  The key hashes the hyper-parameters and the training data, so changing either retrains. An unreadable or
  mismatching cache file (truncated, other architecture) is retrained and overwritten after a warning.

  Args:
    name: file-name prefix, e.g. "cifar10".
    train_images, train_labels, test_images, test_labels: the data (uint8 or float in [-1, 1]).
    num_classes: number of classes.
    cache_dir: default ``$STEIN_JAX_CACHE_DIR`` or ``~/.cache/stein_jax``.
    **hparams: :func:`train_image_classifier` settings.
  """
  settings = dict(width=32, num_steps=1000, batch_size=64, learning_rate=1e-3, seed=0)
  unknown = set(hparams) - set(settings)
  if unknown:
    raise ValueError(f"Unknown classifier settings {sorted(unknown)}; use {sorted(settings)}.")
  settings.update(hparams)
  key = hashlib.sha256(
    json.dumps(
      [settings, int(num_classes), CACHE_FORMAT_VERSION, score_lib.array_fingerprint(train_images, train_labels)],
      sort_keys=True,
    ).encode()
  ).hexdigest()[:16]
  root = pathlib.Path(cache_dir).expanduser() if cache_dir else data_lib.cache_dir()
  path = root / CACHE_SUBDIR / f"{name}_{key}.msgpack"
  module = ConvClassifier(int(num_classes), int(settings["width"]))
  template = jax.eval_shape(
    module.init, jax.random.key(0), jnp.zeros((1,) + tuple(np.shape(train_images)[1:]), jnp.float32)
  )
  template = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), template)
  if path.exists():
    try:
      stored = flax.serialization.msgpack_restore(path.read_bytes())
      if stored.get("key") != key:
        raise ValueError(f"key {stored.get('key')!r} != {key!r}")
      params = flax.serialization.from_state_dict(template, stored["params"])
      for got, want in zip(jax.tree.leaves(params), jax.tree.leaves(template)):
        if np.shape(got) != np.shape(want) or not np.all(np.isfinite(got)):
          raise ValueError("parameter shapes differ or values are not finite")
      return ImageClassifier(module.apply, params, float(stored["test_accuracy"]), str(path), False)
    except Exception as err:  # only a cache: rebuild it
      warnings.warn(
        f"Classifier cache {path} is unreadable or does not match ({type(err).__name__}: {err}); "
        "retraining and overwriting it.",
        RuntimeWarning,
        stacklevel=2,
      )
  params = train_image_classifier(train_images, train_labels, num_classes=num_classes, **settings)
  test_accuracy = accuracy(module.apply, params, test_images, test_labels)
  payload = {"key": key, "test_accuracy": test_accuracy, "params": flax.serialization.to_state_dict(params)}
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = path.with_suffix(f".tmp{np.random.default_rng().integers(1 << 30)}")
  tmp.write_bytes(flax.serialization.msgpack_serialize(jax.device_get(payload)))
  tmp.replace(path)  # atomic: a concurrent reader sees the old file or the new one
  return ImageClassifier(module.apply, params, test_accuracy, str(path), True)


def cifar10_classifier(data_dir: Optional[str] = None, cache_dir: Optional[str] = None, **hparams) -> ImageClassifier:
  """A CNN trained on the CIFAR-10 training set (accuracy on the test set), cached; the score's classifier here."""
  train = data_lib.load("cifar10", "train", data_dir, scale=None)
  test = data_lib.load("cifar10", "test", data_dir, scale=None)
  return cached_image_classifier(
    "cifar10", train.x, train.y, test.x, test.y, num_classes=10, cache_dir=cache_dir, **hparams
  )
