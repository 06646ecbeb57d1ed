"""Tests for stein_jax.data: every format parser on tiny files written here,
checksums, error messages, TFDS plumbing (with a fake module), deterministic
batching and dynamic binarization.  Real data sets are loaded only when
STEIN_JAX_DATA_DIR is set; otherwise those tests skip with the reason.
"""

import gzip
import io
import os
import pickle
import subprocess
import sys
import types
import zipfile

import numpy as np
import pytest

from stein_jax import data
from stein_jax.data import checksums
from stein_jax.data import formats
from stein_jax.data import registry
from stein_jax.data import tfds as tfds_lib

REAL_DATA_DIR = os.environ.get("STEIN_JAX_DATA_DIR", "").strip()


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path_factory, monkeypatch):
  """Each test gets its own cache dir, no TFDS, and (unless it sets one) no
  data dir from the environment."""
  monkeypatch.setenv(data.ENV_CACHE_DIR, str(tmp_path_factory.mktemp("cache")))
  monkeypatch.delenv(data.ENV_DATA_DIR, raising=False)
  monkeypatch.setattr(tfds_lib, "tfds_available", lambda: False)
  # Tiny files written here sit at paths whose real checksums are known; only
  # tests asking for `real_checksums` see the real table.
  monkeypatch.setattr(checksums, "KNOWN_CHECKSUMS", {})


_REAL_TABLE = dict(checksums.KNOWN_CHECKSUMS)


@pytest.fixture
def real_checksums(monkeypatch):
  monkeypatch.setattr(checksums, "KNOWN_CHECKSUMS", dict(_REAL_TABLE))


# ----------------------------------------------------------------------------
# Tiny file writers.


def write_idx(path, arr, gz=True):
  arr = np.asarray(arr)
  code = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C}[arr.dtype]
  header = bytes([0, 0, code, arr.ndim]) + np.asarray(arr.shape, dtype=">u4").tobytes()
  payload = header + arr.tobytes()
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_bytes(gzip.compress(payload) if gz else payload)


def write_mnist(root, folder="mnist", n_train=10003, n_test=5, gz=True, hw=4):
  rng = np.random.default_rng(0)
  arrays = {}
  for prefix, n in (("train", n_train), ("t10k", n_test)):
    x = rng.integers(0, 256, size=(n, hw, hw), dtype=np.uint8)
    y = rng.integers(0, 10, size=n, dtype=np.uint8)
    ext = ".gz" if gz else ""
    write_idx(root / folder / f"{prefix}-images-idx3-ubyte{ext}", x, gz)
    write_idx(root / folder / f"{prefix}-labels-idx1-ubyte{ext}", y, gz)
    arrays[prefix] = (x, y)
  return arrays


def jpeg_bytes(color, size=(8, 8)):
  from PIL import Image

  buf = io.BytesIO()
  Image.new("RGB", size, tuple(int(c) for c in color)).save(buf, format="JPEG", quality=95)
  return buf.getvalue()


def png_bytes(color, size):
  from PIL import Image

  buf = io.BytesIO()
  Image.new("RGB", size, tuple(int(c) for c in color)).save(buf, format="PNG")
  return buf.getvalue()


def class_color(c):
  return (25 * c, 255 - 25 * c, 100)


def write_cifar_zip(root, per_class=2):
  path = root / "cifar10_jpeg" / "cifar10_jpeg.zip"
  path.parent.mkdir(parents=True)
  with zipfile.ZipFile(path, "w") as z:
    z.writestr("README.md", "tiny")
    # Written in reverse so the reader's sorting is what orders them.
    for split, n in (("train", per_class), ("test", 1)):
      for c, name in reversed(list(enumerate(registry.CIFAR10_CLASSES))):
        for i in reversed(range(n)):
          z.writestr(f"{split}/{name}/{i:04d}.jpg", jpeg_bytes(class_color(c)))
  return path


# ----------------------------------------------------------------------------
# Registry and options.


def test_list_datasets_has_every_required_set():
  names = data.list_datasets()
  for name in (
    "mnist",
    "binarized_mnist",
    "fashion_mnist",
    "cifar10",
    "celeb_a",
    "lsun",
    "imagenet2012",
    "20news",
    "reuters",
    "lfw_faces",
  ):
    assert name in names
  assert names == tuple(sorted(data.REGISTRY))


def test_unknown_name_and_split_and_options(tmp_path):
  with pytest.raises(KeyError, match="available: .*mnist"):
    data.load("mnits")
  with pytest.raises(ValueError, match="splits"):
    data.load("cifar10", "valid", tmp_path)
  with pytest.raises(ValueError, match="scale"):
    data.load("mnist", "test", tmp_path, scale="zero_one")
  with pytest.raises(ValueError, match="binarize"):
    data.load("mnist", "test", tmp_path, binarize="static")
  with pytest.raises(ValueError, match="scale='unit'"):
    data.load("mnist", "test", tmp_path, binarize="dynamic", scale="centered")
  with pytest.raises(ValueError, match="bag-of-words"):
    data.load("reuters", "test", tmp_path, scale="centered")
  with pytest.raises(ValueError, match="image_size must be None"):
    data.load("cifar10", "test", tmp_path, image_size=16)


def test_data_package_does_not_import_tensorflow():
  code = (
    "import sys, stein_jax.data; "
    "print(any(m.startswith(('tensorflow', 'tensorflow_datasets')) "
    "for m in sys.modules))"
  )
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
  assert out.stdout.strip() == "False"


# ----------------------------------------------------------------------------
# Parsers and layouts.


@pytest.mark.parametrize("gz", [True, False])
def test_read_idx_roundtrip(tmp_path, gz):
  x = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
  write_idx(tmp_path / "a", x, gz)
  np.testing.assert_array_equal(formats.read_idx(tmp_path / "a"), x)
  y = np.array([1, -2, 300], dtype=">i4")
  write_idx(tmp_path / "b", y, gz)
  out = formats.read_idx(tmp_path / "b")
  np.testing.assert_array_equal(out, [1, -2, 300])
  assert out.dtype.isnative


def test_read_idx_rejects_bad_files(tmp_path):
  (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
  with pytest.raises(ValueError, match="not an IDX file"):
    formats.read_idx(tmp_path / "bad")
  write_idx(tmp_path / "t", np.zeros((2, 3, 3), np.uint8), gz=False)
  (tmp_path / "t").write_bytes((tmp_path / "t").read_bytes()[:-1])
  with pytest.raises(ValueError, match="truncated or corrupt"):
    formats.read_idx(tmp_path / "t")


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_layout_splits_scales_and_flatten(tmp_path, gz):
  arrays = write_mnist(tmp_path, gz=gz)
  x_tr, y_tr = arrays["train"]
  full = data.load("mnist", "train_full", tmp_path, scale=None, flatten=False)
  assert full.x.dtype == np.uint8 and full.x.shape == (10003, 4, 4, 1)
  np.testing.assert_array_equal(full.x[..., 0], x_tr)
  np.testing.assert_array_equal(full.y, y_tr)
  assert full.y.dtype == np.int32
  train = data.load("mnist", "train", tmp_path)
  valid = data.load("mnist", "valid", tmp_path)
  assert train.x.shape == (3, 16) and valid.x.shape == (10000, 16)
  assert train.x.dtype == np.float32
  np.testing.assert_allclose(train.x, x_tr[:3].reshape(3, 16) / 255.0, rtol=1e-6)
  np.testing.assert_array_equal(valid.y, y_tr[3:])
  centered = data.load("mnist", "test", tmp_path, scale="centered")
  x_te = arrays["t10k"][0].reshape(5, 16)
  np.testing.assert_allclose(centered.x, x_te / 127.5 - 1.0, atol=1e-6)
  assert centered.x.min() >= -1 and centered.x.max() <= 1
  assert train.info["source"] == "local"
  assert train.info["image_shape"] == (4, 4, 1)
  assert train.info["num_classes"] == 10


def test_mnist_train_split_needs_more_than_valid_size(tmp_path):
  write_mnist(tmp_path, n_train=20)
  with pytest.raises(ValueError, match="train_full"):
    data.load("mnist", "train", tmp_path)
  assert data.load("mnist", "train_full", tmp_path).num_examples == 20


def test_fashion_mnist_layout(tmp_path):
  write_mnist(tmp_path, folder="fashion_mnist", n_train=10001)
  ds = data.load("fashion_mnist", "test", tmp_path, flatten=False)
  assert ds.x.shape == (5, 4, 4, 1)
  assert ds.info["class_names"][9] == "ankle boot"


def test_max_examples(tmp_path):
  write_mnist(tmp_path)
  ds = data.load("mnist", "valid", tmp_path, max_examples=7)
  assert ds.x.shape == (7, 16) and ds.y.shape == (7,)


def test_env_var_gives_data_dir(tmp_path, monkeypatch):
  write_mnist(tmp_path, n_train=10001)
  monkeypatch.setenv(data.ENV_DATA_DIR, str(tmp_path))
  assert data.load("mnist", "test").num_examples == 5
  # An explicit data_dir wins over the environment.
  with pytest.raises(data.DatasetNotFoundError):
    data.load("mnist", "test", tmp_path / "elsewhere")


def test_binarized_mnist_npz_and_amat(tmp_path, real_checksums):
  rng = np.random.default_rng(1)
  splits = {s: rng.integers(0, 2, size=(n, 784), dtype=np.uint8) for s, n in (("train", 5), ("valid", 3), ("test", 2))}
  folder = tmp_path / "npz" / "binarized_mnist"
  folder.mkdir(parents=True)
  np.savez(folder / "binarized_mnist_uint8.npz", **splits)
  # The tiny file is not the real one: its checksum is known and differs.
  with pytest.raises(data.ChecksumError):
    data.load("binarized_mnist", "valid", tmp_path / "npz")
  ds = data.load("binarized_mnist", "valid", tmp_path / "npz", verify=False)
  assert ds.x.shape == (3, 784) and ds.y is None
  np.testing.assert_array_equal(ds.x, splits["valid"].astype(np.float32))
  raw = data.load("binarized_mnist", "test", tmp_path / "npz", scale=None, flatten=False, verify=False)
  assert raw.x.dtype == np.uint8 and raw.x.shape == (2, 28, 28, 1)
  centered = data.load("binarized_mnist", "test", tmp_path / "npz", scale="centered", verify=False)
  assert set(np.unique(centered.x)) <= {-1.0, 1.0}

  amat = tmp_path / "amat" / "binarized_mnist"
  amat.mkdir(parents=True)
  for s, x in splits.items():
    (amat / f"binarized_mnist_{s}.amat").write_text("\n".join(" ".join(str(v) for v in row) for row in x) + "\n")
  ds2 = data.load("binarized_mnist", "train", tmp_path / "amat")
  np.testing.assert_array_equal(ds2.x, splits["train"].astype(np.float32))


NVDM_TEXT = (
  "3 1:2 4:1 1:1\n"  # repeated id summed
  "1 \n"  # label only: empty, dropped
  "2 2:5\n"
)
VOCAB_TEXT = "alpha 10\nbeta 3\ngamma 0\ndelta 1\n"


def test_read_bow_and_vocab(tmp_path):
  (tmp_path / "v").write_text(VOCAB_TEXT)
  (tmp_path / "f").write_text(NVDM_TEXT)
  vocab = formats.read_vocab(tmp_path / "v")
  assert vocab == ("alpha", "beta", "gamma", "delta")
  bow = formats.read_bow(tmp_path / "f", len(vocab))
  np.testing.assert_array_equal(bow.counts, [[3, 0, 0, 1], [0, 0, 0, 0], [0, 5, 0, 0]])
  np.testing.assert_array_equal(bow.labels, [3, 1, 2])
  np.testing.assert_array_equal(bow.nonempty, [True, False, True])
  (tmp_path / "g").write_text("1:1 5:2\n")
  with pytest.raises(ValueError, match=r"line 1: word id 5 is outside \[1, 4\]"):
    formats.read_bow(tmp_path / "g", 4)
  (tmp_path / "h").write_text("1:1 x:2\n")
  with pytest.raises(ValueError, match="malformed"):
    formats.read_bow(tmp_path / "h", 4)


def test_20news_and_nvdm_layouts(tmp_path):
  for folder, vocab in (("20news", "vocab.new"), ("20news_nvdm", "vocab.new")):
    (tmp_path / folder).mkdir()
    (tmp_path / folder / vocab).write_text(VOCAB_TEXT)
    for split in ("train", "test"):
      (tmp_path / folder / f"{split}.feat").write_text(NVDM_TEXT)
  news = data.load("20news", "train", tmp_path, verify=False)
  assert news.x.shape == (2, 4) and news.x.dtype == np.float32
  assert news.y is None  # the 20news labels are placeholders
  assert news.vocab == ("alpha", "beta", "gamma", "delta")
  assert news.info["num_documents_raw"] == 3 and news.info["num_dropped"] == 1
  nvdm = data.load("20news_nvdm", "test", tmp_path)
  np.testing.assert_array_equal(nvdm.y, [2, 1])  # 1-based labels -> 0-based
  assert data.load("20news", "test", tmp_path, scale=None, verify=False).x.sum() == 9


def test_nvdm_test_only_folder(tmp_path):
  folder = tmp_path / "20news_nvdm_test"
  folder.mkdir()
  (folder / "vocab.new").write_text(VOCAB_TEXT)
  (folder / "test.feat").write_text(NVDM_TEXT)
  assert data.load("20news_nvdm", "test", tmp_path, verify=False).num_examples == 2
  with pytest.raises(data.DatasetNotFoundError):
    data.load("20news_nvdm", "train", tmp_path)


def test_reuters_layout_drops_blank_lines(tmp_path):
  folder = tmp_path / "reuters"
  folder.mkdir()
  (folder / "reuters.vocab").write_text(VOCAB_TEXT)
  (folder / "train.feat").write_text("1:1 2:2 \n\n4:7 \n")
  ds = data.load("reuters", "train", tmp_path, verify=False)
  np.testing.assert_array_equal(ds.x, [[1, 2, 0, 0], [0, 0, 0, 7]])
  assert ds.y is None and ds.info["num_dropped"] == 1


def test_cifar10_jpeg_zip_is_decoded_once_and_cached(tmp_path, monkeypatch):
  write_cifar_zip(tmp_path)
  ds = data.load("cifar10", "train", tmp_path, scale=None, verify=False)
  assert ds.x.shape == (20, 8, 8, 3) and ds.x.dtype == np.uint8
  np.testing.assert_array_equal(ds.y, np.repeat(np.arange(10), 2))
  for c in range(10):  # solid colours survive JPEG almost exactly
    assert np.abs(ds.x[2 * c].astype(int) - class_color(c)).max() <= 3
  cached = list(data.cache_dir().glob("cifar10_jpeg-train-*.npz"))
  assert len(cached) == 1
  test = data.load("cifar10", "test", tmp_path, verify=False)
  assert test.x.shape == (10, 8, 8, 3) and test.x.dtype == np.float32
  assert test.x.max() <= 1.0
  assert len(list(data.cache_dir().glob("cifar10_jpeg-*.npz"))) == 2

  def no_decoding(*args, **kwargs):
    raise AssertionError("decoded again despite the cache")

  monkeypatch.setattr(formats, "read_image_tree", no_decoding)
  again = data.load("cifar10", "train", tmp_path, scale=None, verify=False)
  np.testing.assert_array_equal(again.x, ds.x)
  np.testing.assert_array_equal(again.y, ds.y)


def test_cifar10_zip_checksum_is_enforced(tmp_path, real_checksums):
  write_cifar_zip(tmp_path, per_class=1)
  with pytest.raises(data.ChecksumError, match="cifar10_jpeg.zip"):
    data.load("cifar10", "test", tmp_path)


def test_cifar10_pickle_batches(tmp_path):
  folder = tmp_path / "cifar-10-batches-py"
  folder.mkdir()
  rng = np.random.default_rng(2)
  expected = []
  for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
    flat = rng.integers(0, 256, size=(2, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, size=2)]
    with open(folder / name, "wb") as f:
      pickle.dump({b"data": flat, b"labels": labels}, f)
    expected.append((flat, labels))
  ds = data.load("cifar10", "train", tmp_path, scale=None)
  assert ds.x.shape == (10, 32, 32, 3)
  first = expected[0][0][0].reshape(3, 32, 32).transpose(1, 2, 0)
  np.testing.assert_array_equal(ds.x[0], first)
  np.testing.assert_array_equal(ds.y[:2], expected[0][1])
  assert data.load("cifar10", "test", tmp_path).num_examples == 2


def test_generic_npz_layout_with_resize(tmp_path):
  folder = tmp_path / "celeb_a"
  folder.mkdir()
  x = np.full((3, 20, 16, 3), 200, np.uint8)
  np.savez(folder / "validation.npz", x=x)  # 'validation' is an alias of valid
  ds = data.load("celeb_a", "valid", tmp_path, image_size=8, scale=None)
  assert ds.x.shape == (3, 8, 8, 3) and ds.y is None
  assert np.abs(ds.x.astype(int) - 200).max() <= 1
  np.savez(folder / "test.npz", x=np.zeros((2, 5, 5), np.uint8), y=np.array([1, 0]))
  t = data.load("celeb_a", "test", tmp_path, image_size=5)
  assert t.x.shape == (2, 5, 5, 1)
  np.testing.assert_array_equal(t.y, [1, 0])


def test_image_folder_layout_resizes_mixed_sizes(tmp_path):
  folder = tmp_path / "lsun" / "train"
  folder.mkdir(parents=True)
  (folder / "b.png").write_bytes(png_bytes((0, 0, 255), (30, 20)))
  (folder / "a.png").write_bytes(png_bytes((255, 0, 0), (12, 18)))
  (folder / "notes.txt").write_text("ignored")
  ds = data.load("lsun", "train", tmp_path, image_size=6, scale=None)
  assert ds.x.shape == (2, 6, 6, 3) and ds.y is None
  np.testing.assert_array_equal(ds.x[0, 0, 0], [255, 0, 0])  # sorted by name
  np.testing.assert_array_equal(ds.x[1, 0, 0], [0, 0, 255])
  with pytest.raises(data.DatasetNotFoundError):
    data.load("lsun", "valid", tmp_path)


def test_image_zip_layout_with_classes_and_val_alias(tmp_path):
  folder = tmp_path / "imagenet2012"
  folder.mkdir()
  with zipfile.ZipFile(folder / "imagenet2012.zip", "w") as z:
    z.writestr("val/n02/x.png", png_bytes((0, 255, 0), (10, 10)))
    z.writestr("val/n01/y.png", png_bytes((255, 0, 0), (10, 10)))
  ds = data.load("imagenet2012", "valid", tmp_path, image_size=4, scale=None)
  assert ds.x.shape == (2, 4, 4, 3)
  np.testing.assert_array_equal(ds.y, [0, 1])
  assert ds.info["class_names"] == ("n01", "n02")
  np.testing.assert_array_equal(ds.x[0, 0, 0], [255, 0, 0])


def test_celeba_original_layout(tmp_path):
  folder = tmp_path / "celeb_a"
  (folder / "img_align_celeba").mkdir(parents=True)
  for i, split in enumerate([0, 0, 1, 2], 1):
    (folder / "img_align_celeba" / f"{i:06d}.jpg").write_bytes(jpeg_bytes((10 * i, 0, 0), size=(178, 218)))
  (folder / "list_eval_partition.txt").write_text("000001.jpg 0\n000002.jpg 0\n000003.jpg 1\n000004.jpg 2\n")
  ds = data.load("celeb_a", "train", tmp_path, image_size=16)
  assert ds.x.shape == (2, 16, 16, 3)
  assert data.load("celeb_a", "test", tmp_path).x.shape == (1, 64, 64, 3)


def test_lfw_faces_layout(tmp_path):
  (tmp_path / "faces").mkdir()
  x = np.random.default_rng(3).random((6, 25, 25))
  np.save(tmp_path / "faces" / "lfw_subset.npy", x)
  ds = data.load("lfw_faces", "train", tmp_path, verify=False)
  assert ds.x.shape == (6, 25, 25, 1) and ds.x.dtype == np.float32
  np.testing.assert_array_equal(ds.y, [1, 1, 1, 0, 0, 0])
  np.testing.assert_allclose(ds.x[..., 0], x, rtol=1e-6)
  raw = data.load("lfw_faces", "train", tmp_path, verify=False, scale=None)
  assert raw.x.dtype == np.float64


# ----------------------------------------------------------------------------
# Checksums.


def test_checksum_mismatch_names_file_expected_and_actual(tmp_path, monkeypatch):
  write_mnist(tmp_path, n_train=10001)
  rel = "mnist/t10k-images-idx3-ubyte.gz"
  good = checksums.sha256_file(tmp_path / rel)
  monkeypatch.setitem(checksums.KNOWN_CHECKSUMS, rel, ("sha256:" + "0" * 64,))
  with pytest.raises(data.ChecksumError) as err:
    data.load("mnist", "test", tmp_path)
  msg = str(err.value)
  assert rel in msg and "0" * 64 in msg and good in msg
  assert err.value.actual == "sha256:" + good
  assert isinstance(err.value, ValueError)
  assert data.load("mnist", "test", tmp_path, verify=False).num_examples == 5
  monkeypatch.setitem(checksums.KNOWN_CHECKSUMS, rel, ("sha256:" + good,))
  assert data.load("mnist", "test", tmp_path).num_examples == 5
  md5 = checksums.file_digests(tmp_path / rel)["md5"]
  monkeypatch.setitem(checksums.KNOWN_CHECKSUMS, rel, ("sha256:" + "1" * 64, "md5:" + md5))
  assert data.load("mnist", "test", tmp_path).num_examples == 5


def test_checksum_is_computed_once_per_file(tmp_path, monkeypatch):
  write_mnist(tmp_path, n_train=10001)
  rel = "mnist/t10k-labels-idx1-ubyte.gz"
  checksums.clear_cache()
  monkeypatch.setitem(checksums.KNOWN_CHECKSUMS, rel, ("sha256:" + checksums.sha256_file(tmp_path / rel),))
  checksums.clear_cache()
  calls = []
  real_new = checksums.hashlib.new
  monkeypatch.setattr(checksums.hashlib, "new", lambda name: calls.append(name) or real_new(name))
  for _ in range(3):
    data.load("mnist", "test", tmp_path)
  assert calls.count("sha256") == 1
  # A file replaced on disk is hashed again.
  path = tmp_path / rel
  os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
  data.load("mnist", "test", tmp_path)
  assert calls.count("sha256") == 2


def test_known_checksums_cover_the_shared_sha256sums(real_checksums):
  # The values of /work/shared/data/SHA256SUMS are embedded (not read).
  assert checksums.KNOWN_CHECKSUMS["binarized_mnist/binarized_mnist_uint8.npz"][0] == (
    "sha256:7a049ae3a0d88e964af4b41bbdb14e4303595e1c5de65f8bd2455cdcebb3514b"
  )
  for rel, sums in checksums.KNOWN_CHECKSUMS.items():
    for s in sums:
      algo, hexdigest = s.split(":")
      assert len(hexdigest) == {"sha256": 64, "md5": 32}[algo], rel


# ----------------------------------------------------------------------------
# Errors for missing data, and the TFDS path.


def test_missing_files_error_names_folder_files_and_remedies(tmp_path):
  with pytest.raises(data.DatasetNotFoundError) as err:
    data.load("mnist", "train", tmp_path)
  assert isinstance(err.value, FileNotFoundError)
  msg = str(err.value)
  assert str(tmp_path) in msg
  assert "mnist/train-images-idx3-ubyte.gz" in msg
  assert "mnist/train-labels-idx1-ubyte.gz" in msg
  assert "https://" in msg and "'mnist'" in msg  # URL and TFDS name
  assert "tensorflow-datasets" in msg and data.ENV_DATA_DIR in msg


def test_missing_data_dir_error_without_env(tmp_path):
  with pytest.raises(data.DatasetNotFoundError, match="STEIN_JAX_DATA_DIR is unset"):
    data.load("reuters", "test")
  with pytest.raises(data.DatasetNotFoundError, match="does not exist"):
    data.load("reuters", "test", tmp_path / "nope")
  with pytest.raises(data.DatasetNotFoundError, match="TFDS has no copy"):
    data.load("20news", "test", tmp_path)


def _fake_tfds(monkeypatch, n=12, fail=False):
  calls = []
  module = types.ModuleType("tensorflow_datasets")

  def load(name, split, shuffle_files):
    calls.append((name, split, shuffle_files))
    if fail:
      raise RuntimeError("no network")
    rng = np.random.default_rng(4)
    return [{"image": rng.integers(0, 256, (28, 28, 1), dtype=np.uint8), "label": np.int64(i % 10)} for i in range(n)]

  module.load = load
  module.as_numpy = lambda ds: iter(ds)
  monkeypatch.setitem(sys.modules, "tensorflow_datasets", module)
  monkeypatch.setattr(tfds_lib, "tfds_available", lambda: True)
  monkeypatch.setattr(tfds_lib, "tensorflow_available", lambda: True)  # the tfds.load reader
  return calls


def test_tfds_fallback_maps_splits(tmp_path, monkeypatch):
  calls = _fake_tfds(monkeypatch)
  ds = data.load("mnist", "valid", tmp_path, max_examples=5)
  assert calls == [("mnist", "train[-10000:]", False)]
  assert ds.x.shape == (5, 784) and ds.info["source"] == "tfds"
  np.testing.assert_array_equal(ds.y, [0, 1, 2, 3, 4])
  lsun = data.load("lsun", "train", tmp_path, image_size=8, max_examples=3, scale=None)
  assert calls[-1] == ("lsun/bedroom", "train", False)
  assert lsun.x.shape == (3, 8, 8, 1) and lsun.x.dtype == np.uint8
  write_mnist(tmp_path, n_train=10001)  # local files win when present
  assert data.load("mnist", "test", tmp_path).info["source"] == "local"
  assert data.load("mnist", "test", tmp_path, source="tfds").info["source"] == "tfds"


@pytest.mark.parametrize(
  "name, shape, labelled", [("mnist", (784,), True), ("binarized_mnist", (784,), False), ("cifar10", (32, 32, 3), True)]
)
def test_real_tfds_without_tensorflow_through_its_own_mock(tmp_path, monkeypatch, name, shape, labelled):
  """The TFDS path offline, with TFDS's own mock data and its TensorFlow-free reader (tfds.data_source)."""
  tfds = pytest.importorskip("tensorflow_datasets")
  monkeypatch.setattr(tfds_lib, "tfds_available", lambda: True)
  if tfds_lib.tensorflow_available():
    pytest.skip("TensorFlow is installed: tfds.load is used instead of tfds.data_source")
  with tfds.testing.mock_data(num_examples=6):
    ds = data.load(name, "train", tmp_path, max_examples=4, scale=None)
  assert ds.info["source"] == "tfds" and ds.info["tfds_name"] == name
  assert ds.x.shape == (4,) + shape and ds.x.dtype == np.uint8
  assert (ds.y is not None) == labelled


def test_tfds_failure_is_reported(tmp_path, monkeypatch):
  _fake_tfds(monkeypatch, fail=True)
  with pytest.raises(data.DatasetNotFoundError, match="no network"):
    data.load("celeb_a", "train", tmp_path)


# ----------------------------------------------------------------------------
# Batching.


def _toy(n=23):
  return {"x": np.arange(n * 2, dtype=np.float32).reshape(n, 2), "y": np.arange(n, dtype=np.int32)}


def test_batch_is_a_pure_function_of_seed_and_step():
  b1 = data.Batcher(_toy(), batch_size=5, seed=7)
  b2 = data.Batcher(_toy(), batch_size=5, seed=7)
  for step in (0, 3, 4, 17, 4, 0):  # any order, fresh object: same batch
    for k in ("x", "y"):
      np.testing.assert_array_equal(b1.batch(step)[k], b2.batch(step)[k])
  other = data.Batcher(_toy(), batch_size=5, seed=8)
  assert any(not np.array_equal(b1.batch(s)["y"], other.batch(s)["y"]) for s in range(4))
  assert not np.array_equal(b1.batch(0)["y"], b1.batch(4)["y"])  # epochs differ


def test_batcher_follows_documented_permutation():
  b = data.Batcher(_toy(), batch_size=5, seed=3)
  assert b.steps_per_epoch == 4
  for step in range(10):
    epoch, k = divmod(step, 4)
    perm = np.random.default_rng([3, epoch]).permutation(23)
    np.testing.assert_array_equal(b.batch(step)["y"], perm[5 * k : 5 * k + 5])
    np.testing.assert_array_equal(b.batch(step)["x"][:, 0], 2 * perm[5 * k : 5 * k + 5])


def test_resume_from_step_k_equals_continuing():
  full = list(data.Batcher(_toy(), 4, seed=11).iterate(0, num_steps=20))
  resumed = list(data.Batcher(_toy(), 4, seed=11).iterate(7, num_steps=13))
  assert len(resumed) == 13
  for a, b in zip(full[7:], resumed):
    np.testing.assert_array_equal(a["y"], b["y"])
  stream = data.Batcher(_toy(), 4, seed=11).iterate(5)
  for step in range(5, 9):
    np.testing.assert_array_equal(next(stream)["y"], full[step]["y"])


def test_epochs_cover_each_example_once():
  b = data.Batcher(_toy(), 5, seed=0, drop_remainder=False)
  assert b.steps_per_epoch == 5
  for epoch in range(2):
    ys = np.concatenate([b.batch(epoch * 5 + k)["y"] for k in range(5)])
    assert sorted(ys.tolist()) == list(range(23))
  assert b.batch(4)["y"].shape == (3,)
  dropped = data.Batcher(_toy(), 5, seed=0)
  assert all(dropped.batch(s)["y"].shape == (5,) for s in range(8))
  seq = data.Batcher(_toy(), 5, seed=0, shuffle=False)
  np.testing.assert_array_equal(seq.batch(5)["y"], [5, 6, 7, 8, 9])


def test_batcher_accepts_dataset_and_array(tmp_path):
  write_mnist(tmp_path, n_train=10001)
  ds = data.load("mnist", "test", tmp_path)
  batch = data.Batcher(ds, 2, seed=0).batch(1)
  assert batch["x"].shape == (2, 16) and batch["y"].shape == (2,)
  only_x = data.Batcher(np.zeros((6, 3)), 3, seed=0).batch(0)
  assert set(only_x) == {"x"}


def test_batcher_validates_arguments():
  with pytest.raises(ValueError, match="seed"):
    data.Batcher(_toy(), 5, seed=-1)
  with pytest.raises(ValueError, match="batch_size"):
    data.Batcher(_toy(), 0, seed=0)
  with pytest.raises(ValueError, match="exceeds"):
    data.Batcher(_toy(), 24, seed=0)
  with pytest.raises(ValueError, match="leading"):
    data.Batcher({"x": np.zeros(3), "y": np.zeros(4)}, 1, seed=0)
  with pytest.raises(ValueError, match="step"):
    data.Batcher(_toy(), 5, seed=0).batch(-1)
  with pytest.raises(ValueError, match="probabilities"):
    data.Batcher({"x": np.full((4, 2), 3.0)}, 2, seed=0, binarize="dynamic")


def test_dynamic_binarization_is_deterministic_and_fresh_each_step():
  p = np.full((400, 50), 0.3, np.float32)
  b = data.Batcher({"x": p}, 200, seed=5, binarize="dynamic")
  x0 = b.batch(0)["x"]
  assert x0.dtype == np.float32 and set(np.unique(x0)) <= {0.0, 1.0}
  np.testing.assert_array_equal(x0, data.Batcher({"x": p}, 200, seed=5, binarize="dynamic").batch(0)["x"])
  assert abs(x0.mean() - 0.3) < 0.01
  assert not np.array_equal(x0, b.batch(2)["x"])  # same examples, new sample
  assert not np.array_equal(x0, data.Batcher({"x": p}, 200, seed=6, binarize="dynamic").batch(0)["x"])
  np.testing.assert_array_equal(x0, data.binarize_dynamic(p[:200], 5, 0))
  ends = data.Batcher({"x": np.tile([0.0, 1.0], (4, 1)).astype(np.float32)}, 4, seed=0, binarize="dynamic").batch(3)[
    "x"
  ]
  np.testing.assert_array_equal(ends, np.tile([0.0, 1.0], (4, 1)))


def test_load_binarize_dynamic_feeds_the_batcher(tmp_path):
  write_mnist(tmp_path, n_train=10001)
  ds = data.load("mnist", "test", tmp_path, binarize="dynamic")
  assert ds.info["binarize"] == "dynamic"
  assert 0.0 < ds.x.max() <= 1.0 and len(np.unique(ds.x)) > 2  # not binarized
  b = data.Batcher(ds, 5, seed=1, shuffle=False)
  x = b.batch(0)["x"]
  assert set(np.unique(x)) <= {0.0, 1.0}
  np.testing.assert_array_equal(x, data.binarize_dynamic(ds.x, 1, 0))
  plain = data.Batcher(data.load("mnist", "test", tmp_path), 5, seed=1, shuffle=False)
  assert len(np.unique(plain.batch(0)["x"])) > 2


# ----------------------------------------------------------------------------
# Real data sets (only with STEIN_JAX_DATA_DIR set).

needs_real = pytest.mark.skipif(
  not REAL_DATA_DIR,
  reason="real data sets not configured: set STEIN_JAX_DATA_DIR to a data "
  "directory (e.g. one laid out like /work/shared/data) to run these",
)


@needs_real
@pytest.mark.parametrize(
  "name,split,n,shape",
  [
    ("mnist", "train", 50000, (784,)),
    ("mnist", "valid", 10000, (784,)),
    ("mnist", "train_full", 60000, (784,)),
    ("mnist", "test", 10000, (784,)),
    ("binarized_mnist", "train", 50000, (784,)),
    ("binarized_mnist", "valid", 10000, (784,)),
    ("binarized_mnist", "test", 10000, (784,)),
    ("lfw_faces", "train", 200, (25, 25, 1)),
  ],
)
def test_real_image_counts(name, split, n, shape, real_checksums):
  ds = data.load(name, split, REAL_DATA_DIR)
  assert ds.x.shape == (n,) + shape and ds.x.dtype == np.float32
  assert 0.0 <= ds.x.min() and ds.x.max() <= 1.0
  if name == "binarized_mnist":
    assert set(np.unique(ds.x)) == {0.0, 1.0}
  if name == "mnist":
    assert set(np.unique(ds.y)) == set(range(10))


@needs_real
@pytest.mark.parametrize(
  "name,split,raw,kept,vocab",
  [
    # 20news: MANIFEST counts 11,258 / 7,487 documents; each file ends with
    # one extra line without counts, which is dropped.
    ("20news", "train", 11259, 11258, 1995),
    ("20news", "test", 7488, 7487, 1995),
    # Reuters: 7,769 / 3,019 lines, of which 11 / 14 are blank.
    ("reuters", "train", 7769, 7758, 2000),
    ("reuters", "test", 3019, 3005, 2000),
    ("20news_nvdm", "test", 7505, 7505, 2000),
  ],
)
def test_real_bow_counts(name, split, raw, kept, vocab, real_checksums):
  ds = data.load(name, split, REAL_DATA_DIR)
  assert ds.info["num_documents_raw"] == raw
  assert ds.x.shape == (kept, vocab) and len(ds.vocab) == vocab
  assert (ds.x.sum(1) > 0).all()
  if name == "20news":
    assert ds.vocab[0] == "_eos_" and ds.x[:, 0].sum() == 0
  if name == "20news_nvdm":
    assert set(np.unique(ds.y)) == set(range(20))


@needs_real
def test_real_cifar10_test_split(real_checksums):
  ds = data.load("cifar10", "test", REAL_DATA_DIR, scale=None)  # ~4 s decode
  assert ds.x.shape == (10000, 32, 32, 3) and ds.x.dtype == np.uint8
  np.testing.assert_array_equal(np.bincount(ds.y), [1000] * 10)
  again = data.load("cifar10", "test", REAL_DATA_DIR, scale=None)  # cached
  np.testing.assert_array_equal(again.x, ds.x)


@needs_real
@pytest.mark.slow
def test_real_cifar10_train_split(real_checksums):
  ds = data.load("cifar10", "train", REAL_DATA_DIR, scale=None)  # ~17 s
  assert ds.x.shape == (50000, 32, 32, 3)
  np.testing.assert_array_equal(np.bincount(ds.y), [5000] * 10)
