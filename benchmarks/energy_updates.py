r"""Cost of one training update per energy rule, side by side in one run, and the exact log Z of the RBM.

    python -m benchmarks.energy_updates --data_dir=/path/to/data        # MNIST batches (preprocessed as the config)
    python -m benchmarks.energy_updates                                  # no data: N(0, I) batches of the same shape

Each update is the platform's train step of ``experiments/energy.py`` (rule value-and-grad + Adam), jitted with the
state donated, for the Gaussian-Bernoulli RBM with H=10 on batches of 100 x 784. The rules are timed in interleaved
rounds (every rule once per round, blocks of ``--calls`` updates), so a load change on a shared machine hits them all
alike; the ratio SteinCD / CD-1 is taken per round and its median reported (issue 5's target: <= 2).

The exact ``log Z`` (``stein_jax.targets.rbm.log_partition``, d=784, H=10) is timed on its first call (with
compilation) and steady state, and so is its gradient (the exact MLE's extra cost) and the exact mean test
log-likelihood of 10,000 images.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np

from configs import rbm_mnist
from stein_jax.targets import rbm as rbm_eval

RULES = ("steincd", "cd1", "cd10", "stein_sm", "mle")


def _block_time(fn, state, batches, calls):
  start = time.perf_counter()
  for i in range(calls):
    state, metrics = fn(state, batches[i % len(batches)])
  jax.block_until_ready((state, metrics))
  return (time.perf_counter() - start) / calls, state


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--data_dir", default=None, help="directory with mnist/ (default $STEIN_JAX_DATA_DIR)")
  parser.add_argument("--rounds", type=int, default=7)
  parser.add_argument("--calls", type=int, default=100, help="updates per timed block")
  parser.add_argument("--out", default=None, help="optional JSON output path")
  args = parser.parse_args()

  from experiments.energy import EnergyExperiment  # pylint: disable=g-import-not-at-top

  data_dir = args.data_dir or os.environ.get("STEIN_JAX_DATA_DIR")
  dataset = "mnist"
  try:
    probe = rbm_mnist.get_config("steincd")
    probe.data_dir = data_dir
    EnergyExperiment(probe)
  except FileNotFoundError:
    dataset = None
  experiments, states, steps = {}, {}, {}
  for rule in RULES:
    config = rbm_mnist.get_config(rule)
    config.data_dir = data_dir
    if dataset is None:  # no MNIST here: the same shapes from a synthetic RBM of dimension 784
      config.dataset, config.synthetic_dim = "synthetic_rbm", 784
    exp = EnergyExperiment(config)
    state = jax.jit(lambda key, exp=exp, config=config: exp.init_state(key, config))(jax.random.key(0))
    # The step is jitted as the platform does it (state donated); its cost does not depend on the parameter values.
    step = jax.jit(exp.train_step, donate_argnums=0)
    experiments[rule], states[rule], steps[rule] = exp, state, step
  batches = [jnp.asarray(experiments["steincd"].batch(i)["x"]) for i in range(10)]
  batches = [{"x": b} for b in batches]
  for rule in RULES:  # compile, and warm up
    _, states[rule] = _block_time(steps[rule], states[rule], batches, 5)

  per_round = {rule: [] for rule in RULES}
  for _ in range(args.rounds):
    for rule in RULES:
      seconds, states[rule] = _block_time(steps[rule], states[rule], batches, args.calls)
      per_round[rule].append(seconds)
  ratios = [s / c for s, c in zip(per_round["steincd"], per_round["cd1"])]

  # Exact log Z at d=784, H=10.
  variables = states["mle"].inner.params
  params = rbm_eval.rbm_params(jax.device_get(variables))
  start = time.perf_counter()
  jax.block_until_ready(rbm_eval.log_partition(params))
  logz_first = time.perf_counter() - start
  logz_times = []
  for _ in range(200):
    start = time.perf_counter()
    jax.block_until_ready(rbm_eval.log_partition(params))
    logz_times.append(time.perf_counter() - start)
  grad_logz = jax.jit(jax.grad(lambda p: rbm_eval.log_partition(p)))
  jax.block_until_ready(grad_logz(params))
  grad_times = []
  for _ in range(100):
    start = time.perf_counter()
    jax.block_until_ready(grad_logz(params))
    grad_times.append(time.perf_counter() - start)
  test = jnp.asarray(experiments["mle"].data.test)
  mean_ll = jax.jit(rbm_eval.mean_log_likelihood)
  jax.block_until_ready(mean_ll(params, test))
  ll_times = []
  for _ in range(20):
    start = time.perf_counter()
    jax.block_until_ready(mean_ll(params, test))
    ll_times.append(time.perf_counter() - start)

  ms = lambda v: 1e3 * float(np.median(v))
  result = {
    "machine": f"{platform.machine()} {platform.processor()} ({os.cpu_count()} cores), jax {jax.__version__}, "
    f"{jax.devices()[0].platform}",
    "data": "MNIST (preprocessed as configs/rbm_mnist.py)" if dataset else "synthetic, 784-dim (no MNIST found)",
    "rounds": args.rounds,
    "calls_per_block": args.calls,
    "update_ms_median": {rule: ms(per_round[rule]) for rule in RULES},
    "update_ms_min": {rule: 1e3 * min(per_round[rule]) for rule in RULES},
    "steincd_over_cd1_ratio_median": float(np.median(ratios)),
    "steincd_over_cd1_ratio_per_round": [round(r, 3) for r in ratios],
    "log_z_first_call_s": logz_first,
    "log_z_ms_median": ms(logz_times),
    "grad_log_z_ms_median": ms(grad_times),
    "mean_test_loglik_10000_ms_median": ms(ll_times),
  }
  print(
    f"machine: {result['machine']}; data: {result['data']}; batch 100 x 784, H=10, Adam; "
    f"{args.rounds} interleaved rounds of {args.calls} updates"
  )
  print("| update (value_and_grad + Adam, jitted, donated) | median ms | min ms | / CD-1 |")
  print("| --- | --- | --- | --- |")
  cd1 = result["update_ms_median"]["cd1"]
  for rule in RULES:
    print(
      f"| {rule} | {result['update_ms_median'][rule]:.3f} | {result['update_ms_min'][rule]:.3f} | "
      f"{result['update_ms_median'][rule] / cd1:.2f} |"
    )
  print(
    f"SteinCD / CD-1 (median of per-round ratios): {result['steincd_over_cd1_ratio_median']:.2f} "
    f"(per round {result['steincd_over_cd1_ratio_per_round']}; target <= 2)"
  )
  print(
    f"exact log Z, d=784, H=10: first call (with compilation) {logz_first:.3f} s, then "
    f"{result['log_z_ms_median']:.3f} ms; its gradient {result['grad_log_z_ms_median']:.3f} ms; "
    f"exact mean log-likelihood of 10,000 test images {result['mean_test_loglik_10000_ms_median']:.2f} ms"
  )
  if args.out:
    with open(args.out, "w") as f:
      json.dump(result, f, indent=1)


if __name__ == "__main__":
  main()
