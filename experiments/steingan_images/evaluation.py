"""The image SteinGAN's measures: energies of real and generated images, the classifier score with its diversity
companions, and the train-on-generated accuracy of ``final.json`` beside the paper's two real-data baselines.

Each function takes the experiment (:class:`experiments.steingan_images.SteinGANImages`) for its data, its config
and its jitted generator and energy; the score classifier is trained once per setting and cached.
"""

import jax.numpy as jnp
import numpy as np

from stein_jax.evaluation import sample_quality


def classifier_settings(config) -> dict:
  """The budget of every classifier (the score's and the accuracies'), so that all are comparable."""
  return dict(width=config.eval.classifier_width, num_steps=config.eval.classifier_steps, batch_size=64, seed=0)


def score_classifier(config, data):
  """A CNN trained on the training split of ``data`` (labelled data sets only), cached by data set and settings."""
  return sample_quality.cached_image_classifier(
    config.dataset,
    data.train_x,
    data.train_y,
    data.test_x,
    data.test_y,
    num_classes=data.num_classes,
    cache_dir=config.eval.classifier_cache_dir,
    **classifier_settings(config),
  )


def energy_stats(experiment, params, images, labels):
  """Mean energy and reconstruction error, in batches of ``batch_size`` (batch norm: each batch's statistics)."""
  x = sample_quality.as_centered(images)
  m = experiment.config.batch_size
  fs, recs = [], []
  for start in range(0, len(x) - m + 1, m):
    y = None if not experiment.num_classes else jnp.asarray(labels[start : start + m])
    f, rec = experiment._energies_jit(params["energy"], jnp.asarray(x[start : start + m]), y)
    fs.append(np.asarray(f))
    recs.append(np.asarray(rec))
  return float(-np.mean(np.concatenate(fs))), float(np.mean(np.concatenate(recs)))


def eval_metrics(experiment, params) -> dict:
  """One evaluation: energies of test and generated images, the classifier score, coverage, spread, label accuracy."""
  config, data = experiment.config, experiment.data
  # A fixed random subset of the test split (its files may be sorted by class).
  idx = np.sort(np.random.default_rng(0).permutation(len(data.test_x))[: config.eval.batches * config.batch_size])
  real_labels = None if not experiment.num_classes else data.test_y[idx]
  fake, labels = experiment.generate(params, idx.size, seed=1)
  e_real, rec_real = energy_stats(experiment, params, data.test_x[idx], real_labels)
  e_fake, _ = energy_stats(experiment, params, fake, labels)
  out = {"energy_real": e_real, "energy_generated": e_fake, "reconstruction_real": rec_real}
  classifier = experiment.classifier()
  if classifier is not None:
    samples, labels = experiment.generate(params, config.eval.num_score_samples, seed=2)
    probs = sample_quality.predict_probabilities(classifier.apply_fn, classifier.params, samples)
    out["classifier_score"] = float(sample_quality.score_lib.inception_score(probs))
    # Diversity beside the score: classes holding >= 5 % of the samples, and their spread in [0, 1] pixels.
    out["class_coverage"] = sample_quality.score_lib.class_coverage(probs, 0.05)
    out["mean_pairwise_distance"] = sample_quality.score_lib.mean_pairwise_distance(samples / 255.0)
    if labels is not None:
      out["generated_label_accuracy"] = float(np.mean(np.argmax(probs, -1) == labels))
  return out


def accuracy_record(experiment, params, classifier) -> dict:
  """Test accuracy of a classifier trained on ``eval.num_accuracy_samples`` generated images, beside the same classifier
  trained on the real training set and on 500 real images duplicated 100 times (one budget for all three)."""
  config, data = experiment.config, experiment.data
  settings = classifier_settings(config)
  samples, labels = experiment.generate(params, config.eval.num_accuracy_samples, seed=3)
  record = {}
  record["train_on_generated_accuracy"] = sample_quality.train_on_samples_accuracy(
    samples, labels, data.test_x, data.test_y, num_classes=data.num_classes, **settings
  )
  record["real_train_accuracy"] = classifier.test_accuracy
  dup_x, dup_y = sample_quality.duplicated_subset(data.train_x, data.train_y, seed=0)
  duplicate = sample_quality.cached_image_classifier(
    f"{config.dataset}_dup500",
    dup_x,
    dup_y,
    data.test_x,
    data.test_y,
    num_classes=data.num_classes,
    cache_dir=config.eval.classifier_cache_dir,
    **settings,
  )
  record["duplicate500_accuracy"] = duplicate.test_accuracy
  record["num_accuracy_samples"] = int(config.eval.num_accuracy_samples)
  record["classifier"] = dict(settings, architecture="ConvClassifier (DCGAN trunk + 2 dense)")
  return record
