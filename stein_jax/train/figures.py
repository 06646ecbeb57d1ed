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
    raise ValueError(f"figure name {name!r} must be a relative name without "
                     "'..', e.g. 'samples' or 'samples/step_1000'")
  return os.path.join(workdir, FIGURES_SUBDIR, name + ".png")


def save_figure(fig: matplotlib.figure.Figure, workdir: str, name: str,
                dpi: int = 100) -> str:
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
      plt.close(fig)   # no-op for figures pyplot does not manage
    if os.path.exists(tmp):
      os.remove(tmp)
  return path
