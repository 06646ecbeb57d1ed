"""Progress reporting for the training loop (no extra dependencies).

On a terminal: one self-overwriting line (``\\r``) with a bar, steps/s and the
time left. Otherwise (stdout redirected to a log file): a plain line at every
10% of the run, with step, steps/s, ETA and the latest logged metrics.
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
  if not metrics:
    return ""
  items = sorted(metrics.items())[:limit]
  return " ".join(f"{k}={float(v):.4g}" for k, v in items)


class Progress:
  """Reports training progress to ``stream``.

  Args:
    num_steps: the final step of the run.
    initial_step: the step the run starts (or resumes) from.
    stream: where to write; ``sys.stdout`` by default.
    is_tty: force terminal / log-file mode; detected from ``stream`` if None.
    fraction: in log-file mode, print a line every this fraction of the run.
    min_interval: in terminal mode, redraw at most this often (seconds).
    clock: time function, for tests.
  """

  def __init__(self, num_steps: int, initial_step: int = 0,
               stream: TextIO | None = None, is_tty: bool | None = None,
               fraction: float = 0.1, min_interval: float = 0.1,
               clock=time.monotonic):
    self.num_steps = int(num_steps)
    self.initial_step = int(initial_step)
    self.stream = stream if stream is not None else sys.stdout
    if is_tty is None:
      is_tty = bool(getattr(self.stream, "isatty", lambda: False)())
    self.is_tty = is_tty
    self.min_interval = min_interval
    self.clock = clock
    remaining = max(self.num_steps - self.initial_step, 1)
    self._every = max(1, int(round(remaining * fraction)))
    self._next_line = self.initial_step + self._every
    self._t0 = None          # time and step of the first update: excludes
    self._step0 = None       # compilation from the rate.
    self._last_draw = -float("inf")
    self._metrics: dict[str, float] = {}

  def rate(self, step: int) -> float | None:
    """Steps per second since the first update, or None before two updates."""
    if self._t0 is None or step <= self._step0:
      return None
    dt = self.clock() - self._t0
    return (step - self._step0) / dt if dt > 0 else None

  def status(self, step: int) -> str:
    """``'step 120/200 (60%) 35.2 steps/s ETA 0:00:02 loss=0.1'``."""
    rate = self.rate(step)
    eta = (self.num_steps - step) / rate if rate else None
    pct = 100.0 * step / max(self.num_steps, 1)
    rate_s = f"{rate:.3g} steps/s" if rate else "? steps/s"
    text = (f"step {step}/{self.num_steps} ({pct:.0f}%) {rate_s} "
            f"ETA {format_duration(eta)}")
    metrics = _format_metrics(self._metrics)
    return f"{text} {metrics}" if metrics else text

  def update(self, step: int, metrics: Mapping[str, Any] | None = None) -> None:
    """Called after each step; ``metrics`` are the latest logged scalars."""
    now = self.clock()
    if self._t0 is None:
      self._t0, self._step0 = now, step
    if metrics:
      self._metrics.update(metrics)
    done = step >= self.num_steps
    if self.is_tty:
      if done or now - self._last_draw >= self.min_interval:
        self._last_draw = now
        width = 24
        filled = int(width * step / max(self.num_steps, 1))
        bar = "#" * filled + "." * (width - filled)
        self.stream.write(f"\r[{bar}] {self.status(step)}\x1b[K")
        self.stream.flush()
    elif step >= self._next_line or done:
      while self._next_line <= step:
        self._next_line += self._every
      self.stream.write(self.status(step) + "\n")
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
