"""The on-disk cache of decoded arrays (``$STEIN_JAX_CACHE_DIR``).

Belongs here: where a cache file lives, how it is read and written atomically,
the cache version, and the cheap fingerprints of source files and folders that
go into cache keys.  Knows nothing about data sets, layouts or readers.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import tempfile
import warnings
from typing import Callable, Dict

import numpy as np

from stein_jax.data import checksums
from stein_jax.data import paths

# Bump when a cached decoded array would change meaning.
_CACHE_VERSION = 1


def _cache_path(key: str) -> pathlib.Path:
  return paths.cache_dir() / f"{key}.npz"


def _cached_arrays(key: str, build: Callable[[], Dict[str, np.ndarray]]) -> Dict[str, np.ndarray]:
  """Loads ``key`` from the cache dir, or builds it and saves it atomically.

  A cache that cannot be written (read-only home, full disk) only warns: the
  decoded arrays are still returned.
  """
  path = _cache_path(key)
  if path.is_file():
    try:
      with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}
    except (OSError, ValueError) as e:  # a truncated cache is rebuilt
      warnings.warn(f"Ignoring unreadable cache file '{path}': {e}")
  arrays = build()
  try:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    with os.fdopen(fd, "wb") as f:
      np.savez(f, **arrays)
    os.replace(tmp, path)
  except OSError as e:
    warnings.warn(
      f"Could not write the decoded-array cache '{path}' ({e}); set "
      f"${paths.ENV_CACHE_DIR} to a writable folder to avoid "
      "decoding again next time."
    )
  return arrays


def _tree_fingerprint(folder: pathlib.Path) -> str:
  """Cheap identity of a folder of files: names, sizes and mtimes."""
  h = hashlib.sha256()
  for p in sorted(folder.rglob("*")):
    if p.is_file():
      st = p.stat()
      h.update(f"{p.relative_to(folder).as_posix()}|{st.st_size}|" f"{st.st_mtime_ns}\n".encode())
  return h.hexdigest()


def _source_fingerprint(path: pathlib.Path) -> str:
  return _tree_fingerprint(path) if path.is_dir() else checksums.sha256_file(path)
