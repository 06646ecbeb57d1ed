"""Metric logs, progress reporting and figures."""

import io
import json
import math
import os
import struct

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np
import pytest

from stein_jax.train import figures
from stein_jax.train import metrics as metrics_lib
from stein_jax.train import progress as progress_lib


def test_writer_appends_flushed_json_lines_and_tensorboard(tmp_path):
  workdir = str(tmp_path)
  writer = metrics_lib.MetricWriter(workdir)
  writer.write(10, {"train/loss": np.float32(0.5), "eval/ksd": 2})
  # Flushed before close: a killed process keeps its log.
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    assert json.loads(f.readline()) == {"step": 10, "train/loss": 0.5, "eval/ksd": 2.0}
  writer.write(20, {"train/loss": float("nan")})
  writer.close()
  records = metrics_lib.read_metrics(workdir)
  assert [r["step"] for r in records] == [10, 20]
  assert math.isnan(records[1]["train/loss"])
  events = os.listdir(os.path.join(workdir, "tensorboard"))
  assert any(e.startswith("events.out.tfevents") for e in events)
  tb_bytes = sum(os.path.getsize(os.path.join(workdir, "tensorboard", e)) for e in events)
  assert tb_bytes > 100


def _read_events(logdir):
  """Scalars in TFRecord event files, parsed with tensorboardX's protos."""
  from tensorboardX.proto import event_pb2  # pylint: disable=g-import-not-at-top

  scalars = []
  for name in sorted(os.listdir(logdir)):
    with open(os.path.join(logdir, name), "rb") as f:
      data = f.read()
    pos = 0
    while pos < len(data):
      (length,) = struct.unpack("<Q", data[pos : pos + 8])
      event = event_pb2.Event.FromString(data[pos + 12 : pos + 12 + length])
      pos += 12 + length + 4
      for value in event.summary.value:
        scalars.append((value.tag, event.step, value.simple_value))
  return scalars


def test_tensorboard_events_hold_the_scalars(tmp_path):
  with metrics_lib.MetricWriter(str(tmp_path)) as writer:
    for step in (1, 2, 3):
      writer.write(step, {"train/loss": 1.0 / step})
  got = _read_events(str(tmp_path / "tensorboard"))
  assert [(t, s) for t, s, _ in got] == [("train/loss", 1), ("train/loss", 2), ("train/loss", 3)]
  np.testing.assert_allclose([v for _, _, v in got], [1, 0.5, 1 / 3], rtol=1e-6)


def test_non_scalar_metric_is_a_clear_error(tmp_path):
  with metrics_lib.MetricWriter(str(tmp_path)) as writer:
    with pytest.raises(ValueError, match="metric 'train/loss' must be a " "scalar"):
      writer.write(1, {"train/loss": np.ones(3)})


def test_truncate_drops_later_and_partial_lines(tmp_path):
  path = tmp_path / "metrics.jsonl"
  path.write_text('{"step": 10, "a": 1}\n{"step": 20, "a": 2}\n' '{"step": 30, "a": 3}\n{"step": 4')
  assert metrics_lib.truncate_metrics(str(tmp_path), 20) == 2
  assert path.read_text() == '{"step": 10, "a": 1}\n{"step": 20, "a": 2}\n'
  assert metrics_lib.truncate_metrics(str(tmp_path), 20) == 0
  assert metrics_lib.read_metrics(str(tmp_path / "absent")) == []


class _Clock:
  def __init__(self):
    self.t = 0.0

  def __call__(self):
    return self.t


def test_progress_log_mode_draws_nothing_and_status_has_rate_and_eta():
  stream, clock = io.StringIO(), _Clock()
  p = progress_lib.Progress(100, 0, stream=stream, is_tty=False, clock=clock)
  for step in range(1, 101):
    clock.t = 10.0 + 0.5 * step  # compile time before the first step
    p.update(step, {"train/loss": 1.0 / step} if step % 10 == 0 else None)
    if step == 50:
      assert p.status(step) == "step 50/100 (50%) 2 steps/s ETA 0:00:25"
  p.close()
  assert stream.getvalue() == ""  # the loop's log line carries the status


def test_progress_rate_waits_for_a_second_of_steps():
  clock = _Clock()
  p = progress_lib.Progress(1000, 500, stream=io.StringIO(), is_tty=False, clock=clock)
  p.update(501)
  clock.t = 0.001
  p.update(503)  # dispatch-fast steps right after a resume: no rate yet
  assert p.status(503) == "step 503/1000 (50%) ? steps/s ETA ?"
  clock.t = 2.0
  p.update(510)
  assert p.status(510).startswith("step 510/1000 (51%) 4.5 steps/s")


def test_progress_tty_mode_redraws_one_line():
  stream, clock = io.StringIO(), _Clock()
  p = progress_lib.Progress(40, 20, stream=stream, is_tty=True, clock=clock, min_interval=0.0)
  p.clear()  # nothing drawn yet: writes nothing
  for step in range(21, 41):
    clock.t = step * 0.1
    p.update(step, {"train/b": 2.0, "train/a": 1.0, "train/loss": 0.5} if step == 30 else None)
  p.close()
  out = stream.getvalue()
  assert out.count("\r") == 20 and out.endswith("\n")
  last = out.split("\r")[-1]
  assert last.startswith("[" + "#" * 24 + "] step 40/40 (100%) 10 steps/s")
  assert "train/loss=0.5 train/a=1 train/b=2" in last  # losses first
  assert progress_lib.format_duration(3725.2) == "1:02:05"
  assert progress_lib.format_duration(None) == "?"


def test_save_figure_writes_png_and_closes(tmp_path):
  fig, ax = plt.subplots()
  ax.plot([0, 1], [1, 0])
  path = figures.save_figure(fig, str(tmp_path), "samples/step_10")
  assert path == str(tmp_path / "figures" / "samples" / "step_10.png")
  with open(path, "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"
  assert not plt.fignum_exists(fig.number)
  assert os.listdir(tmp_path / "figures" / "samples") == ["step_10.png"]
  with pytest.raises(ValueError, match="relative name"):
    figures.save_figure(figures.new_figure(), str(tmp_path), "../escape")


def test_new_figure_needs_no_pyplot(tmp_path):
  fig = figures.new_figure(figsize=(2, 2))
  fig.add_subplot().scatter([0, 1], [1, 0])
  path = figures.save_figure(fig, str(tmp_path), "scatter")
  assert os.path.getsize(path) > 100
