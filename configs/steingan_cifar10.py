r"""SteinGAN with the joint autoencoder energy on CIFAR-10 (Liu & Wang 2017, sec. 5.2, Fig. 2).

The paper's setting (a GPU run; hours):

    python -m experiments.steingan_images --config=configs/steingan_cifar10.py --workdir=/tmp/steingan/cifar10
    python -m experiments.steingan_images --config=configs/steingan_cifar10.py --config.use_kernel=False \
        --workdir=/tmp/steingan/cifar10_nokernel                                  # "SteinGAN w/o kernel"

The CPU budget of docs/results/steingan_cifar10.md (``:cpu``: narrow networks, batch 32, 600 steps):

    STEIN_JAX_DATA_DIR=/path/to/data python -m experiments.steingan_images \
        --config=configs/steingan_cifar10.py:cpu --workdir=/tmp/steingan/cifar10_cpu

``<data_dir>`` holds CIFAR-10 (docs/data.md); TFDS is used when it is absent and TFDS is installed.

Model: joint energy eq. (25), f(x, y) = -||x - D(E(x))|| - max(1, CE(y, head(E(x)))), DCGAN-style encoder / decoder
(width 128: about 6.9M parameters; the paper's energy has about 10M), and the DCGAN generator (width 64, label
one-hot concatenated to the Uniform([-1, 1]^100) noise). Adam (lr 5e-4 energy, 1e-3 generator; beta1 = 0.5 as in
DCGAN, the paper does not give it), discount 0.7 switched to 0.9 when the real batch's energy is higher.
"""

import ml_collections


def get_config(setting: str = "") -> ml_collections.ConfigDict:
  """``--config=configs/steingan_cifar10.py`` (paper) or ``...:cpu`` (the CPU budget)."""
  if setting not in ("", "paper", "cpu"):
    raise ValueError(f"Unknown setting {setting!r} in --config=configs/steingan_cifar10.py:<setting>; use 'paper' "
                     "or 'cpu'.")
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.num_steps = 100_000
  config.eval_every = 2000
  config.checkpoint_every = 2000
  config.log_every = 100
  config.data_dir = ml_collections.config_dict.placeholder(str)  # else $STEIN_JAX_DATA_DIR

  # Data: "cifar10", "celeb_a", "lsun", or "synthetic" (toy labelled squares, for tests; no files).
  config.dataset = "cifar10"
  config.image_size = 32
  config.channels = 3
  config.max_train_examples = ml_collections.config_dict.placeholder(int)  # None: the whole training split
  config.synthetic_classes = 4
  config.joint_model = True  # eq. (25) and a label-conditional generator (needs labels)

  # Energy (eq. (24)/(25)) and generator.
  config.code_dim = 100
  config.energy_width = 128
  config.margin = 1.0  # m of eq. (25)
  config.generator_width = 64
  config.noise_dim = 100

  # Algorithm 2 with the sec. 5.2 stabilisation.
  config.batch_size = 64
  config.energy_learning_rate = 5e-4
  config.generator_learning_rate = 1e-3
  config.adam_b1 = 0.5
  config.discount = 0.7
  config.discount_boosted = 0.9
  config.step_size = 1.0  # eps of eq. (21); Adam makes the update nearly invariant to it
  config.use_kernel = True  # False: "SteinGAN w/o kernel"
  config.bandwidth_scale = 0.5  # h = 0.5 med / log m on the codes

  # Evaluation (may change on resume).
  config.eval_batches = 8  # batches of real test / generated images for the energies
  config.num_eval_samples = 10_000  # classifier score sample size (the paper: 50,000)
  config.num_accuracy_samples = 50_000  # generated training set of the train-on-generated accuracy (0: skip)
  config.classifier_steps = 10_000
  config.classifier_width = 64
  config.classifier_cache_dir = ml_collections.config_dict.placeholder(str)  # else $STEIN_JAX_CACHE_DIR
  config.grid_columns = 10

  if setting == "cpu":
    config.update(num_steps=600, eval_every=200, checkpoint_every=200, log_every=50, batch_size=32, code_dim=32,
                  energy_width=16, generator_width=32, eval_batches=4, num_eval_samples=2000,
                  num_accuracy_samples=5000, classifier_steps=600, classifier_width=32)
  return config
