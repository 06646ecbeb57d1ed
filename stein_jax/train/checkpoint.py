"""Checkpoints of a :class:`TrainState` with orbax.

Layout: ``WORKDIR/checkpoints/<step>/{state,meta}``. Each save goes through
``orbax.checkpoint.CheckpointManager``, which writes into a temporary directory
and renames it into place only when complete, so a crash during a save leaves
the previous checkpoints usable (the half-written temporary directory is
ignored and cleaned up on the next start).

On restore the newest checkpoint is tried first; if it cannot be read (a
truncated or damaged file), an absl warning names it, it is moved to
``WORKDIR/checkpoints_damaged/<step>`` (kept for inspection, never loaded
again) and the next older one is used.
"""

from __future__ import annotations

import contextlib
import logging as logging_std
import os
import shutil
import time
from typing import Any, Callable, NamedTuple

from absl import logging
import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp

PyTree = Any

CHECKPOINT_SUBDIR = "checkpoints"
DAMAGED_SUBDIR = "checkpoints_damaged"


class CheckpointRestoreError(RuntimeError):
  """No checkpoint in the directory could be restored."""


class CheckpointSaveError(RuntimeError):
  """A checkpoint could not be written (disk full, permissions); the earlier checkpoints are kept."""


def _is_key(x) -> bool:
  dtype = getattr(x, "dtype", None)
  return dtype is not None and jnp.issubdtype(dtype, jax.dtypes.prng_key)


def _keys_to_data(tree: PyTree) -> PyTree:
  # orbax stores plain arrays; typed PRNG keys are saved as their uint32 data.
  return jax.tree.map(lambda x: jax.random.key_data(x) if _is_key(x) else x, tree)


def _abstract_keys_to_data(abstract: PyTree) -> PyTree:
  def convert(x):
    if _is_key(x):
      data = jax.eval_shape(jax.random.key_data, x)
      return jax.ShapeDtypeStruct(data.shape, data.dtype, sharding=getattr(x, "sharding", None))
    return x

  return jax.tree.map(convert, abstract)


def _data_to_keys(restored: PyTree, abstract: PyTree) -> PyTree:
  def convert(data, x):
    if _is_key(x):
      return jax.random.wrap_key_data(data, impl=x.dtype._impl)  # pylint: disable=protected-access
    return data

  return jax.tree.map(convert, restored, abstract)


class _DropOrbax(logging_std.Filter):
  def filter(self, record) -> bool:
    return "orbax" not in record.pathname


@contextlib.contextmanager
def _orbax_muted():
  """Drops orbax's own log records (e.g. "Failed to json parse Metadata file") while a restore is tried.

  A damaged checkpoint is reported once, by :meth:`Checkpointer.restore_latest`, instead of by several
  multi-line orbax errors first.
  """
  handlers = list(logging_std.getLogger().handlers) + list(logging_std.getLogger("absl").handlers)
  drop = _DropOrbax()
  for h in handlers:
    h.addFilter(drop)
  try:
    yield
  finally:
    for h in handlers:
      h.removeFilter(drop)


# (to_legacy, from_legacy): an earlier layout of a state, see Checkpointer.restore_step_with_meta.
LegacyLayout = tuple[Callable[[PyTree], PyTree], Callable[[PyTree], PyTree]]


class Restored(NamedTuple):
  """A restored checkpoint: the state, its step and the saved ``meta`` dict."""

  state: Any
  step: int
  meta: dict


class Checkpointer:
  """Saves and restores train states under ``workdir/checkpoints``.

  Args:
    workdir: the run's directory.
    max_to_keep: number of most recent checkpoints kept on disk.
  """

  def __init__(self, workdir: str, max_to_keep: int = 3):
    self.workdir = os.path.abspath(workdir)
    self.directory = os.path.join(self.workdir, CHECKPOINT_SUBDIR)
    self.max_to_keep = max_to_keep
    self._manager = self._make_manager()

  def _make_manager(self) -> ocp.CheckpointManager:
    options = ocp.CheckpointManagerOptions(
      max_to_keep=self.max_to_keep,
      create=True,
      cleanup_tmp_directories=True,
      # Synchronous saves: the loop may raise right after a save (NaN
      # policy) and a run killed just after save() returns must find it.
      enable_async_checkpointing=False,
    )
    return ocp.CheckpointManager(self.directory, options=options, item_names=("state", "meta"))

  def all_steps(self) -> list[int]:
    """Steps of the complete checkpoints on disk, ascending."""
    self._manager.reload()
    return sorted(self._manager.all_steps())

  def latest_step(self) -> int | None:
    steps = self.all_steps()
    return steps[-1] if steps else None

  def save(self, state, meta: dict | None = None) -> None:
    """Saves ``state`` at ``int(state.step)``; returns once it is on disk.

    Args:
      state: a :class:`TrainState` (or any pytree with a ``step`` field).
      meta: small JSON-able dict stored beside it (e.g. the run fingerprint).
    """
    step = int(jax.device_get(state.step))
    meta = dict(meta or {}, step=step, time=time.time())
    try:
      self._manager.save(
        step,
        args=ocp.args.Composite(state=ocp.args.StandardSave(_keys_to_data(state)), meta=ocp.args.JsonSave(meta)),
        force=True,
      )
      self._manager.wait_until_finished()
    except (OSError, ValueError) as e:
      # orbax writes into a temporary directory and renames it when complete, so a failed save leaves the
      # earlier checkpoints as they were (its partial directory is cleaned up on the next start).
      kept = [s for s in self.all_steps() if s != step]
      cause = getattr(e, "strerror", None) or str(e)
      raise CheckpointSaveError(
        f"could not save the checkpoint of step {step} in {self.directory}: {cause}. "
        + (f"The checkpoints of steps {kept} are kept; " if kept else "No earlier checkpoint exists; ")
        + "free disk space (or fix the permissions) and rerun the same command to resume."
      ) from e

  def restore_step(self, step: int, abstract_state: PyTree) -> PyTree:
    """Restores the state saved at ``step`` (see :meth:`restore_step_with_meta`)."""
    return self.restore_step_with_meta(step, abstract_state).state

  def restore_step_with_meta(self, step: int, abstract_state: PyTree, legacy: LegacyLayout | None = None) -> Restored:
    """Restores the checkpoint at ``step`` into the structure of the target.

    Args:
      step: a step in :meth:`all_steps`.
      abstract_state: pytree of ``jax.ShapeDtypeStruct`` (with shardings),
        e.g. ``jax.eval_shape(init_fn)``; fixes structure, dtypes and
        placement of the result.
      legacy: optional ``(to_legacy, from_legacy)``: an earlier layout of the
        same state. When the checkpoint does not fit ``abstract_state``, it is
        read in the layout ``to_legacy(abstract_state)`` and converted with
        ``from_legacy`` (both only rearrange leaves), so runs saved before a
        change of the state's layout still resume.
    """
    try:
      return self._restore(step, abstract_state)
    except Exception as e:  # pylint: disable=broad-except
      if legacy is None:
        raise
      to_legacy, from_legacy = legacy
      try:
        old = self._restore(step, to_legacy(abstract_state))
      except Exception:  # pylint: disable=broad-except
        raise e from None
      logging.info("Checkpoint %d is in the earlier state layout; converted.", step)
      return Restored(from_legacy(old.state), step, old.meta)

  def _restore(self, step: int, abstract_state: PyTree) -> Restored:
    restored = self._manager.restore(
      step,
      args=ocp.args.Composite(
        state=ocp.args.StandardRestore(_abstract_keys_to_data(abstract_state)), meta=ocp.args.JsonRestore()
      ),
    )
    meta_step = restored["meta"].get("step")
    if meta_step != step:
      raise ValueError(f"checkpoint directory {step} holds metadata for step " f"{meta_step}")
    state = _data_to_keys(restored["state"], abstract_state)
    if hasattr(state, "step") and int(jax.device_get(state.step)) != step:
      raise ValueError(f"checkpoint {step} holds state.step=" f"{int(jax.device_get(state.step))}")
    return Restored(state, step, dict(restored["meta"]))

  def restore_latest(self, abstract_state: PyTree, legacy: LegacyLayout | None = None) -> Restored | None:
    """Restores the newest readable checkpoint.

    Damaged checkpoints newer than the one restored are reported with an absl
    warning and moved to ``workdir/checkpoints_damaged``. ``legacy``: as for
    :meth:`restore_step_with_meta`.

    Returns:
      ``Restored(state, step, meta)``, or ``None`` if there is no checkpoint.

    Raises:
      CheckpointRestoreError: checkpoints exist but none could be restored
        (nothing is moved in that case: the cause is more likely a change of
        the code or the state structure than damage to every file).
    """
    with _orbax_muted():  # reading a damaged checkpoint's metadata logs orbax errors from worker threads
      steps = self.all_steps()
    if not steps:
      return None
    failures = []
    for step in reversed(steps):
      try:
        with _orbax_muted():
          restored = self.restore_step_with_meta(step, abstract_state, legacy)
      except Exception as e:  # pylint: disable=broad-except
        # orbax/tensorstore raise many exception types for unreadable files.
        failures.append((step, e))
        continue
      for bad_step, e in failures:
        dst = self._quarantine(bad_step)
        logging.warning(
          "Checkpoint %s is damaged or unreadable (%s: %s); moved to %s; resuming from step %d.",
          os.path.join(self.directory, str(bad_step)),
          type(e).__name__,
          " ".join(str(e).split())[:300],
          dst,
          step,
        )
      if failures:
        self._manager.close()
        self._manager = self._make_manager()
      return restored
    details = "\n".join(f"  step {s}: {type(e).__name__}: {str(e)[:300]}" for s, e in failures)
    raise CheckpointRestoreError(
      f"None of the checkpoints in {self.directory} could be restored:\n"
      f"{details}\nIf the model or the experiment code changed, start a "
      "new run with another --workdir."
    )

  def _quarantine(self, step: int) -> str | None:
    if jax.process_index() != 0:
      return None
    src = os.path.join(self.directory, str(step))
    dst_root = os.path.join(self.workdir, DAMAGED_SUBDIR)
    os.makedirs(dst_root, exist_ok=True)
    dst = os.path.join(dst_root, f"{step}.{int(time.time())}")
    shutil.move(src, dst)
    return dst

  def close(self) -> None:
    self._manager.close()
