r"""Fig. 1a of Liu & Wang (2017): every method x seed of configs/rbm_mnist.py, the curves and a markdown table.

Command (DIR: one run per method and seed under DIR/<method>/seed<k>, then figures/rbm_mnist_fig1a.png,
rbm_mnist.md and rbm_mnist.json; an interrupted figure resumes; docs/results/rbm_mnist.md):
    python -m experiments.rbm_figure --config=configs/rbm_figure.py --workdir=DIR \
        --config.data_dir=/path/to/data
The hyper-parameter sweep that chose configs/rbm_mnist.py's TUNED (seed 0, selected on valid/loglik):
    python -m experiments.rbm_figure --config=configs/rbm_figure.py --workdir=DIR --config.data_dir=/path/to/data \
        --config.sweep=True --config.num_steps=1000 --config.eval_every=250
A smoke run without MNIST: --config.dataset=synthetic_rbm --config.num_steps=20 --config.eval_every=10.
"""

import ml_collections

from configs import rbm_mnist


def get_config():
  config = ml_collections.ConfigDict()
  config.data_dir = ml_collections.config_dict.placeholder(str)  # holding mnist/ (default $STEIN_JAX_DATA_DIR)
  config.methods = tuple(rbm_mnist.METHODS)  # methods to run (configs/rbm_mnist.py:<method>)
  config.seeds = (0, 1, 2)  # seeds to run (the sweep: seed 0 only)
  config.num_steps = 10_000  # iterations per run, the same for all methods
  config.eval_every = 100  # evaluate the exact log-likelihood every this many iterations
  config.sweep = False  # True: the hyper-parameter sweep (seed 0) instead of the figure
  config.dataset = "mnist"  # "mnist" | "synthetic_rbm" (a smoke run)
  return config
