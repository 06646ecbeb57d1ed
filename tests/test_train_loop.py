"""The training loop: compile once, schedule, NaN policy, workdir checks."""

import io
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from stein_jax.train import config as config_lib
from stein_jax.train import figures
from stein_jax.train import loop
from stein_jax.train import metrics as metrics_lib
from stein_jax.train.experiment import Experiment
from stein_jax.train.state import TrainState
from tests import train_testutil as util
from tests import train_toy_experiment as toy


def _steps(workdir, prefix):
  return [r["step"] for r in metrics_lib.read_metrics(workdir) if any(k.startswith(prefix) for k in r)]


def test_schedule_and_single_compilation(tmp_path):
  workdir = str(tmp_path / "run")
  config = util.toy_config(num_steps=45, log_every=10, eval_every=20, checkpoint_every=15)
  before = toy.TRACE_COUNT[0]
  stream = io.StringIO()
  state = loop.train_and_evaluate(toy.ToyRegression(config), config, workdir, progress_stream=stream)
  assert toy.TRACE_COUNT[0] - before == 1
  assert int(state.step) == 45
  assert _steps(workdir, "train/") == [10, 20, 30, 40, 45]
  assert _steps(workdir, "eval/") == [20, 40, 45]
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["15", "30", "45"]
  records = metrics_lib.read_metrics(workdir)
  assert set(records[0]) == {"step", "train/loss", "train/grad_norm"}
  mse = {r["step"]: r["eval/mse"] for r in records if "eval/mse" in r}
  assert mse[45] < mse[20]  # it trains
  assert records[-1]["step"] == 45 and "eval/mse" in records[-1]
  assert os.listdir(os.path.join(workdir, "tensorboard"))
  assert stream.getvalue().startswith("finished at step 45") and "eval/mse=" in stream.getvalue()
  assert os.path.getsize(os.path.join(workdir, "figures", "training_curves.png")) > 1000

  # Same command, longer run: resumes at 45, traces once more (new process
  # would too), appends only the new steps.
  config.num_steps = 60
  before = toy.TRACE_COUNT[0]
  loop.train_and_evaluate(toy.ToyRegression(config), config, workdir, progress_stream=io.StringIO())
  assert toy.TRACE_COUNT[0] - before == 1
  assert _steps(workdir, "train/") == [10, 20, 30, 40, 45, 50, 60]
  assert _steps(workdir, "eval/") == [20, 40, 45, 60]

  # Already complete: nothing trained, nothing logged twice.
  before = toy.TRACE_COUNT[0]
  state = loop.train_and_evaluate(toy.ToyRegression(config), config, workdir)
  assert toy.TRACE_COUNT[0] == before
  assert int(state.step) == 60
  assert _steps(workdir, "eval/") == [20, 40, 45, 60]


def test_logged_train_metrics_are_window_means(tmp_path):
  config = util.toy_config(num_steps=4, log_every=2, eval_every=100, checkpoint_every=100)
  experiment = toy.ToyRegression(config)
  loop.train_and_evaluate(experiment, config, str(tmp_path))
  # Replay the steps by hand with the same jitted function.
  state = jax.jit(lambda k: experiment.init_state(k, config))(jax.random.key(config.seed))
  losses = []
  step_fn = jax.jit(experiment.train_step)
  for step in range(4):
    state, m = step_fn(state, experiment.batch(step))
    losses.append(float(m["loss"]))
  logged = [r["train/loss"] for r in metrics_lib.read_metrics(str(tmp_path)) if "train/loss" in r]
  np.testing.assert_allclose(logged, [np.mean(losses[:2]), np.mean(losses[2:])], rtol=1e-6)


def test_nonfinite_loss_stops_without_saving(tmp_path):
  workdir = str(tmp_path / "run")
  config = util.toy_config(num_steps=100, checkpoint_every=20, log_every=10, eval_every=50, nan_at_step=37)
  with pytest.raises(loop.NonFiniteLossError, match="step 37") as info:
    loop.train_and_evaluate(toy.ToyRegression(config), config, workdir)
  assert info.value.step == 37
  assert "train/loss=nan" in str(info.value)
  assert "last good checkpoint (step 20)" in str(info.value)
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["20"]
  assert _steps(workdir, "train/") == [10, 20, 30]


def test_nan_before_any_checkpoint(tmp_path):
  config = util.toy_config(num_steps=10, checkpoint_every=5, log_every=5, eval_every=5, nan_at_step=3)
  with pytest.raises(loop.NonFiniteLossError, match="no checkpoint had been saved"):
    loop.train_and_evaluate(toy.ToyRegression(config), config, str(tmp_path))
  assert not os.listdir(os.path.join(str(tmp_path), "checkpoints"))


def test_workdir_of_another_run_is_refused(tmp_path):
  workdir = str(tmp_path / "run")
  config = util.toy_config(num_steps=5, eval_every=5, checkpoint_every=5)
  loop.train_and_evaluate(toy.ToyRegression(config), config, workdir)
  with open(os.path.join(workdir, "run.json")) as f:
    run = json.load(f)
  assert run["experiment"] == "toy_regression"
  assert run["config"]["learning_rate"] == 0.01
  assert "num_steps" not in run["config"]

  other = util.toy_config(num_steps=5, eval_every=5, checkpoint_every=5, learning_rate=0.1, hidden=8)
  with pytest.raises(loop.WorkdirMismatchError) as info:
    loop.train_and_evaluate(toy.ToyRegression(other), other, workdir)
  msg = str(info.value)
  assert "learning_rate: 0.01 in the workdir, 0.1 now" in msg
  assert "hidden: 16 in the workdir, 8 now" in msg
  assert "another --workdir" in msg

  class Renamed(toy.ToyRegression):
    name = "other_experiment"

  with pytest.raises(loop.WorkdirMismatchError, match="other_experiment"):
    loop.train_and_evaluate(Renamed(config), config, workdir)

  # Keys that may change on resume do not make it another run.
  longer = util.toy_config(num_steps=10, eval_every=5, checkpoint_every=5, log_every=3, step_sleep=0.001)
  state = loop.train_and_evaluate(toy.ToyRegression(longer), longer, workdir)
  assert int(state.step) == 10


def test_unknown_leftovers_without_run_json_are_refused(tmp_path):
  workdir = tmp_path / "run"
  workdir.mkdir()
  (workdir / "metrics.jsonl").write_text('{"step": 1}\n')
  config = util.toy_config(num_steps=5)
  with pytest.raises(loop.WorkdirMismatchError, match="no run.json"):
    loop.train_and_evaluate(toy.ToyRegression(config), config, str(workdir))


class _Counter(Experiment):
  """No data, no optimizer: step counts, extra accumulates per-step noise."""

  name = "counter"

  def init_state(self, rng, config):
    return TrainState(step=jnp.zeros((), jnp.int32), params={}, opt_state=(), rng=rng, extra={"sum": jnp.zeros(())})

  def train_step(self, state, batch):
    assert batch is None
    noise = jax.random.normal(state.step_rng())
    return (state.replace(step=state.step + 1, extra={"sum": state.extra["sum"] + noise}), {"noise": noise})

  def finalize(self, state, workdir):
    fig = figures.new_figure()
    fig.add_subplot().plot([0, int(state.step)])
    figures.save_figure(fig, workdir, "final")


def test_experiment_without_data_and_step_keys(tmp_path):
  config = util.toy_config(num_steps=6, log_every=1, eval_every=6, checkpoint_every=3)
  state = loop.train_and_evaluate(_Counter(config), config, str(tmp_path))
  key = jax.random.key(config.seed)
  expected = [float(jax.random.normal(jax.random.fold_in(key, s))) for s in range(6)]
  logged = [r["train/noise"] for r in metrics_lib.read_metrics(str(tmp_path))]
  np.testing.assert_allclose(logged, expected, rtol=1e-6)
  np.testing.assert_allclose(float(state.extra["sum"]), sum(expected), rtol=1e-5)
  assert os.path.exists(tmp_path / "figures" / "final.png")  # finalize ran


def test_step_that_does_not_increment_is_an_error(tmp_path):
  class Stuck(_Counter):
    name = "stuck"

    def train_step(self, state, batch):
      return state, {}

  config = util.toy_config(num_steps=3)
  with pytest.raises(ValueError, match="step incremented by one"):
    loop.train_and_evaluate(Stuck(config), config, str(tmp_path))


def test_invalid_config_is_reported_before_anything_runs(tmp_path):
  config = util.toy_config(num_steps=0)
  with pytest.raises(config_lib.ConfigError, match="num_steps must be an int"):
    loop.train_and_evaluate(toy.ToyRegression(config), config, str(tmp_path / "run"))
  assert not os.path.exists(tmp_path / "run")


def test_resume_mid_log_window_matches_uninterrupted(tmp_path):
  # Checkpoints (every 15) fall inside log windows (every 10): the restart
  # must log the same window means as an uninterrupted run.
  base = dict(num_steps=40, log_every=10, checkpoint_every=15, eval_every=20)
  ref_dir, crash_dir = str(tmp_path / "ref"), str(tmp_path / "crash")
  config = util.toy_config(**base)
  ref = loop.train_and_evaluate(toy.ToyRegression(config), config, ref_dir)

  crashing = util.toy_config(crash_at_step=23, **base)
  with pytest.raises(toy.SimulatedCrash):
    loop.train_and_evaluate(toy.ToyRegression(crashing), crashing, crash_dir)
  assert _steps(crash_dir, "train/") == [10, 20]  # 20 is after ckpt 15
  resumed = loop.train_and_evaluate(toy.ToyRegression(config), config, crash_dir)
  with open(os.path.join(ref_dir, "metrics.jsonl")) as f:
    expected = f.read()
  with open(os.path.join(crash_dir, "metrics.jsonl")) as f:
    assert f.read() == expected
  for a, b in zip(jax.tree.leaves(jax.device_get(ref.params)), jax.tree.leaves(jax.device_get(resumed.params))):
    np.testing.assert_array_equal(a, b)


def test_time_limit_stops_with_a_final_eval_and_checkpoint_and_resumes(tmp_path):
  workdir = str(tmp_path / "run")
  config = util.toy_config(max_train_seconds=1.0, step_sleep=0.05, eval_every=1000, checkpoint_every=1000)
  state = loop.train_and_evaluate(toy.ToyRegression(config), config, workdir, progress_stream=io.StringIO())
  stopped = int(state.step)
  assert 0 < stopped < 200
  records = metrics_lib.read_metrics(workdir)
  assert records[-1]["step"] == stopped and "eval/mse" in records[-1]
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == [str(stopped)]
  config = util.toy_config(eval_every=1000, checkpoint_every=1000)  # no limit: the rest of the run
  assert (
    int(loop.train_and_evaluate(toy.ToyRegression(config), config, workdir, progress_stream=io.StringIO()).step) == 200
  )
  with pytest.raises(config_lib.ConfigError, match="max_train_seconds"):
    config_lib.validate_config(util.toy_config(max_train_seconds=-1.0))
