r"""Why Stein VIWAE's encoder diverges: the signal-to-noise of its update against the weight groups' size.

    STEIN_JAX_DATA_DIR=/path/to/data python -m experiments.viwae_snr \
        --config=configs/viwae_snr.py --config.run_dir=RUN --workdir=DIR

RUN is a trained experiments.stein_vae run (MNIST or text, any method with an encoder that has an exact
log-det). At its checkpoint, on one training batch, for each latent weight-group size k_z and particle
step, the encoder's eq. (7) gradient is drawn ``num_draws`` times with fresh noise
(:mod:`stein_jax.objectives.gradient_snr`). Writes DIR/viwae_snr.json, DIR/table.md and
DIR/figures/viwae_snr.png. Results and reading: docs/stein_viwae.md sec. 5.
"""

from __future__ import annotations

import json
import os
import time

from absl import logging
import jax
import jax.numpy as jnp

from experiments import stein_vae as stein_vae_family
from stein_jax.objectives import gradient_snr
from stein_jax.evaluation import posterior_check as pc
from stein_jax.objectives import stein_vae as sv
from stein_jax.train import checkpoint as checkpoint_lib
from stein_jax.train import runs
from stein_jax.train import main as main_lib
from stein_jax.train import figures


class Error(ValueError):
  """A bad setting of this measurement (one line for the user)."""


def check(config, run) -> None:
  s = int(run.config.svgd.num_particles)
  problems = []
  if run.name not in ("stein_vae_mnist", "stein_vae_text"):
    problems.append(f"run_dir holds a {run.name!r} run; this measurement needs an MNIST or text " "Stein VAE run")
  for kz in config.latent_ks:
    if not (isinstance(kz, int) and kz >= 1 and s % kz == 0):
      problems.append(f"latent_ks entry {kz!r} must divide the run's num_particles={s}")
  if not (isinstance(config.k, int) and config.k >= 1 and s % config.k == 0):
    problems.append(f"k={config.k!r} must divide the run's num_particles={s}")
  bad = [u for u in config.updates if u not in sv.LATENT_UPDATES]
  if bad:
    problems.append(f"updates {bad} not in {sv.LATENT_UPDATES}")
  if not (isinstance(config.num_draws, int) and config.num_draws >= 2):
    problems.append(f"num_draws must be an int >= 2, got {config.num_draws!r}")
  if problems:
    raise Error("; ".join(problems) + ".")


def run_measurement(config, workdir: str) -> dict:
  t0 = time.time()
  run = stein_vae_family.load_run(config.run_dir, step=config.step, data_dir=config.data_dir)
  check(config, run)
  exp = run.experiment
  x = jnp.asarray(exp.batch(int(config.batch_step))["x"][: int(config.batch_size)])
  opts, problems = sv.latent_step_options(run.config.svgd, "svgd.")
  if problems:
    raise Error("the run's config: " + "; ".join(problems))
  key = jax.random.key(config.seed)
  rows = []
  for update in config.updates:
    for kz in config.latent_ks:
      t = time.time()
      draws = gradient_snr.encoder_update_draws(
        key,
        exp.model,
        run.state.inner.params["enc"],
        run.state.inner.params["dec"],
        x,
        num_particles=int(run.config.svgd.num_particles),
        num_draws=int(config.num_draws),
        num_data=exp.num_data,
        group_size=int(config.k),
        latent_group_size=int(kz),
        latent_update=update,
        step_size=float(run.config.svgd.step_size),
        latent_kernel=opts["latent_kernel"],
      )
      row = {
        "update": update,
        "latent_k": int(kz),
        **gradient_snr.snr(draws.grads),
        "expansion": float(draws.expansion.mean()),
        "expansion_sd": float(draws.expansion.std(ddof=1)),
        "ess_fraction": float(draws.ess_fraction.mean()),
        "seconds": time.time() - t,
      }
      logging.info(
        "update=%s k_z=%d: SNR %.4f (median per parameter %.4f), expansion %.4g, " "ESS/k %.3f",
        update,
        kz,
        row["snr_norm"],
        row["snr_median"],
        row["expansion"],
        row["ess_fraction"],
      )
      rows.append(row)
  out = {
    "run_dir": os.path.abspath(config.run_dir),
    "experiment": run.name,
    "method": run.config.method,
    "step": int(run.step),
    "k": int(config.k),
    "num_particles": int(run.config.svgd.num_particles),
    "batch_size": int(x.shape[0]),
    "num_draws": int(config.num_draws),
    "device": jax.devices()[0].device_kind,
    "rows": rows,
    "seconds": time.time() - t0,
  }
  os.makedirs(workdir, exist_ok=True)
  tmp = os.path.join(workdir, "viwae_snr.json.tmp")
  with open(tmp, "w") as f:
    json.dump(out, f, indent=1)
  os.replace(tmp, os.path.join(workdir, "viwae_snr.json"))
  with open(os.path.join(workdir, "table.md"), "w") as f:
    f.write(table_markdown(out))
  if config.plot:
    figures.save_figure(plot(out), workdir, "viwae_snr")
  return out


def table_markdown(out: dict) -> str:
  lines = [
    f"{out['experiment']} run ({out['method']}) at step {out['step']}: {out['batch_size']} "
    f"images, S = {out['num_particles']}, weights in groups of k_z, {out['num_draws']} "
    "draws of xi per row",
    "",
    "| particle step | k_z | SNR (norm) | SNR (median per parameter) | expansion per step | " "ESS / k_z |",
    "|---|---:|---:|---:|---:|---:|",
  ]
  for r in out["rows"]:
    lines.append(
      f"| {r['update']} | {r['latent_k']} | {r['snr_norm']:.4f} | "
      f"{r['snr_median']:.4f} | {r['expansion']:+.4g} +- {r['expansion_sd']:.2g} | "
      f"{r['ess_fraction']:.3f} |"
    )
  return "\n".join(lines) + "\n"


def plot(out: dict):
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  fig, axes = plt.subplots(1, 2, figsize=(10, 4))
  for update, marker in (("sgd", "o"), ("adam", "s"), ("rms", "^")):
    rows = [r for r in out["rows"] if r["update"] == update]
    if not rows:
      continue
    ks = [r["latent_k"] for r in rows]
    axes[0].plot(ks, [r["snr_norm"] for r in rows], marker=marker, label=f"{update} step")
    axes[1].errorbar(
      ks,
      [r["expansion"] for r in rows],
      [r["expansion_sd"] for r in rows],
      marker=marker,
      capsize=3,
      label=f"{update} step",
    )
  for ax in axes:
    ax.set_xscale("log")
    ax.set_xlabel("k_z, latent weight-group size (1 = unweighted)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
  axes[0].set_yscale("log")
  axes[0].set_ylabel("SNR = |E g| / sqrt(tr Cov g)")
  axes[0].set_title("signal-to-noise of the encoder's update", fontsize=9)
  axes[1].axhline(0.0, color="k", lw=0.8)
  axes[1].set_ylabel("cloud expansion per step (relative)")
  axes[1].set_title("> 0: the step spreads the encoder's samples", fontsize=9)
  fig.suptitle(
    f"{out['experiment']} {out['method']} run, step {out['step']}: encoder gradient over "
    f"{out['num_draws']} draws of xi ({out['batch_size']} images, S = "
    f"{out['num_particles']})",
    fontsize=9,
  )
  fig.tight_layout()
  return fig


if __name__ == "__main__":
  main_lib.run_tool(
    run_measurement,
    (Error, pc.PosteriorCheckError, runs.RunLoadError, checkpoint_lib.CheckpointRestoreError),
    report=lambda out: print(table_markdown(out)),
  )
