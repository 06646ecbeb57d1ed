"""Helpers shared by tests/test_train_*.py (not a test file)."""

import os
import subprocess
import sys

import jax

from stein_jax.train import checkpoint as checkpoint_lib
from tests import train_toy_experiment as toy

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOY_MAIN = os.path.join(REPO, "tests", "train_toy_experiment.py")


def toy_config(**overrides):
  config = toy.get_config()
  config.update(overrides)
  return config


def subprocess_env(device_count=None):
  env = dict(os.environ)
  env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
  env["JAX_PLATFORMS"] = "cpu"
  flags = env.get("XLA_FLAGS", "")
  flags = " ".join(f for f in flags.split() if "xla_force_host_platform_device_count" not in f)
  if device_count:
    flags += f" --xla_force_host_platform_device_count={device_count}"
  env["XLA_FLAGS"] = flags.strip()
  return env


def toy_command(workdir, *overrides):
  return [
    sys.executable,
    TOY_MAIN,
    f"--config={TOY_MAIN}",
    f"--workdir={workdir}",
    *[f"--config.{o}" for o in overrides],
  ]


def run_toy(workdir, *overrides, check=True, timeout=120):
  proc = subprocess.run(
    toy_command(workdir, *overrides), cwd=REPO, env=subprocess_env(), capture_output=True, text=True, timeout=timeout
  )
  if check and proc.returncode != 0:
    raise AssertionError(f"toy run failed ({proc.returncode}):\n" f"{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
  return proc


def load_final_state(workdir, config, step=None):
  """Restores a checkpoint of the toy experiment as host numpy arrays."""
  experiment = toy.ToyRegression(config)
  abstract = jax.eval_shape(lambda k: experiment.init_state(k, config), jax.random.key(config.seed))
  ckpt = checkpoint_lib.Checkpointer(workdir)
  try:
    step = ckpt.latest_step() if step is None else step
    state = ckpt.restore_step(step, abstract)
  finally:
    ckpt.close()
  return jax.device_get(state.replace(rng=jax.random.key_data(state.rng)))
