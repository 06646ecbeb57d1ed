"""The figure, sweep and diagnostic mains read configs/<name>.py: defaults valid, bad values named, required flags.

Each main's ``run_from_config(config, workdir)`` checks its config before any work, so a bad value costs nothing;
the command-line cases run the real entry points (``python -m experiments.<name> --config=configs/<name>.py``).
"""

import importlib
import subprocess
import sys

import pytest

from stein_jax.train import ConfigError
from tests import train_testutil as util

MAINS = (
  "anisotropic_collapse",
  "gmm_figure",
  "mnist_curves",
  "rbm_figure",
  "steingan_rbm_figure",
  "svgd_2d",
  "variance_collapse",
)


def _config(name, **overrides):
  config = importlib.import_module(f"configs.{name}").get_config()
  config.update(overrides)
  return config


@pytest.mark.parametrize("name", MAINS)
def test_config_docstring_gives_the_command_and_the_defaults_pass_the_check(name):
  module = importlib.import_module(f"configs.{name}")
  command = " ".join(module.__doc__.replace("\\\n", " ").split())  # continuation lines joined
  assert f"python -m experiments.{name} --config=configs/{name}.py" in command
  config = module.get_config()
  main = importlib.import_module(f"experiments.{name}")
  if name == "mnist_curves":  # its one required field: the runs to draw
    main.check(config)
    with pytest.raises(ConfigError, match="config.runs is required"):
      main.parse_runs(config.runs)
  else:
    main.check(config)


BAD = [
  ("svgd_2d", {"target": "donut"}, r"target must be one of \['banana'.*got 'donut'"),
  ("svgd_2d", {"num_particles": -3}, r"num_particles must be an int > 0, got -3"),
  ("svgd_2d", {"bandwidth": "wide"}, r"bandwidth must be 'median', 'median_log' or a positive number"),
  ("svgd_2d", {"num_steps": 5, "trace_every": 10}, r"trace_every=10 exceeds num_steps=5"),
  ("variance_collapse", {"particles": (10, 1)}, r"particles must be a non-empty tuple, each entry an int >= 2"),
  # An unquoted comma list of strings arrives as one string: the message says how to quote it.
  ("variance_collapse", {"bandwidths": ("median,median_log",)}, r"bandwidths must be .*--config.bandwidths='\(\"a\""),
  ("anisotropic_collapse", {"min_var": 2.0}, r"min_var must be a number in \(0, 1\], got 2.0"),
  ("gmm_figure", {"observations": ("trimodal",)}, r"observations must be .*one of \['bimodal', 'paper'\]"),
  ("gmm_figure", {"particles": (10, 0)}, r"particles must be .*an int > 0, got \(10, 0\)"),
  ("mnist_curves", {"runs": ("vae",)}, r"runs entry 'vae' is not a \"label=workdir\" string"),
  ("mnist_curves", {"decoder_sweep_step": -1}, r"decoder_sweep_step must be None or an int >= 0"),
  ("rbm_figure", {"methods": ("cd2",)}, r"methods must be .*one of \['steincd'"),
  ("rbm_figure", {"eval_every": 0, "dataset": "cifar"}, r"eval_every must be an int > 0.*dataset must be one of"),
  ("steingan_rbm_figure", {"alphas": (0.0, 1.5)}, r"alphas must be .*a number in \[0, 1\], got \(0.0, 1.5\)"),
  ("steingan_rbm_figure", {"setting": "gpu"}, r"setting must be one of \['', 'authors', 'cpu', 'legacy'\]"),
]


@pytest.mark.parametrize("name,overrides,message", BAD, ids=[f"{b[0]}-{'-'.join(b[1])}" for b in BAD])
def test_bad_value_is_named_before_any_work(tmp_path, name, overrides, message):
  main = importlib.import_module(f"experiments.{name}")
  with pytest.raises(ConfigError, match=message):
    main.run_from_config(_config(name, **overrides), str(tmp_path / "out"))
  assert not (tmp_path / "out").exists()  # nothing ran


def _cli(*args):
  return subprocess.run(
    [sys.executable, "-m", *args],
    cwd=util.REPO,
    env=util.subprocess_env(),
    capture_output=True,
    text=True,
    timeout=300,
  )


def test_missing_required_flags_and_fields_are_one_error_line(tmp_path):
  no_workdir = _cli("experiments.svgd_2d", "--config=configs/svgd_2d.py")
  assert no_workdir.returncode == 1 and "Traceback" not in no_workdir.stderr
  assert "Flag --workdir must have a value" in no_workdir.stderr.splitlines()[0], no_workdir.stderr[-2000:]
  no_config = _cli("experiments.gmm_figure", f"--workdir={tmp_path / 'g'}")
  assert no_config.returncode == 1 and "Flag --config must have a value" in no_config.stderr
  no_runs = _cli("experiments.mnist_curves", "--config=configs/mnist_curves.py", f"--workdir={tmp_path / 'c'}")
  assert no_runs.returncode == 1 and "Traceback" not in no_runs.stderr
  assert no_runs.stderr.strip().splitlines() == [
    "error: ConfigError: config.runs is required: \"label=workdir\" strings, e.g. "
    "--config.runs='(\"vae=/tmp/mnist/vae\",\"stein_vae=/tmp/mnist/stein_vae\")'."
  ], no_runs.stderr[-2000:]
  bad = _cli(
    "experiments.variance_collapse",
    "--config=configs/variance_collapse.py",
    f"--workdir={tmp_path}",
    "--config.particles=0",
  )
  assert bad.returncode == 1 and "Traceback" not in bad.stderr
  assert bad.stderr.strip().splitlines()[-1].startswith("error: ConfigError: invalid config: particles must be")
