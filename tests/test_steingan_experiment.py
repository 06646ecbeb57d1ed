"""The SteinGAN RBM experiment (experiments/steingan_rbm.py, configs/steingan_rbm_mnist.py) on small synthetic data."""

import io
import json

import jax
import numpy as np
import pytest

from configs import steingan_rbm_mnist
from experiments.steingan_rbm import SteinGANExperiment
from stein_jax.evaluation import rbm as rbm_eval
from stein_jax.train import read_metrics, train_and_evaluate

DIM = 16


def _config(tmp_path, **overrides):
  config = steingan_rbm_mnist.get_config()
  config.update(dataset="synthetic_rbm", synthetic_dim=DIM, num_visible=DIM, num_hidden=3, batch_size=20,
                num_eval_train=100, num_steps=6, eval_every=3, checkpoint_every=3, log_every=3, noise_dim=4,
                generator_hidden=8, generator_channels=2, num_score_samples=200, num_samples=16,
                classifier_epochs=1, classifier_cache_dir=str(tmp_path / "cache"), alpha=0.5)
  config.update(overrides)
  return config


def _run(config, workdir):
  return train_and_evaluate(SteinGANExperiment(config), config, str(workdir), progress_stream=io.StringIO())


def test_runs_logs_and_resumes_exactly(tmp_path):
  straight = _run(_config(tmp_path), tmp_path / "straight")
  assert int(straight.step) == 6
  records = read_metrics(str(tmp_path / "straight"))
  evals = [r for r in records if "test/loglik" in r]
  assert [r["step"] for r in evals] == [3, 6]
  for r in evals:
    for key in ("test/loglik", "valid/loglik", "eval/classifier_score", "eval/generator_logp",
                "eval/sample_pixel_std"):
      assert np.isfinite(float(r[key]))
    assert 1.0 - 1e-4 <= float(r["eval/classifier_score"]) <= 4.0 + 1e-4  # 4 synthetic classes
  train = [r for r in records if "train/loss" in r]
  assert 0.0 < float(train[-1]["train/cd_fraction"]) < 1.0  # alpha = 0.5 mixes both sources
  experiment = SteinGANExperiment(_config(tmp_path))
  exact = float(rbm_eval.mean_log_likelihood(jax.device_get(straight.params["energy"]), experiment.data.test))
  assert float(evals[-1]["test/loglik"]) == pytest.approx(exact, rel=1e-5)
  with open(tmp_path / "straight" / "final.json") as f:
    final = json.load(f)
  assert final["test"] == pytest.approx(exact, rel=1e-5) and final["num_steps"] == 6
  assert (tmp_path / "straight" / "figures" / "samples.png").exists()
  assert (tmp_path / "straight" / "figures" / "curves.png").exists()
  # Interrupted at step 3 and resumed: the same parameters and the same metrics as the uninterrupted run.
  _run(_config(tmp_path, num_steps=3), tmp_path / "resumed")
  resumed = _run(_config(tmp_path), tmp_path / "resumed")
  jax.tree.map(np.testing.assert_array_equal, jax.device_get(resumed.params), jax.device_get(straight.params))
  assert read_metrics(str(tmp_path / "resumed")) == records


def test_kernel_free_regression_variant_runs(tmp_path):
  state = _run(_config(tmp_path, use_kernel=False, generator_update="regression", num_fit_steps=2, alpha=0.0,
                       discount=0.1, generator="mlp", num_steps=3), tmp_path / "run")
  assert int(state.step) == 3
  train = [r for r in read_metrics(str(tmp_path / "run")) if "train/loss" in r]
  assert float(train[-1]["train/cd_fraction"]) == 0.0 and float(train[-1]["train/generator_fit_loss"]) > 0


@pytest.mark.parametrize("overrides, match", [
    ({"alpha": 1.5}, "alpha"),
    ({"generator_update": "adversarial"}, "generator_update"),
    ({"discount": 1.0}, "discount"),
    ({"generator": "resnet"}, "generator"),
    ({"noise": "cauchy"}, "noise"),
    ({"bandwidth": "widest"}, "bandwidth"),
    ({"num_visible": 784}, "num_visible=16"),
    ({"synthetic_dim": 15, "num_visible": 15}, "generator=mlp"),
    ({"num_hidden": 30}, "MAX_EXACT_HIDDEN"),
    ({"num_fit_steps": 0}, "num_fit_steps"),
])
def test_bad_config_values_are_rejected(tmp_path, overrides, match):
  with pytest.raises(ValueError, match=match):
    SteinGANExperiment(_config(tmp_path, **overrides))
