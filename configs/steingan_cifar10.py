r"""SteinGAN with the joint autoencoder energy on CIFAR-10 (Liu & Wang 2017, sec. 5.2, Fig. 2).

The paper's setting (a GPU run; hours):

    python -m experiments.steingan_images --config=configs/steingan_cifar10.py --workdir=/tmp/steingan/cifar10
    python -m experiments.steingan_images --config=configs/steingan_cifar10.py --config.use_kernel=False \
        --workdir=/tmp/steingan/cifar10_nokernel                                  # "SteinGAN w/o kernel"

The CPU budget of docs/results/steingan_cifar10.md (``:cpu``: narrow networks, batch 32, 600 steps):

    STEIN_JAX_DATA_DIR=/path/to/data python -m experiments.steingan_images \
        --config=configs/steingan_cifar10.py:cpu --workdir=/tmp/steingan/cifar10_cpu

The authors' public code as they ran it, at a one-core CPU budget (``:cpu_authors``, docs/results/steingan_cifar10.md;
about 30 minutes of one core; ``--config.use_kernel=False`` for the ablation):

    STEIN_JAX_DATA_DIR=/path/to/data nice -n 5 taskset -c 0 python -m experiments.steingan_images \
        --config=configs/steingan_cifar10.py:cpu_authors --workdir=/tmp/steingan/cifar10_cpu_authors

``:authors`` is the authors' full setting (GPU): their options, batch 100, widths 128, 200 epochs of 500 steps.

``<data_dir>`` holds CIFAR-10 (docs/data.md); TFDS is used when it is absent and TFDS is installed.

Model: joint energy eq. (25), f(x, y) = -||x - D(E(x))|| - max(1, CE(y, head(E(x)))), DCGAN-style encoder / decoder
(width 128: about 6.9M parameters; the paper's energy has about 10M), and the DCGAN generator (width 64, label
one-hot concatenated to the Uniform([-1, 1]^100) noise). Adam (lr 5e-4 energy, 1e-3 generator; beta1 = 0.5 as in
DCGAN, the paper does not give it), discount 0.7 switched to 0.9 when the real batch's energy is higher.

Options where the authors' public code (github.com/DartML/SteinGAN) differs from the paper's text; the defaults are
the paper's text (docs/steingan_images.md sec. 5 compares them line by line):

* ``discount_rule``: "paper" (0.9 when the real batch's energy is higher, measured before the update) or
  "authors_code" (0.7 when the real batch's reconstruction error is higher after the update, else 0.9, next step);
* ``bandwidth_rule``: "paper" (``h = 0.5 med / log m``) or "authors_code" (``H = med2 / (4 log(m + 1))``);
* ``direction``: "paper" (eq. (5), full code kernel, 1/m), "row_sum" (eq. (5) divided by the kernel row sum, the
  Dec 2016 script) or "nearest_neighbor" (own score plus half the repulsion of the nearest code, the April 2017 one);
* ``input_dropout`` (float in [0, 1)), ``energy_batch_norm`` (bool), ``label_every_layer`` (bool, the label
  concatenated to every generator layer), ``weight_decay`` (coupled L2 added to the gradient before Adam),
  ``direction_norm_stats`` ("frozen" or "batch": the energy's batch statistics in the generator direction).
"""

import ml_collections


def get_config(setting: str = "") -> ml_collections.ConfigDict:
  """``--config=configs/steingan_cifar10.py`` (paper), ``...:cpu``, ``...:authors`` or ``...:cpu_authors``."""
  if setting not in SETTINGS:
    raise ValueError(
      f"Unknown setting {setting!r} in --config=configs/steingan_cifar10.py:<setting>; use one of "
      f"{[s for s in SETTINGS if s]}."
    )
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
  config.bandwidth_scale = 0.5  # h = 0.5 med / log m on the codes (bandwidth_rule="paper")
  config.discount_rule = "paper"  # or "authors_code"
  config.bandwidth_rule = "paper"  # or "authors_code"
  config.direction = "paper"  # or "row_sum", "nearest_neighbor"
  config.input_dropout = 0.0  # the authors: 0.2
  config.energy_batch_norm = False  # the authors: True
  config.label_every_layer = False  # the authors: True
  config.weight_decay = 0.0  # the authors: 1e-5
  # With energy_batch_norm: the generator direction with the generated batch's statistics "frozen" (per-image f and
  # E) or "batch" (the gradient of the batch's energy through its statistics, as the authors' Theano graph).
  config.direction_norm_stats = "frozen"

  # Evaluation (may change on resume).
  config.eval_batches = 8  # batches of real test / generated images for the energies
  config.num_eval_samples = 10_000  # classifier score sample size (the paper: 50,000)
  config.num_accuracy_samples = 50_000  # generated training set of the train-on-generated accuracy (0: skip)
  config.classifier_steps = 10_000
  config.classifier_width = 64
  config.classifier_cache_dir = ml_collections.config_dict.placeholder(str)  # else $STEIN_JAX_CACHE_DIR
  config.grid_columns = 10

  if setting == "cpu":
    config.update(
      num_steps=600,
      eval_every=200,
      checkpoint_every=200,
      log_every=50,
      batch_size=32,
      code_dim=32,
      energy_width=16,
      generator_width=32,
      eval_batches=4,
      num_eval_samples=2000,
      num_accuracy_samples=5000,
      classifier_steps=600,
      classifier_width=32,
    )
  if setting in ("authors", "cpu_authors"):
    config.update(AUTHORS_OPTIONS)
    config.update(batch_size=100, energy_width=128, generator_width=128, num_steps=100_000)
  if setting == "cpu_authors":
    config.update(CPU_AUTHORS)
  return config


SETTINGS = ("", "paper", "cpu", "authors", "cpu_authors")

# The authors' public code (cifar10/steingan_supervised.py, April 2017): docs/steingan_images.md sec. 5.
AUTHORS_OPTIONS = dict(
  discount_rule="authors_code",
  bandwidth_rule="authors_code",
  direction="nearest_neighbor",
  input_dropout=0.2,
  energy_batch_norm=True,
  label_every_layer=True,
  weight_decay=1e-5,
  direction_norm_stats="batch",
)

# One CPU core for about 30 minutes (docs/results/steingan_cifar10.md): the authors' options on narrow networks.
CPU_AUTHORS = dict(
  num_steps=1000,
  eval_every=250,
  checkpoint_every=250,
  log_every=50,
  batch_size=32,
  code_dim=32,
  energy_width=16,
  generator_width=32,
  eval_batches=4,
  num_eval_samples=2000,
  num_accuracy_samples=5000,
  classifier_steps=600,
  classifier_width=32,
)
