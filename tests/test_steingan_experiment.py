"""The SteinGAN RBM experiment (experiments/steingan_rbm/, configs/steingan_rbm_mnist.py) on small synthetic data."""

import io
import json

import jax
import numpy as np
import pytest

from configs import steingan_rbm_mnist
from experiments.steingan_rbm import SteinGANExperiment
from stein_jax.targets import rbm as rbm_eval
from stein_jax.train import config as config_lib
from stein_jax.train import read_metrics, train_and_evaluate

DIM = 16


def _config(tmp_path, **overrides):
  """configs/steingan_rbm_mnist.py on synthetic pixels at a test's size; ``overrides`` by key path."""
  config = steingan_rbm_mnist.get_config()
  config.update(
    dataset="synthetic_pixels",
    synthetic_dim=DIM,
    num_visible=DIM,
    batch_size=20,
    num_eval_train=100,
    num_steps=6,
    eval_every=3,
    checkpoint_every=3,
    log_every=3,
    alpha=0.5,
  )
  config.model.update(num_hidden=3, noise_dim=4, generator_hidden=8, generator_channels=2)
  config.eval.update(
    num_score_samples=200, num_samples=16, classifier_epochs=1, classifier_cache_dir=str(tmp_path / "cache")
  )
  return config_lib.override(config, overrides)


def _run(config, workdir):
  return train_and_evaluate(SteinGANExperiment(config), config, str(workdir), progress_stream=io.StringIO())


@pytest.mark.slow
def test_runs_logs_and_resumes_exactly(tmp_path):
  straight = _run(_config(tmp_path), tmp_path / "straight")
  assert int(straight.step) == 6
  records = read_metrics(str(tmp_path / "straight"))
  evals = [r for r in records if "test/loglik" in r]
  assert [r["step"] for r in evals] == [3, 6]
  for r in evals:
    for key in (
      "test/loglik",
      "valid/loglik",
      "eval/classifier_score",
      "eval/generator_logp",
      "eval/sample_pixel_std",
      "eval/mean_pairwise_distance",
    ):
      assert np.isfinite(float(r[key]))
    assert 1.0 - 1e-4 <= float(r["eval/classifier_score"]) <= 4.0 + 1e-4  # 4 synthetic classes
    assert 0 <= int(r["eval/class_coverage"]) <= 4
    assert r["test/loglik_pixels"] == r["test/loglik"]  # [0, 1] pixels: no change of variables
  train = [r for r in records if "train/loss" in r]
  assert 0.0 < float(train[-1]["train/cd_fraction"]) < 1.0  # alpha = 0.5 mixes both sources
  experiment = SteinGANExperiment(_config(tmp_path))
  exact = float(rbm_eval.mean_log_likelihood(jax.device_get(straight.inner.params["energy"]), experiment.data.test))
  assert float(evals[-1]["test/loglik"]) == pytest.approx(exact, rel=1e-5)
  with open(tmp_path / "straight" / "final.json") as f:
    final = json.load(f)
  assert final["test"] == pytest.approx(exact, rel=1e-5) and final["num_steps"] == 6
  assert final["class_coverage_test_data"] >= 1 and final["mean_pairwise_distance_test_data"] > 0
  assert (tmp_path / "straight" / "figures" / "samples.png").exists()
  assert (tmp_path / "straight" / "figures" / "curves.png").exists()
  # Interrupted at step 3 and resumed: the same parameters and the same metrics as the uninterrupted run.
  _run(_config(tmp_path, num_steps=3), tmp_path / "resumed")
  resumed = _run(_config(tmp_path), tmp_path / "resumed")
  jax.tree.map(
    np.testing.assert_array_equal, jax.device_get(resumed.inner.params), jax.device_get(straight.inner.params)
  )
  assert read_metrics(str(tmp_path / "resumed")) == records


@pytest.mark.slow
def test_legacy_setting_reports_pixel_nats_with_the_jacobian(tmp_path):
  config = steingan_rbm_mnist.get_config("legacy")
  base = _config(tmp_path)
  for key in ("synthetic_dim", "num_visible", "batch_size", "num_eval_train"):
    config[key] = base[key]
  for key in ("num_hidden", "noise_dim", "generator_hidden", "generator_channels"):
    config.model[key] = base.model[key]
  for key in base.eval:
    config.eval[key] = base.eval[key]
  config.update(dataset="synthetic_rbm", num_steps=2, eval_every=2, checkpoint_every=2, log_every=2)
  _run(config, tmp_path / "legacy")
  record = [r for r in read_metrics(str(tmp_path / "legacy")) if "test/loglik" in r][-1]
  scale = SteinGANExperiment(config).data.scale
  assert scale != 1.0
  assert record["test/loglik_pixels"] == pytest.approx(record["test/loglik"] - DIM * np.log(scale), rel=1e-6)


def test_sample_batches_with_batch_normalisation_are_whole_chunks(tmp_path):
  experiment = SteinGANExperiment(_config(tmp_path))
  state = experiment.init_state(jax.random.key(0), experiment.config)
  x = experiment.samples(state.inner.params["generator"], 1001)  # would leave a chunk of 1
  assert x.shape == (1001, DIM) and np.all((x >= 0) & (x <= 1))


@pytest.mark.slow
def test_kernel_free_regression_variant_runs(tmp_path):
  state = _run(
    _config(
      tmp_path,
      alpha=0.0,
      discount=0.1,
      num_steps=3,
      **{"svgd.use_kernel": False, "svgd.generator_update": "regression", "svgd.num_fit_steps": 2},
      **{"model.generator": "mlp", "model.generator_normalization": False, "model.generator_output": "linear"},
    ),
    tmp_path / "run",
  )
  assert int(state.step) == 3
  train = [r for r in read_metrics(str(tmp_path / "run")) if "train/loss" in r]
  assert float(train[-1]["train/cd_fraction"]) == 0.0 and float(train[-1]["train/generator_fit_loss"]) > 0


@pytest.mark.parametrize(
  "overrides, match",
  [
    ({"alpha": 1.5}, "alpha"),
    ({"svgd.generator_update": "adversarial"}, r"svgd\.generator_update"),
    ({"discount": 1.0}, "discount"),
    ({"model.generator": "resnet"}, r"model\.generator must be"),
    ({"model.noise": "cauchy"}, r"model\.noise"),
    ({"svgd.bandwidth": "widest"}, r"svgd\.bandwidth"),
    ({"num_visible": 784}, "num_visible=16"),
    ({"synthetic_dim": 15, "num_visible": 15, "model.generator_output": "linear"}, r"model\.generator=mlp"),
    ({"model.num_hidden": 30}, "MAX_EXACT_HIDDEN"),
    ({"svgd.num_fit_steps": 0}, r"svgd\.num_fit_steps"),
    ({"svgd.kernel_normalization": "sum"}, r"svgd\.kernel_normalization"),
    ({"model.generator_output": "tanh"}, r"model\.generator_output"),
    ({"model.rbm_init": "xavier"}, r"model\.rbm_init"),
    ({"preprocess": "center_scale"}, "preprocess=unit"),  # sigmoid output on centred data
    ({"dataset": "synthetic_rbm"}, r"model\.generator_output=linear"),  # sigmoid output, data outside [0, 1]
    ({"batch_size": 1}, "batch_size >= 2"),
    ({"optimizer.weight_decay": -1.0}, r"optimizer\.weight_decay"),
  ],
)
def test_bad_config_values_are_rejected(tmp_path, overrides, match):
  with pytest.raises(ValueError, match=match):
    SteinGANExperiment(_config(tmp_path, **overrides))
