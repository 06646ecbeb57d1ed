"""Headless figures saved under ``WORKDIR/figures``.

:func:`new_figure` builds a ``matplotlib.figure.Figure`` without pyplot, so it
needs no display and no backend. Figures made with ``plt.subplots`` work too;
experiment mains started through ``run_main`` select the Agg backend. Importing
this module does not change the backend (that would break notebooks).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import jax
import numpy as np

if TYPE_CHECKING:
  import matplotlib.figure  # imported lazily: ~1 s, and mains may not plot

FIGURES_SUBDIR = "figures"


def use_headless_backend() -> None:
  """Selects Agg unless pyplot is already in use (called by ``run_main``)."""
  if "matplotlib.pyplot" not in sys.modules:
    import matplotlib  # pylint: disable=g-import-not-at-top

    matplotlib.use("Agg")


def new_figure(**kwargs) -> matplotlib.figure.Figure:
  """A figure not registered with pyplot, e.g. ``new_figure(figsize=(4, 3))``.

  Draw with ``ax = fig.add_subplot()`` or ``fig.subplots(...)``.
  """
  import matplotlib.figure  # pylint: disable=g-import-not-at-top,redefined-outer-name

  return matplotlib.figure.Figure(**kwargs)


def figure_path(workdir: str, name: str) -> str:
  """``workdir/figures/<name>.png``; ``name`` may contain ``/`` for subfolders."""
  if not name or os.path.isabs(name) or ".." in name.split("/"):
    raise ValueError(
      f"figure name {name!r} must be a relative name without " "'..', e.g. 'samples' or 'samples/step_1000'"
    )
  return os.path.join(workdir, FIGURES_SUBDIR, name + ".png")


def save_figure(fig: matplotlib.figure.Figure, workdir: str, name: str, dpi: int = 100) -> str:
  """Writes ``fig`` to ``workdir/figures/<name>.png`` and closes it.

  The file is written under a temporary name and renamed, so a reader never
  sees a half-written PNG.

  Args:
    fig: a figure from :func:`new_figure` or ``plt.subplots``.
    workdir: the run's directory.
    name: file stem, e.g. ``"particles/step_1000"``.
    dpi: resolution.

  Returns:
    the path (written by process 0 only in a multi-host run).
  """
  path = figure_path(workdir, name)
  tmp = path + ".tmp.png"
  try:
    # Multi-host: every process may call this; process 0 writes.
    if jax.process_index() == 0:
      os.makedirs(os.path.dirname(path), exist_ok=True)
      fig.savefig(tmp, dpi=dpi, format="png")
      os.replace(tmp, path)
  finally:
    if "matplotlib.pyplot" in sys.modules:
      import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

      plt.close(fig)  # no-op for figures pyplot does not manage
    if os.path.exists(tmp):
      os.remove(tmp)
  return path


def training_curves(workdir: str, records: list[dict] | None = None, max_panels: int = 16) -> str | None:
  """``workdir/figures/training_curves.png``: every scalar metric of ``metrics.jsonl`` against the step.

  The platform writes it at the end of every run (and of every rerun), so each run has a look at its own
  history without a script. One panel per metric (training metrics first, then evaluations), each titled with
  its name and last value; constant metrics and panels beyond ``max_panels`` are named in the caption only.

  Args:
    workdir: the run's directory.
    records: the metric records (default: read from ``workdir``).
    max_panels: the most panels drawn.

  Returns:
    the path written, or None when there is nothing to plot.
  """
  import math  # pylint: disable=g-import-not-at-top
  from stein_jax.train import metrics as metrics_lib  # pylint: disable=g-import-not-at-top

  records = metrics_lib.read_metrics(workdir) if records is None else records
  series: dict[str, tuple[list, list]] = {}
  for r in records:
    for k, v in r.items():
      if k == "step" or isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        continue
      steps, values = series.setdefault(k, ([], []))
      steps.append(r["step"])
      values.append(v)
  if not series:
    return None
  constant = sorted(k for k, (_, v) in series.items() if len(v) > 1 and min(v) == max(v))
  order = lambda k: (k.split("/")[0] not in ("train", "test"), k.split("/")[0] != "train", "loss" not in k, k)
  names = sorted((k for k in series if k not in constant), key=order)
  shown, left = names[:max_panels], names[max_panels:]
  cols = min(4, len(shown))
  rows = -(-len(shown) // cols)
  fig = new_figure(figsize=(3.6 * cols, 2.6 * rows + 0.6))
  for i, name in enumerate(shown):
    ax = fig.add_subplot(rows, cols, i + 1)
    steps, values = series[name]
    ax.plot(steps, values, marker="o" if len(steps) < 30 else None, markersize=3)
    ax.set_title(f"{name}\n(last {values[-1]:.4g})", fontsize=8)
    ax.set_xlabel("step", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
  caption = f"{os.path.basename(os.path.normpath(workdir))}: metrics.jsonl (train/*: means over each log window)"
  if constant:
    caption += f"; constant: {', '.join(f'{k}={series[k][1][0]:g}' for k in constant)}"
  if left:
    caption += f"; not shown: {', '.join(left)}"
  fig.suptitle(caption, fontsize=9)
  fig.tight_layout()
  return save_figure(fig, workdir, "training_curves")


def image_grid(x, side: int) -> np.ndarray:
  """``[n, side*side]`` images as one ``[rows*side, cols*side]`` mosaic (non-square data as one row each)."""
  x = np.asarray(x)
  n = x.shape[0]
  if side * side != x.shape[1]:
    return x
  cols = int(np.ceil(np.sqrt(n)))
  rows = int(np.ceil(n / cols))
  canvas = np.ones((rows * side, cols * side), np.float32)
  for i in range(n):
    r, c = divmod(i, cols)
    canvas[r * side : (r + 1) * side, c * side : (c + 1) * side] = x[i].reshape(side, side)
  return canvas
