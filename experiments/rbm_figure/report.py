"""Fig. 1a's outputs from finished runs: the curves (mean and +-1 std over seeds) and the markdown tables.

``results`` maps a method to its seeds' eval records (``[[{"step", "test/loglik", ...}, ...], ...]``), as
:func:`experiments.rbm_figure.run_one` returns them.
"""

from __future__ import annotations

import json
import os
import platform

import numpy as np

from configs import rbm_mnist
from experiments.energy import EnergyExperiment
from stein_jax.train import save_figure
from stein_jax.train.figures import new_figure

LABELS = {
  "steincd": "SteinCD",
  "stein_sm": "Stein score matching",
  "cd1": "CD-1 (Langevin)",
  "cd10": "CD-10 (Langevin)",
  "mle": "exact MLE",
}
COLORS = {"steincd": "C3", "stein_sm": "C1", "cd1": "C0", "cd10": "C2", "mle": "k"}
# TUNED's keys are paths; the table names them as the runs' run.json does (learning_rate, svgd_step_size, ...).
_NAMES = EnergyExperiment.legacy_key_names


def _curves(records_by_seed: list[list[dict]], key: str = "test/loglik"):
  steps = np.asarray([r["step"] for r in records_by_seed[0]])
  values = np.asarray([[float(r[key]) for r in records] for records in records_by_seed])
  return steps, values


def write_sweep(root: str, rows: list[dict], methods, num_steps: int) -> None:
  """``sweep.md`` (a row per setting, each method's best valid/loglik marked) and ``sweep.json``; prints the table."""
  lines = [
    f"Sweep: seed 0, {num_steps} iterations, batch 100, Adam; selected on valid/loglik (last 10,000 "
    "training images), nats per image in the preprocessed space.",
    "",
    "| method | learning rate | step size | valid loglik | test loglik | status | chosen |",
    "| --- | --- | --- | --- | --- | --- | --- |",
  ]
  for method in methods:
    mine = [r for r in rows if r["method"] == method]
    best = max((r for r in mine if np.isfinite(r["valid"])), key=lambda r: r["valid"], default=None)
    for r in mine:
      eps = "-" if r["step_size"] is None else f"{r['step_size']:g}"
      lines.append(
        f"| {method} | {r['learning_rate']:g} | {eps} | {r['valid']:.2f} | {r['test']:.2f} | "
        f"{r['status']} | {'**yes**' if r is best else ''} |"
      )
  with open(os.path.join(root, "sweep.md"), "w") as f:
    f.write("\n".join(lines) + "\n")
  with open(os.path.join(root, "sweep.json"), "w") as f:
    json.dump(rows, f, indent=1)
  print("\n".join(lines))


def plot_curves(root: str, results: dict, seeds) -> str:
  """``figures/rbm_mnist_fig1a.png``: test log-likelihood against iterations, mean and +-1 std band per method."""
  fig = new_figure(figsize=(6.4, 4.6))
  ax = fig.add_subplot()
  for method, records_by_seed in results.items():
    steps, values = _curves(records_by_seed)
    mean, std = values.mean(0), values.std(0)
    ax.plot(steps, mean, color=COLORS[method], label=LABELS[method])
    ax.fill_between(steps, mean - std, mean + std, color=COLORS[method], alpha=0.2, lw=0)
  ax.set_xlabel("iterations (batch 100, Adam)")
  ax.set_ylabel("test log-likelihood (nats / image)")
  ax.set_title(f"Gaussian-Bernoulli RBM, H=10, MNIST ({len(seeds)} seeds, mean ± std)")
  ax.legend(loc="center right", bbox_to_anchor=(1.0, 0.7), framealpha=0.9)
  lo = min(np.percentile(_curves(r)[1], 5) for r in results.values())
  hi = max(_curves(r)[1].max() for r in results.values())
  ax.set_ylim(lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo))
  ax.grid(alpha=0.3)
  fig.tight_layout()
  return save_figure(fig, root, "rbm_mnist_fig1a", dpi=120)


def write_table(root: str, results: dict, timings: dict, seeds, num_steps: int) -> None:
  """``rbm_mnist.md`` (test log-likelihood at 10 / 30 / 50 / 100 % of the run, last-10 mean, train subset, seconds per
  run) and ``rbm_mnist.json`` (the per-seed finals); prints the table."""
  steps = _curves(next(iter(results.values())))[0]
  columns = sorted({int(np.searchsorted(steps, f * num_steps)) for f in (0.1, 0.3, 0.5, 1.0)} - {len(steps)})
  checkpoints = [int(steps[i]) for i in columns]
  lines = [
    "| method | hyper-parameters | "
    + " | ".join(f"test @ {s}" for s in checkpoints)
    + " | test, mean of last 10 evals | train subset @ end | s / run (this call) |",
    "| --- | --- | " + " | ".join("---" for _ in checkpoints) + " | --- | --- | --- |",
  ]
  for method, records_by_seed in results.items():
    steps, test = _curves(records_by_seed)
    _, train = _curves(records_by_seed, "train_subset/loglik")
    cells = []
    for i in columns:
      col = test[:, i]
      cells.append(f"{col.mean():.2f} ± {col.std():.2f}")
    tuned = ", ".join(f"{_NAMES.get(k, k)}={v:g}" for k, v in rbm_mnist.TUNED[method].items())
    tail = test[:, -10:].mean(1)
    lines.append(
      f"| {LABELS[method]} | {tuned} | "
      + " | ".join(cells)
      + f" | {tail.mean():.2f} ± {tail.std():.2f} | {train[:, -1].mean():.2f} ± {train[:, -1].std():.2f} | {np.mean(timings[method]):.0f} |"
    )
  table = "\n".join(lines) + "\n"
  summary = {
    m: {
      "final_test": [float(r[-1]["test/loglik"]) for r in rs],
      "last10_test": [float(np.mean([float(x["test/loglik"]) for x in r[-10:]])) for r in rs],
      "final_train_subset": [float(r[-1]["train_subset/loglik"]) for r in rs],
    }
    for m, rs in results.items()
  }
  with open(os.path.join(root, "rbm_mnist.md"), "w") as f:
    f.write(
      f"Machine: {platform.machine()} {platform.processor() or ''} ({os.cpu_count()} cores), seeds {seeds}, "
      f"{num_steps} iterations, mean ± std over seeds (std with ddof=0).\n\n" + table
    )
  with open(os.path.join(root, "rbm_mnist.json"), "w") as f:
    json.dump(summary, f, indent=1)
  print(table)
