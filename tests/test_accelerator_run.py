"""The accelerator script of Table 1 (benchmarks/accelerator_run.sh) runs end to end with its --smoke budget."""

import json
import os
import subprocess

import pytest

from tests import train_testutil as util


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("STEIN_JAX_DATA_DIR"), reason="needs binarized MNIST under $STEIN_JAX_DATA_DIR")
def test_smoke_run_trains_and_evaluates_all_four_methods(tmp_path):
  out = tmp_path / "out"
  proc = subprocess.run(
    ["bash", os.path.join(util.REPO, "benchmarks", "accelerator_run.sh"), str(out), "--smoke"],
    cwd=util.REPO,
    env=util.subprocess_env(),
    capture_output=True,
    text=True,
    timeout=900,
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  with open(out / "results.json") as f:
    results = json.load(f)
  assert set(results["methods"]) == {"vae", "iwae", "stein_vae", "stein_viwae"}
  for r in results["methods"].values():
    assert r["steps"] == 20 and r["test_images"] == 100
    assert 0 < r["test_nll_elbo"] < 800 and r["test_nll_s_elbo"] <= r["test_nll_elbo"] + 1e-3
    assert r["seconds_per_test_image"] > 0
  assert os.path.getsize(out / "table1.png") > 1000
  usage = subprocess.run(
    ["bash", os.path.join(util.REPO, "benchmarks", "accelerator_run.sh")], capture_output=True, text=True
  )
  assert usage.returncode == 2 and "usage:" in usage.stderr
