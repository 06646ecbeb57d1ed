r"""Table 3 / Table 4 sweeps: every (method, labels, split) run of experiments.semi_supervised, one after another.

    STEIN_JAX_DATA_DIR=/path/to/data nohup python -m experiments.semi_supervised_grid \
        --config=configs/semi_supervised_grid.py --workdir=/tmp/ss16/cnn_grid \
        --config.experiment_config=configs/semi_supervised_mnist.py:cnn_cpu --config.labels='(10,100)' \
        --config.splits='(0,1,2)' --config.results_md=docs/results/semi_supervised_mnist.md &

Each run is a subprocess ``python -m experiments.semi_supervised --config=EXPERIMENT_CONFIG
--config.method=M --config.labels_per_class=N --config.split_seed=S --workdir=WORKDIR/M_nN_sS``
(``--config.fractions='(0.01,0.1)'`` sets ``labelled_fraction`` instead, for Table 4) plus
``config.overrides`` (``"key=value"`` strings); a run whose ``final.json`` is at its last step is skipped, an interrupted one resumes from its
checkpoint, so the same command continues a sweep. SIGTERM is passed to the running child (which
finishes its step and checkpoints) and stops the sweep. After every run the table of test errors
(mean +- sd over the finished splits, with the paper's numbers beside them) is written to
WORKDIR/table.md and, with ``config.results_md``, between the markers ``<!-- grid:NAME:begin -->`` and
``<!-- grid:NAME:end -->`` of that file (NAME = ``config.name``), and the learning curves (every logged
evaluation's test error against the step, one panel per cell, each split thin and the mean over splits
thick; the linear probe's dashed) to WORKDIR/figures/curves.png, their means to WORKDIR/curves.md.

Runs as subprocesses, not imports: an experiment never imports another.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np

from stein_jax.train import config as config_lib
from stein_jax.train import main as main_lib
from stein_jax.train import read_metrics, save_figure
from stein_jax.train.figures import new_figure

METHODS = ("vae", "stein_vae", "stein_viwae")
LABELS = {"vae": "VAE", "stein_vae": "Stein VAE", "stein_viwae": "Stein VIWAE"}
# Table 3 of Pu et al. 2017, test error (%) mean +- sd over 20 splits; Table 4 accuracy (%).
PAPER = {
  "cnn": {
    10: {"vae": (2.44, 0.17), "stein_vae": (1.94, 0.24), "stein_viwae": (1.90, 0.05)},
    60: {"vae": (1.88, 0.05), "stein_vae": (1.44, 0.04), "stein_viwae": (1.41, 0.02)},
    100: {"vae": (1.47, 0.02), "stein_vae": (1.01, 0.03), "stein_viwae": (0.99, 0.02)},
    300: {"vae": (0.98, 0.02), "stein_vae": (0.89, 0.03), "stein_viwae": (0.86, 0.01)},
  },
  "fnn": {
    10: {"vae": (3.33, 0.14), "stein_vae": (2.78, 0.24), "stein_viwae": (2.67, 0.09)},
    60: {"vae": (2.59, 0.05), "stein_vae": (2.13, 0.08), "stein_viwae": (2.09, 0.03)},
    100: {"vae": (2.40, 0.02), "stein_vae": (1.92, 0.05), "stein_viwae": (1.88, 0.01)},
    300: {"vae": (2.18, 0.04), "stein_vae": (1.77, 0.03), "stein_viwae": (1.75, 0.01)},
  },
  # ImageNet accuracy (%), Table 4; the error is 100 minus it.
  "imagenet": {
    0.01: {"vae": (35.92, 1.91), "stein_vae": (36.44, 1.66), "stein_viwae": (36.91, 0.98)},
    0.02: {"vae": (40.15, 1.52), "stein_vae": (41.71, 1.14), "stein_viwae": (42.57, 0.84)},
    0.05: {"vae": (44.27, 1.47), "stein_vae": (46.14, 1.02), "stein_viwae": (46.20, 0.52)},
    0.1: {"vae": (46.92, 1.02), "stein_vae": (47.83, 0.88), "stein_viwae": (48.67, 0.31)},
    0.2: {"vae": (50.43, 0.41), "stein_vae": (51.62, 0.24), "stein_viwae": (51.77, 0.12)},
    0.3: {"vae": (53.24, 0.33), "stein_vae": (55.02, 0.22), "stein_viwae": (55.45, 0.11)},
    0.4: {"vae": (56.89, 0.11), "stein_vae": (58.17, 0.16), "stein_viwae": (58.21, 0.12)},
  },
}

_child = None
_stop = False


def _on_term(signum, frame):
  del frame
  global _stop
  _stop = True
  if _child is not None and _child.poll() is None:
    _child.send_signal(signum)


def run_name(method: str, key: str, split: str, by_fraction: bool) -> str:
  return f"{method}_{'f' if by_fraction else 'n'}{key}_s{split}"


def read_final(workdir: str):
  path = os.path.join(workdir, "final.json")
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


def found_splits(root: str, method: str, key: str, by_fraction: bool) -> list[str]:
  """The split seeds of ``method``'s runs at ``key`` under ``root`` (their folder names), in numeric order."""
  prefix = run_name(method, key, "", by_fraction)
  return sorted((d[len(prefix) :] for d in os.listdir(root) if d.startswith(prefix)), key=int)


def table(root: str, methods, keys, splits, by_fraction: bool, paper: str) -> str:
  """Markdown: one row per labels/fraction, test error mean +- sd over the finished splits per method.

  ``splits=None``: every split found under ``root`` (so a later sweep over fewer splits keeps
  the earlier ones in the table).
  """
  ref = PAPER.get(paper, {})
  head = ["labelled" + (" fraction" if by_fraction else " per class")]
  head += [f"{LABELS[m]} (ours)" for m in methods]
  if ref:
    unit = "accuracy" if paper == "imagenet" else "error"
    head += [f"paper: {LABELS[m]} ({unit})" for m in methods]
  lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  per_run = []
  for key in keys:
    row = [key]
    for m in methods:
      errs, probes, walls, steps = [], [], [], set()
      for s in splits if splits is not None else found_splits(root, m, key, by_fraction):
        rec = read_final(os.path.join(root, run_name(m, key, s, by_fraction)))
        if rec is not None and rec.get("complete"):
          errs.append(rec["test/error"])
          steps.add(rec["step"])
          walls.append(rec.get("wall_s"))
          probes.append(rec.get("test/probe_error"))
          probe = (
            f"; linear probe valid {rec['valid/probe_error']:.2f} / test {rec['test/probe_error']:.2f}"
            f" (l2 {rec['probe/l2']:g})"
            if "test/probe_error" in rec
            else ""
          )
          per_run.append(
            f"{m} {key} split {s}: valid {rec['valid/error']:.2f} / test {rec['test/error']:.2f} (step {rec['step']})"
            + probe
          )
      if not errs:
        row.append("-")
      else:
        sd = f" ± {np.std(errs, ddof=1):.2f}" if len(errs) > 1 else ""
        probe = f"; probe {np.mean(probes):.2f}" if all(p is not None for p in probes) else ""
        row.append(f"{np.mean(errs):.2f}{sd} (n={len(errs)}{probe})")
    if ref:
      pk = float(key) if by_fraction else int(key)
      for m in methods:
        v = ref.get(pk, {}).get(m)
        row.append("-" if v is None else f"{v[0]:.2f} ± {v[1]:.2f}")
    lines.append("| " + " | ".join(map(str, row)) + " |")
  return "\n".join(lines) + "\n\nPer run (valid / test error, %):\n\n" + "\n".join(f"* {r}" for r in per_run) + "\n"


def learning_curves(root: str, methods, keys, by_fraction: bool) -> dict:
  """``{(key, method): {split: {step: (test error, test probe error or None)}}}`` from each run's metrics.jsonl.

  Every split found under ``root`` counts, finished or not (a run still going is drawn to its last evaluation).
  """
  out = {}
  for key in keys:
    for m in methods:
      per_split = {}
      for s in found_splits(root, m, key, by_fraction):
        points = {
          int(r["step"]): (r["test/error"], r.get("test/probe_error"))
          for r in read_metrics(os.path.join(root, run_name(m, key, s, by_fraction)))
          if "test/error" in r
        }
        if points:
          per_split[s] = points
      if per_split:
        out[(key, m)] = per_split
  return out


def mean_curve(per_split: dict, index: int = 0) -> dict[int, float]:
  """step -> mean over the splits evaluated at that step of entry ``index`` (0: error, 1: probe), skipping None."""
  steps = sorted({t for pts in per_split.values() for t in pts})
  out = {}
  for t in steps:
    vals = [pts[t][index] for pts in per_split.values() if t in pts and pts[t][index] is not None]
    if vals:
      out[t] = float(np.mean(vals))
  return out


def draw_curves(root: str, methods, keys, by_fraction: bool) -> list[str]:
  """WORKDIR/figures/curves.png and the markdown of the mean test error per evaluated step (returned)."""
  data = learning_curves(root, methods, keys, by_fraction)
  if not data:
    return []
  shown = [k for k in keys if any((k, m) in data for m in methods)]
  means = {cell: (mean_curve(runs), mean_curve(runs, 1)) for cell, runs in data.items()}  # (error, probe)
  fig = new_figure(figsize=(4.2 * len(shown), 3.6))
  axes = fig.subplots(1, len(shown), squeeze=False)[0]
  for ax, key in zip(axes, shown):
    for i, m in enumerate(methods):
      if (key, m) not in data:
        continue
      runs = data[(key, m)]
      for pts in runs.values():
        steps = sorted(pts)
        ax.plot(steps, [pts[t][0] for t in steps], "-", color=f"C{i}", alpha=0.25, lw=0.8)
      mean, probe = means[(key, m)]
      ax.plot(list(mean), list(mean.values()), "-o", ms=3, color=f"C{i}", label=f"{LABELS[m]} (n={len(runs)})")
      if probe:
        ax.plot(list(probe), list(probe.values()), "--", color=f"C{i}", alpha=0.8)
    ax.set_title(f"labelled fraction {key}" if by_fraction else f"{key} labelled per class", fontsize=9)
    ax.set_xlabel("training step")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
  axes[0].set_ylabel("test error (%); dashed: linear probe")
  fig.tight_layout()
  save_figure(fig, root, "curves")
  lines = ["Mean test error (%) over the splits evaluated at each step (linear probe in brackets):", ""]
  for key in shown:
    cols = [m for m in methods if (key, m) in data]
    steps = sorted({t for m in cols for t in means[(key, m)][0]})
    lines += [f"{'fraction' if by_fraction else 'labelled per class'} {key}:", ""]
    lines += ["| step | " + " | ".join(LABELS[m] for m in cols) + " |", "|---:|" + "---:|" * len(cols)]
    for t in steps:
      cells = []
      for m in cols:
        err, probe = means[(key, m)]
        cells.append("-" if t not in err else f"{err[t]:.2f}" + (f" ({probe[t]:.2f})" if t in probe else ""))
      lines.append(f"| {t} | " + " | ".join(cells) + " |")
    lines.append("")
  return lines


def write_results(text: str, path: str, name: str) -> None:
  begin, end = f"<!-- grid:{name}:begin -->", f"<!-- grid:{name}:end -->"
  with open(path) as f:
    doc = f.read()
  if begin not in doc or end not in doc:
    raise SystemExit(f"{path} has no {begin} ... {end} markers; add them where the table goes.")
  head, rest = doc.split(begin, 1)
  _, tail = rest.split(end, 1)
  with open(path, "w") as f:
    f.write(head + begin + "\n" + text + end + tail)


PAPER_COLUMNS = ("cnn", "fnn", "imagenet", "none")
ORDERS = ("split", "cell")


def check(config) -> None:
  """Every bad field of the sweep's config in one ConfigError, before any run starts."""
  c = config_lib
  c.check_fields(
    config,
    {
      "methods": c.Rule(lambda v: bool(v) and all(m in METHODS for m in v), f"a non-empty tuple of {METHODS}"),
      "splits": c.Rule(lambda v: bool(v) and all(isinstance(x, int) and x >= 0 for x in v), "a tuple of ints >= 0"),
      "paper": c.one_of(PAPER_COLUMNS),
      "order": c.one_of(ORDERS),
    },
  )
  if not config.experiment_config:
    raise c.ConfigError(
      "config.experiment_config is required: the semi-supervised experiment's config, e.g. "
      "--config.experiment_config=configs/semi_supervised_mnist.py:cnn_cpu."
    )
  if bool(config.labels) == bool(config.fractions):
    raise c.ConfigError(
      "give exactly one of config.labels (labels per class, Table 3) or config.fractions (labelled fractions, "
      f"Table 4); got labels={tuple(config.labels)!r}, fractions={tuple(config.fractions)!r}."
    )


def run_from_config(config, workdir: str) -> None:
  """Runs the sweep as ``config`` says into ``workdir`` (one sub-folder per run); resumable."""
  global _child
  check(config)
  by_fraction = bool(config.fractions)
  keys = [str(k) for k in (config.fractions or config.labels)]
  splits = [str(s) for s in config.splits]
  signal.signal(signal.SIGTERM, _on_term)
  os.makedirs(workdir, exist_ok=True)
  cells = [(k, m) for k in keys for m in config.methods]
  if config.order == "split":
    jobs = [(k, m, s) for s in splits for k, m in cells]
  else:
    jobs = [(k, m, s) for k, m in cells for s in splits]
  for key, method, split in jobs:
    if _stop:
      break
    run_dir = os.path.join(workdir, run_name(method, key, split, by_fraction))
    cmd = [
      sys.executable,
      "-m",
      "experiments.semi_supervised",
      f"--config={config.experiment_config}",
      f"--config.method={method}",
      f"--config.split_seed={split}",
      f"--workdir={run_dir}",
    ]
    cmd.append(f"--config.labelled_fraction={key}" if by_fraction else f"--config.labels_per_class={key}")
    cmd += [f"--config.{o}" if not o.startswith("--") else o for o in config.overrides]
    done = read_final(run_dir)
    if done is not None and done.get("complete"):
      continue
    print(time.strftime("%H:%M:%S"), "run:", " ".join(cmd[2:]), flush=True)
    t0 = time.time()
    os.makedirs(run_dir, exist_ok=True)
    with open(os.path.join(run_dir, "stdout.log"), "a") as log:
      _child = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
      rc = _child.wait()
    _child = None
    rec = read_final(run_dir)
    if rc == 0 and rec is not None and not _stop:
      rec["complete"] = True
      rec["wall_s"] = round(time.time() - t0 + rec.get("wall_s", 0.0), 1)
      with open(os.path.join(run_dir, "final.json"), "w") as f:
        json.dump(rec, f, indent=1)
      print(time.strftime("%H:%M:%S"), f"done in {time.time() - t0:.0f} s: test/error={rec['test/error']}", flush=True)
    else:
      print(time.strftime("%H:%M:%S"), f"exit status {rc} (see {run_dir}/stdout.log)", flush=True)
    text = table(workdir, list(METHODS), keys, None, by_fraction, config.paper)
    with open(os.path.join(workdir, "table.md"), "w") as f:
      f.write(text)
    if config.results_md:
      write_results(text, config.results_md, config.name)
    lines = draw_curves(workdir, list(METHODS), keys, by_fraction)
    if lines:
      with open(os.path.join(workdir, "curves.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
  main_lib.run_tool(run_from_config)
