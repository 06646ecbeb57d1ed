"""Known checksums of data files, and a per-process cached verifier.

Each data file with a known digest is hashed at most once per process (the
result is cached on the file's resolved path, size and modification time, so a
file replaced on disk is hashed again).  A mismatch raises
:class:`~stein_jax.data.errors.ChecksumError` naming the file, the expected and
the actual digest.  Files without an entry in :data:`KNOWN_CHECKSUMS` (for
example an ``.npz`` you exported yourself) are accepted unchecked.

Digests are written ``"<algorithm>:<hex>"``.  A file may have several accepted
digests: the SHA-256 of the copies in the project's shared data folder (its
``SHA256SUMS``) and, where the originals are published with an MD5 only (the
MNIST and Fashion-MNIST ``.gz`` files), that MD5, so that both a fresh download
and the shared copy pass.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import threading
from typing import Dict, Iterable, Tuple

from stein_jax.data.errors import ChecksumError

# Keys are paths relative to the data directory, with '/' separators.
KNOWN_CHECKSUMS: Dict[str, Tuple[str, ...]] = {
  # MNIST. sha256: the shared copies (re-gzipped, same decompressed bytes);
  # md5: the files at yann.lecun.com / storage.googleapis.com/cvdf-datasets.
  "mnist/train-images-idx3-ubyte.gz": (
    "sha256:0b367032e93c5d0cea0925647cfdb18614af8ee15f83e6f2fc2ad904a6835971",
    "md5:f68b3c2dcbeaaa9fbdd348bbdeb94873",
  ),
  "mnist/train-labels-idx1-ubyte.gz": (
    "sha256:1787548bbe0bff1ec2ecdc0ef292b02df999e2d1a6002d27500982c652b17203",
    "md5:d53e105ee54ea40749a09fcbcd1e9432",
  ),
  "mnist/t10k-images-idx3-ubyte.gz": (
    "sha256:1a1a05eab793c14bb050b398624a11b0ffd1a2953baed553b1b9bd079e2a20be",
    "md5:9fb629c4189551a2d022fa330f9573f3",
  ),
  "mnist/t10k-labels-idx1-ubyte.gz": (
    "sha256:b91679a0acfe4ba0e50a2437a903084cba1f5f92592b016a25a7dfd00455798b",
    "md5:ec29112dd5afa0611ce80d1b7f02629c",
  ),
  # Fashion-MNIST. sha256: Debian package dataset-fashion-mnist
  # 0.0~git20200523.55506a9-1 (re-gzipped); md5: the official zalando files.
  "fashion_mnist/train-images-idx3-ubyte.gz": (
    "sha256:b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
    "md5:8d4fb7e6c68d591d4c3dfef9ec88bf0d",
  ),
  "fashion_mnist/train-labels-idx1-ubyte.gz": (
    "sha256:0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
    "md5:25c81989df183df01b3e8a0aad5dffbe",
  ),
  "fashion_mnist/t10k-images-idx3-ubyte.gz": (
    "sha256:cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
    "md5:bef4ecab320f06d8554ea6380940ec79",
  ),
  "fashion_mnist/t10k-labels-idx1-ubyte.gz": (
    "sha256:8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
    "md5:bb300cfdad3c16e7a12e480ee83cd310",
  ),
  "binarized_mnist/binarized_mnist_uint8.npz": (
    "sha256:7a049ae3a0d88e964af4b41bbdb14e4303595e1c5de65f8bd2455cdcebb3514b",
  ),
  "20news/train.feat": ("sha256:6c4b612d03bb54c68c923ae7b689398c4a7bd1046b0874332dfe0a0c42830143",),
  "20news/test.feat": ("sha256:5e5beaff3c66affeb08aeefb69e40e3e1c52360cdad2df03e7df2ecb6b79fad0",),
  "20news/vocab.new": ("sha256:75594f361e317a8c8fafca9846e903143ff25bb57ac4207ff850ef4245eb94bb",),
  "20news_nvdm_test/test.feat": ("sha256:344eff7e61116d72abd6ebc3d3c1e286c0474b41bf85ab09c8b898e0a5ff80c1",),
  "20news_nvdm_test/vocab.new": ("sha256:afbe73140a0d39578e6ae33914e049e6587768c088a0501392afda20ca3c85a8",),
  "reuters/reuters.vocab": ("sha256:a2f6acd8d3e6746426beb24b003a223fa2a49c964a08ab56aa4da4258fec72a2",),
  "reuters/train.feat": ("sha256:27e9abefff3a25494cbd29d04b8566debb96c55b76c96e6376e70b6a99a66128",),
  "reuters/test.feat": ("sha256:a847a75c63e12e1840633528ef1b457fff7a1c9284c01a77d29deafcaf36bec6",),
  "cifar10_jpeg/cifar10_jpeg.zip": ("sha256:5c27db1d59e0ad79655b188f007b06566766d8563389ddee1b1984f8b219707f",),
  "faces/lfw_subset.npy": ("sha256:9560ec2f5edfac01973f63a8a99d00053fecd11e21877e18038fbe500f8e872c",),
}

_ALGORITHMS = ("sha256", "md5")
_lock = threading.Lock()
# (resolved path, size, mtime_ns) -> {"sha256": hex, "md5": hex}
_digest_cache: Dict[Tuple[str, int, int], Dict[str, str]] = {}


def _file_key(path: pathlib.Path) -> Tuple[str, int, int]:
  st = os.stat(path)
  return (str(pathlib.Path(path).resolve()), st.st_size, st.st_mtime_ns)


def file_digests(path: os.PathLike) -> Dict[str, str]:
  """SHA-256 and MD5 of a file, computed in one pass and cached per process.

  Args:
    path: the file.

  Returns:
    ``{"sha256": hex, "md5": hex}``.
  """
  key = _file_key(pathlib.Path(path))
  with _lock:
    cached = _digest_cache.get(key)
  if cached is not None:
    return cached
  hashers = {name: hashlib.new(name) for name in _ALGORITHMS}
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      for h in hashers.values():
        h.update(block)
  digests = {name: h.hexdigest() for name, h in hashers.items()}
  with _lock:
    _digest_cache[key] = digests
  return digests


def sha256_file(path: os.PathLike) -> str:
  """The SHA-256 hex digest of a file (cached per process)."""
  return file_digests(path)["sha256"]


def verify_file(path: os.PathLike, expected: Iterable[str]) -> None:
  """Checks a file against accepted digests.

  Args:
    path: the file.
    expected: accepted digests, each ``"sha256:<hex>"`` or ``"md5:<hex>"``
      (a bare hex string is taken as SHA-256).  The file passes if it matches
      any of them.

  Raises:
    ChecksumError: if it matches none.
    ValueError: if a digest names an unsupported algorithm.
  """
  expected = tuple(expected)
  digests = file_digests(path)
  for item in expected:
    algo, _, hexdigest = item.rpartition(":")
    algo = algo or "sha256"
    if algo not in digests:
      raise ValueError(f"Unsupported checksum algorithm '{algo}' in '{item}'; " f"use one of {_ALGORITHMS}.")
    if digests[algo] == hexdigest.lower():
      return
  raise ChecksumError(path, " or ".join(expected), "sha256:" + digests["sha256"])


def verify_known(root: os.PathLike, relpath: str) -> bool:
  """Verifies ``root/relpath`` if :data:`KNOWN_CHECKSUMS` has an entry for it.

  Args:
    root: the data directory.
    relpath: path relative to ``root`` with '/' separators.

  Returns:
    True if the file was checked (and passed), False if no digest is known.

  Raises:
    ChecksumError: if the file's digest is known and differs.
  """
  expected = KNOWN_CHECKSUMS.get(relpath)
  if expected is None:
    return False
  verify_file(pathlib.Path(root) / relpath, expected)
  return True


def clear_cache() -> None:
  """Forgets all cached digests (for tests)."""
  with _lock:
    _digest_cache.clear()


def array_fingerprint(*arrays) -> str:
  """A short SHA-256 (16 hex digits) of arrays' shapes, dtypes and bytes.

  The key of cached classifiers (``stein_jax.evaluation``) and the training-data checksum a run records in its
  ``run.json`` (``stein_jax.train``).
  """
  import numpy as np  # pylint: disable=g-import-not-at-top

  h = hashlib.sha256()
  for a in arrays:
    a = np.ascontiguousarray(np.asarray(a))
    h.update(str((a.shape, a.dtype.str)).encode())
    h.update(a.tobytes())
  return h.hexdigest()[:16]
