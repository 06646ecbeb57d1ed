r"""SVGD's variance collapse in high dimensions: per-coordinate variance of n particles on N(0, I_d).

    python -m experiments.variance_collapse --config=configs/variance_collapse.py --workdir=/tmp/variance_collapse
    python -m experiments.variance_collapse --config=configs/variance_collapse.py --workdir=DIR \
        --config.dims='(2,16,128,784)' --config.particles='(50,100,1000)'

Two of this repository's reproductions (Poisson factor analysis, 128-d codes with 50 particles;
SteinGAN on MNIST, 784-d images with 100 particles) found SVGD's particles far narrower than the
target. This runs plain SVGD (x <- x + eps * phi(x), eq. (5) of Liu & Wang 2017) to its fixed point on
the standard Gaussian, whose exact per-coordinate variance is 1, for each dimension d, particle
count n and bandwidth rule, and reports the mean per-coordinate variance of the particles (the
trace of their covariance over d). Started from N(0, I) exact samples: the fixed point, not the
starting point, is what shrinks. Writes DIR/variance_collapse.json and DIR/figures/variance_collapse.png.
From a notebook: ``run(dims=..., particles=..., bandwidths=...)`` returns the rows, ``plot(rows)`` draws them.
"""

from __future__ import annotations

import json
import os

import jax
import numpy as np
import optax

from stein_jax import sampler
from stein_jax.train import config as config_lib
from stein_jax.train import main as main_lib
from stein_jax.train import save_figure
from stein_jax.train.figures import new_figure

BANDWIDTHS = ("median", "median_log")


def fixed_point_variance(
  d: int, n: int, bandwidth: str = "median", num_steps: int = 5000, step_size: float = 0.5, seed: int = 0
) -> float:
  """Mean per-coordinate variance of n SVGD particles on N(0, I_d) after num_steps steps."""
  smp = sampler.svgd(lambda x: -x, optax.sgd(step_size), bandwidth=bandwidth)
  x0 = jax.random.normal(jax.random.key(seed), (n, d))
  state, _ = jax.jit(lambda s: sampler.run(smp, None, s, num_steps))(smp.init(None, x0))
  x = np.asarray(state.particles, np.float64)
  return float(np.mean(np.var(x, axis=0, ddof=1)))


def run(
  dims=(1, 2, 8, 32, 128, 784),
  particles=(50, 100, 500),
  bandwidths=BANDWIDTHS,
  num_steps: int = 5000,
  step_size: float = 0.5,
  seed: int = 0,
) -> list[dict]:
  """{"bandwidth", "n", "d", "variance"} per bandwidth rule x particle count x dimension, printed as it goes."""
  results = []
  for bw in bandwidths:
    for n in particles:
      for d in dims:
        v = fixed_point_variance(d, n, bw, num_steps, step_size, seed)
        results.append({"bandwidth": bw, "n": n, "d": d, "variance": v})
        print(f"bandwidth={bw:10s} n={n:5d} d={d:4d} per-coordinate variance={v:.4f} (exact 1)", flush=True)
  return results


def plot(results):
  """Per-coordinate variance against d, one panel per bandwidth rule, one line per n."""
  bandwidths = list(dict.fromkeys(r["bandwidth"] for r in results))
  counts = list(dict.fromkeys(r["n"] for r in results))
  fig = new_figure(figsize=(4.5 * len(bandwidths), 3.8))
  axes = fig.subplots(1, len(bandwidths), squeeze=False)[0]
  for ax, bw in zip(axes, bandwidths):
    for n in counts:
      rows = [r for r in results if r["bandwidth"] == bw and r["n"] == n]
      ax.plot([r["d"] for r in rows], [r["variance"] for r in rows], "o-", label=f"n = {n}")
    ax.axhline(1.0, color="k", lw=0.8, ls="--")
    ax.set(
      xscale="log",
      yscale="log",
      xlabel="dimension d",
      ylabel="per-coordinate variance",
      title=f"SVGD on N(0, I), bandwidth {bw}",
    )
    ax.legend()
  fig.tight_layout()
  return fig


def check(config) -> None:
  """Raises ConfigError naming every bad key of configs/variance_collapse.py's config."""
  c = config_lib
  c.check_fields(
    config,
    {
      "dims": c.tuple_of(c.POSITIVE_INT),
      "particles": c.tuple_of(c.Rule(lambda n: c.POSITIVE_INT.ok(n) and n >= 2, "an int >= 2")),
      "bandwidths": c.tuple_of(c.one_of(BANDWIDTHS)),
      "num_steps": c.POSITIVE_INT,
      "step_size": c.POSITIVE_NUMBER,
    },
  )


def run_from_config(config, workdir: str) -> list[dict]:
  """:func:`run` as ``config`` says; writes WORKDIR/variance_collapse.json and WORKDIR/figures/variance_collapse.png."""
  check(config)
  results = run(
    dims=config.dims,
    particles=config.particles,
    bandwidths=config.bandwidths,
    num_steps=config.num_steps,
    step_size=config.step_size,
    seed=config.seed,
  )
  os.makedirs(workdir, exist_ok=True)
  with open(os.path.join(workdir, "variance_collapse.json"), "w") as f:
    json.dump(results, f, indent=1)
  save_figure(plot(results), workdir, "variance_collapse")
  print(f"wrote {workdir}/variance_collapse.json")
  return results


if __name__ == "__main__":
  main_lib.run_tool(run_from_config)
