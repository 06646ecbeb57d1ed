"""Ctrl-C / SIGTERM keep the work, and a finite divergence stops the run (stein_jax/train/loop.py)."""

import os
import signal
import subprocess
import time

import jax
import numpy as np
import pytest

from stein_jax.train import loop
from stein_jax.train import metrics as metrics_lib
from tests import train_testutil as util
from tests import train_toy_experiment as toy


def _wait_for_metrics(workdir, proc, min_step, timeout=90):
  deadline = time.time() + timeout
  while True:
    assert proc.poll() is None, "the run ended before it could be interrupted"
    assert time.time() < deadline, "the run logged nothing"
    if os.path.exists(os.path.join(workdir, "metrics.jsonl")):
      steps = [r["step"] for r in metrics_lib.read_metrics(workdir)]
      if steps and max(steps) >= min_step:
        return
    time.sleep(0.02)


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_saves_a_checkpoint_and_the_rerun_resumes_bit_identically(tmp_path, signum):
  ref_dir, stopped_dir = str(tmp_path / "ref"), str(tmp_path / "stopped")
  # checkpoint_every=1000: the only checkpoint before the end is the one the signal makes.
  victim = subprocess.Popen(
    util.toy_command(stopped_dir, "step_sleep=0.03", "checkpoint_every=1000"),
    cwd=util.REPO,
    env=util.subprocess_env(),
    stdout=subprocess.PIPE,
    stderr=subprocess.PIPE,
    text=True,
  )
  try:
    ref = util.run_toy(ref_dir, "checkpoint_every=1000")
    _wait_for_metrics(stopped_dir, victim, 30)
    os.kill(victim.pid, signum)
    _, err = victim.communicate(timeout=60)
  finally:
    if victim.poll() is None:
      victim.kill()
      victim.wait()
  assert victim.returncode == 128 + signum, err[-2000:]
  lines = [l for l in err.splitlines() if "interrupted at step" in l]
  assert len(lines) == 1 and "checkpoint saved" in lines[0] and "rerun the same command" in lines[0], err[-2000:]
  assert "Traceback" not in err
  step = int(lines[0].split("interrupted at step ")[1].split(";")[0])
  assert 30 <= step < 200
  ckpt_steps = sorted(int(n) for n in os.listdir(os.path.join(stopped_dir, "checkpoints")) if n.isdigit())
  assert ckpt_steps == [step]

  resumed = util.run_toy(stopped_dir, "checkpoint_every=1000")
  assert f"Resumed from checkpoint at step {step}" in resumed.stderr
  config = util.toy_config()
  ref_state, got_state = util.load_final_state(ref_dir, config), util.load_final_state(stopped_dir, config)
  jax.tree.map(np.testing.assert_array_equal, ref_state, got_state)
  with open(os.path.join(ref_dir, "metrics.jsonl")) as f, open(os.path.join(stopped_dir, "metrics.jsonl")) as g:
    assert f.read() == g.read()
  del ref


def test_second_sigint_exits_at_once(tmp_path):
  workdir = str(tmp_path / "run")
  # A slow host-side batch (6 s a step): the first SIGINT waits for the step, the second must not. The step starts
  # as step 1's metrics land, so waiting for it would take ~5.7 s more; exiting at once takes the process's teardown
  # (~1 s idle, 2.7 s seen with the 2 cores shared by three processes, which broke a 2-second version of this test).
  victim = subprocess.Popen(
    util.toy_command(workdir, "step_sleep=6.0", "log_every=1"),
    cwd=util.REPO,
    env=util.subprocess_env(),
    stdout=subprocess.DEVNULL,
    stderr=subprocess.PIPE,
    text=True,
  )
  try:
    _wait_for_metrics(workdir, victim, 1, timeout=120)
    os.kill(victim.pid, signal.SIGINT)
    time.sleep(0.2)
    start = time.time()
    os.kill(victim.pid, signal.SIGINT)
    victim.communicate(timeout=60)
    assert time.time() - start < 4.5  # did not wait for the 6-second step to finish
  finally:
    if victim.poll() is None:
      victim.kill()
      victim.wait()
  assert victim.returncode != 0


def test_finite_divergence_stops_with_the_step_and_metric_and_keeps_the_last_checkpoint(tmp_path):
  workdir = str(tmp_path / "run")
  config = util.toy_config(blowup_at_step=150, checkpoint_every=40)
  with pytest.raises(loop.DivergenceError, match=r"diverged at step 150.*train/loss=1\.07\d*e\+08.*step 120\) is kept"):
    loop.train_and_evaluate(toy.ToyRegression(config), config, workdir)
  assert max(r["step"] for r in metrics_lib.read_metrics(workdir)) <= 150
  assert sorted(int(n) for n in os.listdir(os.path.join(workdir, "checkpoints")) if n.isdigit())[-1] == 120
  # The check can be switched off (0), and is a resumable key: the same workdir goes on.
  config = util.toy_config(blowup_at_step=150, checkpoint_every=40, divergence_factor=0.0)
  state = loop.train_and_evaluate(toy.ToyRegression(config), config, workdir)
  assert int(state.step) == 200


def test_divergence_monitor_ignores_small_metrics_and_remembers_its_history():
  monitor = loop.DivergenceMonitor(1e4, warmup=2)
  monitor.check([(1, {"a": 1e-6, "b": -200.0}), (2, {"a": 1e-3, "b": -210.0})], None, "ckpt")
  monitor.check([(3, {"a": 5e3, "b": -1e5})], None, "ckpt")  # a: below the floor of 1 x 1e4; b: 500x
  with pytest.raises(
    loop.DivergenceError, match=r"diverged at step 4, by more than 10000 x: train/b=-3e\+09 \(typical"
  ):
    monitor.check([(4, {"a": 1.0, "b": -3e9})], 3, "ckpt")  # ~1e7 x the recent |b|
  restored = loop.DivergenceMonitor(1e4, warmup=2, **monitor.state())
  assert restored.ref == monitor.ref and restored.seen == monitor.seen
  old_form = loop.DivergenceMonitor(1e4, warmup=2, ref={"b": 210.0}, seen=3)  # meta of older checkpoints
  np.testing.assert_allclose(old_form.ref["b"], 210.0)


def test_divergence_monitor_catches_a_step_by_step_walk_up_and_follows_slow_drift():
  # Each step only 4 % above the last (always within 1e4 x of everything before it): 1e7 x in 410 steps,
  # the way Stein VIWAE's particles spread (docs/stein_viwae.md sec. 5). Stopped before it gets there.
  monitor = loop.DivergenceMonitor(1e4)
  values = [(t, {"z_abs_max": 5.0 if t < 200 else 5.0 * 1.04 ** (t - 200)}) for t in range(1, 611)]
  with pytest.raises(loop.DivergenceError, match=r"z_abs_max") as err:
    monitor.check(values, 400, "ckpt")
  assert 400 < err.value.step < 610
  # A 1e4 x change spread over 20 horizons is followed, not stopped.
  slow = loop.DivergenceMonitor(1e4, horizon=100)
  slow.check([(t, {"phi_norm": 10 ** (4 * t / 2000)}) for t in range(1, 2001)], None, "ckpt")
  assert slow.ref["phi_norm"] > 1e3
