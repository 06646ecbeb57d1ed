r"""Speed and memory of the SVGD direction, side by side, in one run.

Compares, on the same target (a standard Gaussian, score -x), the same particles
and a fixed RBF bandwidth, all jitted:
  * stein_jax: one SVGD step (``svgd_direction`` + an SGD update), matrix form;
  * blackjax: ``blackjax.vi.svgd`` step (its per-pair double vmap);
  * pairwise: a per-pair vmap of the SVGD formula (the textbook reference).
It also measures this machine's float32 matmul GFLOP/s in the same run, and runs
every case in a fresh subprocess so that the reported peak resident memory (max RSS)
belongs to that case alone. The device is whatever JAX picks (a GPU when present; the
output names ``jax.devices()`` and the backend); on an accelerator each case also
reports the device's own peak memory where ``memory_stats()`` gives it. For the scaling
of the direction with n (dense, tiled before and now), see benchmarks/svgd_scaling.py.

    python -m benchmarks.svgd_direction                 # all cases, markdown table
    python -m benchmarks.svgd_direction --out=benchmarks/results/cpu.json

GFLOP/s of the direction counts 6 n^2 d flops (the pairwise distances, K @ S and
K @ X, 2 n^2 d each), the convention of the issue.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from benchmarks import common

CASES = [
  # name, n, d, batch, implementations
  ("n=100,d=2", 100, 2, 1, ("stein_jax", "blackjax", "pairwise")),
  ("n=1000,d=100", 1000, 100, 1, ("stein_jax", "blackjax", "pairwise")),
  ("n=4000,d=100", 4000, 100, 1, ("stein_jax", "blackjax", "pairwise")),
  ("64 sets x n=100,d=50", 100, 50, 64, ("stein_jax", "blackjax", "pairwise")),
  ("blocked n=100000,d=16", 100_000, 16, 1, ("stein_jax",)),
]
# Wall-clock limit of one case's subprocess (BlackJAX at n = 4000 takes ~40 s a step).
CASE_TIMEOUT_S = 1200


def _time(fn, *args, repeats: int, min_time: float = 1.0):
  """Median wall time of fn(*args) after one compiling call."""
  import jax

  jax.block_until_ready(fn(*args))
  times = []
  start = time.perf_counter()
  while len(times) < repeats or (time.perf_counter() - start < min_time and len(times) < 50):
    t = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - t)
    if times[-1] > 5.0 and len(times) >= 2:
      break
  times.sort()
  return times[len(times) // 2]


def matmul_gflops() -> float:
  """float32 2048^3 matmul rate of the default device, at HIGHEST precision like the direction's matmuls
  (on a GPU the default precision may use TF32, a rate the direction never sees; on a CPU they are the same)."""
  import jax
  import jax.numpy as jnp

  a = jax.random.normal(jax.random.key(0), (2048, 2048), jnp.float32)
  f = jax.jit(lambda a: jnp.matmul(a, a, precision=jax.lax.Precision.HIGHEST))
  t = _time(f, a, repeats=5)
  return 2 * 2048**3 / t / 1e9


def run_case(impl: str, n: int, d: int, batch: int) -> dict:
  import jax
  import jax.numpy as jnp
  import optax

  h, eps = 1.0 * d, 0.1
  shape = (batch, n, d) if batch > 1 else (n, d)
  x = jax.random.normal(jax.random.key(1), shape, jnp.float32)

  if impl == "stein_jax":
    from stein_jax import svgd_direction

    def step(x):
      return x + eps * svgd_direction(x, -x, bandwidth=h)
  elif impl == "blackjax":
    import blackjax

    opt = optax.sgd(eps)
    kernel = blackjax.vi.svgd.build_kernel(opt)
    grad_fn = lambda p: -p

    def one(x):
      state = blackjax.vi.svgd.init(x, {"length_scale": h}, opt)
      return kernel(state, grad_fn, blackjax.vi.svgd.rbf_kernel).particles

    step = jax.vmap(one) if batch > 1 else one
  elif impl == "pairwise":

    def one(x):
      s = -x

      def term(xj, sj, xi):
        k = jnp.exp(-jnp.sum((xj - xi) ** 2) / h)
        return k * sj - 2.0 / h * (xj - xi) * k

      phi = jax.vmap(lambda xi: jnp.mean(jax.vmap(term, (0, 0, None))(x, s, xi), 0))(x)
      return x + eps * phi

    step = jax.vmap(one) if batch > 1 else one
  else:
    raise ValueError(impl)
  f = jax.jit(step)
  t = _time(f, x, repeats=3 if n * n * d * batch > 1e9 else 10)
  flops = 6 * n * n * d * batch
  out = {
    "seconds": t,
    "gflops": flops / t / 1e9,
    "peak_rss_mib": _peak_rss_mib(),  # host memory
  }
  stats = jax.devices()[0].memory_stats() or {}  # an accelerator's own peak (None on a CPU)
  if "peak_bytes_in_use" in stats:
    out["device_peak_mib"] = stats["peak_bytes_in_use"] / 2**20
  return out


def _peak_rss_mib() -> float:
  return common.peak_rss_mib()


def _subprocess(args: list[str]) -> dict:
  return common.run_case("benchmarks.svgd_direction", args, CASE_TIMEOUT_S, max_error_chars=200)


def main(argv=None) -> None:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--case", help=argparse.SUPPRESS)  # internal: impl,n,d,batch
  p.add_argument("--gflops", action="store_true", help=argparse.SUPPRESS)
  p.add_argument("--out", default=None, help="write the results as JSON here")
  p.add_argument("--only", default=None, help="substring filter on case names")
  args = p.parse_args(argv)
  if args.gflops:
    print(json.dumps({"gflops": matmul_gflops()}))
    return
  if args.case:
    impl, n, d, batch = args.case.split(",")
    print(json.dumps(run_case(impl, int(n), int(d), int(batch))))
    return

  import jax

  print(f"devices: {jax.devices()}; backend: {jax.default_backend()}", file=sys.stderr, flush=True)
  machine = common.machine("load_average")
  device = machine["device"]
  rate_start = _subprocess(["--gflops"]).get("gflops")
  rows = []
  for name, n, d, batch, impls in CASES:
    if args.only and args.only not in name:
      continue
    row = {"case": name, "n": n, "d": d, "batch": batch}
    for impl in impls:
      row[impl] = _subprocess(["--case", f"{impl},{n},{d},{batch}"])
      print(f"  {name:24s} {impl:10s} {row[impl]}", file=sys.stderr, flush=True)
    rows.append(row)

  rate_end = _subprocess(["--gflops"]).get("gflops")  # again at the end: on a shared machine the rate drifts
  rates = [r for r in (rate_start, rate_end) if r]
  machine.update(matmul_gflops_start=rate_start, matmul_gflops_end=rate_end)
  machine["matmul_gflops"] = sum(rates) / len(rates) if rates else None
  machine["load_average_end"] = list(os.getloadavg())
  gf = machine["matmul_gflops"]
  print(
    f"\nMachine: {device}, {os.cpu_count()} CPUs, jax {jax.__version__}; "
    f"matmul {gf or float('nan'):.1f} GFLOP/s (float32, same run: mean of {rate_start or float('nan'):.1f} at the "
    f"start and {rate_end or float('nan'):.1f} at the "
    f"end); load average {machine['load_average']} at the start, {machine['load_average_end']} at the end\n"
    f"devices: {jax.devices()}; backend: {jax.default_backend()}\n"
  )
  print("| case | stein_jax | GFLOP/s (of matmul) | peak RSS | blackjax | speed-up | " "per-pair vmap | speed-up |")
  print("|---|---|---|---|---|---|---|---|")
  fmt = lambda r: f"{r['seconds'] * 1e3:.2f} ms" if "seconds" in r else r.get("error", "-")
  for row in rows:
    ours = row["stein_jax"]
    cells = [row["case"], fmt(ours)]
    if "seconds" in ours:
      cells += [f"{ours['gflops']:.1f} ({100 * ours['gflops'] / gf:.0f}%)", f"{ours['peak_rss_mib']:.0f} MiB"]
    else:
      cells += ["-", "-"]
    for other in ("blackjax", "pairwise"):
      r = row.get(other)
      if r is None:
        cells += ["n/a", "-"]
      else:
        ok = "seconds" in r and "seconds" in ours
        cells += [fmt(r), f"{r['seconds'] / ours['seconds']:.0f}x" if ok else "-"]
    print("| " + " | ".join(cells) + " |")
  if args.out:
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
      json.dump({"machine": machine, "rows": rows}, f, indent=1)


if __name__ == "__main__":
  main()
