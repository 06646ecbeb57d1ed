"""Data-parallel placement over all devices with ``Mesh`` + ``NamedSharding``.

The train state is replicated on every device; each batch is split along its
leading axis over the mesh axis ``"data"``. ``jax.jit`` with these shardings
inserts the gradient all-reduce itself, so an experiment's ``train_step`` is
written for one device and runs unchanged on one or many (no ``pmap``).

Multi-host: after ``jax.distributed.initialize()`` the mesh spans
``jax.devices()`` (all hosts) and each process passes *its own* part of the
batch to :func:`shard_batch` (see docs/platform.md).
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
import numpy as np

PyTree = Any
DATA_AXIS = "data"


class BatchShardingError(ValueError):
  """A batch cannot be split evenly over the devices."""


def make_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
  """A 1-d mesh named ``"data"`` over ``devices`` (default: all devices)."""
  devices = jax.devices() if devices is None else list(devices)
  return Mesh(np.asarray(devices), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
  """Every device holds the whole array (params, optimizer state, metrics)."""
  return NamedSharding(mesh, P())


def data_sharded(mesh: Mesh) -> NamedSharding:
  """The leading axis is split over the ``"data"`` axis."""
  return NamedSharding(mesh, P(DATA_AXIS))


def shard_batch(batch: PyTree, mesh: Mesh) -> PyTree:
  """Turns this process's numpy batch into global arrays split over ``mesh``.

  Args:
    batch: pytree of arrays, each ``[b_local, ...]`` with the same leading
      size; ``b_local * process_count`` must be a multiple of the number of
      devices in ``mesh``.
    mesh: from :func:`make_mesh`.

  Returns:
    pytree of ``jax.Array`` of shape ``[b_local * process_count, ...]``.

  Raises:
    BatchShardingError: a leaf is a scalar or the batch size does not divide.
  """
  if batch is None:
    return None
  sharding = data_sharded(mesh)
  n_dev = mesh.devices.size
  n_proc = jax.process_count()

  def put(path, x):
    x = np.asarray(x)
    name = jax.tree_util.keystr(path) or "batch"
    if x.ndim == 0:
      raise BatchShardingError(
        f"batch leaf {name} is a scalar; every batch leaf needs a leading "
        "batch axis to be split over devices (put constants in the config "
        "or the state instead)"
      )
    global_size = x.shape[0] * n_proc
    if global_size % n_dev:
      raise BatchShardingError(
        f"batch leaf {name} has leading size {global_size} (global), which "
        f"is not divisible by the {n_dev} devices; use a batch size that is "
        f"a multiple of {n_dev}, or fewer devices (CUDA_VISIBLE_DEVICES=...)"
      )
    return jax.make_array_from_process_local_data(sharding, x)

  return jax.tree_util.tree_map_with_path(put, batch)
