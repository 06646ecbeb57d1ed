"""The RBM experiment of Fig. 1a (experiments/energy.py, configs/rbm_mnist.py) on the platform, on small synthetic data.

Every run uses ``dataset="synthetic_rbm"`` (samples of a fixed random 16-dimensional RBM, no files needed).
"""

import io
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from configs import rbm_mnist
from experiments.energy import EnergyExperiment
from stein_jax.targets import rbm as rbm_eval
from stein_jax.train import NonFiniteLossError, read_metrics, train_and_evaluate
from stein_jax.train import config as config_lib
from tests import train_testutil as util

DIM = 16


def _config(method="steincd", **overrides):
  """A tiny run of configs/rbm_mnist.py:<method>; ``overrides`` by path (``**{"langevin.step_size": 1.0}``)."""
  config = rbm_mnist.get_config(method)
  config_lib.override(
    config,
    {
      "dataset": "synthetic_rbm",
      "synthetic_dim": DIM,
      "num_visible": DIM,
      "model.num_hidden": 4,
      "batch_size": 50,
      "num_eval_train": 200,
      "num_steps": 20,
      "eval_every": 10,
      "checkpoint_every": 10,
      "log_every": 5,
      "eval.num_samples": 16,
      "eval.langevin_chain_steps": 20,
      "optimizer.learning_rate": 1e-2,
    },
  )
  return config_lib.override(config, overrides)


def _run(config, workdir):
  return train_and_evaluate(EnergyExperiment(config), config, str(workdir), progress_stream=io.StringIO())


@pytest.mark.parametrize("method", rbm_mnist.METHODS)
def test_each_method_trains_and_logs_exact_loglik(tmp_path, method):
  state = _run(_config(method), tmp_path)
  assert int(state.step) == 20
  records = read_metrics(str(tmp_path))
  evals = [r for r in records if "test/loglik" in r]
  assert [r["step"] for r in evals] == [10, 20]
  for r in evals:
    assert {"test/loglik", "valid/loglik", "train_subset/loglik"} <= set(r)
    assert all(np.isfinite(float(r[k])) for k in ("test/loglik", "valid/loglik", "train_subset/loglik"))
  train = [r for r in records if "train/loss" in r]
  assert [r["step"] for r in train] == [5, 10, 15, 20]
  # The logged value is the exact log-likelihood of the test split at the final parameters.
  experiment = EnergyExperiment(_config(method))
  exact = float(rbm_eval.mean_log_likelihood(jax.device_get(state.inner.params), experiment.data.test))
  assert float(evals[-1]["test/loglik"]) == pytest.approx(exact, rel=1e-5)
  # It trains: better than the initial model (B ~ 0, b = c = 0).
  init = experiment.init_state(jax.random.key(0), experiment.config)
  initial = float(rbm_eval.mean_log_likelihood(init.inner.params, experiment.data.test))
  assert exact > initial
  with open(tmp_path / "final.json") as f:
    assert json.load(f)["test"] == pytest.approx(exact, rel=1e-5)
  assert os.path.exists(tmp_path / "figures" / "samples.png")
  assert os.path.exists(tmp_path / "figures" / "loglik.png")


@pytest.mark.slow
def test_resume_matches_uninterrupted(tmp_path):
  # CD-1 draws Langevin noise from state.step_rng(): the resumed run must redraw the same noise.
  _run(_config("cd1", num_steps=20), tmp_path / "straight")
  _run(_config("cd1", num_steps=10), tmp_path / "resumed")
  state = _run(_config("cd1", num_steps=20), tmp_path / "resumed")
  straight = _run(_config("cd1", num_steps=20), tmp_path / "straight")  # already done: restores the final state
  jax.tree.map(np.testing.assert_array_equal, jax.device_get(state.inner.params), jax.device_get(straight.inner.params))
  assert read_metrics(str(tmp_path / "resumed")) == read_metrics(str(tmp_path / "straight"))


def test_wrong_data_dimension_is_a_clear_error(tmp_path):
  with pytest.raises(ValueError, match=r"dimension 16.*num_visible=784"):
    EnergyExperiment(_config(num_visible=784))
  experiment = EnergyExperiment(_config())
  state = experiment.init_state(jax.random.key(0), experiment.config)
  with pytest.raises(ValueError, match=r"16 visible units.*dimension 15"):
    experiment.train_step(state, {"x": np.zeros((50, DIM - 1), np.float32)})


def test_too_many_hidden_units_names_the_limit():
  with pytest.raises(ValueError, match=f"MAX_EXACT_HIDDEN={rbm_eval.MAX_EXACT_HIDDEN}"):
    EnergyExperiment(_config(**{"model.num_hidden": rbm_eval.MAX_EXACT_HIDDEN + 1}))


def test_unknown_method_is_refused():
  with pytest.raises(ValueError, match="Unknown method 'cd2'"):
    rbm_mnist.get_config("cd2")
  config = _config()
  config.method = "pcd"
  with pytest.raises(ValueError, match="config.method must be one of"):
    EnergyExperiment(config)


def test_divergent_chain_stops_and_reports_the_step(tmp_path):
  # A Langevin step of 1000 multiplies x by about -499 per step: after 10 steps ||x||^2 overflows float32.
  config = _config("cd10", **{"langevin.step_size": 1000.0})
  with pytest.raises(NonFiniteLossError, match=r"non-finite training metric at step 1: .*train/loss=nan") as info:
    _run(config, tmp_path)
  assert info.value.step == 1
  assert not os.path.exists(tmp_path / "checkpoints" / "1")


@pytest.mark.slow
def test_command_line_reports_divergence_in_one_line(tmp_path):
  main = os.path.join(util.REPO, "experiments", "energy.py")
  cmd = [
    sys.executable,
    "-m",
    "experiments.energy",
    f"--config={os.path.join(util.REPO, 'configs', 'rbm_mnist.py')}:cd1",
    f"--workdir={tmp_path}",
    "--config.dataset=synthetic_rbm",
    f"--config.synthetic_dim={DIM}",
    f"--config.num_visible={DIM}",
    "--config.model.num_hidden=4",
    "--config.batch_size=50",
    "--config.num_steps=3",
    "--config.langevin.step_size=1e30",
  ]
  assert os.path.exists(main)
  proc = subprocess.run(cmd, cwd=util.REPO, env=util.subprocess_env(), capture_output=True, text=True, timeout=120)
  assert proc.returncode == 1, proc.stderr[-3000:]
  assert "error: NonFiniteLossError: non-finite training metric at step 1" in proc.stderr
  assert "Traceback" not in proc.stderr
