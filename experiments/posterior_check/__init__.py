r"""Posterior check of a trained run: encoder vs free SVGD (S and 1,000 particles) vs ground truth.

    STEIN_JAX_DATA_DIR=/path/to/data python -m experiments.posterior_check \
        --config=configs/posterior_check.py --config.run_dir=RUN --workdir=DIR

RUN is the workdir of an ``experiments.stein_vae`` run (GMM, MNIST or text; Stein VAE,
VIWAE, VAE or IWAE) or of an ``experiments.pfa`` run. The run's defining config is read
from RUN/run.json (written by :func:`stein_jax.train.loop.check_workdir`), the experiment is
rebuilt (its fingerprint must equal the stored one) and the newest checkpoint restored
read-only. For each of ``config.test_indices`` (test points of the run's test split) the
posterior p(z | x, theta) is checked with :mod:`stein_jax.evaluation.posterior_check`:

  * ground truth: GMM, exact samples (``stein_jax.data.synthetic_gmm``); PFA, the run's
    cached Gibbs draws (RUN/pfa_gibbs_test.npz; compared in z as docs/results/pfa_20news.md,
    with SVGD on u = log z as in training); MNIST / text, NUTS (BlackJAX) on the decoder's
    posterior with ``nuts.num_chains`` chains from prior draws. A NUTS point with split
    R-hat above ``nuts.rhat_threshold`` or too many divergences is reported as not
    converged, with its R-hat, and no numbers.
  * encoder: ``encoder_samples`` samples of the trained q(z | x).
  * free SVGD from encoder samples with the run's S = ``num_particles`` and with
    ``large_particles``, the run's bandwidth rule, run to its fixed point.

Writes DIR/posterior_check.json (everything, per coordinate too), DIR/table.md and
DIR/figures/posterior_check.png. User errors (no trained model in RUN, a run of another
experiment, test indices out of range, missing PFA caches) print one ``error:`` line and
exit with status 1.

This main imports the experiment modules it checks (``experiments.stein_vae``,
``experiments.pfa``): rebuilding a run exactly (its model, data and the checkpoint's state
structure) needs their Experiment classes; a copy of their build code would drift.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any, NamedTuple, Optional

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from stein_jax.evaluation import posterior_check as pc
from stein_jax.train import checkpoint as checkpoint_lib
from stein_jax.train import main as main_lib
from stein_jax.train import figures
from stein_jax.train import runs

STEIN_VAE_EXPERIMENTS = ("stein_vae_gmm", "stein_vae_mnist", "stein_vae_text")
SUPPORTED = STEIN_VAE_EXPERIMENTS + ("pfa",)
METHOD_LABELS = {
  "encoder": "encoder (amortised)",
  "svgd_s": "free SVGD, S particles",
  "svgd_large": "free SVGD, many particles",
}
COLORS = {"encoder": "#d7191c", "svgd_s": "#fdae61", "svgd_large": "#2c7bb6"}
Error = pc.PosteriorCheckError


# ------------------------------------------------------------------------ the run


Run = runs.Run


def _resumable_defaults(name: str, run_dir: str, config) -> dict:
  """Values for the keys run.json leaves out (they never change the model or its data)."""
  from experiments import stein_vae  # pylint: disable=g-import-not-at-top

  shared = stein_vae.resumable_defaults(name, config.data_dir)
  if name in stein_vae.EXPERIMENT_NAMES:
    return shared
  shared = {
    k: v for k, v in shared.items() if k not in ("eval_samples", "test_examples", "eval_batch_size", "eval_chunk_size")
  }
  theta = config.pfa_theta_file or os.path.join(run_dir, "pfa_theta.npz")
  gibbs = config.pfa_gibbs_file or os.path.join(run_dir, "pfa_gibbs_test.npz")
  for what, path, key in (("theta", theta, "pfa_theta_file"), ("Gibbs ground truth", gibbs, "pfa_gibbs_file")):
    if not os.path.exists(path):
      raise Error(
        f"PFA run {run_dir}: its {what} cache {path} does not exist (the check never "
        f"recomputes it); pass --config.{key}=<the file the run used>."
      )
  return dict(
    shared,
    eval_samples=1000,
    top_topics=config.top_coordinates,
    figure_doc=0,
    figure_topics=3,
    other_samples_file=None,
    theta_file=theta,
    gibbs_file=gibbs,
  )


def load_run(run_dir: str, config, step: Optional[int] = None) -> Run:
  """Reopens a Stein VAE-family or PFA run (:func:`stein_jax.train.runs.load_run`) read-only.

  Raises:
    PosteriorCheckError: no such directory, no run.json or checkpoint (no trained
      model), an experiment this check does not support, or a rebuild whose
      fingerprint differs from the run's.
  """
  if not run_dir:
    raise Error(
      "--config.run_dir is required: the --workdir of a trained experiments." "stein_vae or experiments.pfa run."
    )

  def build(name, cfg, path):
    # pylint: disable=g-import-not-at-top
    if name in STEIN_VAE_EXPERIMENTS:
      from experiments import stein_vae

      return stein_vae.make_experiment(cfg)
    from experiments import pfa

    return pfa.PFAExperiment(cfg, workdir=path)

  try:
    return runs.load_run(
      run_dir,
      build,
      supported=SUPPORTED,
      step=step,
      defaults=lambda name, path: _resumable_defaults(name, path, config),
    )
  except runs.RunLoadError as e:
    raise Error(str(e)) from e


# ---------------------------------------------------------------- per test point


class Point(NamedTuple):
  """What check_point needs for one test point."""

  logdensity_fn: Any
  data: Any
  encoder: Any  # (num, seed) -> [num, d] encoder samples, SVGD coordinates
  reference: Any  # (key) -> ([m, d] samples, info dict) or raises NUTSNotConvergedError
  top_fn: Any  # reference [m, d] -> indices or None
  to_report: Any
  native_mmd_name: str  # "" or the name of an MMD in SVGD coordinates (PFA: log z)


def num_test_points(run: Run) -> int:
  exp = run.experiment
  if run.name == "stein_vae_gmm":
    return int(exp.data.x_test.shape[0])
  if run.name == "stein_vae_mnist":
    return int(exp.test_data.x.shape[0])
  if run.name == "stein_vae_text":
    return int(exp.test_x.shape[0])
  return int(exp.gibbs.shape[0])


def check_indices(run: Run, indices) -> list[int]:
  n = num_test_points(run)
  idx = [int(i) for i in indices]
  bad = [i for i in idx if not 0 <= i < n]
  if not idx or bad:
    what = "test documents with Gibbs ground truth" if run.name == "pfa" else "test points"
    raise Error(f"test_indices {tuple(idx)} out of range: the run has {n} {what} " f"(valid: 0..{n - 1}).")
  if len(set(idx)) != len(idx):
    raise Error(f"test_indices {tuple(idx)} repeat a point.")
  return idx


def _smallest_variance(k):
  return lambda ref: np.argsort(np.asarray(ref).var(0))[:k]


def make_point(run: Run, config, i: int, pad_to: int | None = None) -> Point:
  """The target, encoder sampler and ground truth of test point ``i`` of ``run``."""
  exp, params = run.experiment, run.state.inner.params
  ident = lambda a: a
  if run.name == "stein_vae_gmm":
    from stein_jax.data import synthetic_gmm as gmm  # pylint: disable=g-import-not-at-top

    if run.config.learn_decoder:
      raise Error(
        "the GMM run learned its decoder; the exact posterior is that of the true "
        "theta, so the check needs a run with learn_decoder=False (sec. 5.1)."
      )
    x = np.asarray(exp.data.x_test[i], np.float32)
    post = gmm.GMMPosterior(exp.post.log_weights[i], exp.post.means[i], exp.post.cov)
    enc = lambda num, seed: np.asarray(exp.encoder_samples(params, jnp.asarray(x)[None], num, seed)[0])
    ref = lambda key: (np.asarray(gmm.posterior_sample(key, post, config.reference_samples)), {"kind": "exact"})
    return Point(pc.gmm_target(run.config.observation), jnp.asarray(x), enc, ref, lambda r: None, ident, "")
  if run.name in ("stein_vae_mnist", "stein_vae_text"):
    xs = exp.test_data.x if run.name == "stein_vae_mnist" else exp.test_x
    x = np.asarray(xs[i], np.float32).reshape(-1)
    dz = exp.model.latent_dim
    enc = lambda num, seed: np.asarray(exp.encoder_samples(params, jnp.asarray(x)[None], num, seed)[0])
    target = pc.latent_model_target(exp.model)
    data = (params["dec"], jnp.asarray(x))
    nc = config.nuts

    def ref(key):
      k_init, k_run = jax.random.split(key)
      init = jax.random.normal(k_init, (nc.num_chains, dz))  # prior draws: over-dispersed
      res = pc.nuts_reference(
        k_run,
        target,
        data,
        init,
        num_warmup=nc.num_warmup,
        num_samples=nc.num_samples,
        target_acceptance_rate=nc.target_acceptance_rate,
        rhat_threshold=nc.rhat_threshold,
        max_divergence_fraction=nc.max_divergence_fraction,
      )
      info = {
        "kind": "nuts",
        "rhat_max": res.rhat_max,
        "divergences": res.divergences.tolist(),
        "step_size": res.step_size.tolist(),
        "converged": res.converged,
        "reason": res.reason,
      }
      try:
        return pc.require_converged(res, f"NUTS for test point {i}"), info
      except pc.NUTSNotConvergedError as e:
        e.info = info
        raise

    return Point(target, data, enc, ref, _smallest_variance(config.top_coordinates), ident, "")
  # PFA: SVGD on u = log z as in training; metrics in z as docs/results/pfa_20news.md.
  from stein_jax.models import pfa as pfa_models  # pylint: disable=g-import-not-at-top

  x = np.asarray(exp.x_test[i], np.float32)
  v = run.config.num_topics

  def enc(num, seed):
    xi = jax.random.normal(jax.random.key(seed), (1, num, v))
    u = pfa_models.encode_log_z(exp.encoder, params, jnp.asarray(x)[None, None], xi)
    return np.asarray(u[0])

  gibbs = np.asarray(exp.gibbs[i], np.float64)
  ref = lambda key: (np.log(np.maximum(gibbs, 1e-30)), {"kind": "gibbs", "draws": int(gibbs.shape[0])})
  top = np.argsort(-gibbs.mean(0))[: config.top_coordinates]
  data = pc.pfa_target_data(x, exp.theta, pad_to)
  return Point(
    pc.pfa_target(float(run.config.prior_r), float(run.config.prior_c)),
    data,
    enc,
    ref,
    lambda r: top,
    np.exp,
    "mmd_log_z",
  )


def bandwidth_rule(run: Run):
  return "median" if run.name == "pfa" else run.experiment.bandwidth_rule


def kernel_metric(run: Run, config) -> str:
  """``config.svgd.metric`` if set, else the run's ``kernel_metric`` ("isotropic" if absent)."""
  if config.svgd.get("metric") is not None:
    return config.svgd.metric
  return run.config.kernel_metric if "kernel_metric" in run.config else "isotropic"


# ---------------------------------------------------------------------- the check


def run_check(config, workdir: str) -> dict:
  """The whole check; writes posterior_check.json, table.md and the figure to ``workdir``."""
  t0 = time.time()
  run = load_run(config.run_dir, config, step=config.get("step"))
  indices = check_indices(run, config.test_indices)
  s = int(run.config.num_particles)
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
    "method": run.config.get("method"),
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


def summarize(points: list[dict]) -> dict:
  """Over the converged points: geometric means of variance ratios, means of the rest."""
  ok = [p for p in points if p["status"] == "ok"]
  out = {"points": len(ok), "not_converged": [p["index"] for p in points if p["status"] != "ok"]}
  for m in METHOD_LABELS:
    if not ok:
      break
    rows = [p[m] for p in ok]
    d = {}
    for key in ("var_ratio", "var_ratio_top"):
      vals = [r[key] for r in rows if r.get(key) is not None]
      d[key] = float(np.exp(np.mean(np.log(vals)))) if vals else None
    for key in ("mean_error", "mmd", "mmd_log_z"):
      vals = [r[key] for r in rows if r.get(key) is not None]
      d[key] = float(np.mean(vals)) if vals else None
    if m != "encoder":
      d["steps_max"] = int(max(r["steps"] for r in rows))
      d["all_converged"] = bool(all(r["converged"] for r in rows))
    out[m] = d
  return out


def _fmt(v, nd=3):
  if v is None:
    return "-"
  if isinstance(v, float):
    return f"{v:.{nd}g}" if abs(v) < 1e-2 else f"{v:.{nd}f}"
  return str(v)


def table_markdown(out: dict) -> str:
  s, large = out["num_particles"], out["large_particles"]
  names = {"encoder": "encoder", "svgd_s": f"free SVGD, S = {s}", "svgd_large": f"free SVGD, {large:,}"}
  has_log = any(p.get("encoder", {}).get("mmd_log_z") is not None for p in out["points"])
  lines = [
    f"Posterior check of `{out['run_dir']}` ({out['experiment']}, method "
    f"{out['method']}, checkpoint step {out['checkpoint_step']}); ground truth: "
    f"{out['reference']}; SVGD bandwidth rule `{out['bandwidth']}`, kernel metric `{out.get('kernel_metric', 'isotropic')}`"
    + (f"; top coordinates: {out['top_coordinates']}" if out["top_coordinates"] else "")
    + ".",
    "",
  ]
  head = (
    ["test point", "approximation", "var ratio", "var ratio (top)", "mean error (sd)", "MMD^2"]
    + (["MMD^2 log z"] if has_log else [])
    + ["SVGD steps"]
  )
  lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  for p in out["points"]:
    if p["status"] != "ok":
      r = p.get("reference", {})
      lines.append(
        f"| {p['index']} | NUTS not converged (max split R-hat "
        f"{_fmt(r.get('rhat_max'))}, {sum(r.get('divergences', []))} divergences) |" + " - |" * (len(head) - 2)
      )
      continue
    for m in METHOD_LABELS:
      r = p[m]
      steps = "-" if m == "encoder" else f"{r['steps']}" + ("" if r["converged"] else " (not converged)")
      row = [
        str(p["index"]),
        names[m],
        _fmt(r["var_ratio"]),
        _fmt(r["var_ratio_top"]),
        _fmt(r["mean_error"]),
        _fmt(r["mmd"]),
      ]
      row += [_fmt(r.get("mmd_log_z"))] if has_log else []
      lines.append("| " + " | ".join(row + [steps]) + " |")
  summ = out["summary"]
  lines += [
    "",
    f"Summary over {summ['points']} test points with a ground truth (variance ratios: "
    "geometric means; the rest: means):",
    "",
  ]
  head2 = ["approximation", "var ratio", "var ratio (top)", "mean error (sd)", "MMD^2"] + (
    ["MMD^2 log z"] if has_log else []
  )
  lines += ["| " + " | ".join(head2) + " |", "|" + "---|" * len(head2)]
  for m in METHOD_LABELS:
    if m in summ:
      d = summ[m]
      row = [names[m], _fmt(d["var_ratio"]), _fmt(d["var_ratio_top"]), _fmt(d["mean_error"]), _fmt(d["mmd"])] + (
        [_fmt(d["mmd_log_z"])] if has_log else []
      )
      lines.append("| " + " | ".join(row) + " |")
  if summ["not_converged"]:
    lines += ["", f"Not converged (no numbers): test points {summ['not_converged']}."]
  return "\n".join(lines) + "\n"


def plot_check(out: dict):
  """Per test point: variance ratio of encoder / SVGD-S / SVGD-many against 1 (log axis)."""
  fig = figures.new_figure(figsize=(max(6.5, 1.0 * len(out["points"]) + 4.5), 3.8))
  ax = fig.add_subplot()
  s, large = out["num_particles"], out["large_particles"]
  labels = {
    "encoder": "encoder (amortised)",
    "svgd_s": f"free SVGD, S = {s}",
    "svgd_large": f"free SVGD, {large:,} particles",
  }
  width = 0.26
  xs = np.arange(len(out["points"]))
  for j, m in enumerate(METHOD_LABELS):
    vals = [p[m]["var_ratio"] if p["status"] == "ok" else np.nan for p in out["points"]]
    ax.bar(xs + (j - 1) * width, vals, width, color=COLORS[m], label=labels[m])
  for x, p in zip(xs, out["points"]):
    if p["status"] != "ok":
      ax.text(
        x,
        1.0,
        f"NUTS not\nconverged\nR-hat {p.get('reference', {}).get('rhat_max', 0):.2f}",
        ha="center",
        va="center",
        fontsize=7,
      )
  ax.axhline(1.0, color="k", ls="--", lw=1, label="ground truth (ratio 1)")
  ax.set_yscale("log")
  shown = [p[m]["var_ratio"] for p in out["points"] if p["status"] == "ok" for m in METHOD_LABELS]
  lo = min(shown + [1.0]) / 1.6
  hi = max(shown + [1.0]) * 1.6
  ax.set_ylim(lo, hi)
  ax.set_xticks(xs)
  ax.set_xticklabels([str(p["index"]) for p in out["points"]])
  ax.set_xlabel("test point")
  ax.set_ylabel("variance ratio to ground truth\n(geometric mean over coordinates)", fontsize=8)
  ax.set_title(
    f"{out['experiment']} ({out['method']}, step {out['checkpoint_step']}): "
    f"posterior widths\nground truth: {out['reference']}",
    fontsize=9,
  )
  ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
  fig.tight_layout()
  return fig


def write_outputs(out: dict, workdir: str, plot: bool = True) -> None:
  os.makedirs(workdir, exist_ok=True)
  tmp = os.path.join(workdir, "posterior_check.json.tmp")
  with open(tmp, "w") as f:
    json.dump(out, f, indent=1)
  os.replace(tmp, os.path.join(workdir, "posterior_check.json"))
  with open(os.path.join(workdir, "table.md"), "w") as f:
    f.write(table_markdown(out))
  if plot:
    figures.save_figure(plot_check(out), workdir, "posterior_check")


# --------------------------------------------------------------------------- main

if __name__ == "__main__":
  main_lib.run_tool(run_check, (pc.PosteriorCheckError, checkpoint_lib.CheckpointRestoreError))
