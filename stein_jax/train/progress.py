"""Progress reporting for the training loop (no extra dependencies).

On a terminal: one self-overwriting line (``\\r``) with a bar, steps/s, the time
left and the latest training metrics (``loss`` first). Otherwise (stdout
redirected to a log file) the bar is not drawn: the loop's one log line per
logged step carries :meth:`Progress.status` (step, steps/s, ETA) instead, so
nothing is printed twice.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Mapping, TextIO


def format_duration(seconds: float) -> str:
  """``3725.2`` -> ``'1:02:05'``; ``'?'`` when unknown."""
  if seconds is None or seconds != seconds or seconds == float("inf"):
    return "?"
  seconds = int(round(seconds))
  h, rem = divmod(seconds, 3600)
  m, s = divmod(rem, 60)
  return f"{h}:{m:02d}:{s:02d}"


def _format_metrics(metrics: Mapping[str, Any] | None, limit: int = 4) -> str:
  """The first ``limit`` metrics, losses first, then alphabetically."""
  if not metrics:
    return ""
  items = sorted(metrics.items(), key=lambda kv: ("loss" not in kv[0].rsplit("/", 1)[-1], kv[0]))[:limit]
  return " ".join(f"{k}={float(v):.4g}" for k, v in items)


class Progress:
  """Reports training progress to ``stream``.

  Args:
    num_steps: the final step of the run.
    initial_step: the step the run starts (or resumes) from.
    stream: where to write; ``sys.stdout`` by default.
    is_tty: force terminal / log-file mode; detected from ``stream`` if None.
    min_interval: in terminal mode, redraw at most this often (seconds).
    clock: time function, for tests.
    min_rate_seconds: no rate (and no ETA) until this much time has passed
      since the first step: steps are dispatched asynchronously, so a rate
      over the first fraction of a second measures dispatch, not compute.
  """

  def __init__(
    self,
    num_steps: int,
    initial_step: int = 0,
    stream: TextIO | None = None,
    is_tty: bool | None = None,
    min_interval: float = 0.1,
    clock=time.monotonic,
    min_rate_seconds: float = 1.0,
  ):
    self.num_steps = int(num_steps)
    self.initial_step = int(initial_step)
    self.stream = stream if stream is not None else sys.stdout
    if is_tty is None:
      is_tty = bool(getattr(self.stream, "isatty", lambda: False)())
    self.is_tty = is_tty
    self.min_interval = min_interval
    self.clock = clock
    self.min_rate_seconds = min_rate_seconds
    self._t0 = None  # time and step of the first update: excludes
    self._step0 = None  # compilation from the rate.
    self._last_draw = -float("inf")
    self._metrics: dict[str, float] = {}

  def rate(self, step: int) -> float | None:
    """Steps per second since the first update, or None before two updates."""
    if self._t0 is None or step <= self._step0:
      return None
    dt = self.clock() - self._t0
    return (step - self._step0) / dt if dt >= max(self.min_rate_seconds, 1e-12) else None

  def status(self, step: int) -> str:
    """``'step 120/200 (60%) 35.2 steps/s ETA 0:00:02'``."""
    rate = self.rate(step)
    eta = (self.num_steps - step) / rate if rate else None
    pct = 100.0 * step / max(self.num_steps, 1)
    rate_s = f"{rate:.3g} steps/s" if rate else "? steps/s"
    return f"step {step}/{self.num_steps} ({pct:.0f}%) {rate_s} " f"ETA {format_duration(eta)}"

  def update(self, step: int, metrics: Mapping[str, Any] | None = None) -> None:
    """Called after each step; ``metrics``: the training metrics just logged (replace the shown ones)."""
    now = self.clock()
    if self._t0 is None:
      self._t0, self._step0 = now, step
    if metrics:
      self._metrics = dict(metrics)
    done = step >= self.num_steps
    if self.is_tty and (done or now - self._last_draw >= self.min_interval):
      self._last_draw = now
      width = 24
      filled = int(width * step / max(self.num_steps, 1))
      bar = "#" * filled + "." * (width - filled)
      shown = _format_metrics(self._metrics)
      self.stream.write(f"\r[{bar}] {self.status(step)}" + (f" {shown}" if shown else "") + "\x1b[K")
      self.stream.flush()

  def clear(self) -> None:
    """Erases the terminal line so that a log line can be printed cleanly."""
    if self.is_tty and self._last_draw > -float("inf"):
      self.stream.write("\r\x1b[K")
      self.stream.flush()

  def close(self) -> None:
    """Ends the terminal line."""
    if self.is_tty:
      self.stream.write("\n")
      self.stream.flush()
