"""End-to-end checks of the 2-D experiment mains (few steps, real entry points)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from configs import amortized_svgd as asvgd_config
from experiments import amortized_svgd
from stein_jax.train import config as config_lib
from stein_jax.train import read_metrics, train_and_evaluate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _config(**overrides):
  config = asvgd_config.get_config()
  config.num_steps = 40
  config.eval_every = 20
  config.checkpoint_every = 20
  config.log_every = 10
  config.svgd.num_particles = 32
  config.eval.samples = 300
  return config_lib.override(config, overrides)


@pytest.mark.slow
@pytest.mark.parametrize("target,method", [("mixture", "chain_rule"), ("ring", "regression")])
def test_amortized_svgd_logs_its_metrics_and_figures(tmp_path, target, method):
  config = _config(target=target, method=method, **{"svgd.num_fit_steps": 2})
  train_and_evaluate(amortized_svgd.AmortizedSVGD(config), config, str(tmp_path))
  evals = [m for m in read_metrics(str(tmp_path)) if "eval/ksd" in m]
  assert [m["step"] for m in evals] == [20, 40]
  for m in evals:
    assert set(m) >= {"eval/ksd", "eval/mmd"}
    assert (target == "mixture") == ("eval/mode_mass_error" in m)
  assert os.path.exists(tmp_path / "figures" / f"samples_{target}_step000040.png")


def test_amortized_svgd_rejects_bad_config():
  with pytest.raises(ValueError, match="Unknown target"):
    amortized_svgd.AmortizedSVGD(_config(target="donut"))
  with pytest.raises(ValueError, match="method"):
    amortized_svgd.AmortizedSVGD(_config(method="newton"))


def test_main_unknown_config_key_is_a_clean_error(tmp_path):
  out = subprocess.run(
    [
      sys.executable,
      "-m",
      "experiments.amortized_svgd",
      "--config=configs/amortized_svgd.py",
      f"--workdir={tmp_path}",
      "--config.num_stepz=3",
    ],
    cwd=ROOT,
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert out.returncode != 0
  assert "num_stepz" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.slow
def test_svgd_2d_main_writes_png_and_summary(tmp_path):
  out = subprocess.run(
    [
      sys.executable,
      "-m",
      "experiments.svgd_2d",
      "--config=configs/svgd_2d.py",
      f"--workdir={tmp_path}",
      "--config.num_steps=50",
      "--config.num_particles=40",
      "--config.trace_every=10",
    ],
    cwd=ROOT,
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert out.returncode == 0, out.stderr[-2000:]
  assert os.path.exists(tmp_path / "figures" / "svgd_2d_mixture.png")
  summary = json.load(open(tmp_path / "svgd_2d_mixture.json"))
  assert summary["ksd"] < summary["ksd_initial"]


def test_variance_collapse_fixed_points():
  from experiments import variance_collapse as vc  # pylint: disable=g-import-not-at-top

  # One dimension: SVGD's fixed point is close to the target's unit variance...
  assert abs(vc.fixed_point_variance(1, 50, "median", num_steps=2000) - 1.0) < 0.1
  # ...in many dimensions with few particles it collapses (d = 64, n = 20: far below 1).
  assert vc.fixed_point_variance(64, 20, "median_log", num_steps=3000) < 0.3


def test_variance_collapse_main_writes_json_and_png(tmp_path):
  out = subprocess.run(
    [
      sys.executable,
      "-m",
      "experiments.variance_collapse",
      "--config=configs/variance_collapse.py",
      f"--workdir={tmp_path}",
      "--config.dims=(1,4)",
      "--config.particles=10",
      "--config.bandwidths=median",
      "--config.num_steps=50",
    ],
    cwd=ROOT,
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert out.returncode == 0, out.stderr[-2000:]
  rows = json.load(open(tmp_path / "variance_collapse.json"))
  assert [(r["d"], r["n"]) for r in rows] == [(1, 10), (4, 10)]
  assert os.path.exists(tmp_path / "figures" / "variance_collapse.png")


def test_anisotropic_collapse_amortised_encoder_recovers_a_one_dimensional_posterior():
  """The amortised location-scale fit of eq. (7) with many particles in one dimension reaches
  the exact variance (the measurement's amortised arm is right where SVGD itself is)."""
  from experiments import anisotropic_collapse as ac  # pylint: disable=g-import-not-at-top

  r = ac.amortised_svgd(np.array([0.3]), 200, latent_update="sgd", steps=2500)
  np.testing.assert_allclose(r, 1.0, rtol=0.15)
  s = ac.summarise(np.array([0.5, 2.0] * 10))
  assert abs(s["all"] - 1.0) < 1e-12 and s["narrow10"] == s["wide10"] == 1.0


@pytest.mark.slow
def test_anisotropic_collapse_main_writes_table_json_and_png(tmp_path):
  out = subprocess.run(
    [
      sys.executable,
      "-m",
      "experiments.anisotropic_collapse",
      "--config=configs/anisotropic_collapse.py",
      f"--workdir={tmp_path}",
      "--config.particles=12",
      "--config.dim=12",
      "--config.free_steps=20",
      "--config.amortised_steps=20",
    ],
    cwd=ROOT,
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert out.returncode == 0, out.stderr[-2000:]
  res = json.load(open(tmp_path / "anisotropic_collapse.json"))
  from experiments import anisotropic_collapse as ac  # pylint: disable=g-import-not-at-top

  assert len(res["rows"]) == len(ac.VARIANTS)
  assert all(np.isfinite(r["all"]) for r in res["rows"])
  assert "| 12 | free, isotropic |" in open(tmp_path / "table.md").read()
  assert os.path.exists(tmp_path / "figures" / "anisotropic_collapse.png")
