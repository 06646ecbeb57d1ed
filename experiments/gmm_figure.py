r"""Fig. 1 of Pu et al. (2017): Stein VAE with 10, 50, 100 particles vs the Gaussian VAE.

    python -m experiments.gmm_figure --config=configs/gmm_figure.py --workdir=/tmp/gmm_figure
    python -m experiments.gmm_figure --config=configs/gmm_figure.py --workdir=/tmp/gmm_figure \
        --config.num_steps=1000 --config.observations=bimodal --config.particles=100   # a quicker subset

For each observation setting ("paper": x = theta z; "bimodal": x = z_1 - z_2) it trains,
through the platform (``config.base``, the config of ``configs/stein_vae_gmm.py``, with the
observation, method and particle count of each run, one workdir per run under
WORKDIR/<observation>/<run>), Stein VAE with each particle count and the Gaussian VAE, then
writes

  * WORKDIR/fig1_<observation>.png: one row per method, one panel per test point, encoder
    samples (red) over the exact posterior density (blue);
  * WORKDIR/tables.md: per-test-point MMD^2 (encoder vs exact samples) and, bimodal, the
    encoder's mass on mode 1 (z_1 + z_2 > 0) against the exact weight;
  * WORKDIR/valley_bimodal.png: histograms along the axis joining the two modes (encoder vs
    exact, test point 0), which show encoder mass left between the modes;
  * WORKDIR/results.json: the same numbers.

Runs that already finished are resumed (nothing is retrained), so the command can be
repeated after an interruption. From a notebook: ``run_from_config(configs.gmm_figure.get_config(),
workdir)``; ``run_one(run_config(config, observation, method, particles), workdir)`` is one run.
"""

from __future__ import annotations

import copy
import json
import os

import jax
import numpy as np

from experiments import stein_vae as exp
from stein_jax.data import synthetic_gmm as gmm
from stein_jax.evaluation.mmd import mmd
from stein_jax.train import config as config_lib
from stein_jax.train import figures, train_and_evaluate
from stein_jax.train import main as main_lib


def check(config) -> None:
  """Raises ConfigError naming every bad key of configs/gmm_figure.py's own fields (the runs check ``base``)."""
  c = config_lib
  c.check_fields(
    config,
    {
      "observations": c.tuple_of(c.one_of(sorted(gmm.OBSERVATION_MATRICES))),
      "particles": c.tuple_of(c.POSITIVE_INT),
      "num_steps": c.optional(c.POSITIVE_INT),
    },
  )


def run_config(config, observation: str, method: str, particles: int | None):
  """The configs/stein_vae_gmm.py config of one run: ``config.base`` with this run's settings."""
  run = copy.deepcopy(config.base)
  run.observation = observation
  run.method = method
  if particles is not None:
    run.svgd.num_particles = particles
  if config.num_steps:
    run.num_steps = config.num_steps
    run.eval_every = config.num_steps
    run.checkpoint_every = config.num_steps
  run.eval.plot = False
  return run


def run_one(config, workdir):
  """Trains (or resumes) one run of configs/stein_vae_gmm.py's ``config``; its encoder's metrics."""
  experiment = exp.make_experiment(config)
  state = train_and_evaluate(experiment, config, workdir)
  n = config.eval.samples
  z = np.asarray(experiment.encoder_samples(state.inner.params, experiment.data.x_test, n))
  exact = np.asarray(gmm.posterior_sample(jax.random.key(4321), experiment.post, n))
  mmds = np.array([float(mmd(z[t], exact[t])) for t in range(z.shape[0])])
  w_enc = np.asarray(
    gmm.mode_weights(
      experiment.post,
      experiment.encoder_samples(state.inner.params, experiment.data.x_test, config.eval.mode_samples, seed=99),
    )
  )
  w_exact = np.asarray(np.exp(experiment.post.log_weights))
  z_many = experiment.encoder_samples(state.inner.params, experiment.data.x_test, config.eval.mode_samples, seed=99)
  outside = exp.outside_mass(experiment.post, z_many)
  return {
    "z": z,
    "exact": exact,
    "post": experiment.post,
    "mmd": mmds,
    "w_enc": w_enc,
    "w_exact": w_exact,
    "outside": outside,
    "z_many": np.asarray(z_many),
  }


def run_from_config(config, workdir: str) -> dict:
  """Every run of the figure (resumed where finished), then the figures, tables.md and results.json."""
  check(config)
  figures.use_headless_backend()
  import matplotlib.pyplot as plt

  os.makedirs(workdir, exist_ok=True)
  runs = [("stein_vae", int(p)) for p in config.particles] + [("vae", None)]
  lines, results = [], {}
  for obs in config.observations:
    out = {}
    for method, s in runs:
      label = f"Stein VAE, S={s}" if s else "Gaussian VAE"
      run = run_config(config, obs, method, s)
      out[label] = run_one(run, os.path.join(workdir, obs, f"{method}_{s or 'gauss'}"))
    t = next(iter(out.values()))["z"].shape[0]
    fig, axes = plt.subplots(len(out), t, figsize=(1.7 * t, 1.8 * len(out)), squeeze=False)
    for r, (label, res) in enumerate(out.items()):
      for i in range(t):
        ax = axes[r][i]
        exp.draw_posterior_panel(ax, res["post"], i, res["z"][i], res["exact"][i])
        title = f"{res['mmd'][i]:.3f}"
        if obs == "bimodal":
          title += f" w={res['w_enc'][i][0]:.2f}"
        ax.set_title(title, fontsize=6)
      axes[r][0].set_ylabel(label, fontsize=7)
    fig.suptitle(
      f"{obs}: encoder samples (red) over the exact posterior (blue); "
      "panel titles: MMD^2" + (", mass on mode 1" if obs == "bimodal" else ""),
      fontsize=8,
    )
    fig.tight_layout()
    fig.savefig(os.path.join(workdir, f"fig1_{obs}.png"), dpi=110)
    plt.close(fig)

    header = "| method | " + " | ".join(f"x{i}" for i in range(t)) + " | mean |"
    sep = "|---|" + "---:|" * (t + 1)
    lines += [
      f"### {obs}: MMD^2 between encoder and exact posterior samples " f"({out[label]['z'].shape[1]} each)",
      "",
      header,
      sep,
    ]
    for label, res in out.items():
      lines.append(f"| {label} | " + " | ".join(f"{v:.4f}" for v in res["mmd"]) + f" | {res['mmd'].mean():.4f} |")
    lines.append("")
    if obs == "bimodal":
      lines += [
        f"### {obs}: mass on mode 1 (exact weight " f"{out[label]['w_exact'][0][0]:.3f} for every x)",
        "",
        header.replace("| mean |", "| max error |"),
        sep,
      ]
      for label, res in out.items():
        err = np.abs(res["w_enc"] - res["w_exact"]).max(-1)
        lines.append(f"| {label} | " + " | ".join(f"{v:.3f}" for v in res["w_enc"][:, 0]) + f" | {err.max():.3f} |")
      lines.append("")
    lines += [
      f"### {obs}: encoder mass farther than 3 posterior sds (Mahalanobis) from both "
      f"modes (exact: {exp.OUTSIDE_MASS_EXACT:.3f})",
      "",
      header,
      sep,
    ]
    for label, res in out.items():
      lines.append(
        f"| {label} | " + " | ".join(f"{v:.3f}" for v in res["outside"]) + f" | {res['outside'].mean():.3f} |"
      )
    lines.append("")
    if obs == "bimodal":
      # The mode-weight metric only asks which side of the valley a sample is on; this
      # histogram along [1, 1] (the axis joining the modes) shows mass left in the valley.
      fig, axes = plt.subplots(1, len(out), figsize=(3 * len(out), 2.4), squeeze=False)
      for ax, (label, res) in zip(axes[0], out.items()):
        u_enc = res["z_many"][0] @ np.array([1.0, 1.0]) / np.sqrt(2)
        u_ex = np.asarray(gmm.posterior_sample(jax.random.key(1), res["post"], u_enc.shape[0]))[0] @ np.array(
          [1.0, 1.0]
        )
        u_ex = u_ex / np.sqrt(2)
        ax.hist(u_ex, bins=80, range=(-13, 13), density=True, alpha=0.5, label="exact")
        ax.hist(u_enc, bins=80, range=(-13, 13), density=True, alpha=0.5, label="encoder")
        ax.set_title(label, fontsize=8)
        ax.set_xlabel("(z1 + z2) / sqrt(2), test point 0", fontsize=7)
      axes[0][0].legend(fontsize=7)
      fig.tight_layout()
      fig.savefig(os.path.join(workdir, f"valley_{obs}.png"), dpi=110)
      plt.close(fig)
    results[obs] = {
      label: {
        "mmd": res["mmd"].tolist(),
        "mode_weights": res["w_enc"].tolist(),
        "exact_weights": res["w_exact"].tolist(),
        "outside_mass": res["outside"].tolist(),
      }
      for label, res in out.items()
    }
  with open(os.path.join(workdir, "tables.md"), "w") as f:
    f.write("\n".join(lines) + "\n")
  with open(os.path.join(workdir, "results.json"), "w") as f:
    json.dump(results, f, indent=1)
  print("\n".join(lines))
  return results


if __name__ == "__main__":
  main_lib.run_tool(run_from_config)
