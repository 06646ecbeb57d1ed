"""The training loop shared by all experiments.

``train_and_evaluate(experiment, config, workdir)`` writes::

  WORKDIR/run.json          experiment name + defining config (fingerprint)
  WORKDIR/checkpoints/<s>/  orbax checkpoints, the last few kept
  WORKDIR/metrics.jsonl     one JSON record per logged step
  WORKDIR/tensorboard/      TensorBoard events
  WORKDIR/figures/          figures written by evaluate/finalize

Running the same command again resumes from the newest readable checkpoint
and ends with exactly the same parameters and ``metrics.jsonl`` as a run that
was never interrupted (batches are a function of ``(seed, step)``, step keys
are ``fold_in(rng, step)``, and records after the restored step are dropped).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import sys
import threading
import time
from typing import Any, TextIO

from absl import logging
import jax
import ml_collections
import numpy as np

from stein_jax.train import checkpoint as checkpoint_lib
from stein_jax.train import config as config_lib
from stein_jax.train import figures
from stein_jax.train import metrics as metrics_lib
from stein_jax.train import progress as progress_lib
from stein_jax.train import sharding as sharding_lib
from stein_jax.train.experiment import Experiment
from stein_jax.train.state import AlgorithmState, TrainState

RUN_FILE = "run.json"


class NonFiniteLossError(FloatingPointError):
  """A training metric became NaN or infinite; the bad state was not saved."""

  def __init__(self, message: str, step: int):
    super().__init__(message)
    self.step = step


class DivergenceError(NonFiniteLossError):
  """A training metric grew by orders of magnitude (finite, but diverged); the bad state was not saved."""


class TrainingInterrupted(KeyboardInterrupt):
  """SIGINT / SIGTERM: the loop finished its step and saved a checkpoint at ``step``."""

  def __init__(self, message: str, step: int, signum: int):
    super().__init__(message)
    self.step = step
    self.signum = signum


class WorkdirMismatchError(ValueError):
  """The workdir belongs to another run (other experiment or config)."""


def _format_value(v: Any) -> str:
  return json.dumps(v) if not isinstance(v, str) else repr(v)


def check_workdir(workdir: str, experiment: Experiment, config: ml_collections.ConfigDict) -> dict[str, Any]:
  """Creates ``workdir`` or checks that it holds this run; writes ``run.json``.

  Raises:
    WorkdirMismatchError: ``run.json`` names another experiment or other
      defining config values, or the directory holds checkpoints/metrics
      but no ``run.json``.
  """
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise WorkdirMismatchError(f"--workdir {workdir} exists and is not a " "directory")
  try:
    os.makedirs(workdir, exist_ok=True)
  except OSError as e:
    raise WorkdirMismatchError(
      f"cannot create --workdir {workdir}: {e.strerror}; choose a writable " "directory"
    ) from e
  if not os.access(workdir, os.W_OK):
    raise WorkdirMismatchError(
      f"--workdir {workdir} is not writable (read-only or another user's); " "choose a writable directory"
    )
  defining = experiment.defining_config(config)
  record = {
    "experiment": experiment.name,
    "fingerprint": config_lib.fingerprint(experiment.name, defining),
    "config": defining,
  }
  data_checksum = experiment.data_fingerprint()
  if data_checksum is not None:
    record["data_checksum"] = data_checksum
  path = os.path.join(workdir, RUN_FILE)
  if not os.path.exists(path):
    leftovers = [
      n
      for n in (checkpoint_lib.CHECKPOINT_SUBDIR, metrics_lib.METRICS_FILE)
      if os.path.exists(os.path.join(workdir, n))
    ]
    if leftovers:
      raise WorkdirMismatchError(
        f"--workdir {workdir} holds {', '.join(leftovers)} from an unknown "
        f"run (no {RUN_FILE}); refusing to load it. Use another --workdir."
      )
    if jax.process_index() == 0:
      tmp = path + ".tmp"
      with open(tmp, "w") as f:
        json.dump(record, f, indent=1, sort_keys=True)
      os.replace(tmp, path)
    return record
  try:
    with open(path) as f:
      stored = json.load(f)
  except (OSError, json.JSONDecodeError) as e:
    raise WorkdirMismatchError(f"cannot read {path} ({e}); use another " "--workdir") from e
  if stored.get("fingerprint") == record["fingerprint"]:
    old_data = stored.get("data_checksum")
    if data_checksum is not None and old_data is not None and old_data != data_checksum:
      raise WorkdirMismatchError(
        f"--workdir {workdir} was trained on other data: training-data checksum {old_data} in the workdir, "
        f"{data_checksum} now (a changed or different data file, or another subset). Point --config.data_dir "
        "at the original data to resume, or use another --workdir for a new run."
      )
    return record
  diffs = []
  if stored.get("experiment") != experiment.name:
    diffs.append(f"experiment: {stored.get('experiment')!r} in the workdir, " f"{experiment.name!r} now")
  old, new = stored.get("config", {}), defining
  for k in sorted(set(old) | set(new), key=experiment.key_name):
    name = experiment.key_name(k)  # a moved key by its path in the nested config
    if k not in new:
      diffs.append(f"{name}: {_format_value(old[k])} in the workdir, absent now")
    elif k not in old and k in (experiment.legacy_defaults or {}):  # a key newer than the run: it ran at that value
      legacy = _format_value(experiment.legacy_defaults[k])
      diffs.append(
        f"{name}: {legacy} in the workdir (unrecorded, the value before the key), {_format_value(new[k])} now"
      )
    elif k not in old:
      diffs.append(f"{name}: absent in the workdir, {_format_value(new[k])} now")
    elif old[k] != new[k]:
      diffs.append(f"{name}: {_format_value(old[k])} in the workdir, " f"{_format_value(new[k])} now")
  raise WorkdirMismatchError(
    f"--workdir {workdir} belongs to another run; differences:\n  "
    + "\n  ".join(diffs or ["(fingerprint differs)"])
    + "\nUse another --workdir for a new run, or restore the original config "
    "to resume. (Only num_steps, eval_every, checkpoint_every, log_every, "
    "max_to_keep, data_dir may change on resume.)"
  )


def _strong(x):
  # Restored arrays are never weak-typed; make a fresh state match so that a
  # resumed run compiles the identical program (weak types change promotion).
  if getattr(x, "weak_type", False):
    return jax.lax.convert_element_type(x, x.dtype)
  return x


def _where(last_good: int | None, ckpt_dir: str) -> str:
  return (
    f"the last good checkpoint (step {last_good}) is kept in {ckpt_dir}"
    if last_good is not None
    else "no checkpoint had been saved"
  )


def _check_finite(records: list[tuple[int, dict[str, float]]], last_good: int | None, ckpt_dir: str) -> None:
  for step, values in records:
    bad = {k: v for k, v in values.items() if not math.isfinite(v)}
    if bad:
      where = _where(last_good, ckpt_dir)
      raise NonFiniteLossError(
        f"non-finite training metric at step {step}: "
        + ", ".join(f"train/{k}={v}" for k, v in sorted(bad.items()))
        + f". Stopped without saving this state; {where}. Lower the "
        "learning rate or check the objective, then resume or restart.",
        step=step,
      )


def final_metrics(workdir: str) -> dict[str, float]:
  """The newest value of every metric in ``workdir``'s ``metrics.jsonl`` (scalars only)."""
  latest = {}
  for record in metrics_lib.read_metrics(workdir):
    for k, v in record.items():
      if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool):
        latest[k] = v
  return latest


def _print_final(workdir: str, step: int, stream: TextIO | None) -> None:
  """One line with the run's final metrics (evaluation first) and the training-curves figure, on every finish."""
  if jax.process_index() != 0:
    return
  figures.training_curves(workdir)
  latest = final_metrics(workdir)
  items = sorted(latest.items(), key=lambda kv: (not kv[0].startswith(("eval/", "test/")), kv[0]))
  text = ", ".join(f"{k}={v:.6g}" for k, v in items)
  stream = sys.stdout if stream is None else stream
  stream.write(f"finished at step {step} ({workdir}): {text}\n")
  stream.flush()


class DivergenceMonitor:
  """Stops a run whose training metric grows by orders of magnitude while staying finite.

  For each metric it keeps a slow geometric moving average of its magnitude, ``ref`` (an exponential
  moving average of log |v| with a time constant of ``horizon`` steps): the metric's typical recent size.
  After ``warmup`` steps a value with ``|v| > factor * max(ref, floor)`` is a divergence. A reference that
  follows the metric slowly, rather than its largest value so far, is what catches a run that walks up
  step by step: Stein VIWAE's largest latent coordinate grew from 9 to 9e6 in 500 steps (docs/stein_viwae.md
  sec. 5), each step within 10,000x of the largest before it. ``floor`` keeps metrics that live near zero
  from tripping it on ordinary changes: with the defaults a metric must pass 10,000 in magnitude and
  10,000 times its recent size. A metric that changes by a factor of 10,000 over many more than
  ``horizon`` steps is followed, not stopped. The references travel in the checkpoint's meta, so a resumed
  run checks against the same history.

  Args:
    factor: growth that counts as divergence; 0 or None disables the monitor (config key ``divergence_factor``).
    warmup: steps before the first check.
    floor: smallest reference magnitude.
    horizon: time constant (steps) of the references' moving average.
    log_ref: references (log magnitudes) restored from a checkpoint; ``ref``: magnitudes, the form
      checkpoints written before the moving average carry.
  """

  def __init__(
    self,
    factor: float | None,
    warmup: int = 100,
    floor: float = 1.0,
    horizon: float = 1000.0,
    ref: dict[str, float] | None = None,
    log_ref: dict[str, float] | None = None,
    seen: int = 0,
  ):
    self.factor = float(factor) if factor else 0.0
    self.warmup, self.floor, self.horizon = int(warmup), float(floor), float(horizon)
    self.log_ref = dict(log_ref or {k: _log_magnitude(v) for k, v in (ref or {}).items()})
    self.seen = int(seen)

  @property
  def ref(self) -> dict[str, float]:
    """The typical recent magnitude of each metric."""
    return {k: math.exp(v) for k, v in self.log_ref.items()}

  def check(self, records: list[tuple[int, dict[str, float]]], last_good: int | None, ckpt_dir: str) -> None:
    """Raises :class:`DivergenceError` at the first diverged record, else updates the references."""
    if not self.factor:
      return
    rate = 1.0 / max(self.horizon, 1.0)
    for step, values in records:
      if self.seen >= self.warmup:
        bad = [
          f"train/{k}={v:.6g} (typical recent magnitude {math.exp(self.log_ref[k]):.6g})"
          for k, v in sorted(values.items())
          if k in self.log_ref and abs(v) > self.factor * max(math.exp(self.log_ref[k]), self.floor)
        ]
        if bad:
          raise DivergenceError(
            f"training metric diverged at step {step}, by more than {self.factor:g} x: "
            + ", ".join(bad)
            + f". Stopped without saving this state; {_where(last_good, ckpt_dir)}. Lower the learning rate "
            "or check the objective, then resume (or set --config.divergence_factor=0 to disable this check).",
            step=step,
          )
      for k, v in values.items():
        lv = _log_magnitude(v)
        self.log_ref[k] = lv if k not in self.log_ref else self.log_ref[k] + rate * (lv - self.log_ref[k])
      self.seen += 1

  def state(self) -> dict[str, Any]:
    return {"log_ref": self.log_ref, "seen": self.seen}


def _log_magnitude(v: float) -> float:
  return math.log(max(abs(v), 1e-30))


class _StopRequest(contextlib.AbstractContextManager):
  """First SIGINT / SIGTERM asks the loop to stop after the current step; the second acts at once.

  Installed only in the main thread (Python delivers signals there); elsewhere it does nothing.
  """

  def __init__(self):
    self.signum = None
    self._old = {}

  def _handler(self, signum, frame):
    del frame
    self.signum = signum
    # A second signal: the usual behaviour (KeyboardInterrupt for SIGINT, termination for SIGTERM).
    signal.signal(signum, self._old.get(signum, signal.SIG_DFL))

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():
      for signum in (signal.SIGINT, signal.SIGTERM):
        self._old[signum] = signal.getsignal(signum)
        signal.signal(signum, self._handler)
    return self

  def __exit__(self, *exc):
    for signum, old in self._old.items():
      signal.signal(signum, old)
    return False


def train_and_evaluate(
  experiment: Experiment,
  config: ml_collections.ConfigDict,
  workdir: str,
  *,
  mesh: jax.sharding.Mesh | None = None,
  progress_stream: TextIO | None = None,
) -> TrainState | AlgorithmState:
  """Trains ``experiment`` for ``config.num_steps`` steps, resuming if possible.

  Train metrics are averaged over each ``log_every`` window and written as
  ``train/<name>``; ``evaluate`` runs every ``eval_every`` steps and at the
  end (``eval/<name>``); a checkpoint is saved every ``checkpoint_every``
  steps and at the end. The step is jitted once, with the state donated and
  replicated and the batch split over ``mesh`` (default: all devices).

  Args:
    experiment: the experiment to run.
    config: validated with :func:`stein_jax.train.config.validate_config`.
    workdir: run directory; see the module docstring.
    mesh: device mesh with a ``"data"`` axis; default all devices.
    progress_stream: where progress goes (default stdout).

  Returns:
    the final state (replicated ``jax.Array`` leaves).

  Raises:
    ConfigError, WorkdirMismatchError, NonFiniteLossError (and its
    DivergenceError), CheckpointRestoreError, BatchShardingError,
    TrainingInterrupted (SIGINT / SIGTERM: the current step finished and a
    checkpoint was saved; a second signal acts at once).
  """
  config_lib.validate_config(config)
  num_steps = config.num_steps
  log_every = config_lib.get_optional(config, "log_every")
  workdir = os.path.abspath(workdir)
  is_chief = jax.process_index() == 0
  run_record = check_workdir(workdir, experiment, config)

  mesh = sharding_lib.make_mesh() if mesh is None else mesh
  rep = sharding_lib.replicated(mesh)
  rng = jax.random.key(config.seed)

  def init_fn(key):
    return jax.tree.map(_strong, experiment.init_state(key, config))

  abstract = jax.eval_shape(init_fn, rng)
  if not isinstance(abstract, (TrainState, AlgorithmState)):
    raise TypeError(
      f"{type(experiment).__name__}.init_state must return a "
      f"TrainState or an AlgorithmState, got {type(abstract).__name__}"
    )
  state_sharding = jax.tree.map(lambda _: rep, abstract)
  abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=rep), abstract)

  ckpt = checkpoint_lib.Checkpointer(workdir, max_to_keep=config_lib.get_optional(config, "max_to_keep"))
  writer = None
  progress = None
  stop = _StopRequest()
  try:
    legacy = getattr(experiment, "legacy_state_layout", lambda: None)()
    restored = ckpt.restore_latest(abstract, legacy)
    window = []  # (step, host metrics) since the last log
    monitor_meta = restored.meta.get("divergence", {}) if restored is not None else {}
    monitor = DivergenceMonitor(config_lib.get_optional(config, "divergence_factor"), **monitor_meta)
    if restored is not None:
      state, start = restored.state, restored.step
      # The part of the log window before the checkpoint, so that the next
      # logged mean is the one an uninterrupted run writes.
      window = [(int(s), dict(m)) for s, m in restored.meta.get("window", [])]
      logging.info("Resumed from checkpoint at step %d in %s.", start, ckpt.directory)
      if is_chief:
        dropped = metrics_lib.truncate_metrics(workdir, start)
        if dropped:
          logging.info("Dropped %d metric records after step %d.", dropped, start)
    else:
      state = jax.jit(init_fn, out_shardings=state_sharding)(rng)
      start = int(jax.device_get(state.step))
    last_saved = start if restored is not None else None

    if start >= num_steps:
      logging.info(
        "Run in %s is already at step %d >= num_steps=%d; " "raise --config.num_steps to train on.",
        workdir,
        start,
        num_steps,
      )
      experiment.finalize(state, workdir)
      _print_final(workdir, start, progress_stream)
      return state
    stop.__enter__()

    train_step = jax.jit(
      experiment.train_step,
      in_shardings=(state_sharding, sharding_lib.data_sharded(mesh)),
      out_shardings=(state_sharding, rep),
      donate_argnums=0,
    )

    writer = metrics_lib.MetricWriter(workdir, resume_step=start if restored is not None else None, enabled=is_chief)
    progress = progress_lib.Progress(num_steps, start, stream=progress_stream)
    pending = []  # (step, device metrics) not yet fetched
    meta = {"fingerprint": run_record["fingerprint"], "experiment": experiment.name}
    logging.info(
      "Training %s from step %d to %d on %d device(s); workdir %s.",
      experiment.name,
      start,
      num_steps,
      mesh.devices.size,
      workdir,
    )

    time_limit = config_lib.get_optional(config, "max_train_seconds")
    deadline = None if not time_limit else time.monotonic() + float(time_limit)
    step = start
    while step < num_steps:
      batch = sharding_lib.shard_batch(experiment.batch(step), mesh)
      state, step_metrics = train_step(state, batch)
      step += 1
      pending.append((step, step_metrics))
      if step == start + 1:
        got = int(jax.device_get(state.step))
        if got != step:
          raise ValueError(
            f"{type(experiment).__name__}.train_step must return a state "
            f"with step incremented by one (expected {step}, got {got}); "
            "use state.apply_gradients or state.replace(step=state.step+1)"
          )

      out_of_time = deadline is not None and time.monotonic() >= deadline
      is_last = step == num_steps or out_of_time
      interrupted = stop.signum is not None and not is_last
      do_log = step % log_every == 0 or is_last
      do_eval = step % config.eval_every == 0 or is_last
      do_ckpt = step % config.checkpoint_every == 0 or is_last or interrupted
      latest = None
      if do_log or do_eval:
        progress.clear()  # log lines (stderr) must not run into the bar
      if do_log or do_eval or do_ckpt:
        fetched = jax.device_get(pending)
        pending = []
        fetched = [(s, {k: metrics_lib.to_scalar(f"train/{k}", v) for k, v in m.items()}) for s, m in fetched]
        _check_finite(fetched, last_saved, ckpt.directory)
        monitor.check(fetched, last_saved, ckpt.directory)
        window.extend(fetched)
      if do_log and window:
        names = window[-1][1].keys()
        latest = {f"train/{k}": float(np.mean([m[k] for _, m in window])) for k in names}
        window = []
        writer.write(step, latest)
        logging.info("%s: %s", progress.status(step), ", ".join(f"{k}={v:.6g}" for k, v in sorted(latest.items())))
      if do_eval:
        results = experiment.evaluate(state, step, workdir) or {}
        results = {(k if "/" in k else f"eval/{k}"): v for k, v in results.items()}
        writer.write(step, results)
        if results:
          logging.info(
            "step %d: %s", step, ", ".join(f"{k}={metrics_lib.to_scalar(k, v):.6g}" for k, v in sorted(results.items()))
          )
      if do_ckpt:
        ckpt.save(state, dict(meta, window=window, divergence=monitor.state()))
        last_saved = step
      progress.update(step, latest)
      if out_of_time and step < num_steps:
        logging.info("Stopping at step %d: max_train_seconds=%s reached (the same command resumes).", step, time_limit)
        break
      if interrupted:
        progress.clear()
        name = signal.Signals(stop.signum).name
        raise TrainingInterrupted(
          f"{name}: interrupted at step {step}; checkpoint saved in {ckpt.directory}; rerun the same command "
          "to resume.",
          step=step,
          signum=stop.signum,
        )

    progress.close()
    progress = None
    experiment.finalize(state, workdir)
    _print_final(workdir, step, progress_stream)
    return state
  finally:
    stop.__exit__(None, None, None)
    if progress is not None:
      progress.close()
    if writer is not None:
      writer.close()
    ckpt.close()
