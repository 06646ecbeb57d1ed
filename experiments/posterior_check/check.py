"""The posterior check: every test point of a run against its ground truth, written after each point."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from absl import logging
import jax
import numpy as np

from stein_jax.evaluation import posterior_check as pc

from experiments.posterior_check.points import bandwidth_rule, check_indices, kernel_metric, make_point
from experiments.posterior_check.reopen import load_run
from experiments.posterior_check.report import summarize, write_outputs


def run_check(config, workdir: str) -> dict:
  """The whole check; writes posterior_check.json, table.md and the figure to ``workdir``."""
  t0 = time.time()
  run = load_run(config.run_dir, config, step=config.step)
  indices = check_indices(run, config.test_indices)
  s = int(run.config.svgd.num_particles)
  bandwidth = bandwidth_rule(run)
  pad_to = None
  if run.name == "pfa":
    pad_to = max(int(np.sum(np.asarray(run.experiment.x_test[i]) > 0)) for i in indices)
  svgd_kwargs = {
    k: config.svgd[k]
    for k in (
      "optimizer",
      "learning_rate",
      "adam_learning_rate",
      "adam_steps",
      "check_every",
      "lag",
      "max_steps",
      "tol",
    )
  }
  svgd_kwargs["metric"] = kernel_metric(run, config)
  key = jax.random.key(config.seed)
  points = []
  for i in indices:
    t_point = time.time()
    p = make_point(run, config, i, pad_to)
    rec = {"index": i}
    try:
      reference, info = p.reference(jax.random.fold_in(key, i))
    except pc.NUTSNotConvergedError as e:
      print(f"error: test point {i}: {e}", file=sys.stderr, flush=True)
      rec.update(status="not_converged", reference=getattr(e, "info", {}), seconds=time.time() - t_point)
      points.append(rec)
      continue
    rec["reference"] = info
    seed = 10_000 + 3 * i
    res = pc.check_point(
      p.logdensity_fn,
      p.data,
      p.encoder(config.encoder_samples, seed),
      p.encoder(s, seed + 1),
      p.encoder(config.large_particles, seed + 2),
      reference,
      bandwidth=bandwidth,
      top=p.top_fn(reference),
      to_report=p.to_report,
      svgd_kwargs=svgd_kwargs,
      mmd_points=config.mmd_points,
      native_mmd_name=p.native_mmd_name or None,
    )
    rec.update(status="ok", **res, seconds=time.time() - t_point)
    logging.info(
      "test point %d: var ratio encoder %.3f, SVGD S=%d %.3f, SVGD %d %.3f (%.0f s)",
      i,
      res["encoder"]["var_ratio"],
      s,
      res["svgd_s"]["var_ratio"],
      config.large_particles,
      res["svgd_large"]["var_ratio"],
      rec["seconds"],
    )
    points.append(rec)
    # Written after every point: a long check (NUTS, 1,000 particles) leaves its finished
    # points behind if it is stopped.
    write_outputs(_record(run, config, s, bandwidth, points, t0), workdir, plot=False)
  out = _record(run, config, s, bandwidth, points, t0)
  write_outputs(out, workdir, plot=config.plot)
  return out


def _record(run, config, s, bandwidth, points, t0) -> dict:
  return {
    "run_dir": os.path.abspath(config.run_dir),
    "experiment": run.name,
    "method": run.config.method,
    "checkpoint_step": run.step,
    "num_particles": s,
    "large_particles": int(config.large_particles),
    "bandwidth": bandwidth,
    "kernel_metric": kernel_metric(run, config),
    "reference": _reference_name(run.name),
    "top_coordinates": _top_name(run.name, config.top_coordinates),
    "check_config": config.to_dict(),
    "points": list(points),
    "summary": summarize(points),
    "seconds": time.time() - t0,
    "uptime": _uptime(),
  }


def _reference_name(name):
  return {"stein_vae_gmm": "exact posterior samples", "pfa": "Gibbs draws (the run's cache)"}.get(
    name, "NUTS (BlackJAX)"
  )


def _top_name(name, k):
  if name == "stein_vae_gmm":
    return None
  if name == "pfa":
    return f"the {k} topics with the largest Gibbs posterior means"
  return f"the {k} coordinates with the smallest NUTS posterior variances"


def _uptime() -> str:
  try:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
  except OSError:
    return ""
