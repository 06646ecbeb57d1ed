"""Deterministic, resumable shuffling and batching.

A :class:`Batcher`'s batch at global step ``t`` is a pure function of
``(seed, t)``:

* ``epoch, k = divmod(t, steps_per_epoch)``;
* the epoch's order is ``np.random.default_rng([seed, epoch]).permutation(N)``
  (or ``arange(N)`` without shuffling);
* the batch holds examples ``order[k * B:(k + 1) * B]``;
* with dynamic binarization, ``x`` is replaced by Bernoulli(x) drawn from
  ``np.random.default_rng([seed, t, BINARIZE_STREAM])``, a fresh sample each
  step (so an example is binarized differently in every epoch).

A training loop restored from a checkpoint at step ``t`` therefore gets exactly
the batches it would have got without the restart: call ``batch(t)`` or
``iterate(t)``.  Nothing about the batcher needs to be checkpointed besides
the step.
"""

from __future__ import annotations

import itertools
import threading
from typing import Dict, Iterator, Mapping, Optional, Tuple, Union

import numpy as np

from stein_jax.data.spec import Dataset

# Third word of the binarization seed; non-zero so the stream [seed, t, tag]
# never coincides with a permutation stream [seed, epoch] (= [seed, epoch, 0]
# for numpy's SeedSequence, which pads with zeros).
BINARIZE_STREAM = 0x62696E  # "bin"

Data = Union[Dataset, Mapping[str, np.ndarray], np.ndarray]


def binarize_dynamic(x: np.ndarray, seed: int, step: int) -> np.ndarray:
  """Bernoulli(x) sample, deterministic in ``(seed, step)``.

  Args:
    x: probabilities in [0, 1], any shape, e.g. ``[B, 784]``.
    seed: the batcher's seed (non-negative int).
    step: the global step (non-negative int).

  Returns:
    float32 array of x's shape with values in {0, 1}.
  """
  rng = np.random.default_rng([seed, step, BINARIZE_STREAM])
  u = rng.random(np.shape(x), dtype=np.float32)
  return (u < x).astype(np.float32)


def _as_arrays(data: Data) -> Tuple[Dict[str, np.ndarray], Optional[str]]:
  if isinstance(data, Dataset):
    arrays = {"x": data.x}
    if data.y is not None:
      arrays["y"] = data.y
    return arrays, data.info.get("binarize")
  if isinstance(data, Mapping):
    return {k: np.asarray(v) for k, v in data.items()}, None
  return {"x": np.asarray(data)}, None


class Batcher:
  """Seeded, resumable minibatches of a data set (see the module docstring).

  Example::

    ds = stein_jax.data.load("mnist", "train", binarize="dynamic")
    batcher = Batcher(ds, batch_size=100, seed=0)
    for step, batch in zip(range(start, num_steps), batcher.iterate(start)):
      state = train_step(state, batch["x"], batch["y"])

  Attributes:
    batch_size: B.
    seed: the seed given.
    num_examples: N.
    steps_per_epoch: ``N // B`` with ``drop_remainder`` (every batch has B
      examples; the last ``N % B`` of each epoch's order are skipped, and a
      different subset is skipped each epoch), else ``ceil(N / B)``.
  """

  def __init__(
    self,
    data: Data,
    batch_size: int,
    seed: int,
    *,
    shuffle: bool = True,
    drop_remainder: bool = True,
    binarize: Optional[str] = None,
  ):
    """Builds a batcher.

    Args:
      data: a :class:`~stein_jax.data.Dataset` (batches hold ``x`` and, if
        present, ``y``), a mapping of arrays with a common leading dimension,
        or one array (batches hold it as ``x``).
      batch_size: B >= 1; at most N when ``drop_remainder``.
      seed: non-negative int.
      shuffle: reshuffle every epoch; if False, every epoch is in data order
        (for evaluation).
      drop_remainder: drop the last partial batch of each epoch.
      binarize: ``"dynamic"`` to binarize ``x`` per step; default: the
        dataset's ``info["binarize"]`` (set by ``load(binarize=...)``).

    Raises:
      ValueError: on an invalid seed, batch size, binarize value or arrays of
        different lengths.
    """
    arrays, ds_binarize = _as_arrays(data)
    if not arrays:
      raise ValueError("Batcher needs at least one array.")
    lengths = {k: int(np.shape(v)[0]) if np.ndim(v) else -1 for k, v in arrays.items()}
    if len(set(lengths.values())) != 1 or min(lengths.values()) < 1:
      raise ValueError("All arrays must share a non-empty leading (example) " f"dimension; got lengths {lengths}.")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
      raise ValueError(f"seed must be a non-negative int, not {seed!r}.")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
      raise ValueError(f"batch_size must be a positive int, not {batch_size!r}.")
    n = next(iter(lengths.values()))
    if drop_remainder and batch_size > n:
      raise ValueError(
        f"batch_size {batch_size} exceeds the {n} examples; " "with drop_remainder=True no batch could be formed."
      )
    binarize = binarize if binarize is not None else ds_binarize
    if binarize not in (None, "dynamic"):
      raise ValueError(f"binarize must be None or 'dynamic', not {binarize!r}.")
    if binarize == "dynamic":
      if "x" not in arrays:
        raise ValueError("binarize='dynamic' needs an array named 'x'.")
      x = arrays["x"]
      if not np.issubdtype(x.dtype, np.floating) or x.size and (x.min() < 0 or x.max() > 1):
        raise ValueError("binarize='dynamic' needs x as float probabilities " "in [0, 1] (load with scale='unit').")
    self._arrays = arrays
    self.batch_size = int(batch_size)
    self.seed = int(seed)
    self.shuffle = bool(shuffle)
    self.drop_remainder = bool(drop_remainder)
    self.binarize = binarize
    self.num_examples = n
    self.steps_per_epoch = n // self.batch_size if drop_remainder else -(-n // self.batch_size)
    self._lock = threading.Lock()
    self._perm_cache: Tuple[int, Optional[np.ndarray]] = (-1, None)

  def permutation(self, epoch: int) -> np.ndarray:
    """The order of examples in ``epoch``: int64 ``[N]``."""
    if not self.shuffle:
      return np.arange(self.num_examples)
    with self._lock:
      cached_epoch, perm = self._perm_cache
    if cached_epoch != epoch:
      perm = np.random.default_rng([self.seed, epoch]).permutation(self.num_examples)
      with self._lock:
        self._perm_cache = (epoch, perm)
    return perm

  def indices(self, step: int) -> np.ndarray:
    """Example indices of the batch at ``step``: int64 ``[B]`` (or fewer)."""
    if not isinstance(step, (int, np.integer)) or step < 0:
      raise ValueError(f"step must be a non-negative int, not {step!r}.")
    epoch, k = divmod(int(step), self.steps_per_epoch)
    start = k * self.batch_size
    return self.permutation(epoch)[start : start + self.batch_size]

  def batch(self, step: int) -> Dict[str, np.ndarray]:
    """The batch at global step ``step``, a pure function of (seed, step).

    Args:
      step: global step, >= 0 (steps continue across epochs).

    Returns:
      ``{"x": [B, ...], "y": [B]}`` (the keys of the data), each row gathered
      from the data; ``x`` is binarized if ``binarize="dynamic"``.
    """
    idx = self.indices(step)
    out = {k: v[idx] for k, v in self._arrays.items()}
    if self.binarize == "dynamic":
      out["x"] = binarize_dynamic(out["x"], self.seed, int(step))
    return out

  def epoch(self, step: int) -> int:
    """The epoch that ``step`` falls in."""
    return int(step) // self.steps_per_epoch

  def iterate(self, start_step: int = 0, num_steps: Optional[int] = None) -> Iterator[Dict[str, np.ndarray]]:
    """Yields ``batch(start_step)``, ``batch(start_step + 1)``, ...

    Args:
      start_step: first step, e.g. the step restored from a checkpoint.
      num_steps: how many batches; None for an endless stream.
    """
    steps = itertools.count(start_step) if num_steps is None else range(start_step, start_step + num_steps)
    for step in steps:
      yield self.batch(step)
