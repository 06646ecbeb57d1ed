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

The tool is a package: this module (the runs, the config check and the command's entry point), ``report`` (the
curves, the tables and their files) and ``__main__`` (the command line).
"""

from __future__ import annotations

import itertools
import os
import time

from absl import logging

from configs import rbm_mnist
from stein_jax.train import config as config_lib
from stein_jax.train import read_metrics, train_and_evaluate

from experiments.energy import EnergyExperiment
from experiments.rbm_figure import report
from experiments.rbm_figure.report import COLORS, LABELS

__all__ = [
  "COLORS",
  "DATASETS",
  "LABELS",
  "SWEEP_LEARNING_RATES",
  "SWEEP_STEP_SIZES",
  "check",
  "figure",
  "run_config",
  "run_from_config",
  "run_one",
  "sweep",
]

DATASETS = ("mnist", "synthetic_rbm")

# Grid of the sweep: learning rate for every method, times the step size of the method's chain (keys by path).
SWEEP_LEARNING_RATES = (1e-3, 3e-3, 1e-2)
SWEEP_STEP_SIZES = {
  "steincd": ("svgd.step_size", (1.0, 10.0, 100.0)),
  "cd1": ("langevin.step_size", (0.01, 0.1, 1.0)),
  "cd10": ("langevin.step_size", (0.01, 0.1, 1.0)),
}


def run_config(
  method: str, seed: int, num_steps: int, eval_every: int, data_dir: str | None, dataset: str = "mnist", **overrides
):
  """The configs/rbm_mnist.py:<method> config of one run; ``overrides`` by path (``**{"svgd.step_size": 10.0}``)."""
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
  return config_lib.override(config, overrides)


def run_one(config, workdir: str) -> tuple[list[dict], float]:
  """Trains (or resumes) one run; returns its eval records and the wall seconds this call took."""
  start = time.perf_counter()
  with open(os.devnull, "w") as devnull:
    train_and_evaluate(EnergyExperiment(config), config, workdir, progress_stream=devnull)
  seconds = time.perf_counter() - start
  return [r for r in read_metrics(workdir) if "test/loglik" in r], seconds


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
      overrides = {"optimizer.learning_rate": lr} | ({key: eps} if key else {})
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
  report.write_sweep(root, rows, methods, num_steps)


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

  path = report.plot_curves(root, results, seeds)
  report.write_table(root, results, timings, seeds, num_steps)
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
