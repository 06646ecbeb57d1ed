"""The catalogue: the named data sets, one :class:`~stein_jax.data.spec.DatasetSpec` each.

Belongs here: :data:`REGISTRY` and its entries (splits, layouts, TFDS names,
shapes, class names, how-to-obtain text), and the look-ups
:func:`list_datasets` / :func:`get_spec`.  Readers and layouts come from
:mod:`stein_jax.data.layouts`, the loading itself is
:mod:`stein_jax.data.loading`.

Adding a data set is one ``_add(DatasetSpec(...))`` entry in this module,
built from the layouts of :mod:`stein_jax.data.layouts` (a data set in a new
on-disk format also needs its layout added there).
"""

from __future__ import annotations

from typing import Dict, Tuple

from stein_jax.data.layouts import CIFAR10_CLASSES
from stein_jax.data.layouts import MNIST_VALID_SIZE
from stein_jax.data.layouts import _amat_read
from stein_jax.data.layouts import _binarized_npz_read
from stein_jax.data.layouts import _bow_layout
from stein_jax.data.layouts import _celeba_original_read
from stein_jax.data.layouts import _cifar_jpeg_read
from stein_jax.data.layouts import _cifar_pickle_layout
from stein_jax.data.layouts import _idx_layout
from stein_jax.data.layouts import _image_layouts
from stein_jax.data.layouts import _lfw_read
from stein_jax.data.spec import DatasetSpec
from stein_jax.data.spec import LocalLayout

# ----------------------------------------------------------------------------
# The registry.

_MNIST_SPLITS = ("train", "valid", "train_full", "test")
_MNIST_TFDS_SPLITS = {
  "train": f"train[:-{MNIST_VALID_SIZE}]",
  "valid": f"train[-{MNIST_VALID_SIZE}:]",
  "train_full": "train",
  "test": "test",
}
_MNIST_URL = "https://storage.googleapis.com/cvdf-datasets/mnist/"
_GENERIC_IMAGE_HELP = (
  "Local formats under <data_dir>/{folder}/: '<split>.npz' with x uint8 "
  "[N, H, W, C] (and optional y), or a folder '<split>/' of image files "
  "(optionally one sub-folder per class), or '{folder}.zip' holding such "
  "folders; splits named {splits} ('val'/'validation' also accepted). "
)

REGISTRY: Dict[str, DatasetSpec] = {}


def _add(spec: DatasetSpec) -> None:
  REGISTRY[spec.name] = spec


_add(
  DatasetSpec(
    name="mnist",
    kind="image",
    splits=_MNIST_SPLITS,
    layouts=(_idx_layout("mnist", True, "MNIST"), _idx_layout("mnist", False, "MNIST")),
    tfds_name="mnist",
    tfds_splits=_MNIST_TFDS_SPLITS,
    image_shape=(28, 28, 1),
    flatten=True,
    class_names=tuple(str(i) for i in range(10)),
    how_to_obtain=(
      f"Download train-images-idx3-ubyte.gz, "
      "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and "
      f"t10k-labels-idx1-ubyte.gz from {_MNIST_URL} (mirror of "
      "http://yann.lecun.com/exdb/mnist/) into <data_dir>/mnist/."
    ),
  )
)

_add(
  DatasetSpec(
    name="fashion_mnist",
    kind="image",
    splits=_MNIST_SPLITS,
    layouts=(_idx_layout("fashion_mnist", True, "Fashion-MNIST"), _idx_layout("fashion_mnist", False, "Fashion-MNIST")),
    tfds_name="fashion_mnist",
    tfds_splits=_MNIST_TFDS_SPLITS,
    image_shape=(28, 28, 1),
    flatten=True,
    class_names=(
      "t-shirt/top",
      "trouser",
      "pullover",
      "dress",
      "coat",
      "sandal",
      "shirt",
      "sneaker",
      "bag",
      "ankle boot",
    ),
    how_to_obtain=(
      "Download the four IDX .gz files from "
      "https://github.com/zalandoresearch/fashion-mnist "
      "(data/fashion/) into <data_dir>/fashion_mnist/, or on "
      "Debian `apt-get install dataset-fashion-mnist` and copy or "
      "link /usr/share/datasets/fashion-mnist to "
      "<data_dir>/fashion_mnist."
    ),
  )
)

_add(
  DatasetSpec(
    name="binarized_mnist",
    kind="image",
    splits=("train", "valid", "test"),
    layouts=(
      LocalLayout(
        "numpy archive with uint8 {0,1} arrays train, valid, test " "of shape [N, 784]",
        lambda split: ("binarized_mnist/binarized_mnist_uint8.npz",),
        _binarized_npz_read,
      ),
      LocalLayout(
        "Larochelle's .amat text files", lambda split: (f"binarized_mnist/binarized_mnist_{split}.amat",), _amat_read
      ),
    ),
    tfds_name="binarized_mnist",
    tfds_splits={"train": "train", "valid": "validation", "test": "test"},
    tfds_label_key=None,
    image_shape=(28, 28, 1),
    pixel_max=1.0,
    flatten=True,
    how_to_obtain=(
      "The fixed binarization of Larochelle & Murray (2011), "
      "50,000/10,000/10,000: download binarized_mnist_"
      "{train,valid,test}.amat from http://www.cs.toronto.edu/"
      "~larocheh/public/datasets/binarized_mnist/ into "
      "<data_dir>/binarized_mnist/."
    ),
  )
)

_add(
  DatasetSpec(
    name="cifar10",
    kind="image",
    splits=("train", "test"),
    layouts=(
      LocalLayout(
        "zip of JPEGs '{train,test}/<class>/NNNN.jpg' (lossy; " "decoded once, then cached)",
        lambda split: ("cifar10_jpeg/cifar10_jpeg.zip",),
        _cifar_jpeg_read,
      ),
      _cifar_pickle_layout("cifar-10-batches-py"),
      _cifar_pickle_layout("cifar10/cifar-10-batches-py"),
    ),
    tfds_name="cifar10",
    tfds_splits={"train": "train", "test": "test"},
    image_shape=(32, 32, 3),
    class_names=CIFAR10_CLASSES,
    how_to_obtain=(
      "Download and extract "
      "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz "
      "into <data_dir>/ (giving <data_dir>/cifar-10-batches-py/)."
    ),
  )
)

_add(
  DatasetSpec(
    name="celeb_a",
    kind="image",
    splits=("train", "valid", "test"),
    layouts=(
      _image_layouts("celeb_a")
      + (
        LocalLayout(
          "aligned CelebA: celeb_a/img_align_celeba/*.jpg and " "celeb_a/list_eval_partition.txt",
          lambda split: ("celeb_a/list_eval_partition.txt", "celeb_a/img_align_celeba/"),
          _celeba_original_read,
        ),
      )
    ),
    tfds_name="celeb_a",
    tfds_splits={"train": "train", "valid": "validation", "test": "test"},
    tfds_label_key=None,
    default_image_size=64,
    center_crop=140,
    how_to_obtain=(
      _GENERIC_IMAGE_HELP.format(folder="celeb_a", splits="train/valid/test")
      + "Or the original aligned images and list_eval_partition.txt "
      "from https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html. "
      "Images are center-cropped to 140 px and resized to "
      "image_size (default 64)."
    ),
  )
)

_add(
  DatasetSpec(
    name="lsun",
    kind="image",
    splits=("train", "valid"),
    layouts=_image_layouts("lsun"),
    tfds_name="lsun/bedroom",
    tfds_splits={"train": "train", "valid": "validation"},
    tfds_label_key=None,
    default_image_size=64,
    how_to_obtain=(
      _GENERIC_IMAGE_HELP.format(folder="lsun", splits="train/valid") + "LSUN bedroom is distributed as LMDB "
      "(https://github.com/fyu/lsun: download.py -c bedroom, "
      "then data.py export ... --out_dir <data_dir>/lsun/train); "
      "images are center-cropped to a square and resized to "
      "image_size (default 64)."
    ),
  )
)

_add(
  DatasetSpec(
    name="imagenet2012",
    kind="image",
    splits=("train", "valid"),
    layouts=_image_layouts("imagenet2012"),
    tfds_name="imagenet2012",
    tfds_splits={"train": "train", "valid": "validation"},
    default_image_size=64,
    how_to_obtain=(
      _GENERIC_IMAGE_HELP.format(folder="imagenet2012", splits="train/valid")
      + "The ILSVRC-2012 train folder (one sub-folder per synset) "
      "fits the folder layout; TFDS 'imagenet2012' needs the "
      "tar files downloaded manually from https://image-net.org "
      "into its manual_dir. For a CPU-sized version use "
      "'imagenet32'."
    ),
  )
)

_add(
  DatasetSpec(
    name="imagenet32",
    kind="image",
    splits=("train", "valid"),
    layouts=_image_layouts("imagenet32"),
    tfds_name="imagenet_resized/32x32",
    tfds_splits={"train": "train", "valid": "validation"},
    image_shape=(32, 32, 3),
    how_to_obtain=(
      _GENERIC_IMAGE_HELP.format(folder="imagenet32", splits="train/valid")
      + "Downsampled ImageNet 32x32 (Chrabaszcz et al. 2017, "
      "https://image-net.org/download-images): convert to "
      "<split>.npz with x uint8 [N, 32, 32, 3] and y, or use "
      "TFDS 'imagenet_resized/32x32'."
    ),
  )
)

_add(
  DatasetSpec(
    name="lfw_faces",
    kind="image",
    splits=("train",),
    layouts=(
      LocalLayout(
        "scikit-image LFW subset: (200, 25, 25) float64 in [0, 1], " "100 faces then 100 non-faces",
        lambda split: ("faces/lfw_subset.npy",),
        lambda root, split, found, options: _lfw_read(root, found, options),
      ),
    ),
    image_shape=(25, 25, 1),
    pixel_max=1.0,
    class_names=("non_face", "face"),
    how_to_obtain=(
      "pip install scikit-image, then " "np.save('<data_dir>/faces/lfw_subset.npy', " "skimage.data.lfw_subset())."
    ),
  )
)

_add(
  DatasetSpec(
    name="20news",
    kind="bow",
    splits=("train", "test"),
    layouts=(_bow_layout("20news", "vocab.new", labels=False),),
    how_to_obtain=(
      "The '20news_clean' bag of words of ProdLDA (Srivastava & "
      "Sutton 2017), 1,995 words, in NVDM format: train.feat, "
      "test.feat and vocab.new from https://github.com/"
      "sophieburkhardt/dirichlet-vae-topic-models into "
      "<data_dir>/20news/."
    ),
  )
)

_add(
  DatasetSpec(
    name="20news_nvdm",
    kind="bow",
    splits=("train", "test"),
    layouts=(
      _bow_layout("20news_nvdm", "vocab.new", labels=True),
      _bow_layout("20news_nvdm_test", "vocab.new", labels=True, splits=("test",)),
    ),
    class_names=None,
    how_to_obtain=(
      "The NVDM split of 20 Newsgroups (Miao et al. 2016), "
      "2,000 words, labels 1-20 (returned as 0-19): "
      "train.feat, test.feat, vocab.new from "
      "https://github.com/ysmiao/nvdm into <data_dir>/20news_nvdm/ "
      "(a test-only copy may live in <data_dir>/20news_nvdm_test/)."
    ),
  )
)

_add(
  DatasetSpec(
    name="reuters",
    kind="bow",
    splits=("train", "test"),
    layouts=(_bow_layout("reuters", "reuters.vocab", labels=False),),
    how_to_obtain=(
      "Reuters-21578 (ModApte) bag of words, 2,000 words: "
      "train.feat, test.feat and reuters.vocab from "
      "https://github.com/mxiny/NB-NTM (data/reuters) into "
      "<data_dir>/reuters/."
    ),
  )
)


# ----------------------------------------------------------------------------
# Look-ups.


def list_datasets() -> Tuple[str, ...]:
  """Names accepted by :func:`load`, sorted."""
  return tuple(sorted(REGISTRY))


def get_spec(name: str) -> DatasetSpec:
  """The registry entry for ``name``.

  Raises:
    KeyError: naming the available data sets.
  """
  try:
    return REGISTRY[name]
  except KeyError:
    raise KeyError(f"Unknown data set '{name}'; available: " f"{', '.join(list_datasets())}.") from None
