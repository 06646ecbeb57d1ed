r"""How the SVGD direction's time grows with n: dense, two-sided tiled and symmetric tiled, side by side in one run.

    python -m benchmarks.svgd_scaling --outdir=benchmarks/results/svgd_scaling \
        --figure=docs/figures/svgd_scaling.png          # n = 100 ... 100,000, d = 16 and 100
    python -m benchmarks.svgd_scaling --outdir=/tmp/scaling --max_n=3000   # the whole path in about a minute

Particles are standard normal, scores -x, the RBF kernel with a fixed bandwidth h = d, one particle set, all
jitted and compiled ahead of the timed calls. For each d in ``--dims`` and n in ``--ns`` it times:

  * dense: ``svgd_direction(block_size=0)``, the matrix form, where its n x n temporaries fit ``--dense_max_gib``;
  * two-sided: the earlier tiled form (``stein._blocked_direction(symmetric=False)``: every tile once per row
    block, so each off-diagonal tile and its exp twice; 2048 x 512 tiles; right-hand side [S, X, 1]);
  * symmetric: today's tiled form (``svgd_direction(block_size=stein.DEFAULT_BLOCK)``: each pair of tiles once,
    K_ij @ rhs_j to row block i and K_ij^T @ rhs_i to column block j; right-hand side [w (S + 2 c X), w]).

The forms alternate within each round (one call of each per round, ``--repeats`` rounds, the median reported), so
the load of a shared machine hits them alike; ``ratio`` is two-sided / symmetric. GFLOP/s counts 6 n^2 d flops
(the convention of benchmarks/svgd_direction.py), and the float32 matmul rate of this device is measured in the
same run (2048^3, at the start and at the end: the reference line of the figure is the direction at that rate).
The load average is recorded at the start and the end. In a subprocess of its own each (``--memory_n``, d = 16),
one call of each tiled form reports its peak resident memory, and XLA's temporary bytes of the direction and of
its value-and-grad (``compiled.memory_analysis()``).

Writes OUTDIR/svgd_scaling.json (everything), OUTDIR/svgd_scaling.csv (one row per d, n and form) and the figure
(``--figure``, default OUTDIR/svgd_scaling.png: log-log time against n, one line per form and d, the matmul-rate
line), and prints a markdown table. The device is whatever JAX picks (a GPU when present); nothing here assumes a
CPU: on an accelerator the memory rows add the device's peak bytes where ``memory_stats()`` reports them.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import statistics
import sys
import time

from benchmarks import common

DEFAULT_NS = (100, 300, 1000, 3000, 10_000, 30_000, 100_000)
DEFAULT_DIMS = (16, 100)
FORMS = ("dense", "two_sided", "symmetric")
TWO_SIDED_BLOCK = (2048, 512)  # the tile the two-sided form was tuned with (issue 15's "today's tiled form")
LABELS = {"dense": "dense", "two_sided": "tiled, two-sided (before)", "symmetric": "tiled, symmetric (now)"}


def flops(n: int, d: int) -> float:
  """The flop convention of the SVGD benchmarks: 6 n^2 d (distances, K @ S and K @ X, 2 n^2 d each)."""
  return 6.0 * n * n * d


def _direction_fn(form: str, n: int, d: int, block=None):
  """(compiled direction, its input, the function) for one form: x [n, d] standard normal, score -x, h = d.

  ``block``: the symmetric form's tile (default ``stein.DEFAULT_BLOCK``); the two-sided form keeps its own.
  """
  import jax
  import jax.numpy as jnp

  from stein_jax import kernels, stein, svgd_direction

  x = jax.random.normal(jax.random.key(1), (n, d), jnp.float32)
  h = float(d)
  if form == "dense":
    fn = lambda x: svgd_direction(x, -x, bandwidth=h, block_size=0)
  elif form == "symmetric":
    tile = tuple(block or stein.DEFAULT_BLOCK)
    fn = lambda x: svgd_direction(x, -x, bandwidth=h, block_size=tile)
  elif form == "two_sided":
    w = jnp.full((n,), 1.0 / n, jnp.float32)
    fn = lambda x: stein._blocked_direction(
      x, -x, w, jnp.float32(h), kernels.rbf(), 1.0, TWO_SIDED_BLOCK, jax.lax.Precision.HIGHEST, symmetric=False
    )
  else:
    raise ValueError(f"unknown form {form!r}; one of {FORMS}")
  return jax.jit(fn).lower(x).compile(), x, fn


def matmul_gflops(repeats: int = 5) -> float:
  """float32 2048 x 2048 matmul rate of the default device (at HIGHEST precision, the direction's)."""
  import jax
  import jax.numpy as jnp

  a = jax.random.normal(jax.random.key(0), (2048, 2048), jnp.float32)
  f = jax.jit(lambda a: jnp.matmul(a, a, precision=jax.lax.Precision.HIGHEST)).lower(a).compile()
  jax.block_until_ready(f(a))
  times = []
  for _ in range(repeats):
    t = time.perf_counter()
    jax.block_until_ready(f(a))
    times.append(time.perf_counter() - t)
  return 2 * 2048**3 / sorted(times)[len(times) // 2] / 1e9


def dense_fits(n: int, max_gib: float) -> bool:
  from stein_jax import stein

  return stein.dense_bytes(n, "float32") <= max_gib * 2**30


def time_forms(n: int, d: int, forms, repeats: int, log=None, min_seconds: float = 1.0, block=None) -> dict:
  """Median seconds per form, the forms interleaved round by round (one call of each per round).

  Every form is compiled ahead of time, then called once; where that first call takes over 2 s it counts as the
  first sample (there is no compilation left in it) and ``repeats`` calls are made in all (2 where a call takes
  over 30 s), else it is a warm-up and the rounds go on until ``repeats`` rounds and ``min_seconds`` have passed
  (at most 50).
  """
  import jax

  compiled = {form: _direction_fn(form, n, d, block)[:2] for form in forms}

  def call(form):
    fn, x = compiled[form]
    t, c = time.perf_counter(), time.process_time()
    jax.block_until_ready(fn(x))
    return time.perf_counter() - t, time.process_time() - c

  first = {form: call(form) for form in forms}
  slowest = max(t for t, _ in first.values())
  big = slowest > 2.0
  if slowest > 30.0:  # a minute-long call: two samples are enough
    repeats = min(repeats, 2)
  samples = {form: [first[form]] if big else [] for form in forms}
  rounds, started = 0, time.perf_counter()
  while rounds < repeats - big or (not big and time.perf_counter() - started < min_seconds and rounds < 50):
    for form in forms:
      samples[form].append(call(form))
    rounds += 1
  out = {}
  for form, ts in samples.items():
    wall, cpu = [t for t, _ in ts], [c for _, c in ts]
    out[form] = {
      "seconds": statistics.median(wall),
      "min_seconds": min(wall),
      "cpu_seconds": statistics.median(cpu),  # process CPU time, all threads: steadier than wall time under load
      "calls": len(ts),
    }
    if log:
      log(
        f"  d={d:<4d} n={n:<7d} {form:10s} {out[form]['seconds']:.4g} s wall, "
        f"{out[form]['cpu_seconds']:.4g} s CPU ({len(ts)} calls)"
      )
  return out


peak_rss_mib = common.peak_rss_mib


def memory_case(form: str, n: int, d: int, block=None) -> dict:
  """One call's peak RSS and XLA's temporary bytes (direction, value-and-grad), run in a fresh process."""
  import jax
  import jax.numpy as jnp

  fn, x, raw = _direction_fn(form, n, d, block)
  rss_before = peak_rss_mib()
  t = time.perf_counter()
  jax.block_until_ready(fn(x))
  seconds = time.perf_counter() - t
  out = {
    "form": form,
    "n": n,
    "d": d,
    "seconds": seconds,
    "peak_rss_mib": peak_rss_mib(),
    "rss_before_call_mib": rss_before,  # the peak so far: jax, the compiled direction and its input
    "xla_temp_mib": fn.memory_analysis().temp_size_in_bytes / 2**20,
  }
  grad = jax.jit(jax.value_and_grad(lambda x: jnp.sum(raw(x) ** 2))).lower(x).compile()
  out["xla_temp_value_and_grad_mib"] = grad.memory_analysis().temp_size_in_bytes / 2**20
  stats = jax.devices()[0].memory_stats() or {}
  if "peak_bytes_in_use" in stats:
    out["device_peak_mib"] = stats["peak_bytes_in_use"] / 2**20
  return out


def _subprocess(args: list, timeout: float) -> dict:
  return common.run_case("benchmarks.svgd_scaling", args, timeout)


# ----------------------------------------------------------------------------------- tables and figure


def csv_rows(results: dict) -> list:
  """One dict per (d, n, form) with seconds, GFLOP/s and % of the same-run matmul rate."""
  rate = results["machine"]["matmul_gflops"]
  rows = []
  for row in results["rows"]:
    for form in FORMS:
      r = row.get(form)
      if not r or "seconds" not in r:
        continue
      gf = flops(row["n"], row["d"]) / r["seconds"] / 1e9
      rows.append(
        {
          "d": row["d"],
          "n": row["n"],
          "form": form,
          "seconds": r["seconds"],
          "min_seconds": r["min_seconds"],
          "cpu_seconds": r.get("cpu_seconds"),
          "calls": r["calls"],
          "gflops": gf,
          "pct_matmul": 100.0 * gf / rate if rate else float("nan"),
        }
      )
  return rows


def write_csv(results: dict, path: str) -> None:
  rows = csv_rows(results)
  with open(path, "w", newline="") as f:
    fields = ["d", "n", "form", "seconds", "min_seconds", "cpu_seconds", "calls", "gflops", "pct_matmul"]
    writer = csv.DictWriter(f, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)


def _fmt_time(seconds) -> str:
  if seconds is None:
    return "-"
  if seconds < 1e-3:
    return f"{seconds * 1e6:.0f} µs"
  if seconds < 1.0:
    return f"{seconds * 1e3:.3g} ms"
  return f"{seconds:.3g} s"


def markdown_table(results: dict) -> str:
  """The run as a markdown table: one row per (d, n), the three forms' median wall times, the two-sided /
  symmetric ratio in wall and in CPU time, and GFLOP/s (6 n^2 d flops) as % of the same-run matmul rate."""
  rate = results["machine"]["matmul_gflops"]
  lines = [
    "| d | n | dense | tiled, two-sided (before) | tiled, symmetric (now) | two-sided / symmetric (wall; CPU) "
    "| symmetric GFLOP/s (% of matmul) | dense GFLOP/s (% of matmul) |",
    "|---:|---:|---:|---:|---:|---:|---:|---:|",
  ]
  for row in results["rows"]:
    sec = {f: (row.get(f) or {}).get("seconds") for f in FORMS}
    cpu = {f: (row.get(f) or {}).get("cpu_seconds") for f in FORMS}
    cells = [str(row["d"]), f"{row['n']:,}"] + [_fmt_time(sec[f]) for f in FORMS]
    if sec["two_sided"] and sec["symmetric"]:
      ratio = f"{sec['two_sided'] / sec['symmetric']:.2f}x"
      if cpu["two_sided"] and cpu["symmetric"]:
        ratio += f"; {cpu['two_sided'] / cpu['symmetric']:.2f}x"
      cells.append(ratio)
    else:
      cells.append("-")
    for f in ("symmetric", "dense"):
      if sec[f]:
        gf = flops(row["n"], row["d"]) / sec[f] / 1e9
        cells.append(f"{gf:.0f} ({100 * gf / rate:.0f}%)")
      else:
        cells.append("-")
    lines.append("| " + " | ".join(cells) + " |")
  return "\n".join(lines)


def memory_table(results: dict) -> str:
  lines = [
    "| form | n | d | one call | peak RSS | RSS before the call | XLA temp (direction) | XLA temp (value-and-grad) |",
    "|---|---:|---:|---:|---:|---:|---:|---:|",
  ]
  for m in results.get("memory", []):
    if "error" in m:
      lines.append(f"| {m.get('form', '?')} | | | {m['error']} | | | | |")
      continue
    lines.append(
      f"| {LABELS[m['form']]} | {m['n']:,} | {m['d']} | {_fmt_time(m['seconds'])} | {m['peak_rss_mib']:.0f} MiB "
      f"| {m['rss_before_call_mib']:.0f} MiB | {m['xla_temp_mib']:.1f} MiB | {m['xla_temp_value_and_grad_mib']:.1f} MiB |"
    )
  return "\n".join(lines)


def plot(results: dict, path: str) -> None:
  """Log-log time against n, one line per form and d, and the direction at the same-run matmul rate."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  machine = results["machine"]
  rate = machine["matmul_gflops"]
  styles = {"dense": ("o", "-"), "two_sided": ("s", "--"), "symmetric": ("^", "-")}
  colors = {16: "tab:blue", 100: "tab:red"}
  fig, ax = plt.subplots(figsize=(8, 5.5), dpi=120)
  dims = sorted({row["d"] for row in results["rows"]})
  for i, d in enumerate(dims):
    color = colors.get(d, f"C{i + 2}")
    rows = [row for row in results["rows"] if row["d"] == d]
    for form in FORMS:
      pts = [(row["n"], row[form]["seconds"]) for row in rows if (row.get(form) or {}).get("seconds")]
      if pts:
        marker, line = styles[form]
        ax.plot(*zip(*pts), marker=marker, linestyle=line, color=color, label=f"{LABELS[form]}, d = {d}")
    ns = [row["n"] for row in rows]
    if ns and rate:
      ax.plot(
        ns,
        [flops(n, d) / (rate * 1e9) for n in ns],
        linestyle=":",
        color=color,
        alpha=0.7,
        label=f"6 n² d flops at the matmul rate, d = {d}",
      )
  switch = results.get("auto_switch_n")
  if switch:
    ax.axvline(switch, color="gray", linestyle="--", linewidth=0.8)
    ax.annotate(
      "svgd_direction's automatic choice:\ndense left of this line, tiled right",
      (switch, 0.02),
      xycoords=("data", "axes fraction"),
      xytext=(4, 0),
      textcoords="offset points",
      fontsize=7.5,
      color="gray",
    )
  ax.set_xscale("log")
  ax.set_yscale("log")
  ax.set_xlabel("particles n")
  ax.set_ylabel("seconds per direction (median)")
  load = machine.get("load_average_start", [None])[0]
  ax.set_title(
    f"SVGD direction (RBF, one set) on {machine['device']}\n"
    f"same-run float32 matmul {rate:.0f} GFLOP/s, load average {load:.1f} at the start",
    fontsize=10,
  )
  ax.grid(True, which="both", alpha=0.3)
  ax.legend(fontsize=7.5, loc="upper left")
  fig.tight_layout()
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  fig.savefig(path)
  plt.close(fig)


# ----------------------------------------------------------------------------------------------- main


def main(argv=None) -> None:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--outdir", required=False, default="benchmarks/results/svgd_scaling", help="output directory")
  p.add_argument("--figure", default=None, help="PNG path (default OUTDIR/svgd_scaling.png)")
  p.add_argument("--ns", default=",".join(map(str, DEFAULT_NS)), help="comma-separated particle counts")
  p.add_argument("--dims", default=",".join(map(str, DEFAULT_DIMS)), help="comma-separated dimensions")
  p.add_argument("--max_n", type=int, default=None, help="drop the particle counts above this")
  p.add_argument("--repeats", type=int, default=3, help="timed rounds (one call of each form per round)")
  p.add_argument("--dense_max_gib", type=float, default=1.5, help="largest dense n x n temporaries to run")
  p.add_argument("--block", default=None, help="the symmetric form's tile side (default stein.DEFAULT_BLOCK)")
  p.add_argument("--memory_n", type=int, default=100_000, help="n of the peak-memory calls (d = 16); 0: skip")
  p.add_argument("--memory_case", default=None, help=argparse.SUPPRESS)  # internal: form,n,d
  p.add_argument("--gflops", action="store_true", help=argparse.SUPPRESS)  # internal: the matmul rate
  args = p.parse_args(argv)
  block = (int(args.block), int(args.block)) if args.block else None
  if args.memory_case:
    form, n, d = args.memory_case.split(",")
    print(json.dumps(memory_case(form, int(n), int(d), block)))
    return
  if args.gflops:
    print(json.dumps({"gflops": matmul_gflops()}))
    return

  import jax

  log = lambda msg: print(msg, file=sys.stderr, flush=True)
  ns = [int(v) for v in args.ns.split(",") if not args.max_n or int(v) <= args.max_n]
  dims = [int(v) for v in args.dims.split(",")]
  log(f"devices: {jax.devices()}; backend: {jax.default_backend()}")
  machine = common.machine("load_average_start")
  device = machine["device"]
  start = time.time()
  rate_start = matmul_gflops()
  log(f"matmul {rate_start:.1f} GFLOP/s (float32, same run, start); load average {machine['load_average_start']}")
  rows = []
  for d in dims:
    for n in ns:
      forms = [f for f in FORMS if f != "dense" or dense_fits(n, args.dense_max_gib)]
      row = {"d": d, "n": n}
      row.update(time_forms(n, d, forms, args.repeats, log, block=block))
      rows.append(row)
  memory = []
  if args.memory_n and (not args.max_n or args.memory_n <= args.max_n):
    for form in ("symmetric", "two_sided"):
      extra = ["--block", args.block] if args.block else []
      memory.append(_subprocess(["--memory_case", f"{form},{args.memory_n},16", *extra], timeout=1800))
      log(f"  memory {form}: {memory[-1]}")
  rate_end = matmul_gflops()
  machine.update(
    matmul_gflops_start=rate_start,
    matmul_gflops_end=rate_end,
    matmul_gflops=0.5 * (rate_start + rate_end),
    load_average_end=list(os.getloadavg()),
    wall_seconds=time.time() - start,
  )
  results = {"machine": machine, "rows": rows, "memory": memory, "two_sided_block": list(TWO_SIDED_BLOCK)}
  from stein_jax import stein

  results["symmetric_block"] = list(block or stein.DEFAULT_BLOCK)
  # The largest n that svgd_direction runs dense by default (its n x n temporaries within the memory budget).
  results["auto_switch_n"] = math.isqrt(stein.DEFAULT_MEMORY_BUDGET_BYTES // stein.dense_bytes(1, "float32"))

  os.makedirs(args.outdir, exist_ok=True)
  with open(os.path.join(args.outdir, "svgd_scaling.json"), "w") as f:
    json.dump(results, f, indent=1)
  write_csv(results, os.path.join(args.outdir, "svgd_scaling.csv"))
  figure = args.figure or os.path.join(args.outdir, "svgd_scaling.png")
  plot(results, figure)
  la0, la1 = machine["load_average_start"], machine["load_average_end"]
  print(
    f"\nDevice: {device}, {os.cpu_count()} CPUs, jax {jax.__version__}; same-run float32 matmul "
    f"{rate_start:.1f} GFLOP/s at the start, {rate_end:.1f} at the end; load average (1, 5, 15 min) "
    f"{la0[0]:.2f} {la0[1]:.2f} {la0[2]:.2f} at the start, {la1[0]:.2f} {la1[1]:.2f} {la1[2]:.2f} at the end; "
    f"{machine['wall_seconds']:.0f} s in all.\n"
  )
  print(markdown_table(results))
  if memory:
    print()
    print(memory_table(results))
  print(f"\nwrote {args.outdir}/svgd_scaling.json, svgd_scaling.csv and {figure}")


if __name__ == "__main__":
  main()
