"""The classifier ("inception") score and the cached classifier (Liu & Wang 2017, Fig. 1(b))."""

import os
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from stein_jax.evaluation import classifier_score as cs


def _reference_score(p):
  """exp(1/n sum_i sum_c p_ic log(p_ic / pbar_c)) with explicit loops (0 log 0 = 0)."""
  p = np.asarray(p, np.float64)
  n, c = p.shape
  pbar = [sum(p[i, k] for i in range(n)) / n for k in range(c)]
  total = 0.0
  for i in range(n):
    for k in range(c):
      if p[i, k] > 0:
        total += p[i, k] * np.log(p[i, k] / pbar[k])
  return np.exp(total / n)


def _dirichlet(n, c, seed=0, conc=0.5):
  return np.random.RandomState(seed).dirichlet(np.full(c, conc), size=n).astype(np.float32)


def test_identical_predictions_score_one():
  row = _dirichlet(1, 10)[0]
  assert float(cs.inception_score(np.tile(row, (50, 1)))) == pytest.approx(1.0, abs=1e-5)


def test_confident_predictions_spread_evenly_score_num_classes():
  for c in (2, 10):
    probs = np.eye(c, dtype=np.float32)[np.arange(5 * c) % c]
    assert float(cs.inception_score(probs)) == pytest.approx(c, rel=1e-5)
  # Confident but all one class: 1; evenly spread but unconfident (uniform rows): 1.
  assert float(cs.inception_score(np.eye(10, dtype=np.float32)[np.zeros(20, int)])) == pytest.approx(1.0)
  assert float(cs.inception_score(np.full((20, 10), 0.1, np.float32))) == pytest.approx(1.0, abs=1e-5)


def test_matches_reference_and_splits():
  probs = _dirichlet(60, 7, seed=1)
  assert float(cs.inception_score(probs)) == pytest.approx(_reference_score(probs), rel=1e-4)
  splits = np.asarray(cs.inception_score_splits(probs, 3))
  np.testing.assert_allclose(splits, [_reference_score(probs[i * 20 : (i + 1) * 20]) for i in range(3)], rtol=1e-4)
  assert float(cs.inception_score(probs, 3)) == pytest.approx(splits.mean(), rel=1e-6)
  assert 1.0 <= float(cs.inception_score(probs)) <= 7.0
  # Exact zeros are handled (0 log 0 = 0) and the score is jit-compatible.
  hard = np.eye(7, dtype=np.float32)[np.arange(21) % 7] * 0.9 + 0.1 * np.eye(7, dtype=np.float32)[np.arange(21) % 3]
  assert float(jax.jit(cs.inception_score)(hard)) == pytest.approx(_reference_score(hard), rel=1e-4)


def test_classifier_score_applies_softmax_of_logits_in_batches():
  probs = _dirichlet(45, 5, seed=2, conc=2.0)
  apply_fn = lambda params, x: jnp.log(x) + params  # logits whose softmax is x
  got = cs.classifier_score(apply_fn, jnp.float32(3.0), probs, batch_size=10)
  assert got == pytest.approx(_reference_score(probs), rel=1e-4)


def test_bad_probabilities_are_rejected():
  with pytest.raises(ValueError, match=r"\[n, num_classes\]"):
    cs.inception_score(np.ones(5) / 5)
  with pytest.raises(ValueError, match="sum to 1"):
    cs.inception_score(np.ones((4, 5)))
  with pytest.raises(ValueError, match="sum to 1"):
    cs.inception_score(np.asarray([[1.5, -0.5]]))
  with pytest.raises(ValueError, match="num_splits"):
    cs.inception_score(_dirichlet(10, 3), 3)


def _blobs(n, seed):
  rng = np.random.RandomState(seed)
  y = rng.randint(0, 3, n)
  centers = np.asarray([[3.0, 0, 0, 0], [0, 3.0, 0, 0], [0, 0, 3.0, 0]])
  return (centers[y] + rng.randn(n, 4)).astype(np.float32), y


def test_training_is_deterministic_and_learns():
  x, y = _blobs(512, 0)
  kw = dict(num_classes=3, hidden=(16,), num_epochs=4, batch_size=64, learning_rate=1e-2, seed=3)
  p1 = cs.train_classifier(x, y, **kw)
  p2 = cs.train_classifier(x, y, **kw)
  jax.tree.map(np.testing.assert_array_equal, p1, p2)
  xt, yt = _blobs(500, 1)
  apply_fn = cs._module((16,), 3).apply
  assert cs._accuracy(apply_fn, p1, xt, yt) > 0.9
  with pytest.raises(ValueError, match="labels"):
    cs.train_classifier(x, y + 3, num_classes=3)


def test_cache_reuses_retrains_on_change_and_recovers_from_corruption(tmp_path, monkeypatch):
  x, y = _blobs(256, 0)
  xt, yt = _blobs(200, 1)
  kw = dict(num_classes=3, hidden=(8,), num_epochs=5, batch_size=64, learning_rate=1e-2)
  first = cs.cached_classifier("blobs", x, y, xt, yt, cache_dir=str(tmp_path), **kw)
  assert first.trained and os.path.exists(first.path) and first.test_accuracy > 0.6  # chance: 1/3
  again = cs.cached_classifier("blobs", x, y, xt, yt, cache_dir=str(tmp_path), **kw)
  assert not again.trained and again.path == first.path
  assert again.test_accuracy == first.test_accuracy
  jax.tree.map(np.testing.assert_array_equal, first.params, again.params)
  # Other hyper-parameters or other data: another file.
  other = cs.cached_classifier("blobs", x, y, xt, yt, cache_dir=str(tmp_path), **{**kw, "hidden": (4,)})
  assert other.trained and other.path != first.path
  moved = cs.cached_classifier("blobs", x + 1, y, xt, yt, cache_dir=str(tmp_path), **kw)
  assert moved.trained and moved.path != first.path
  # A corrupt file: warning, retrain, and the rewritten cache loads again.
  with open(first.path, "wb") as f:
    f.write(b"not an npz")
  with pytest.warns(RuntimeWarning, match="retraining"):
    fixed = cs.cached_classifier("blobs", x, y, xt, yt, cache_dir=str(tmp_path), **kw)
  assert fixed.trained
  jax.tree.map(np.testing.assert_array_equal, first.params, fixed.params)  # deterministic training
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    assert not cs.cached_classifier("blobs", x, y, xt, yt, cache_dir=str(tmp_path), **kw).trained
  # Without cache_dir: $STEIN_JAX_CACHE_DIR.
  monkeypatch.setenv("STEIN_JAX_CACHE_DIR", str(tmp_path / "env"))
  env = cs.cached_classifier("blobs", x, y, xt, yt, **kw)
  assert env.path.startswith(str(tmp_path / "env"))


@pytest.mark.skipif(not os.environ.get("STEIN_JAX_DATA_DIR"), reason="needs MNIST under $STEIN_JAX_DATA_DIR")
def test_mnist_classifier_scores_real_digits_high(tmp_path):
  clf = cs.mnist_classifier(cache_dir=str(tmp_path), hidden=(32,), num_epochs=1)
  assert clf.test_accuracy > 0.9
  from stein_jax import data as data_lib

  test = data_lib.load("mnist", "test").x[:2000].reshape(2000, -1)
  score = cs.classifier_score(clf.apply_fn, clf.params, test)
  assert 5.0 < score <= 10.0  # real digits: fairly confident and spread over the ten classes
  assert cs.classifier_score(clf.apply_fn, clf.params, np.tile(test[:1], (100, 1))) == pytest.approx(1.0, abs=1e-4)


def test_class_coverage_counts_classes_above_the_threshold():
  probs = np.eye(4)[np.array([0] * 50 + [1] * 30 + [2] * 16 + [3] * 4)]  # 50 %, 30 %, 16 %, 4 %
  assert cs.class_coverage(probs, 0.05) == 3
  assert cs.class_coverage(probs, 0.04) == 4
  assert cs.class_coverage(np.eye(4)[np.zeros(10, int)], 0.05) == 1
  with pytest.raises(ValueError, match="threshold"):
    cs.class_coverage(probs, 0.0)


def test_mean_pairwise_distance_matches_scipy_pdist():
  from scipy.spatial.distance import pdist

  x = np.random.default_rng(0).normal(size=(23, 2, 3))
  np.testing.assert_allclose(cs.mean_pairwise_distance(x, block=5), pdist(x.reshape(23, -1)).mean(), rtol=1e-10)
  np.testing.assert_allclose(
    cs.mean_pairwise_distance(x, max_points=7, block=3), pdist(x.reshape(23, -1)[:7]).mean(), rtol=1e-10
  )
  assert cs.mean_pairwise_distance(np.ones((5, 4))) == 0.0
  assert cs.mean_pairwise_distance(np.ones((1, 4))) == 0.0
