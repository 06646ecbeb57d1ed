r"""SteinGAN and SteinCD-GAN(alpha) on the Gaussian-Bernoulli RBM, Fig. 1(b)-(d) of Liu & Wang 2017 (sec. 4, 5.1).

One run:

    STEIN_JAX_DATA_DIR=/path/to/data python -m experiments.steingan_rbm \
        --config=configs/steingan_rbm_mnist.py --workdir=/tmp/steingan/alpha0
    python -m experiments.steingan_rbm --config=configs/steingan_rbm_mnist.py --config.alpha=0.25 \
        --config.data_dir=/path/to/data --workdir=/tmp/steingan/alpha0.25
    python -m experiments.steingan_rbm --config=configs/steingan_rbm_mnist.py --config.use_kernel=False \
        --workdir=/tmp/steingan/nokernel                 # Fig. 1(d): SteinGAN without kernel

``alpha`` = 0 is SteinGAN (Algorithm 2), 1 is SteinCD (Algorithm 1), in between SteinCD-GAN(alpha): each negative
of the energy update is the SteinCD sample with probability alpha. The data and the RBM are exactly those of
``configs/rbm_mnist.py`` (MNIST "train" 50,000 images, ``x' = (x - pixel mean) / 0.2596``, 10 hidden units, exact
log-likelihood in nats per image in that space). ``<data_dir>/mnist/`` holds the MNIST IDX files (docs/data.md).

The defaults are the paper's setting where it states one (batch 100, Adam, RBF kernel with h = med^2 / log m,
generator of 2 dense layers and 2 transposed 5x5 convolutions, 100-d uniform noise, 50,000 images for the score)
and our choices elsewhere (learning rates, widths, number of steps; docs/steingan.md). The CPU-budget sweep of
docs/results/steingan_rbm_mnist.md overrides ``num_steps``, ``num_score_samples`` and the generator widths.
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  """The config of one SteinCD-GAN(alpha) run."""
  config = ml_collections.ConfigDict()
  # Shared platform keys.
  config.seed = 0
  config.num_steps = 10_000
  config.eval_every = 500
  config.checkpoint_every = 1000
  config.log_every = 50
  config.data_dir = ml_collections.config_dict.placeholder(str)  # else $STEIN_JAX_DATA_DIR

  # Data and energy model: as configs/rbm_mnist.py (dataset "synthetic_rbm" needs no files; for tests).
  config.dataset = "mnist"
  config.preprocess = "center_scale"
  config.synthetic_dim = 16
  config.num_visible = 784
  config.num_eval_train = 10_000
  config.num_hidden = 10
  config.init_scale = 0.01

  # The method.
  config.alpha = 0.0  # SteinCD-GAN mixing probability: 0 SteinGAN, 1 SteinCD
  config.use_kernel = True  # False: "SteinGAN without kernel" (Fig. 1(d))
  config.generator_update = "chain_rule"  # eq. (21); or "regression" (eq. (20), num_fit_steps steps)
  config.num_fit_steps = 1
  config.discount = 0.0  # gamma of the stabilised energy update (sec. 5.2); 0 is eq. (23)
  config.step_size = 1.0  # eps of the generator's SVGD step (its scale is absorbed by Adam)
  config.cd_step_size = 1.0  # eps of the SteinCD negatives (tuned for SteinCD in configs/rbm_mnist.py)
  config.bandwidth = "median_log"  # h = med^2 / log m (sec. 5.1)

  # Generator (sec. 5.1): "conv" is 2 dense layers then 2 transposed 5x5 convolutions; "mlp" for non-square data.
  config.generator = "conv"
  config.noise_dim = 100
  config.noise = "uniform"  # xi ~ U[-1, 1]^noise_dim (sec. 5.2); or "normal"
  config.generator_hidden = 1024
  config.generator_channels = 64

  # Optimisation: Adam on batches of 100 (sec. 5.1), one optimiser for each network.
  config.batch_size = 100
  config.energy_learning_rate = 3e-3  # the tuned SteinCD rate of configs/rbm_mnist.py
  config.generator_learning_rate = 1e-3
  config.adam_b1 = 0.5  # the usual GAN choice

  # Evaluation: exact test log-likelihood and the classifier ("inception") score of generated images.
  config.num_score_samples = 50_000  # the paper's 50,000
  config.classifier_cache_dir = ml_collections.config_dict.placeholder(str)  # else $STEIN_JAX_CACHE_DIR or workdir
  config.classifier_epochs = 3
  config.num_samples = 100  # generator samples in the final grid
  return config
