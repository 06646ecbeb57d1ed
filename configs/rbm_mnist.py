r"""Gaussian-Bernoulli RBM on MNIST, Fig. 1a of Liu & Wang 2017 (sec. 5.1).

One run (one method, one seed):

    STEIN_JAX_DATA_DIR=/path/to/data python -m experiments.energy \
        --config=configs/rbm_mnist.py:steincd --workdir=/tmp/rbm/steincd/seed0
    python -m experiments.energy --config=configs/rbm_mnist.py:cd10 \
        --config.data_dir=/path/to/data --config.seed=1 --workdir=/tmp/rbm/cd10/seed1

The part after ``:`` picks ``method`` ("steincd", "stein_sm", "cd1", "cd10", "mle"; default "steincd") together with
the step sizes and learning rate chosen for it by the sweep of ``experiments/rbm_figure/`` (docs/results/
rbm_mnist.md). ``<data_dir>/mnist/`` holds the MNIST IDX files (docs/data.md).

Groups: ``model`` (the RBM), ``svgd`` (SteinCD's SVGD step), ``langevin`` (CD-k's Langevin negatives), ``optimizer``,
``eval`` (the sample figures); data, seed, schedule and ``method`` at the top. A key is set by its path:

    python -m experiments.energy --config=configs/rbm_mnist.py:cd1 --config.langevin.step_size=0.1 \
        --config.optimizer.learning_rate=3e-3 --workdir=/tmp/rbm/cd1_eps0.1

All five methods and three seeds, the Fig. 1a curves and the table:

    python -m experiments.rbm_figure --config=configs/rbm_figure.py --workdir=/tmp/rbm_fig1a \
        --config.data_dir=/path/to/data

Data preprocessing (``preprocess="center_scale"``): MNIST pixels in [0, 1] (the 50,000 "train" images) are centred
by the per-pixel training mean and divided by one global scale, the standard deviation of all centred training pixels
(0.2596), ``x' = (x - mean) / 0.2596``. The RBM's visibles have unit variance, so this puts the data on the model's
scale: the average pixel variance becomes 1 (the most variable pixels reach about 3, the border pixels stay 0).
There is no dequantisation: with unit-variance Gaussian visibles the density is bounded by (2 pi)^(-d/2), so it
cannot collapse onto the discrete pixel values. Every reported log-likelihood (``test/loglik``, nats per image) is the
exact ``log p(x')`` in this preprocessed space; the density of the [0, 1] pixels is
``log p(x) = log p(x') - 784 log(0.2596) = log p(x') + 1057.3`` (a constant shift: the ranking of methods does not
change). ``preprocess="unit"`` trains on the raw [0, 1] pixels instead.
"""

import ml_collections

METHODS = ("steincd", "stein_sm", "cd1", "cd10", "mle")

# Chosen by the sweep of experiments/rbm_figure/ --config.sweep=True (best valid/loglik after 1000 iterations, seed 0;
# docs/results/rbm_mnist.md lists the grid). Same Adam, batch 100 and iteration budget for every method. Keys by path.
TUNED = {
  "steincd": {"optimizer.learning_rate": 3e-3, "svgd.step_size": 1.0},
  "stein_sm": {"optimizer.learning_rate": 3e-3},
  "cd1": {"optimizer.learning_rate": 1e-2, "langevin.step_size": 1.0},
  "cd10": {"optimizer.learning_rate": 1e-2, "langevin.step_size": 1.0},
  "mle": {"optimizer.learning_rate": 1e-2},
}


def get_config(method: str = "steincd") -> ml_collections.ConfigDict:
  """The config for one method of Fig. 1a; ``--config=configs/rbm_mnist.py:<method>``."""
  method = method or "steincd"
  if method not in METHODS:
    raise ValueError(f"Unknown method {method!r} in --config=configs/rbm_mnist.py:<method>; choose one of {METHODS}.")
  config = ml_collections.ConfigDict()
  # Shared platform keys.
  config.seed = 0
  config.num_steps = 10_000  # the budget of docs/results/rbm_mnist.md
  config.eval_every = 100
  config.checkpoint_every = 1000
  config.log_every = 50
  config.data_dir = ml_collections.config_dict.placeholder(str)  # else $STEIN_JAX_DATA_DIR

  config.method = method
  # Data: "mnist" (train on the 50,000 "train" images; evaluate on "test", "valid" and the first
  # `num_eval_train` training images) or "synthetic_rbm" (samples of a fixed random RBM of dimension
  # `synthetic_dim`, for tests; needs no files).
  config.dataset = "mnist"
  config.preprocess = "center_scale"  # or "unit"
  config.synthetic_dim = 16
  config.num_visible = 784  # the model's d; data of another dimension are refused with a clear error
  config.num_eval_train = 10_000
  config.batch_size = 100  # Adam on batches of 100 (sec. 5.1)

  # Model: GaussianBernoulliRBM, exact log Z needs num_hidden <= MAX_EXACT_HIDDEN (24).
  config.model = ml_collections.ConfigDict()
  config.model.num_hidden = 10
  config.model.init_scale = 0.01  # std of the initial B

  # The rules' chains: SteinCD's SVGD step and CD-k's Langevin negatives.
  config.svgd = ml_collections.ConfigDict()
  config.svgd.step_size = 1.0  # epsilon of SteinCD (Algorithm 1); bandwidth med^2 / log m
  config.langevin = ml_collections.ConfigDict()
  config.langevin.step_size = 0.1  # epsilon of CD-k Langevin, x + eps/2 grad f + sqrt(eps) xi

  config.optimizer = ml_collections.ConfigDict()
  config.optimizer.learning_rate = 3e-3  # Adam

  # Figures: samples at the end (exact, and long Langevin chains from noise).
  config.eval = ml_collections.ConfigDict()
  config.eval.num_samples = 64
  config.eval.langevin_chain_steps = 2000
  config.eval.langevin_chain_step_size = 0.1

  for path, value in TUNED[method].items():
    group, key = path.split(".")
    config[group][key] = value
  return config
