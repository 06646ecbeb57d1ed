"""Where data and caches live: ``data_dir`` argument, env variables, defaults.

The project never assumes any particular data directory exists.  The data
directory is, in order of precedence, the explicit ``data_dir`` argument, then
the ``STEIN_JAX_DATA_DIR`` environment variable; without either, only TFDS can
provide data.  Decoded-array caches go to ``STEIN_JAX_CACHE_DIR`` or
``~/.cache/stein_jax``.
"""

from __future__ import annotations

import os
import pathlib
from typing import Optional, Union

PathLike = Union[str, os.PathLike]

ENV_DATA_DIR = "STEIN_JAX_DATA_DIR"
ENV_CACHE_DIR = "STEIN_JAX_CACHE_DIR"
DEFAULT_CACHE_DIR = "~/.cache/stein_jax"


def resolve_data_dir(data_dir: Optional[PathLike] = None) -> Optional[pathlib.Path]:
  """Returns the local data directory, or ``None`` when none is configured.

  Args:
    data_dir: explicit directory; wins over the environment.

  Returns:
    ``Path(data_dir)`` if given, else ``Path($STEIN_JAX_DATA_DIR)`` if that
    variable is set and non-empty, else ``None``.  The directory is not required
    to exist (a missing directory simply holds no data set).
  """
  if data_dir is not None:
    return pathlib.Path(data_dir).expanduser()
  env = os.environ.get(ENV_DATA_DIR, "").strip()
  if env:
    return pathlib.Path(env).expanduser()
  return None


def describe_data_dir(data_dir: Optional[PathLike] = None) -> str:
  """A human-readable account of which data directory is used and why."""
  if data_dir is not None:
    root = pathlib.Path(data_dir).expanduser()
    origin = "the data_dir argument"
  elif os.environ.get(ENV_DATA_DIR, "").strip():
    root = pathlib.Path(os.environ[ENV_DATA_DIR].strip()).expanduser()
    origin = f"${ENV_DATA_DIR}"
  else:
    return f"no local data directory (data_dir=None and ${ENV_DATA_DIR} is " "unset)"
  missing = "" if root.is_dir() else ", which does not exist"
  return f"local data directory '{root}' (from {origin}{missing})"


def cache_dir() -> pathlib.Path:
  """Directory for decoded-array caches (not created here).

  Returns:
    ``$STEIN_JAX_CACHE_DIR`` if set, else ``~/.cache/stein_jax``.
  """
  env = os.environ.get(ENV_CACHE_DIR, "").strip()
  return pathlib.Path(env or DEFAULT_CACHE_DIR).expanduser()
