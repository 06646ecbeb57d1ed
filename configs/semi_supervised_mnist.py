r"""Semi-supervised classification on MNIST, FNN column of Table 3 (Pu et al. 2017, sec. 5.3).

One run (one method, one N_rho, one labelled split):

    STEIN_JAX_DATA_DIR=/path/to/data python -m experiments.semi_supervised \
        --config=configs/semi_supervised_mnist.py --workdir=/tmp/ssl/stein_vae_n10_s0
    ... --config.method=stein_viwae | vae  --config.labels_per_class=100  --config.split_seed=1

The CPU-budget variant used for docs/results/semi_supervised_mnist.md:

    STEIN_JAX_DATA_DIR=/path/to/data nice -n 5 python -m experiments.semi_supervised \
        --config=configs/semi_supervised_mnist.py:cpu --config.method=stein_vae \
        --config.labels_per_class=10 --config.split_seed=0 --workdir=/tmp/ssl/cpu_svae_10_0

Paper setting (``:paper``, the default): MNIST's 50,000 training images (the first 50,000 of
the 60,000; the last 10,000 are the validation set, the 10,000 test images the test set),
split into ``labels_per_class`` labelled images per class (N_rho = 10, 60, 100, 300; a
balanced random draw selected by ``split_seed``) and the rest unlabelled (disjoint); 50
latent units, encoder and decoder with two hidden layers of 600 softplus units (Kingma et
al. 2014's FNN); p(y | z) = softmax(theta~ z); Adam 2e-4; minibatches of 64 = 16
labelled + 48 unlabelled; M = 100 latent particles and k = 50. Binarization: dynamic for
training (a fresh Bernoulli(pixel) draw per step); the validation and test images are
binarized once with a fixed seed. The paper gives no epoch count; 200 epochs of the
unlabelled set is our GPU-scale choice.

The Stein encoder is the flow encoder of docs/stein_vae.md (softplus trunk 600-600, 4
coupling layers), which has the exact log q(z | x) that Stein VIWAE's weights need; the
VAE uses the Gaussian encoder with the same trunk.

``:cpu``: 16 latent particles, k = 8, 500 steps (half a pass over the unlabelled set),
classification with 20 encoder samples; validation and test sets at full size.
"""

import ml_collections


def get_config(variant: str = "paper"):
  if variant not in ("paper", "cpu"):
    raise ValueError(
      f"variant must be 'paper' or 'cpu', got {variant!r} " "(use --config=configs/semi_supervised_mnist.py:cpu)."
    )
  config = ml_collections.ConfigDict()
  # Shared keys.
  config.seed = 0
  config.num_steps = 200 * 1040  # 200 passes over ~49,900 unlabelled images at 48 a step
  config.eval_every = 10_400
  config.checkpoint_every = 2_080
  config.log_every = 520
  config.data_dir = ml_collections.config_dict.placeholder(str)
  # Data.
  config.dataset = "mnist"  # "mnist" | "fashion_mnist" | "synthetic" (tests)
  config.binarization = "dynamic"  # training images: "dynamic" or "fixed"
  config.labels_per_class = 10  # N_rho
  config.split_seed = 0
  config.valid_examples = ml_collections.config_dict.placeholder(int)  # None: all 10,000
  config.test_examples = ml_collections.config_dict.placeholder(int)  # None: all 10,000
  # Synthetic data (dataset="synthetic"): class prototypes with bit flips.
  config.synthetic = ml_collections.ConfigDict(
    dict(data_seed=7, num_classes=3, dim=20, flip=0.1, num_train=300, num_valid=60, num_test=60)
  )
  # Model (sec. 5.3, FNN).
  config.latent_dim = 50
  config.hidden = (600, 600)
  config.activation = "softplus"
  config.encoder = "auto"  # auto: "flow" for Stein, "gaussian" for VAE
  config.num_coupling_layers = 4
  config.coupling_hidden = 64
  config.label_weight = 1.0  # 1 = the paper's p(x, y | z); see docs/semi_supervised.md
  # Method.
  config.method = "stein_vae"  # "stein_vae" | "stein_viwae" | "vae"
  config.num_particles = 100
  config.k = 50
  config.num_decoder = 1
  config.decoder_prior_std = 1.0
  config.batch_size = 64
  config.labelled_batch_size = 16
  config.learning_rate = 2e-4
  config.step_size = 1.0
  config.encoder_steps = 1
  config.vae_encoder_weighting = "batch"  # VAE encoder: "batch" (as the Stein encoder) | "data"
  # Evaluation: error of argmax mean_j softmax(theta~ f(x, xi_j)).
  config.eval_samples = 100
  config.eval_batch_size = 500
  if variant == "cpu":
    config.num_steps = 500
    config.eval_every = 500
    config.checkpoint_every = 250
    config.log_every = 50
    config.num_particles = 16
    config.k = 8
    config.eval_samples = 20
  return config
