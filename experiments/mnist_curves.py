r"""Table 1's learning curves: test NLL by S-ELBO against steps for MNIST runs, all methods in one figure.

    python -m experiments.mnist_curves --config=configs/mnist_curves.py --workdir=DIR \
        --config.runs='("vae=/tmp/mnist25/vae","iwae=/tmp/mnist25/iwae","stein_vae=/tmp/mnist25/stein_vae")'
    python -m experiments.mnist_curves --config=configs/mnist_curves.py --workdir=DIR \
        --config.runs=vae=/tmp/mnist25/vae --config.runs=stein_viwae=/tmp/mnist25/stein_viwae_kz1  # one flag per run

Each run is the --workdir of an experiments.stein_vae MNIST run (configs/stein_vae_mnist_cpu.py), given as a
"label=workdir" string (``config.runs``, a tuple); the curves are its logged evaluations (``test/nll_s_elbo`` and ``test/nll_elbo``,
dashed). Runs still going are drawn to their last evaluation. Writes DIR/figures/mnist_curves.png and
DIR/mnist_curves.md (every evaluation step, each run's value or "-"), and, where a run's directory or one of
``config.eval_dirs`` holds eval_test_step<N>.json files of experiments.stein_vae_eval, the full-test-set numbers
beside them. With ``config.decoder_sweep_step`` it draws Fig. 3 instead (:func:`decoder_sweep`). From a
notebook: ``run_from_config(configs.mnist_curves.get_config(), workdir)`` with ``config.runs`` set.
"""

from __future__ import annotations

import glob
import json
import os

from stein_jax.train import config as config_lib
from stein_jax.train import main as main_lib
from stein_jax.train import read_metrics, save_figure
from stein_jax.train.figures import new_figure

LABELS = {
  "vae": "VAE",
  "iwae": "IWAE (k = 50)",
  "stein_vae": "Stein VAE (paper kernel)",
  "stein_viwae": "Stein VIWAE, k_z = 1 (paper kernel)",
  "stein_viwae_paper": "Stein VIWAE, k_z = k (paper form)",
  "stein_vae_diag": "Stein VAE, diagonal metric, alpha = 2",
  "stein_viwae_diag": "Stein VIWAE, k_z = 1, diagonal metric, alpha = 2",
}


class Error(ValueError):
  """A run that cannot be drawn (one line for the user)."""


def parse_runs(pairs) -> list[tuple[str, str]]:
  """``("label=workdir", ...)`` -> [(label, workdir)]; each workdir must hold a metrics.jsonl."""
  if not pairs:
    raise config_lib.ConfigError(
      "config.runs is required: \"label=workdir\" strings, e.g. "
      "--config.runs='(\"vae=/tmp/mnist/vae\",\"stein_vae=/tmp/mnist/stein_vae\")'."
    )
  out = []
  for pair in pairs:
    if not isinstance(pair, str) or "=" not in pair:
      raise config_lib.ConfigError(f"invalid config: runs entry {pair!r} is not a \"label=workdir\" string.")
    label, path = pair.split("=", 1)
    if not os.path.exists(os.path.join(path, "metrics.jsonl")):
      raise Error(f"runs entry {label}: {path} holds no metrics.jsonl (not a run's workdir).")
    out.append((label, path))
  return out


def curves(path: str) -> dict[int, dict[str, float]]:
  """step -> {"s_elbo", "elbo"} of a run's logged test evaluations."""
  out = {}
  for rec in read_metrics(path):
    if "test/nll_s_elbo" in rec:
      out[int(rec["step"])] = {"s_elbo": rec["test/nll_s_elbo"], "elbo": rec["test/nll_elbo"]}
  return out


def full_evaluations(path: str, method: str, eval_dirs: list[str]) -> list[dict]:
  found = []
  for d in [path] + list(eval_dirs):
    for f in sorted(glob.glob(os.path.join(d, "eval_test_step*.json"))):
      with open(f) as fh:
        rec = json.load(fh)
      if os.path.abspath(rec.get("run_dir", "")) == os.path.abspath(path):
        found.append(rec)
  return found


def decoder_sweep(runs: list[tuple[str, str]], step: int, out: str) -> list[str]:
  """Fig. 3 of Pu et al.: test NLL (S-ELBO, ELBO) and test seconds per image against M at ``step``."""
  points = []
  for label, path in runs:
    if not (label[:1] in "Mm" and label[1:].isdigit()):
      raise Error(f"decoder_sweep_step needs runs labelled M<count> (e.g. M10=DIR); got {label!r}.")
    rec = [r for r in read_metrics(path) if r.get("step") == step and "test/nll_s_elbo" in r]
    if not rec:
      raise Error(f"run {path} has no test evaluation at step {step}.")
    r = rec[-1]
    points.append((int(label[1:]), r["test/nll_s_elbo"], r["test/nll_elbo"], r.get("test/seconds_per_image")))
  points.sort()
  m = [p[0] for p in points]
  fig = new_figure(figsize=(9, 3.8))
  ax1, ax2 = fig.subplots(1, 2)
  ax1.plot(m, [p[1] for p in points], "-o", label="S-ELBO")
  ax1.plot(m, [p[2] for p in points], "--s", label="ELBO")
  ax1.set_xscale("log")
  ax1.minorticks_off()
  ax1.set_xticks(m, [str(v) for v in m])
  ax1.set_xlabel("decoder particles M")
  ax1.set_ylabel("test NLL (nats; lower is better)")
  ax1.set_title(f"Stein VAE, step {step:,}", fontsize=9)
  ax1.legend(fontsize=8)
  ax1.grid(alpha=0.3)
  ax2.plot(m, [1e3 * (p[3] or float("nan")) for p in points], "-o", color="C2")
  ax2.set_xscale("log")
  ax2.minorticks_off()
  ax2.set_xticks(m, [str(v) for v in m])
  ax2.set_xlabel("decoder particles M")
  ax2.set_ylabel("test time per image (ms, 1,000 samples)")
  ax2.set_title("evaluation cost (shared CPU: indicative)", fontsize=9)
  ax2.grid(alpha=0.3)
  fig.suptitle("binarized MNIST, 1,000 random test images, 1,000 importance samples (Pu et al. Fig. 3)", fontsize=9)
  fig.tight_layout()
  save_figure(fig, out, "mnist_decoder_particles")
  lines = [
    f"Test NLL against decoder particles M at step {step}, nats, S-ELBO (ELBO):",
    "",
    "| M | S-ELBO | ELBO | test ms per image |",
    "|---:|---:|---:|---:|",
  ]
  lines += [f"| {p[0]} | {p[1]:.2f} | {p[2]:.2f} | {1e3 * (p[3] or float('nan')):.1f} |" for p in points]
  return lines


def check(config) -> None:
  """Raises ConfigError naming a bad key of configs/mnist_curves.py's config (runs: :func:`parse_runs`)."""
  c = config_lib
  c.check_fields(
    config,
    {
      "eval_dirs": c.Rule(lambda v: isinstance(v, tuple) and all(isinstance(d, str) for d in v), "a tuple of paths"),
      "decoder_sweep_step": c.optional(c.NON_NEGATIVE_INT),
    },
  )


def run_from_config(config, workdir: str) -> list[str]:
  """The curves (or Fig. 3) of ``config.runs`` into ``workdir``; returns the markdown table's lines."""
  check(config)
  runs = parse_runs(config.runs)
  os.makedirs(workdir, exist_ok=True)
  if config.decoder_sweep_step is not None:
    lines = decoder_sweep(runs, config.decoder_sweep_step, workdir)
    with open(os.path.join(workdir, "mnist_decoder_particles.md"), "w") as f:
      f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return lines
  fig = new_figure(figsize=(11, 4.8))
  ax = fig.add_subplot()
  data = {}
  for i, (label, path) in enumerate(runs):
    c = curves(path)
    data[label] = c
    steps = sorted(c)
    name = LABELS.get(label, label)
    ax.plot(steps, [c[s]["s_elbo"] for s in steps], "-o", ms=3, color=f"C{i}", label=name)
    ax.plot(steps, [c[s]["elbo"] for s in steps], "--", color=f"C{i}", alpha=0.5)
  ax.set_xlabel("training step (batch 64; 781 steps = 1 epoch)")
  ax.set_ylabel("test NLL (nats; lower is better)")
  ax.set_title(
    "binarized MNIST, 1,000 random test images, 1,000 importance samples: " "S-ELBO (solid), ELBO (dashed)", fontsize=9
  )
  lo = min(v["s_elbo"] for c in data.values() for v in c.values()) if any(data.values()) else 0
  ax.set_ylim(lo - 5, lo + 80)
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
  fig.tight_layout()
  save_figure(fig, workdir, "mnist_curves")
  steps = sorted({s for c in data.values() for s in c})
  lines = [
    "Test NLL by S-ELBO (ELBO), nats, 1,000 random test images, 1,000 samples:",
    "",
    "| step | " + " | ".join(LABELS.get(l, l) for l, _ in runs) + " |",
    "|---:|" + "---:|" * len(runs),
  ]
  for s in steps:
    cells = [f"{data[l][s]['s_elbo']:.2f} ({data[l][s]['elbo']:.2f})" if s in data[l] else "-" for l, _ in runs]
    lines.append(f"| {s} | " + " | ".join(cells) + " |")
  full = [(l, r) for l, p in runs for r in full_evaluations(p, l, config.eval_dirs)]
  if full:
    lines += [
      "",
      "All test images (experiments.stein_vae_eval):",
      "",
      "| run | step | images | samples | NLL ELBO | NLL S-ELBO | ms per image | device |",
      "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for l, r in full:
      lines.append(
        f"| {LABELS.get(l, l)} | {r['step']} | {r['num_images']} | {r['num_samples']} | "
        f"{r['nll_elbo']:.2f} | {r['nll_s_elbo']:.2f} | {1e3 * r['seconds_per_image']:.2f} | "
        f"{r['device']} |"
      )
  with open(os.path.join(workdir, "mnist_curves.md"), "w") as f:
    f.write("\n".join(lines) + "\n")
  print("\n".join(lines))
  return lines


if __name__ == "__main__":
  main_lib.run_tool(run_from_config, (Error,))
