"""Checkpoints: exact resume after SIGKILL, damaged checkpoints, atomic saves."""

import logging
import os
import signal
import subprocess
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from stein_jax.train import checkpoint as checkpoint_lib
from stein_jax.train import loop
from stein_jax.train import metrics as metrics_lib
from stein_jax.train.state import TrainState
from tests import train_testutil as util
from tests import train_toy_experiment as toy


def _assert_trees_equal(a, b):
  la, ta = jax.tree.flatten(a)
  lb, tb = jax.tree.flatten(b)
  assert ta == tb
  for x, y in zip(la, lb):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    assert np.asarray(x).dtype == np.asarray(y).dtype


def _complete_steps(workdir):
  d = os.path.join(workdir, "checkpoints")
  if not os.path.isdir(d):
    return []
  return sorted(int(n) for n in os.listdir(d) if n.isdigit())


def _logged_past_checkpoint(workdir):
  steps = _complete_steps(workdir)
  if not steps:
    return False
  logged = [r["step"] for r in metrics_lib.read_metrics(workdir)]
  return bool(logged) and max(logged) > steps[-1]


@pytest.mark.slow
def test_sigkill_and_restart_matches_uninterrupted_run(tmp_path):
  ref_dir, killed_dir = str(tmp_path / "ref"), str(tmp_path / "killed")
  # The interrupted run sleeps on the host each step so the kill lands
  # mid-run; step_sleep is a resumable key, so the restart may drop it.
  victim = subprocess.Popen(
    util.toy_command(killed_dir, "step_sleep=0.03"),
    cwd=util.REPO,
    env=util.subprocess_env(),
    stdout=subprocess.DEVNULL,
    stderr=subprocess.DEVNULL,
  )
  try:
    ref = util.run_toy(ref_dir)  # uninterrupted, runs meanwhile
    # Kill once a checkpoint exists *and* metrics were logged after it, so
    # the restart must also drop those records.
    deadline = time.time() + 90
    while not _logged_past_checkpoint(killed_dir):
      assert victim.poll() is None, "victim ended before it could be killed"
      assert time.time() < deadline, "no checkpoint appeared"
      time.sleep(0.01)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
  finally:
    if victim.poll() is None:
      victim.kill()
      victim.wait()
  assert victim.returncode == -signal.SIGKILL
  steps_at_kill = _complete_steps(killed_dir)
  assert 200 not in steps_at_kill, steps_at_kill

  resumed = util.run_toy(killed_dir)
  assert "Resumed from checkpoint at step" in resumed.stderr
  assert "Resumed" not in ref.stderr

  config = util.toy_config()
  _assert_trees_equal(util.load_final_state(ref_dir, config), util.load_final_state(killed_dir, config))
  with open(os.path.join(ref_dir, "metrics.jsonl")) as f:
    ref_metrics = f.read()
  with open(os.path.join(killed_dir, "metrics.jsonl")) as f:
    resumed_metrics = f.read()
  assert ref_metrics == resumed_metrics
  assert len(ref_metrics.splitlines()) == 20 + 4  # train every 10, eval 4x
  assert _complete_steps(ref_dir) == [160, 180, 200]  # max_to_keep=3


def test_damaged_newest_checkpoint_falls_back_with_warning(tmp_path, caplog):
  workdir = str(tmp_path / "run")
  config = util.toy_config(num_steps=60, eval_every=60, log_every=20)
  final = loop.train_and_evaluate(toy.ToyRegression(config), config, workdir)
  final = jax.device_get(final.replace(rng=jax.random.key_data(final.rng)))
  assert _complete_steps(workdir) == [20, 40, 60]
  newest = os.path.join(workdir, "checkpoints", "60")
  for root, _, files in os.walk(newest):
    for name in files:
      path = os.path.join(root, name)
      with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)

  with caplog.at_level(logging.WARNING):
    again = loop.train_and_evaluate(toy.ToyRegression(config), config, workdir)
  warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
  assert any("checkpoints/60 is damaged" in m for m in warnings), warnings
  # Resumed from 40, retrained 41..60: the same state as before the damage.
  again = jax.device_get(again.replace(rng=jax.random.key_data(again.rng)))
  _assert_trees_equal(final, again)
  assert _complete_steps(workdir) == [20, 40, 60]
  damaged = os.listdir(os.path.join(workdir, "checkpoints_damaged"))
  assert len(damaged) == 1 and damaged[0].startswith("60.")
  steps = [r["step"] for r in metrics_lib.read_metrics(workdir)]
  assert steps == [20, 40, 60, 60]  # train 20/40/60 + eval 60, no duplicates


def _tiny_state(value):
  params = {"w": jnp.full((3,), value, jnp.float32)}
  state = TrainState.create(params=params, tx=optax.sgd(0.1), rng=jax.random.key(7))
  return state.replace(step=jnp.asarray(int(value), jnp.int32))


def test_roundtrip_keeps_typed_key_and_structure(tmp_path):
  ckpt = checkpoint_lib.Checkpointer(str(tmp_path), max_to_keep=2)
  try:
    assert ckpt.restore_latest(jax.eval_shape(lambda: _tiny_state(0))) is None
    for v in (1, 2, 3):
      ckpt.save(_tiny_state(v))
    assert ckpt.all_steps() == [2, 3]
    state, step, meta = ckpt.restore_latest(jax.eval_shape(lambda: _tiny_state(0)))
  finally:
    ckpt.close()
  assert step == 3 and meta["step"] == 3
  assert jnp.issubdtype(state.rng.dtype, jax.dtypes.prng_key)
  np.testing.assert_array_equal(jax.random.key_data(state.rng), jax.random.key_data(jax.random.key(7)))
  np.testing.assert_array_equal(state.params["w"], np.full(3, 3.0))


def test_crash_during_save_keeps_previous_checkpoint(tmp_path, monkeypatch):
  from orbax.checkpoint._src.path import atomicity  # pylint: disable=g-import-not-at-top

  ckpt = checkpoint_lib.Checkpointer(str(tmp_path))
  ckpt.save(_tiny_state(1))

  async def crash(*args, **kwargs):
    raise KeyboardInterrupt("simulated crash before the checkpoint is " "renamed into place")

  monkeypatch.setattr(atomicity.AtomicRenameTemporaryPath, "finalize", crash)
  with pytest.raises(BaseException):
    ckpt.save(_tiny_state(2))
  monkeypatch.undo()
  leftovers = os.listdir(os.path.join(str(tmp_path), "checkpoints"))
  assert any("tmp" in n for n in leftovers), leftovers  # the partial save

  fresh = checkpoint_lib.Checkpointer(str(tmp_path))
  try:
    state, step, _ = fresh.restore_latest(jax.eval_shape(lambda: _tiny_state(0)))
  finally:
    fresh.close()
  assert step == 1
  np.testing.assert_array_equal(state.params["w"], np.ones(3))


def test_all_checkpoints_unreadable_is_a_clear_error(tmp_path):
  ckpt = checkpoint_lib.Checkpointer(str(tmp_path))
  ckpt.save(_tiny_state(1))
  ckpt.close()
  # A different state structure (e.g. the model changed): nothing restores.
  other = jax.eval_shape(lambda: {"w": jnp.zeros((5, 5))})
  ckpt = checkpoint_lib.Checkpointer(str(tmp_path))
  try:
    with pytest.raises(checkpoint_lib.CheckpointRestoreError, match="another --workdir"):
      ckpt.restore_latest(other)
    assert ckpt.all_steps() == [1]  # nothing moved away
  finally:
    ckpt.close()


def test_resume_on_other_data_is_refused_with_both_checksums(tmp_path):
  data_dir = tmp_path / "data"
  data_dir.mkdir()
  x, y = toy._data(0, 64)
  np.savez(data_dir / "toy.npz", x=x, y=y)
  config = util.toy_config(num_steps=10, eval_every=10, checkpoint_every=10, num_examples=64, data_dir=str(data_dir))
  workdir = str(tmp_path / "run")
  loop.train_and_evaluate(toy.ToyRegression(config), config, workdir)
  first = toy.ToyRegression(config).data_fingerprint()
  np.savez(data_dir / "toy.npz", x=x + 1.0, y=y)  # the same file name, other data
  config = util.toy_config(num_steps=20, eval_every=10, checkpoint_every=10, num_examples=64, data_dir=str(data_dir))
  second = toy.ToyRegression(config).data_fingerprint()
  with pytest.raises(loop.WorkdirMismatchError, match=f"checksum {first} in the workdir, {second} now"):
    loop.train_and_evaluate(toy.ToyRegression(config), config, workdir)


def test_full_disk_during_a_save_is_one_clear_error_and_keeps_earlier_checkpoints(tmp_path, monkeypatch):
  workdir = str(tmp_path / "run")
  config = util.toy_config(num_steps=40, eval_every=40, checkpoint_every=20)
  real_save = checkpoint_lib.Checkpointer.save

  def save(self, state, meta=None):
    if int(jax.device_get(state.step)) == 40:
      real = self._manager.save

      def failing(*args, **kwargs):
        raise OSError(28, "No space left on device")

      monkeypatch.setattr(self._manager, "save", failing)
      try:
        return real_save(self, state, meta)
      finally:
        monkeypatch.setattr(self._manager, "save", real)
    return real_save(self, state, meta)

  monkeypatch.setattr(checkpoint_lib.Checkpointer, "save", save)
  with pytest.raises(checkpoint_lib.CheckpointSaveError, match=r"step 40.*No space left on device.*\[20\] are kept"):
    loop.train_and_evaluate(toy.ToyRegression(config), config, workdir)
  monkeypatch.undo()
  assert _complete_steps(workdir) == [20]
  state = loop.train_and_evaluate(toy.ToyRegression(config), config, workdir)  # space freed: resumes
  assert int(state.step) == 40


def test_unwritable_workdir_is_refused_clearly(tmp_path, monkeypatch):
  config = util.toy_config(num_steps=2)
  blocker = tmp_path / "a_file"
  blocker.write_text("not a directory")
  with pytest.raises(loop.WorkdirMismatchError, match="cannot create --workdir"):
    loop.train_and_evaluate(toy.ToyRegression(config), config, str(blocker / "run"))
  # A read-only directory (chmod does not stop root, so the permission check is simulated).
  ro = tmp_path / "ro"
  ro.mkdir()
  real_access = os.access
  monkeypatch.setattr(os, "access", lambda path, mode: False if str(path) == str(ro) else real_access(path, mode))
  with pytest.raises(loop.WorkdirMismatchError, match="is not writable"):
    loop.train_and_evaluate(toy.ToyRegression(config), config, str(ro))
