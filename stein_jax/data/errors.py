"""Errors raised by :mod:`stein_jax.data`.

Both derive from built-in exceptions so that generic handlers keep working:
``DatasetNotFoundError`` is a ``FileNotFoundError`` and ``ChecksumError`` is a
``ValueError``.
"""

from __future__ import annotations


class DatasetNotFoundError(FileNotFoundError):
  """A data set is neither in the local data directory nor reachable via TFDS.

  The message names the data set, the folder that was searched, the files that
  were expected there and how to obtain them (URL, TFDS name, env variable).
  """


class ChecksumError(ValueError):
  """A data file's SHA-256 digest differs from the known value.

  Attributes:
    path: the file that was checked.
    expected: the known SHA-256 hex digest.
    actual: the digest of the file on disk.
  """

  def __init__(self, path, expected: str, actual: str):
    self.path = path
    self.expected = expected
    self.actual = actual
    super().__init__(
      f"Checksum mismatch for data file '{path}': expected {expected}, "
      f"got {actual}. The file is corrupt, truncated or a "
      "different version; delete it and obtain it again, or pass "
      "verify=False to skip the check at your own risk."
    )
