"""The SteinGAN-RBM experiment's measures: the score classifier, and the generator's samples under it and the RBM."""

import os

import jax
import jax.numpy as jnp
import numpy as np

from stein_jax import data as data_lib
from stein_jax.evaluation import classifier_score as score_lib
from stein_jax.targets import rbm as rbm_eval

COVERAGE_THRESHOLD = 0.05
SYNTHETIC_CLASSES = 4
LABEL_SEED = 4321


@jax.jit
def _mean_loglik(variables, x):
  return rbm_eval.mean_log_likelihood(variables, x)


def score_classifier(config, data, workdir):
  """The classifier of the score, trained once and cached (MNIST: its labels; synthetic data: 4 projection classes).

  The cache is ``config.eval.classifier_cache_dir``, else ``$STEIN_JAX_CACHE_DIR``, else ``workdir/cache``.
  """
  cache = config.eval.classifier_cache_dir or os.environ.get(data_lib.ENV_CACHE_DIR) or os.path.join(workdir, "cache")
  if config.dataset == "mnist":
    return score_lib.mnist_classifier(config.data_dir, cache, num_epochs=config.eval.classifier_epochs)
  x_train, x_test = data.to_pixels(data.train), data.to_pixels(data.test)
  proj = np.random.default_rng(LABEL_SEED).normal(size=(x_train.shape[1], SYNTHETIC_CLASSES))
  label = lambda x: np.argmax((x - x_train.mean(0)) @ proj, axis=1)
  return score_lib.cached_classifier(
    f"{config.dataset}{x_train.shape[1]}",
    x_train.astype(np.float32),
    label(x_train),
    x_test.astype(np.float32),
    label(x_test),
    num_classes=SYNTHETIC_CLASSES,
    cache_dir=cache,
    hidden=(64,),
    num_epochs=config.eval.classifier_epochs,
    batch_size=min(128, x_train.shape[0]),
  )


def generator_metrics(x, energy_params, clf, data) -> dict:
  """Classifier score, class coverage, spread and exact RBM log-density of generator samples ``x [n, d]``."""
  pixels = data.to_pixels(x).astype(np.float32)
  probs = score_lib.class_probabilities(clf.apply_fn, clf.params, pixels)
  return {
    "classifier_score": float(score_lib.inception_score(probs)),
    "class_coverage": score_lib.class_coverage(probs, COVERAGE_THRESHOLD),
    "mean_pairwise_distance": score_lib.mean_pairwise_distance(pixels),
    "generator_logp": float(_mean_loglik(energy_params, jnp.asarray(x[:5000]))),
    "sample_pixel_std": float(pixels.std(0).mean()),
  }


def reference_metrics(clf, data) -> dict:
  """The same measures for the test digits, the reference beside the generator's in ``final.json``."""
  out = {"classifier_test_accuracy": clf.test_accuracy}
  test_pixels = data.to_pixels(data.test).astype(np.float32)
  test_probs = score_lib.class_probabilities(clf.apply_fn, clf.params, test_pixels)
  out["classifier_score_test_data"] = float(score_lib.inception_score(test_probs))
  out["class_coverage_test_data"] = score_lib.class_coverage(test_probs, COVERAGE_THRESHOLD)
  out["mean_pairwise_distance_test_data"] = score_lib.mean_pairwise_distance(test_pixels)
  return out
