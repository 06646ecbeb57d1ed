"""Metric logs: ``WORKDIR/metrics.jsonl`` and TensorBoard events.

Each call to :meth:`MetricWriter.write` appends one JSON object per line,
``{"step": 100, "train/loss": 0.52, ...}``, flushed immediately so that a log
survives a killed process, and adds the same scalars to TensorBoard event
files under ``WORKDIR/tensorboard`` (tensorboardX; no TensorFlow needed).
"""

from __future__ import annotations

import json
import math
import os
from typing import Any, Mapping

import numpy as np

METRICS_FILE = "metrics.jsonl"
TENSORBOARD_SUBDIR = "tensorboard"


def to_scalar(name: str, value: Any) -> float:
  """Converts a 0-d array or Python number to ``float``; errors name the metric."""
  arr = np.asarray(value)
  if arr.shape != () or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
    raise ValueError(
      f"metric {name!r} must be a scalar number, got "
      f"{type(value).__name__} with shape {arr.shape} and dtype "
      f"{arr.dtype}"
    )
  return float(arr)


def _json_value(x: float) -> float | str:
  # JSON has no NaN/inf; keep them readable and round-trippable as strings.
  if math.isfinite(x):
    return x
  return str(x)


def read_metrics(workdir: str) -> list[dict[str, Any]]:
  """Returns the records of ``workdir/metrics.jsonl`` in file order.

  Non-finite values written as ``"nan"``/``"inf"`` come back as floats. A
  trailing partial line (a process killed while writing) is skipped.
  """
  path = os.path.join(workdir, METRICS_FILE)
  if not os.path.exists(path):
    return []
  records = []
  with open(path) as f:
    for line in f:
      try:
        rec = json.loads(line)
      except json.JSONDecodeError:
        continue
      records.append(
        {
          k: (float(v) if isinstance(v, str) and k != "step" and v in ("nan", "inf", "-inf") else v)
          for k, v in rec.items()
        }
      )
  return records


def truncate_metrics(workdir: str, last_step: int) -> int:
  """Drops records with ``step > last_step`` (and unreadable lines).

  Used on resume so that a restarted run's ``metrics.jsonl`` is identical to
  an uninterrupted run's. The file is rewritten atomically.

  Returns:
    the number of lines dropped.
  """
  path = os.path.join(workdir, METRICS_FILE)
  if not os.path.exists(path):
    return 0
  kept, dropped = [], 0
  with open(path) as f:
    for line in f:
      try:
        rec = json.loads(line)
        keep = int(rec["step"]) <= last_step
      except (json.JSONDecodeError, KeyError, TypeError, ValueError):
        keep = False
      if keep:
        kept.append(line if line.endswith("\n") else line + "\n")
      else:
        dropped += 1
  if dropped:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
      f.writelines(kept)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  return dropped


class MetricWriter:
  """Appends scalars to ``metrics.jsonl`` and TensorBoard.

  Args:
    workdir: the run's directory.
    resume_step: step of the restored checkpoint, if resuming; TensorBoard
      discards events after it (``purge_step``) so curves do not double back.
    enabled: ``False`` on non-zero processes of a multi-host run.
  """

  def __init__(self, workdir: str, resume_step: int | None = None, enabled: bool = True):
    self.workdir = workdir
    self.enabled = enabled
    self._file = None
    self._tb = None
    if not enabled:
      return
    self._file = open(os.path.join(workdir, METRICS_FILE), "a")
    import tensorboardX  # pylint: disable=g-import-not-at-top

    self._tb = tensorboardX.SummaryWriter(
      os.path.join(workdir, TENSORBOARD_SUBDIR), purge_step=None if resume_step is None else resume_step + 1
    )

  def write(self, step: int, scalars: Mapping[str, Any]) -> None:
    """Writes one record; values must be scalars (0-d arrays or numbers)."""
    if not self.enabled or not scalars:
      return
    values = {k: to_scalar(k, v) for k, v in scalars.items()}
    record = {"step": int(step)}
    record.update({k: _json_value(v) for k, v in sorted(values.items())})
    self._file.write(json.dumps(record) + "\n")
    self._file.flush()
    for k, v in values.items():
      self._tb.add_scalar(k, v, global_step=int(step))
    self._tb.flush()

  def close(self) -> None:
    if self._file is not None:
      self._file.close()
      self._file = None
    if self._tb is not None:
      self._tb.close()
      self._tb = None

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()
