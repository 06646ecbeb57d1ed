"""Data parallel over 8 (forced host) devices matches one device."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tests import train_testutil as util

_SCRIPT = textwrap.dedent("""
    import io, json, sys
    import jax, numpy as np
    from stein_jax.train import loop, sharding
    from tests import train_testutil as util
    from tests import train_toy_experiment as toy

    workdir, out = sys.argv[1], sys.argv[2]
    config = util.toy_config(num_steps=30, log_every=10, eval_every=30,
                             checkpoint_every=15, batch_size=16)
    state = loop.train_and_evaluate(toy.ToyRegression(config), config,
                                    workdir, progress_stream=io.StringIO())
    info = {"devices": jax.device_count(), "traces": toy.TRACE_COUNT[0],
            "param_sharding": [list(x.sharding.spec) for x in
                               jax.tree.leaves(state.params)],
            "param_devices": [len(x.sharding.device_set) for x in
                              jax.tree.leaves(state.params)]}
    mesh = sharding.make_mesh()
    batch = sharding.shard_batch(toy.ToyRegression(config).batch(0), mesh)
    info["batch_spec"] = list(batch["x"].sharding.spec)
    info["batch_shards"] = len(batch["x"].addressable_shards)
    bad = util.toy_config(batch_size=12)
    try:
      sharding.shard_batch(toy.ToyRegression(bad).batch(0), mesh)
      info["bad_batch_error"] = None
    except sharding.BatchShardingError as e:
      info["bad_batch_error"] = str(e)
    np.savez(out, **{k: np.asarray(v) for k, v in state.params.items()})
    print(json.dumps(info))
""")


def _run(tmp_path, devices):
  out = str(tmp_path / f"params_{devices}.npz")
  proc = subprocess.run(
    [sys.executable, "-c", _SCRIPT, str(tmp_path / f"run_{devices}"), out],
    cwd=util.REPO,
    env=util.subprocess_env(device_count=devices),
    capture_output=True,
    text=True,
    timeout=120,
  )
  assert proc.returncode == 0, proc.stderr[-5000:]
  info = json.loads(proc.stdout.strip().splitlines()[-1])
  return dict(np.load(out)), info


@pytest.mark.slow
def test_eight_devices_match_one_device(tmp_path):
  params8, info8 = _run(tmp_path, 8)
  params1, info1 = _run(tmp_path, 1)
  assert info8["devices"] == 8 and info1["devices"] == 1
  assert info8["traces"] == 1 and info1["traces"] == 1
  assert all(spec == [] for spec in info8["param_sharding"])
  assert set(info8["param_devices"]) == {8}  # replicated
  assert info8["batch_spec"] == ["data"]
  assert info8["batch_shards"] == 8
  assert "not divisible by the 8 devices" in info8["bad_batch_error"]
  assert "multiple of 8" in info8["bad_batch_error"]
  assert info1["bad_batch_error"] is None  # 12 is fine on 1
  assert params8.keys() == params1.keys()
  for k in params1:
    np.testing.assert_allclose(params8[k], params1[k], rtol=1e-5, atol=1e-6)
  # Not trivially equal to the initial parameters.
  assert not np.allclose(params1["b1"], 0.0)
