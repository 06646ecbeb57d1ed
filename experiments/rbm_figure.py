r"""Fig. 1a of Liu & Wang 2017: every method x seed of configs/rbm_mnist.py, the curves and a markdown table.

    python -m experiments.rbm_figure --config=configs/rbm_figure.py --workdir=/tmp/rbm_fig1a \
        --config.data_dir=/path/to/data
    python -m experiments.rbm_figure --config=configs/rbm_figure.py --workdir=/tmp/rbm_fig1a \
        --config.data_dir=/path/to/data --config.num_steps=10000 --config.seeds='(0,1,2)' \
        --config.methods='("steincd","stein_sm","cd1","cd10","mle")'

Each run is ``train_and_evaluate(EnergyExperiment(config), config, WORKDIR/<method>/seed<k>)`` with the method's
tuned config (``configs/rbm_mnist.py:<method>``), so an interrupted figure resumes where it stopped. The runs go
one after another in this process (MNIST is loaded once). Writes

    WORKDIR/figures/rbm_mnist_fig1a.png   test log-likelihood vs iterations, mean and +-1 std over seeds (band)
    WORKDIR/rbm_mnist.md                  final test / train-subset log-likelihood, mean +- std per method

The hyper-parameter sweep that chose ``TUNED`` in the config (one seed, shorter budget, selected on ``valid/loglik``):

    python -m experiments.rbm_figure --config=configs/rbm_figure.py --workdir=/tmp/rbm_sweep \
        --config.data_dir=/path/to/data --config.sweep=True --config.num_steps=1000

From a notebook: ``run_from_config(configs.rbm_figure.get_config(), workdir)``, or ``figure`` / ``sweep``
with keyword arguments.
"""

from __future__ import annotations

import itertools
import json
import os
import platform
import time

from absl import logging
import numpy as np

from configs import rbm_mnist
from stein_jax.train import config as config_lib
from stein_jax.train import main as main_lib
from stein_jax.train import read_metrics, save_figure, train_and_evaluate
from stein_jax.train.figures import new_figure

from experiments.energy import EnergyExperiment

DATASETS = ("mnist", "synthetic_rbm")

LABELS = {
  "steincd": "SteinCD",
  "stein_sm": "Stein score matching",
  "cd1": "CD-1 (Langevin)",
  "cd10": "CD-10 (Langevin)",
  "mle": "exact MLE",
}
COLORS = {"steincd": "C3", "stein_sm": "C1", "cd1": "C0", "cd10": "C2", "mle": "k"}

# Grid of the sweep: learning rate for every method, times the step size of the method's chain.
SWEEP_LEARNING_RATES = (1e-3, 3e-3, 1e-2)
SWEEP_STEP_SIZES = {
  "steincd": ("svgd_step_size", (1.0, 10.0, 100.0)),
  "cd1": ("langevin_step_size", (0.01, 0.1, 1.0)),
  "cd10": ("langevin_step_size", (0.01, 0.1, 1.0)),
}


def run_config(
  method: str, seed: int, num_steps: int, eval_every: int, data_dir: str | None, dataset: str = "mnist", **overrides
):
  config = rbm_mnist.get_config(method)
  config.seed = seed
  config.num_steps = num_steps
  config.eval_every = eval_every
  config.checkpoint_every = num_steps
  config.log_every = min(config.log_every, num_steps)
  config.data_dir = data_dir
  config.dataset = dataset
  if dataset != "mnist":
    config.num_visible = config.synthetic_dim
    config.num_eval_train = 500
  config.update(overrides)
  return config


def run_one(config, workdir: str) -> tuple[list[dict], float]:
  """Trains (or resumes) one run; returns its eval records and the wall seconds this call took."""
  start = time.perf_counter()
  with open(os.devnull, "w") as devnull:
    train_and_evaluate(EnergyExperiment(config), config, workdir, progress_stream=devnull)
  seconds = time.perf_counter() - start
  return [r for r in read_metrics(workdir) if "test/loglik" in r], seconds


def _curves(records_by_seed: list[list[dict]], key: str = "test/loglik"):
  steps = np.asarray([r["step"] for r in records_by_seed[0]])
  values = np.asarray([[float(r[key]) for r in records] for records in records_by_seed])
  return steps, values


def sweep(
  root: str,
  methods=rbm_mnist.METHODS,
  num_steps: int = 1000,
  eval_every: int = 100,
  data_dir: str | None = None,
  dataset: str = "mnist",
):
  """The grid of SWEEP_LEARNING_RATES x SWEEP_STEP_SIZES per method, seed 0; writes sweep.md and sweep.json."""
  rows = []
  for method in methods:
    key, step_sizes = SWEEP_STEP_SIZES.get(method, (None, (None,)))
    for lr, eps in itertools.product(SWEEP_LEARNING_RATES, step_sizes):
      overrides = {"learning_rate": lr} | ({key: eps} if key else {})
      name = f"{method}/lr{lr:g}" + (f"_eps{eps:g}" if key else "")
      config = run_config(method, 0, num_steps, eval_every, data_dir, dataset, **overrides)
      try:
        records, seconds = run_one(config, os.path.join(root, name))
        valid, test = float(records[-1]["valid/loglik"]), float(records[-1]["test/loglik"])
        status = "ok"
      except FloatingPointError as err:  # NonFiniteLossError: the chain diverged
        valid = test = float("nan")
        seconds, status = float("nan"), f"diverged at step {err.step}"
      rows.append(
        dict(method=method, learning_rate=lr, step_size=eps, valid=valid, test=test, seconds=seconds, status=status)
      )
      logging.info("sweep %s: valid %.2f (%s)", name, valid, status)
      print(f"sweep {name}: valid/loglik {valid:.2f} ({status}, {seconds:.0f} s)", flush=True)
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


def figure(
  root: str,
  methods=rbm_mnist.METHODS,
  seeds=(0, 1, 2),
  num_steps: int = 10_000,
  eval_every: int = 100,
  data_dir: str | None = None,
  dataset: str = "mnist",
):
  """Every method x seed (resumed where finished); writes the figure, rbm_mnist.md and rbm_mnist.json."""
  seeds = [int(s) for s in seeds]
  results, timings = {}, {}
  for method in methods:
    results[method] = []
    for seed in seeds:
      config = run_config(method, seed, num_steps, eval_every, data_dir, dataset)
      records, seconds = run_one(config, os.path.join(root, method, f"seed{seed}"))
      results[method].append(records)
      timings.setdefault(method, []).append(seconds)
      print(f"{method} seed {seed}: test/loglik {float(records[-1]['test/loglik']):.2f} ({seconds:.0f} s)", flush=True)

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
  path = save_figure(fig, root, "rbm_mnist_fig1a", dpi=120)

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
    tuned = ", ".join(f"{k}={v:g}" for k, v in rbm_mnist.TUNED[method].items())
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
  print(f"figure: {path}")


def check(config) -> None:
  """Raises ConfigError naming every bad key of configs/rbm_figure.py's config."""
  c = config_lib
  c.check_fields(
    config,
    {
      "methods": c.tuple_of(c.one_of(rbm_mnist.METHODS)),
      "seeds": c.tuple_of(c.NON_NEGATIVE_INT),
      "num_steps": c.POSITIVE_INT,
      "eval_every": c.POSITIVE_INT,
      "sweep": c.BOOL,
      "dataset": c.one_of(DATASETS),
    },
  )


def run_from_config(config, workdir: str) -> None:
  """:func:`figure`, or :func:`sweep` with ``config.sweep``, as ``config`` says, under ``workdir``."""
  check(config)
  logging.set_verbosity(logging.WARNING)  # orbax logs a dozen INFO lines per checkpoint
  os.makedirs(workdir, exist_ok=True)
  kwargs = dict(
    methods=config.methods,
    num_steps=config.num_steps,
    eval_every=config.eval_every,
    data_dir=config.data_dir,
    dataset=config.dataset,
  )
  if config.sweep:
    sweep(workdir, **kwargs)
  else:
    figure(workdir, seeds=config.seeds, **kwargs)


if __name__ == "__main__":
  main_lib.run_tool(run_from_config)
