"""Config validation, command-line overrides and clean errors from run_main."""

import os
import subprocess
import re
import sys

import jax
import ml_collections
import numpy as np
import pytest

from stein_jax.train import config as config_lib
from stein_jax.train.experiment import Experiment
from stein_jax.train import loop
from stein_jax.train import metrics as metrics_lib
from tests import train_testutil as util
from tests import train_toy_experiment as toy


def test_toy_config_is_valid():
  config_lib.validate_config(util.toy_config())


@pytest.mark.parametrize(
  "key,value,message",
  [
    ("num_steps", 0, "num_steps must be an int > 0"),
    ("eval_every", -5, "eval_every must be an int > 0"),
    ("checkpoint_every", True, "checkpoint_every must be an int > 0"),
    ("log_every", 0, "log_every must be an int > 0"),
  ],
)
def test_bad_shared_values_are_named(key, value, message):
  config = ml_collections.ConfigDict(util.toy_config().to_dict())
  # A ConfigDict built from a dict keeps types; bypass them via a fresh key.
  del config[key]
  config[key] = value
  with pytest.raises(config_lib.ConfigError, match=message):
    config_lib.validate_config(config)


def test_missing_keys_and_bad_types_are_all_listed():
  config = ml_collections.ConfigDict({"seed": "zero", "num_steps": 10, "data_dir": 3})
  with pytest.raises(config_lib.ConfigError) as info:
    config_lib.validate_config(config)
  msg = str(info.value)
  for part in (
    "missing key 'eval_every'",
    "missing key 'checkpoint_every'",
    "seed must be an int",
    "data_dir must be a str or None",
  ):
    assert part in msg


def test_configdict_rejects_wrong_types_and_unknown_keys_when_locked():
  config = util.toy_config()
  with pytest.raises(TypeError):
    config.num_steps = "abc"
  with pytest.raises(TypeError):
    config.num_steps = 2.5
  config.data_dir = "/some/dir"  # placeholder(str): None or a str
  with pytest.raises(TypeError):
    config.data_dir = 3
  config.lock()
  with pytest.raises(AttributeError, match="num_steps"):
    config.num_stepz = 3


def test_legacy_default_keeps_old_fingerprints_and_other_values_count():
  """A key added later (Experiment.legacy_defaults) at its legacy value leaves the fingerprint of
  a config without it unchanged, so older workdirs resume; another value makes another run."""
  old = util.toy_config()
  legacy = {"kernel": "rbf"}
  f_old = config_lib.fingerprint("toy", config_lib.defining_config(old))
  new = util.toy_config()
  with new.unlocked():
    new.kernel = "rbf"
  assert config_lib.fingerprint("toy", config_lib.defining_config(new, (), legacy)) == f_old
  assert config_lib.fingerprint("toy", config_lib.defining_config(new)) != f_old  # declared only
  with new.unlocked():
    new.kernel = "imq"
  assert "kernel" in config_lib.defining_config(new, (), legacy)
  assert config_lib.fingerprint("toy", config_lib.defining_config(new, (), legacy)) != f_old


def test_fingerprint_ignores_resumable_keys_only():
  a = util.toy_config()
  b = util.toy_config(num_steps=7, eval_every=3, checkpoint_every=2, log_every=1, data_dir="/elsewhere")
  fa = config_lib.fingerprint("toy", config_lib.defining_config(a))
  fb = config_lib.fingerprint("toy", config_lib.defining_config(b))
  assert fa == fb
  c = util.toy_config(hidden=4)
  assert fa != config_lib.fingerprint("toy", config_lib.defining_config(c))
  assert fa != config_lib.fingerprint("other", config_lib.defining_config(a))
  nested = ml_collections.ConfigDict({"model": {"width": 8, "act": (1, 2)}})
  assert config_lib.flatten_config(nested) == {"model.width": 8, "model.act": [1, 2]}


def _launch(tmp_path, name, *overrides):
  return subprocess.Popen(
    util.toy_command(str(tmp_path / name), *overrides),
    cwd=util.REPO,
    env=util.subprocess_env(),
    stdout=subprocess.PIPE,
    stderr=subprocess.PIPE,
    text=True,
  )


def test_command_line_errors_are_clean(tmp_path):
  # A workdir that belongs to the default config (no training needed).
  config = util.toy_config()
  loop.check_workdir(str(tmp_path / "mismatch"), toy.ToyRegression(config), config)
  cases = {
    "bad_type": (("num_steps=abc",), "invalid literal for int()"),
    "unknown_key": (("num_stepz=3",), 'Did you mean "num_steps"'),
    "zero_steps": (("num_steps=0",), "num_steps must be an int > 0"),
    "missing_data": (("data_dir=/nonexistent",), "error: FileNotFoundError: toy data set not found"),
    "nan": (("num_steps=3", "nan_at_step=2"), "error: NonFiniteLossError: non-finite training metric at " "step 2"),
    "mismatch": (("learning_rate=0.5",), "learning_rate: 0.01 in the workdir, 0.5 now"),
  }
  procs = {name: _launch(tmp_path, name, *overrides) for name, (overrides, _) in cases.items()}
  for name, (_, expected) in cases.items():
    out, err = procs[name].communicate(timeout=120)
    assert procs[name].returncode == 1, (name, err[-3000:])
    assert expected in err, (name, err[-3000:])
    assert "Traceback" not in err, (name, err[-3000:])


def test_run_main_trains(tmp_path):
  ok = util.run_toy(str(tmp_path / "run"), "num_steps=4", "eval_every=2", "checkpoint_every=2")
  assert "step 4/4 (100%)" in ok.stderr  # the log line, with rate and ETA
  assert "finished at step 4" in ok.stdout and "eval/mse=" in ok.stdout
  again = util.run_toy(str(tmp_path / "run"), "num_steps=4", "eval_every=2", "checkpoint_every=2")
  assert "already at step 4" in again.stderr and "finished at step 4" in again.stdout
  assert [r["step"] for r in metrics_lib.read_metrics(str(tmp_path / "run"))] == [
    2,
    4,
    4,
  ]  # eval 2; train 4 + eval 4 (log_every=10 > 4)
  assert sorted(os.listdir(tmp_path / "run" / "checkpoints")) == ["2", "4"]


def _run_main_cli(*args, timeout=120):
  return subprocess.run(
    [sys.executable, util.TOY_MAIN, *args],
    cwd=util.REPO,
    env=util.subprocess_env(),
    capture_output=True,
    text=True,
    timeout=timeout,
  )


def test_help_lists_config_and_workdir_and_the_fields(tmp_path):
  out = _run_main_cli("--help", f"--config={util.TOY_MAIN}")
  assert out.returncode == 0, out.stderr[-2000:]
  assert "--config=FILE[:setting]" in out.stdout and "--workdir=DIR" in out.stdout
  assert re.search(r"learning_rate +  = 0.01", out.stdout)
  assert "# > 0: the loss becomes NaN at this step." in out.stdout  # the field's comment
  assert len(out.stdout.splitlines()) < 60 and "orbax" not in out.stdout
  bare = _run_main_cli("--help")
  assert bare.returncode == 0 and "Pass --config=FILE with --help" in bare.stdout


def test_missing_or_raising_config_file_is_one_line(tmp_path):
  bad = tmp_path / "bad_config.py"
  bad.write_text("def get_config():\n  raise RuntimeError('no such setting here')\n")
  for spec, expected in (
    (str(tmp_path / "nope.py"), "no such file"),
    (str(bad), "get_config() raised RuntimeError: no such setting here"),
  ):
    out = _run_main_cli(f"--config={spec}", f"--workdir={tmp_path / 'w'}")
    assert out.returncode == 1
    assert expected in out.stderr and "Traceback" not in out.stderr, out.stderr[-2000:]
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr


# ------------------------------------------------------------ nested configs: the fingerprint migration

# The toy's flat keys, nested as an experiment family's configs are (docs/architecture.md, "Nested configs").
NESTED_NAMES = config_lib.moved_keys(
  model=("hidden",), optimizer=("learning_rate",), data={"batch": "batch_size", "examples": "num_examples"}
)


def _nested(flat):
  """The nested form of a toy config: ``model.hidden``, ``optimizer.learning_rate``, ``data.batch``, ..."""
  return ml_collections.ConfigDict(config_lib.config_from_record(config_lib.flatten_config(flat), NESTED_NAMES))


class NestedToy(Experiment):  # the toy, reading the nested keys
  name = toy.ToyRegression.name
  resumable_keys = toy.ToyRegression.resumable_keys
  legacy_key_names = NESTED_NAMES

  def __init__(self, config):
    super().__init__(config)
    flat = {NESTED_NAMES.get(k, k): v for k, v in config_lib.flatten_config(config).items()}
    self.inner = toy.ToyRegression(ml_collections.ConfigDict(flat))

  def init_state(self, rng, config):
    return self.inner.init_state(rng, self.inner.config)

  def train_step(self, state, batch):
    return self.inner.train_step(state, batch)

  def batch(self, step):
    return self.inner.batch(step)

  def evaluate(self, state, step, workdir):
    return self.inner.evaluate(state, step, workdir)


def test_a_nested_config_has_the_fingerprint_of_the_flat_one_it_replaces():
  flat = util.toy_config()
  nested = _nested(flat)
  assert nested.optimizer.learning_rate == 0.01 and nested.data.batch == 16 and "hidden" not in nested
  defining = NestedToy(nested).defining_config(nested)
  assert defining == toy.ToyRegression(flat).defining_config(flat)  # the flat names, the same values
  assert config_lib.fingerprint("toy_regression", defining) == config_lib.fingerprint(
    "toy_regression", config_lib.defining_config(flat, toy.ToyRegression.resumable_keys)
  )
  nested.model.hidden = 8
  assert NestedToy(nested).defining_config(nested)["hidden"] == 8


def test_a_flat_workdir_resumes_under_the_nested_config_and_a_changed_value_is_named_by_its_path(tmp_path):
  straight, old = str(tmp_path / "straight"), str(tmp_path / "old")
  short = util.toy_config(num_steps=4, eval_every=4, checkpoint_every=2)
  long = util.toy_config(num_steps=8, eval_every=4, checkpoint_every=2)
  expected = loop.train_and_evaluate(toy.ToyRegression(long), long, straight)
  loop.train_and_evaluate(toy.ToyRegression(short), short, old)  # a run made before the nesting
  with open(os.path.join(old, "run.json")) as f:
    before = f.read()
  state = loop.train_and_evaluate(NestedToy(_nested(long)), _nested(long), old)  # continues it
  assert int(state.step) == 8
  for a, b in zip(jax.tree.leaves(jax.device_get(state.params)), jax.tree.leaves(jax.device_get(expected.params))):
    np.testing.assert_array_equal(a, b)  # exactly the uninterrupted flat run
  with open(os.path.join(old, "run.json")) as f:
    assert f.read() == before
  fresh = str(tmp_path / "fresh")  # a new nested run writes the run.json a flat one does
  loop.check_workdir(fresh, NestedToy(_nested(short)), _nested(short))
  with open(os.path.join(fresh, "run.json")) as f:
    assert f.read() == before

  changed = _nested(long)
  changed.optimizer.learning_rate = 0.5
  changed.data.batch = 8
  with pytest.raises(loop.WorkdirMismatchError) as info:
    loop.train_and_evaluate(NestedToy(changed), changed, old)
  msg = str(info.value)
  assert "optimizer.learning_rate: 0.01 in the workdir, 0.5 now" in msg
  assert "data.batch: 16 in the workdir, 8 now" in msg
  assert "learning_rate: 0.01" not in msg.replace("optimizer.learning_rate", "")


def test_load_run_reads_flat_and_nested_workdirs_into_the_nested_config(tmp_path):
  from stein_jax.train import runs

  flat = util.toy_config(num_steps=2, eval_every=2, checkpoint_every=2)
  old, new = str(tmp_path / "old"), str(tmp_path / "new")
  loop.train_and_evaluate(toy.ToyRegression(flat), flat, old)
  loop.train_and_evaluate(NestedToy(_nested(flat)), _nested(flat), new)
  resumable = {"num_steps": 1, "eval_every": 1, "checkpoint_every": 1, "log_every": 1, "data_dir": None}
  for workdir in (old, new):
    run = runs.load_run(
      workdir,
      lambda name, cfg, path: NestedToy(cfg),
      supported=("toy_regression",),
      defaults=lambda name, path: dict(resumable, step_sleep=0.0, crash_at_step=-1),
      experiment_type=lambda name: NestedToy,
    )
    assert run.step == 2 and run.config.optimizer.learning_rate == 0.01 and run.config.data.examples == 256
    assert "learning_rate" not in run.config


def test_config_from_record_restores_paths_tuples_and_legacy_defaults():
  record = {"hidden": 4, "learning_rate": 0.1, "batch_size": 2, "num_examples": 9, "act": [1, [2, 3]], "seed": 0}
  legacy = {"model.kernel": "rbf"}
  names = dict(NESTED_NAMES, **{"model.kernel": "model.kernel"})
  out = config_lib.config_from_record(record, names, legacy, {"data.shuffle": True, "seed": 5})
  assert out == {
    "model": {"hidden": 4, "kernel": "rbf"},
    "optimizer": {"learning_rate": 0.1},
    "data": {"batch": 2, "examples": 9, "shuffle": True},
    "act": (1, (2, 3)),
    "seed": 0,  # run.json's own value wins over a default
  }


def test_unmapped_doubly_mapped_missing_and_flat_keys_are_clear_errors():
  nested = _nested(util.toy_config())
  with nested.unlocked():
    nested.model.width = 3  # a new key below a moved group, not mapped
  with pytest.raises(config_lib.ConfigError, match=r"model\.width has no flat name .* or to 'model\.width' itself"):
    NestedToy(nested)
  with pytest.raises(config_lib.ConfigError, match=r"model\.width has no flat name"):
    config_lib.defining_config(nested, (), None, NESTED_NAMES)  # the same check where run.json is written

  with pytest.raises(config_lib.ConfigError, match=r"model\.hidden and optimizer\.hidden have one name 'hidden'"):
    config_lib.moved_keys(model=("hidden",), optimizer={"hidden": "hidden"})

  lacking = _nested(util.toy_config())
  del lacking.model["hidden"]
  with pytest.raises(config_lib.ConfigError, match=r"the config lacks model\.hidden \(declare it in get_config\(\)\)"):
    NestedToy(lacking)

  stale = _nested(util.toy_config())
  with stale.unlocked():
    stale.learning_rate = 0.5  # an override still written with the old flat name
  with pytest.raises(config_lib.ConfigError) as info:
    NestedToy(stale)
  assert "learning_rate and optimizer.learning_rate have one name 'learning_rate'" in str(info.value)
  assert "the key moved: set optimizer.learning_rate instead of learning_rate" in str(info.value)
