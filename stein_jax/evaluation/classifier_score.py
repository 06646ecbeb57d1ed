"""Classifier ("inception") scores of generated samples, and a small cached MNIST classifier.

The inception score of Salimans et al. (2016), used with a classifier trained on the data set itself in Fig. 1(b) of
Liu & Wang 2017 (an "inception model trained on the MNIST training set", averaged over 50,000 generated images), is

  IS = exp( E_x KL( p(y | x) || p(y) ) ),    p(y) = E_x p(y | x),

estimated with the empirical averages over the generated samples. It is 1 when every sample gets the same prediction
and at most C (the number of classes), reached when predictions are confident and spread evenly over the classes.

The score is a pure function of class probabilities (:func:`inception_score`), separate from any classifier, so it
serves any data set (CIFAR-10 with an ImageNet or CIFAR classifier alike); :func:`classifier_score` applies a
classifier in batches first. :func:`mnist_classifier` trains (deterministically) or loads the MNIST classifier of
Fig. 1(b) from a cache, so repeated runs do not retrain.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import tempfile
import warnings
from typing import Any, Callable, NamedTuple, Optional, Sequence

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from stein_jax import data as data_lib
from stein_jax.data.checksums import array_fingerprint
from stein_jax.models.vae import MLP

Array = jax.Array
PyTree = Any

CACHE_SUBDIR = "classifiers"
CACHE_FORMAT_VERSION = 1


# ------------------------------------------------------------------------------------------------ the score


def _check_probs(probs: Array) -> None:
  if jnp.ndim(probs) != 2:
    raise ValueError(f"probs must be class probabilities of shape [n, num_classes]; got shape {jnp.shape(probs)}.")
  if isinstance(probs, jax.core.Tracer):
    return
  p = np.asarray(probs, np.float64)
  if p.shape[0] < 1:
    raise ValueError("probs is empty: the score needs at least one sample.")
  if not np.all(np.isfinite(p)) or np.any(p < 0) or np.max(np.abs(p.sum(-1) - 1.0)) > 1e-3:
    raise ValueError("probs must be finite, non-negative and sum to 1 over classes (apply a softmax to logits first).")


def _mean_kl_to_marginal(probs: Array) -> Array:
  """``1/n sum_i KL(p_i || p_bar)`` with ``p_bar = mean_i p_i``; ``0 log 0 = 0``."""
  marginal = jnp.mean(probs, axis=0, keepdims=True)
  safe = lambda a: jnp.where(a > 0, a, 1.0)
  terms = jnp.where(probs > 0, probs * (jnp.log(safe(probs)) - jnp.log(safe(marginal))), 0.0)
  return jnp.mean(jnp.sum(terms, axis=-1))


def inception_score_splits(probs: Array, num_splits: int = 1) -> Array:
  """The score of each of ``num_splits`` consecutive equal parts of the samples, ``[num_splits]``.

  Args:
    probs: ``p(y | x_i)``, ``[n, C]``; ``n`` must be divisible by ``num_splits``.
    num_splits: the usual protocol of Salimans et al. uses 10 splits and reports mean and std.
  """
  _check_probs(probs)
  probs = jnp.asarray(probs, jnp.float32)
  n = probs.shape[0]
  if not isinstance(num_splits, (int, np.integer)) or num_splits < 1 or n % num_splits:
    raise ValueError(f"num_splits={num_splits!r} must be a positive int dividing the number of samples {n}.")
  parts = probs.reshape(num_splits, n // num_splits, probs.shape[1])
  return jnp.exp(jax.vmap(_mean_kl_to_marginal)(parts))


def inception_score(probs: Array, num_splits: int = 1) -> Array:
  """``exp(E_x KL(p(y|x) || p(y)))`` from class probabilities (mean over ``num_splits`` parts).

  Args:
    probs: ``p(y | x_i)`` of the generated samples, ``[n, C]`` (rows sum to 1).
    num_splits: number of parts to average the score over (1: all samples at once).

  Returns:
    Scalar in ``[1, C]``.
  """
  return jnp.mean(inception_score_splits(probs, num_splits))


def class_probabilities(
  apply_fn: Callable[[PyTree, Array], Array], params: PyTree, x: Array, *, batch_size: int = 2000
) -> np.ndarray:
  """``softmax(apply_fn(params, x))`` in batches, ``[n, C]`` numpy (the classifier returns logits)."""
  x = np.asarray(x)
  logits_fn = jax.jit(lambda p, b: jax.nn.softmax(apply_fn(p, b), axis=-1))
  out = [np.asarray(logits_fn(params, jnp.asarray(x[i : i + batch_size]))) for i in range(0, x.shape[0], batch_size)]
  return np.concatenate(out, axis=0)


def classifier_score(
  apply_fn: Callable[[PyTree, Array], Array], params: PyTree, x: Array, *, batch_size: int = 2000, num_splits: int = 1
) -> float:
  """:func:`inception_score` of the classifier ``apply_fn(params, x) -> logits [n, C]`` on samples ``x``."""
  return float(inception_score(class_probabilities(apply_fn, params, x, batch_size=batch_size), num_splits))


# ------------------------------------------------------------------------------------------------ diversity


def class_coverage(probs: Array, threshold: float = 0.05) -> int:
  """How many classes hold at least ``threshold`` of the samples by the classifier's argmax.

  A diversity measure beside the classifier score that a generator cannot reach with one confident mode: 10 of 10
  for real MNIST digits at 5 %, 1 for a collapsed generator.

  Args:
    probs: ``p(y | x_i)``, ``[n, C]``.
    threshold: the fraction of samples a class must hold, in ``(0, 1]``.

  Returns:
    An int in ``[0, C]``.
  """
  _check_probs(probs)
  if not 0.0 < threshold <= 1.0:
    raise ValueError(f"threshold must lie in (0, 1]; got {threshold!r}.")
  probs = np.asarray(probs)
  counts = np.bincount(np.argmax(probs, axis=1), minlength=probs.shape[1])
  return int(np.sum(counts >= threshold * probs.shape[0]))


def mean_pairwise_distance(x: Array, *, max_points: int = 2000, block: int = 500) -> float:
  """Mean Euclidean distance ``||x_i - x_j||`` over all pairs ``i < j`` of the first ``max_points`` rows.

  Small when a generator collapses (0 for one repeated sample); compared with the same figure on real data it says
  how spread the samples are in pixel space. Computed in ``block x block`` tiles (never ``n x n``), in float64.

  Args:
    x: samples ``[n, ...]`` (flattened per row).
    max_points: rows used (the first ones; the pair count grows as n^2).
    block: tile size.

  Returns:
    The mean distance (0.0 for fewer than two rows).
  """
  x = np.asarray(x, np.float64).reshape(np.shape(x)[0], -1)[:max_points]
  n = x.shape[0]
  if n < 2:
    return 0.0
  sq = np.sum(x * x, axis=1)
  total = 0.0
  for a in range(0, n, block):
    for b in range(a, n, block):
      r = sq[a : a + block, None] + sq[None, b : b + block] - 2.0 * x[a : a + block] @ x[b : b + block].T
      dist = np.sqrt(np.maximum(r, 0.0))
      if a == b:
        dist = np.triu(dist, k=1)
      total += dist.sum()
  return float(total / (n * (n - 1) / 2))


# ------------------------------------------------------------------------------------------------ the classifier


class Classifier(NamedTuple):
  """A trained classifier.

  Attributes:
    apply_fn: ``apply_fn(params, x [n, d]) -> logits [n, C]``.
    params: its variables.
    test_accuracy: accuracy on the held-out set it was checked on.
    path: the cache file it was loaded from or written to (None if not cached).
    trained: True if it was trained in this call, False if loaded from the cache.
  """

  apply_fn: Callable[[PyTree, Array], Array]
  params: PyTree
  test_accuracy: float
  path: Optional[str]
  trained: bool


def _module(hidden: Sequence[int], num_classes: int) -> nn.Module:
  return MLP(tuple(int(h) for h in hidden) + (int(num_classes),), activation=nn.relu)


def make_classifier_step(module, tx: optax.GradientTransformation):
  """A jitted ``step(params, opt_state, x, y) -> (params, opt_state)``: one optax step on the mean
  softmax cross-entropy of ``module.apply(params, x)`` against integer labels ``y``."""

  @jax.jit
  def step(params, opt_state, xb, yb):
    def loss_fn(p):
      return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(module.apply(p, xb), yb))

    grads = jax.grad(loss_fn)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state

  return step


def train_classifier(
  x: np.ndarray,
  y: np.ndarray,
  *,
  num_classes: int,
  hidden: Sequence[int] = (512,),
  num_epochs: int = 3,
  batch_size: int = 128,
  learning_rate: float = 1e-3,
  seed: int = 0,
) -> PyTree:
  """Trains an MLP classifier by Adam on softmax cross-entropy, deterministically in ``seed``.

  Args:
    x: inputs ``[n, d]`` (float). y: int labels ``[n]`` in ``[0, num_classes)``.
    num_classes, hidden: the architecture (ReLU MLP, ``stein_jax.models.vae.MLP``).
    num_epochs, batch_size, learning_rate, seed: the schedule (the data order is a numpy permutation of ``seed``).

  Returns:
    The module's variables (apply with ``MLP(hidden + (num_classes,), relu).apply``).
  """
  x = np.asarray(x, np.float32)
  y = np.asarray(y)
  if x.ndim != 2 or y.shape != (x.shape[0],):
    raise ValueError(f"x must be [n, d] and y [n]; got {x.shape} and {y.shape}.")
  if y.min() < 0 or y.max() >= num_classes:
    raise ValueError(f"labels must lie in [0, {num_classes}); got range [{y.min()}, {y.max()}].")
  if x.shape[0] < batch_size:
    raise ValueError(f"batch_size={batch_size} exceeds the {x.shape[0]} training examples.")
  module = _module(hidden, num_classes)
  params = module.init(jax.random.key(seed), jnp.zeros((1, x.shape[1]), jnp.float32))
  tx = optax.adam(learning_rate)
  opt_state = tx.init(params)

  step = make_classifier_step(module, tx)

  rng = np.random.default_rng(seed)
  per_epoch = x.shape[0] // batch_size
  for _ in range(num_epochs):
    order = rng.permutation(x.shape[0])
    for i in range(per_epoch):
      idx = order[i * batch_size : (i + 1) * batch_size]
      params, opt_state = step(params, opt_state, jnp.asarray(x[idx]), jnp.asarray(y[idx]))
  return params


def _accuracy(apply_fn, params, x, y) -> float:
  probs = class_probabilities(apply_fn, params, x)
  return float(np.mean(np.argmax(probs, -1) == np.asarray(y)))


def _save(path: pathlib.Path, params: PyTree, meta: dict) -> None:
  flat = {"/".join(k): np.asarray(v) for k, v in flax.traverse_util.flatten_dict(flax.core.unfreeze(params)).items()}
  path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp.npz")
  os.close(fd)
  try:
    np.savez(tmp, __meta__=np.asarray(json.dumps(meta)), **flat)
    os.replace(tmp, path)  # atomic: a concurrent reader sees the old file or the new one
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


def _load(path: pathlib.Path, template: PyTree, key: str) -> tuple[PyTree, dict]:
  """Params and metadata from ``path``; ValueError if the file does not match ``template`` and ``key``."""
  with np.load(path, allow_pickle=False) as f:
    meta = json.loads(str(f["__meta__"]))
    if meta.get("key") != key or meta.get("version") != CACHE_FORMAT_VERSION:
      raise ValueError(f"cache key {meta.get('key')!r} does not match {key!r}")
    flat_t = flax.traverse_util.flatten_dict(flax.core.unfreeze(template))
    flat = {}
    for k, t in flat_t.items():
      v = np.asarray(f["/".join(k)])
      if v.shape != t.shape or not np.all(np.isfinite(v)):
        raise ValueError(f"parameter {'/'.join(k)} has shape {v.shape} (expected {t.shape}) or is not finite")
      flat[k] = jnp.asarray(v, t.dtype)
  return flax.traverse_util.unflatten_dict(flat), meta


def cached_classifier(
  name: str,
  x_train: np.ndarray,
  y_train: np.ndarray,
  x_test: np.ndarray,
  y_test: np.ndarray,
  *,
  num_classes: int,
  cache_dir: Optional[str] = None,
  hidden: Sequence[int] = (512,),
  num_epochs: int = 3,
  batch_size: int = 128,
  learning_rate: float = 1e-3,
  seed: int = 0,
) -> Classifier:
  """:func:`train_classifier` on the given arrays, cached on disk.

  The cache file ``<cache_dir>/classifiers/<name>_<key>.npz`` is keyed by the hyper-parameters and a fingerprint of
  the training data, so a change of either retrains. A file that cannot be read or does not match (truncated,
  corrupt, another architecture) is replaced after a warning.

  Args:
    name: file-name prefix, e.g. "mnist".
    x_train, y_train: training data; x_test, y_test: held-out data for the reported accuracy.
    num_classes, hidden, num_epochs, batch_size, learning_rate, seed: as :func:`train_classifier`.
    cache_dir: folder for the cache (default: ``$STEIN_JAX_CACHE_DIR`` or ``~/.cache/stein_jax``).

  Returns:
    A :class:`Classifier`.
  """
  hparams = dict(
    num_classes=int(num_classes),
    hidden=[int(h) for h in hidden],
    num_epochs=int(num_epochs),
    batch_size=int(batch_size),
    learning_rate=float(learning_rate),
    seed=int(seed),
  )
  key = hashlib.sha256(json.dumps([hparams, array_fingerprint(x_train, y_train)], sort_keys=True).encode()).hexdigest()[
    :16
  ]
  root = pathlib.Path(cache_dir).expanduser() if cache_dir else data_lib.cache_dir()
  path = root / CACHE_SUBDIR / f"{name}_{key}.npz"
  module = _module(hidden, num_classes)
  apply_fn = module.apply
  template = jax.eval_shape(module.init, jax.random.key(0), jnp.zeros((1, np.shape(x_train)[1]), jnp.float32))
  if path.exists():
    try:
      params, meta = _load(path, template, key)
      return Classifier(apply_fn, params, float(meta["test_accuracy"]), str(path), False)
    except Exception as err:  # any unreadable cache is rebuilt: it is only a cache
      warnings.warn(
        f"Classifier cache {path} is unreadable or does not match ({type(err).__name__}: {err}); "
        "retraining and overwriting it.",
        RuntimeWarning,
        stacklevel=2,
      )
  params = train_classifier(x_train, y_train, **hparams)
  accuracy = _accuracy(apply_fn, params, x_test, y_test)
  _save(path, params, {"key": key, "version": CACHE_FORMAT_VERSION, "test_accuracy": accuracy, **hparams})
  return Classifier(apply_fn, params, accuracy, str(path), True)


def mnist_classifier(
  data_dir: Optional[str] = None,
  cache_dir: Optional[str] = None,
  *,
  preprocess: Optional[Callable[[np.ndarray], np.ndarray]] = None,
  **hparams,
) -> Classifier:
  """The MNIST classifier of Fig. 1(b): trained on the 50,000 "train" images, accuracy on "test"; cached.

  Its inputs are the flattened pixels in ``[0, 1]`` (``[n, 784]``), the space generated images are mapped back to.

  Args:
    data_dir: MNIST location (``stein_jax.data.load``; default ``$STEIN_JAX_DATA_DIR``).
    cache_dir: see :func:`cached_classifier`.
    preprocess: optional map applied to the pixel arrays before training (and then expected at evaluation).
    **hparams: overrides of :func:`cached_classifier`'s hyper-parameters.
  """
  train = data_lib.load("mnist", "train", data_dir)
  test = data_lib.load("mnist", "test", data_dir)
  fix = preprocess or (lambda a: a)
  flat = lambda a: np.asarray(fix(np.asarray(a, np.float32).reshape(a.shape[0], -1)), np.float32)
  return cached_classifier(
    "mnist", flat(train.x), train.y, flat(test.x), test.y, num_classes=10, cache_dir=cache_dir, **hparams
  )
