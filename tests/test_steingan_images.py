"""SteinGAN on images (experiments/steingan_images/, configs/steingan_*.py) and the sample-quality metrics.

The runs use ``dataset="synthetic"`` (8 x 8 labelled toy squares, no files) and a fixed user-supplied classifier, so
no classifier is trained inside a run; the metrics of ``stein_jax.evaluation.sample_quality`` are tested on their own.
Real CIFAR-10 is used only when ``STEIN_JAX_DATA_DIR`` is set.
"""

import io
import json
import os

import jax
import ml_collections
import numpy as np
import pytest

from configs import steingan_celeba, steingan_cifar10, steingan_lsun
from experiments.steingan_images import SteinGANImages, synthetic_images
from experiments import steingan_images
from stein_jax.objectives.steingan import adaptive_discount, authors_discount
from stein_jax.evaluation import sample_quality as sq
from stein_jax.models.dcgan import ConvClassifier
from stein_jax.train import ConfigError, WorkdirMismatchError, read_metrics, train_and_evaluate
from stein_jax.train import config as config_lib
from stein_jax.train import loop

REAL_DATA_DIR = os.environ.get("STEIN_JAX_DATA_DIR", "").strip()


def _config(**overrides):
  """The tiny synthetic setting; ``overrides`` nested as the config (``svgd=dict(use_kernel=False)``)."""
  config = steingan_cifar10.get_config("cpu")
  config.update(dataset="synthetic", image_size=8, synthetic_classes=2, batch_size=8)
  config.update(num_steps=4, eval_every=2, checkpoint_every=2, log_every=1)
  config.model.update(code_dim=4, energy_width=4, generator_width=4)
  config.eval.update(batches=1, num_score_samples=16, num_accuracy_samples=0, grid_columns=2)
  config.update(overrides)
  return config


def _nested(path, value):
  """``{"svgd": {"direction": value}}`` for ``path="svgd.direction"``."""
  for part in reversed(path.split(".")):
    value = {part: value}
  return value


def _fixed_classifier():
  module = ConvClassifier(2, 2)
  params = module.init(jax.random.key(0), np.zeros((1, 8, 8, 3), np.float32))
  return sq.ImageClassifier(module.apply, params, 0.5, None, False)


def test_discount_switch():
  # gamma = 0.9 exactly when the real batch's energy exceeds the generated batch's; 0.7 otherwise (ties included).
  assert float(adaptive_discount(2.0, 1.0)) == pytest.approx(0.9)
  assert float(adaptive_discount(1.0, 2.0)) == pytest.approx(0.7)
  assert float(adaptive_discount(1.0, 1.0)) == pytest.approx(0.7)
  assert float(adaptive_discount(-3.0, -5.0, base=0.1, boosted=0.2)) == pytest.approx(0.2)
  assert float(jax.jit(adaptive_discount)(0.5, 0.25)) == pytest.approx(0.9)


AUTHORS = dict(steingan_cifar10.AUTHORS_OPTIONS)


def test_authors_discount_switch_by_hand():
  # Their loop: balance_weight = 0.3 (gamma 0.7) when the real batch's reconstruction error is larger, else 0.1
  # (gamma 0.9), ties included: the reverse of the text's rule at the same comparison.
  for real, fake in ((2.0, 1.0), (1.0, 2.0), (1.5, 1.5), (30.0, 29.99)):
    balance_weight = 0.3 if real > fake else 0.1
    assert float(authors_discount(real, fake)) == pytest.approx(1 - balance_weight)
  assert float(adaptive_discount(2.0, 1.0)) == pytest.approx(0.9) and float(
    authors_discount(2.0, 1.0)
  ) == pytest.approx(0.7)
  assert float(jax.jit(authors_discount)(0.5, 0.25, 0.1, 0.2)) == pytest.approx(0.1)


@pytest.mark.slow
def test_authors_discount_is_decided_after_a_step_for_the_next(tmp_path):
  config = _config(num_steps=4, **AUTHORS)
  experiment = SteinGANImages(config, classifier=_fixed_classifier())
  train_and_evaluate(experiment, config, str(tmp_path), progress_stream=io.StringIO())
  train = [r for r in read_metrics(str(tmp_path)) if "train/loss" in r]
  assert train[0]["train/discount"] == pytest.approx(0.7)  # their initial balance_weight 0.3
  for before, after in zip(train, train[1:]):
    want = 0.7 if before["train/reconstruction_pos"] > before["train/reconstruction_neg"] else 0.9
    assert after["train/discount"] == pytest.approx(want)


def test_weight_decay_is_coupled_l2_before_adam():
  params = {"w": np.array([1.0, -2.0, 0.5], np.float32)}
  grads = {"w": np.array([0.1, 0.3, -0.2], np.float32)}
  tx = steingan_images._adam(1e-3, 0.5, 0.1)
  updates, _ = tx.update(grads, tx.init(params), params)
  # Adam's first step on g + lambda * w is -lr * sign(g + lambda * w) (bias-corrected m / sqrt(v)).
  expected = -1e-3 * np.sign(grads["w"] + 0.1 * params["w"])
  np.testing.assert_allclose(updates["w"], expected, rtol=1e-4)
  assert steingan_images._adam(1e-3, 0.5, 0.0).init(params) is not None


@pytest.mark.parametrize(
  "options",
  [{}, AUTHORS, dict(svgd=dict(direction="row_sum"), model=dict(energy_batch_norm=True))],
  ids=["paper", "authors", "row_sum_batch_norm"],
)
@pytest.mark.slow
def test_tiny_run_logs_metrics_writes_figures_and_resumes_exactly(tmp_path, options):
  experiment = SteinGANImages(_config(**options), classifier=_fixed_classifier())
  run = lambda n, d: train_and_evaluate(
    experiment, _config(num_steps=n, **options), str(tmp_path / d), progress_stream=io.StringIO()
  )
  straight = run(4, "straight")
  run(2, "resumed")
  resumed = run(4, "resumed")
  assert int(resumed.step) == 4
  jax.tree.map(
    np.testing.assert_array_equal, jax.device_get(resumed.inner.params), jax.device_get(straight.inner.params)
  )
  jax.tree.map(np.testing.assert_array_equal, jax.device_get(resumed.inner), jax.device_get(straight.inner))
  records = read_metrics(str(tmp_path / "straight"))
  assert records == read_metrics(str(tmp_path / "resumed"))
  train = [r for r in records if "train/loss" in r]
  assert [r["step"] for r in train] == [1, 2, 3, 4]
  for r in train:
    if not options:
      assert r["train/discount"] == pytest.approx(0.9 if r["train/energy_pos"] > r["train/energy_neg"] else 0.7)
    assert np.isfinite(r["train/loss"]) and r["train/phi_rms"] > 0
  evals = [r for r in records if "eval/energy_real" in r]
  assert [r["step"] for r in evals] == [2, 4]
  for key in ("energy_real", "energy_generated", "reconstruction_real", "classifier_score", "generated_label_accuracy"):
    assert np.isfinite(evals[-1][f"eval/{key}"])
  assert 1.0 - 1e-5 <= evals[-1]["eval/classifier_score"] <= 2.0 + 1e-5
  assert 0 <= evals[-1]["eval/class_coverage"] <= 2 and evals[-1]["eval/mean_pairwise_distance"] > 0
  # The parameters moved, both networks.
  init = experiment.init_state(jax.random.key(0), experiment.config)
  for name in ("energy", "generator"):
    moved = jax.tree.map(
      lambda a, b: float(np.max(np.abs(np.asarray(a) - np.asarray(b)))),
      jax.device_get(straight.inner.params[name]),
      init.inner.params[name],
    )
    assert max(jax.tree.leaves(moved)) > 0
  with open(tmp_path / "straight" / "final.json") as f:
    final = json.load(f)
  assert final["step"] == 4 and final["energy_parameters"] > 0
  assert final["energy_real"] == pytest.approx(evals[-1]["eval/energy_real"])
  for name in ("samples", "energies"):
    assert os.path.exists(tmp_path / "straight" / "figures" / f"{name}.png")


def test_generator_samples_follow_the_requested_labels_and_frequencies():
  experiment = SteinGANImages(_config(), classifier=_fixed_classifier())
  state = experiment.init_state(jax.random.key(0), experiment.config)
  images, labels = experiment.generate(jax.device_get(state.inner.params), 20, seed=0)
  assert images.shape == (20, 8, 8, 3) and images.dtype == np.uint8 and labels.shape == (20,)
  np.testing.assert_allclose(experiment.label_frequencies, np.bincount(experiment.data.train_y) / 2000)
  given = np.array([1, 0, 1], np.int32)
  _, got = experiment.generate(jax.device_get(state.inner.params), 3, labels=given)
  np.testing.assert_array_equal(got, given)


def test_bad_configs_are_refused_with_the_fix():
  with pytest.raises(ConfigError, match=r"config.dataset must be one of .*'mnist'"):
    SteinGANImages(_config(dataset="mnist"))
  with pytest.raises(ConfigError, match=r"images have shape \(8, 8, 3\).*--config.channels=3"):
    SteinGANImages(_config(channels=1))
  with pytest.raises(ConfigError, match=r"config.image_size: .*power of two"):
    SteinGANImages(_config(image_size=12))
  with pytest.raises(ConfigError, match=r"config.discount must be in \[0, 1\)"):
    SteinGANImages(_config(discount=1.0))
  with pytest.raises(ValueError, match="Unknown setting 'gpu'"):
    steingan_cifar10.get_config("gpu")


@pytest.mark.parametrize(
  "key, value, message",
  [
    ("discount_rule", "text", r"config.discount_rule must be one of \('paper', 'authors_code'\); got 'text'"),
    ("svgd.bandwidth_rule", "median", r"config.svgd.bandwidth_rule must be one of \('paper', 'authors_code'\)"),
    ("svgd.direction", "svgd", r"config.svgd.direction must be one of \('paper', 'row_sum', 'nearest_neighbor'\)"),
    ("model.input_dropout", 1.0, r"config.model.input_dropout must be a float in \[0, 1\).*got 1.0"),
    ("model.input_dropout", -0.1, r"config.model.input_dropout must be a float in \[0, 1\)"),
    ("optimizer.weight_decay", -1e-5, r"config.optimizer.weight_decay must be a float >= 0.*got -1e-05"),
    ("svgd.direction_norm_stats", "running", r"config.svgd.direction_norm_stats must be one of \('frozen', 'batch'\)"),
  ],
)
def test_bad_authors_options_are_refused_naming_the_option(key, value, message):
  with pytest.raises(ConfigError, match=message):
    SteinGANImages(_config(**_nested(key, value)))


def test_batch_norm_with_a_batch_of_one_and_label_every_layer_without_labels_are_refused():
  with pytest.raises(ConfigError, match=r"config.model.energy_batch_norm=True .*batch_size >= 2; got batch_size=1"):
    SteinGANImages(_config(model=dict(energy_batch_norm=True), batch_size=1))
  with pytest.raises(ConfigError, match=r"config.model.label_every_layer=True .*--config.joint_model=True"):
    SteinGANImages(_config(model=dict(label_every_layer=True), joint_model=False))
  authors = config_lib.flatten_config(ml_collections.ConfigDict(AUTHORS))
  for setting in ("authors", "cpu_authors"):
    config = config_lib.flatten_config(steingan_cifar10.get_config(setting))
    assert {k: config[k] for k in authors} == authors and len(authors) == 8


@pytest.mark.parametrize("get_config", [steingan_celeba.get_config, steingan_lsun.get_config])
def test_celeba_and_lsun_configs_fail_with_the_registry_message_when_absent(tmp_path, get_config, monkeypatch):
  from stein_jax.data import tfds as tfds_lib

  config = get_config()
  assert config.image_size == 64 and not config.joint_model and config.model.energy_width == 32
  config.data_dir = str(tmp_path)  # an empty data directory
  monkeypatch.setattr(tfds_lib, "tfds_available", lambda: False)  # offline: no TFDS download attempt
  with pytest.raises(FileNotFoundError, match=config.dataset):
    SteinGANImages(config)


# The nested configs' fingerprints (those of the flat configs they replace) are pinned in tests/test_config_nesting.py,
# with the deletion of each grouped key; here the top-level keys and the two eval keys that lost their prefix.


def test_a_missing_or_still_flat_key_is_named_before_any_data_is_read():
  for key in steingan_images.checks.TOP_KEYS:
    config = steingan_cifar10.get_config()
    config.dataset = "lsun"  # not on disk: a config error must come first
    del config[key]
    with pytest.raises(ConfigError, match=f"the config lacks {key}"):
      SteinGANImages(config)
  for flat, path in (
    ("use_kernel", "svgd.use_kernel"),
    ("eval_batches", "eval.batches"),
    ("num_eval_samples", "eval.num_score_samples"),
  ):
    config = _config()
    config[flat] = 1  # an override still written with the old flat name
    with pytest.raises(ConfigError, match=f"the key moved: set {path} instead of {flat}"):
      SteinGANImages(config)


def test_a_changed_key_of_a_workdir_is_named_by_its_path(tmp_path):
  config = _config()
  loop.check_workdir(str(tmp_path), SteinGANImages(config, classifier=_fixed_classifier()), config)
  config.svgd.use_kernel, config.optimizer.adam_b1, config.eval.batches = False, 0.6, 3
  with pytest.raises(WorkdirMismatchError) as info:
    loop.check_workdir(str(tmp_path), SteinGANImages(config, classifier=_fixed_classifier()), config)
  msg = str(info.value)
  assert "svgd.use_kernel: true in the workdir, false now" in msg and "optimizer.adam_b1: 0.5" in msg
  assert "batches" not in msg  # an evaluation key may change on resume


def _separable(num, seed):
  return synthetic_images(num, 8, 4, seed)


def test_sample_quality_metrics_separable_shuffled_cached_and_corrupt_cache(tmp_path):
  train_x, train_y = _separable(400, 0)
  test_x, test_y = _separable(200, 1)
  settings = dict(width=4, num_steps=100, batch_size=32, learning_rate=3e-3)
  # A trivially separable set: near-100% test accuracy (the metric's ceiling) ...
  first = sq.cached_image_classifier(
    "toy", train_x, train_y, test_x, test_y, num_classes=4, cache_dir=str(tmp_path), **settings
  )
  assert first.trained and first.test_accuracy >= 0.95
  # ... and the same training on shuffled labels: chance (1/4) on the real test labels.
  shuffled = np.random.default_rng(0).permutation(train_y)
  chance = sq.train_on_samples_accuracy(train_x, shuffled, test_x, test_y, num_classes=4, **settings)
  assert abs(chance - 0.25) < 0.12, chance
  # The cache returns the same classifier without training.
  again = sq.cached_image_classifier(
    "toy", train_x, train_y, test_x, test_y, num_classes=4, cache_dir=str(tmp_path), **settings
  )
  assert not again.trained and again.test_accuracy == first.test_accuracy
  jax.tree.map(np.testing.assert_array_equal, jax.device_get(again.params), jax.device_get(first.params))
  # Classifier score: above 3 (of at most C = 4) on the class-balanced test set, about 1 on one class.
  assert sq.classifier_score(again.apply_fn, again.params, test_x) > 3.0
  assert sq.classifier_score(again.apply_fn, again.params, test_x[test_y == 0]) < 1.3
  # A corrupt cache file is retrained (deterministically: the same accuracy) after a warning.
  with open(first.path, "wb") as f:
    f.write(b"not a msgpack file")
  with pytest.warns(RuntimeWarning, match="unreadable or does not match"):
    rebuilt = sq.cached_image_classifier(
      "toy", train_x, train_y, test_x, test_y, num_classes=4, cache_dir=str(tmp_path), **settings
    )
  assert rebuilt.trained and rebuilt.test_accuracy == first.test_accuracy
  # The "500 duplicate" baseline: num_unique distinct images, each repeated.
  dup_x, dup_y = sq.duplicated_subset(train_x, train_y, num_unique=5, copies=3)
  assert dup_x.shape == (15, 8, 8, 3) and len({a.tobytes() for a in dup_x}) == 5
  np.testing.assert_array_equal(dup_y[::3], dup_y[1::3])
  with pytest.raises(ValueError, match=r"labels must lie in \[0, 4\)"):
    sq.train_on_samples_accuracy(train_x, train_y + 4, test_x, test_y, num_classes=4, **settings)


@pytest.mark.skipif(
  not REAL_DATA_DIR,
  reason="real data sets not configured: set STEIN_JAX_DATA_DIR to a data "
  "directory holding cifar10 to run this test",
)
def test_cifar10_config_builds_on_real_data():
  config = steingan_cifar10.get_config("cpu")
  experiment = SteinGANImages(config, classifier=_fixed_classifier())
  assert experiment.data.image_shape == (32, 32, 3) and experiment.num_classes == 10
  batch = experiment.batch(0)
  assert batch["x"].shape == (32, 32, 32, 3) and batch["y"].shape == (32,)
  np.testing.assert_allclose(experiment.label_frequencies, 0.1, atol=1e-3)


def test_max_train_examples_keeps_a_fixed_subset_of_every_class(monkeypatch):
  # The CIFAR-10 JPEG archive is sorted by class: a first-N cut would keep class 0 only.
  import types

  from stein_jax.data import images as images_lib
  from stein_jax.data import loading

  y = np.repeat(np.arange(10), 50)
  x = np.arange(500)[:, None, None, None] * np.ones((1, 2, 2, 3), np.int64)  # image i holds the value i

  def fake_load(name, split, data_dir, scale=None, **kw):
    assert "max_examples" not in kw
    return types.SimpleNamespace(x=x, y=y, info={"class_names": tuple(map(str, range(10)))})

  monkeypatch.setattr(loading, "load", fake_load)
  images_lib.load_image_data.cache_clear()
  try:
    a = images_lib.load_image_data("cifar10", "/nowhere", 32, 60)
    b = images_lib.load_image_data.__wrapped__("cifar10", "/nowhere", 32, 60)
    full = images_lib.load_image_data("cifar10", "/nowhere", 32, None)
  finally:
    images_lib.load_image_data.cache_clear()
  assert a.train_x.shape[0] == 60 and len(np.unique(a.train_y)) >= 8
  np.testing.assert_array_equal(a.train_y, b.train_y)  # the same subset every time
  np.testing.assert_array_equal(a.train_x[:, 0, 0, 0], np.sort(a.train_x[:, 0, 0, 0]))  # source order kept
  np.testing.assert_array_equal(a.train_y, y[a.train_x[:, 0, 0, 0]])  # images keep their labels
  assert full.train_x.shape[0] == 500
