r"""The semi-supervised sweep (experiments/semi_supervised_grid.py): Table 3 / Table 4 runs one after another.

Table 3, CNN column, at the CPU budget of docs/results/semi_supervised_mnist.md:
    STEIN_JAX_DATA_DIR=/path/to/data python -m experiments.semi_supervised_grid \
        --config=configs/semi_supervised_grid.py --workdir=/tmp/ss16/cnn_grid \
        --config.experiment_config=configs/semi_supervised_mnist.py:cnn_cpu --config.labels='(10,100)' \
        --config.results_md=docs/results/semi_supervised_mnist.md
The CIFAR-10 stand-in for Table 4 (labelled fractions):
    ... --config.experiment_config=configs/semi_supervised_cifar10.py:cpu --config.fractions='(0.01,0.1)' \
        --config.paper=imagenet --config.name=cifar --config.results_md=docs/results/semi_supervised_cifar10.md
Extra settings for every run (a nested key by its path): --config.overrides='("num_steps=400","model.label_weight=100.0")'.
"""

import ml_collections


def get_config():
  config = ml_collections.ConfigDict()
  config.experiment_config = ""  # required: a config of experiments.semi_supervised, e.g. "...mnist.py:cnn_cpu"
  config.methods = ("vae", "stein_vae", "stein_viwae")
  config.labels = ()  # labels per class (Table 3's N_rho), e.g. (10, 100); or:
  config.fractions = ()  # labelled fractions (Table 4), e.g. (0.01, 0.1)
  config.splits = (0, 1, 2)  # split seeds
  config.overrides = ()  # "key=value" strings passed as --config.key=value to every run
  config.paper = "cnn"  # the paper's column beside the table: "cnn", "fnn", "imagenet" or "none"
  config.name = "cnn"  # the marker name <!-- grid:NAME:begin/end --> in results_md
  config.results_md = ""  # a markdown file whose markers receive the table ("" for none)
  config.order = "split"  # "split": every cell's split 0, then split 1, ...; "cell": cell by cell
  return config
