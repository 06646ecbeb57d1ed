r"""SteinGAN with the joint autoencoder energy on CIFAR-10 (Liu & Wang 2017, sec. 5.2, Fig. 2).

The paper's setting (a GPU run; hours):

    python -m experiments.steingan_images --config=configs/steingan_cifar10.py --workdir=/tmp/steingan/cifar10
    python -m experiments.steingan_images --config=configs/steingan_cifar10.py --config.svgd.use_kernel=False \
        --workdir=/tmp/steingan/cifar10_nokernel                                  # "SteinGAN w/o kernel"

The CPU budget of docs/results/steingan_cifar10.md (``:cpu``: narrow networks, batch 32, 600 steps):

    STEIN_JAX_DATA_DIR=/path/to/data python -m experiments.steingan_images \
        --config=configs/steingan_cifar10.py:cpu --workdir=/tmp/steingan/cifar10_cpu

The authors' public code as they ran it, at a one-core CPU budget (``:cpu_authors``, docs/results/steingan_cifar10.md;
about 30 minutes of one core; ``--config.svgd.use_kernel=False`` for the ablation):

    STEIN_JAX_DATA_DIR=/path/to/data nice -n 5 taskset -c 0 python -m experiments.steingan_images \
        --config=configs/steingan_cifar10.py:cpu_authors --workdir=/tmp/steingan/cifar10_cpu_authors

``:authors`` is the authors' full setting (GPU): their options, batch 100, widths 128, 200 epochs of 500 steps.

``<data_dir>`` holds CIFAR-10 (docs/data.md); TFDS is used when it is absent and TFDS is installed.

Model: joint energy eq. (25), f(x, y) = -||x - D(E(x))|| - max(1, CE(y, head(E(x)))), DCGAN-style encoder / decoder
(width 128: about 6.9M parameters; the paper's energy has about 10M), and the DCGAN generator (width 64, label
one-hot concatenated to the Uniform([-1, 1]^100) noise). Adam (lr 5e-4 energy, 1e-3 generator; beta1 = 0.5 as in
DCGAN, the paper does not give it), discount 0.7 switched to 0.9 when the real batch's energy is higher.

Groups: ``model`` (the energy and the generator), ``svgd`` (the generator's direction: kernel, bandwidth, step),
``optimizer`` (both Adams), ``eval`` (every key may change on resume); data, the schedule, the batch and the
energy's discount (``discount``, ``discount_boosted``, ``discount_rule``) at the top.

Options where the authors' public code (github.com/DartML/SteinGAN) differs from the paper's text; the defaults are
the paper's text (docs/steingan_images.md sec. 5 compares them line by line):

* ``discount_rule``: "paper" (0.9 when the real batch's energy is higher, measured before the update) or
  "authors_code" (0.7 when the real batch's reconstruction error is higher after the update, else 0.9, next step);
* ``svgd.bandwidth_rule``: "paper" (``h = 0.5 med / log m``) or "authors_code" (``H = med2 / (4 log(m + 1))``);
* ``svgd.direction``: "paper" (eq. (5), full code kernel, 1/m), "row_sum" (eq. (5) divided by the kernel row sum,
  the Dec 2016 script) or "nearest_neighbor" (own score plus half the repulsion of the nearest code, the April 2017
  one);
* ``model.input_dropout`` (float in [0, 1)), ``model.energy_batch_norm`` (bool), ``model.label_every_layer`` (bool,
  the label concatenated to every generator layer), ``optimizer.weight_decay`` (coupled L2 added to the gradient
  before Adam), ``svgd.direction_norm_stats`` ("frozen" or "batch": the energy's batch statistics in the generator
  direction).
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
  config.batch_size = 64

  # Algorithm 2's energy step with the sec. 5.2 stabilisation: gamma = discount, raised to discount_boosted.
  config.discount = 0.7
  config.discount_boosted = 0.9
  config.discount_rule = "paper"  # or "authors_code"

  # Energy (eq. (24)/(25)) and generator.
  config.model = ml_collections.ConfigDict()
  config.model.code_dim = 100
  config.model.energy_width = 128
  config.model.margin = 1.0  # m of eq. (25)
  config.model.generator_width = 64
  config.model.noise_dim = 100
  config.model.input_dropout = 0.0  # the authors: 0.2
  config.model.energy_batch_norm = False  # the authors: True
  config.model.label_every_layer = False  # the authors: True

  # The generator's SVGD direction (eq. (21)), kernel on the codes E(x).
  config.svgd = ml_collections.ConfigDict()
  config.svgd.use_kernel = True  # False: "SteinGAN w/o kernel"
  config.svgd.step_size = 1.0  # eps of eq. (21); Adam makes the update nearly invariant to it
  config.svgd.bandwidth_scale = 0.5  # h = 0.5 med / log m on the codes (bandwidth_rule="paper")
  config.svgd.bandwidth_rule = "paper"  # or "authors_code"
  config.svgd.direction = "paper"  # or "row_sum", "nearest_neighbor"
  # With model.energy_batch_norm: the direction with the generated batch's statistics "frozen" (per-image f and E)
  # or "batch" (the gradient of the batch's energy through its statistics, as the authors' Theano graph).
  config.svgd.direction_norm_stats = "frozen"

  # One Adam for each network.
  config.optimizer = ml_collections.ConfigDict()
  config.optimizer.energy_learning_rate = 5e-4
  config.optimizer.generator_learning_rate = 1e-3
  config.optimizer.adam_b1 = 0.5
  config.optimizer.weight_decay = 0.0  # the authors: 1e-5

  # Evaluation (every key may change on resume).
  config.eval = ml_collections.ConfigDict()
  config.eval.batches = 8  # batches of real test / generated images for the energies
  config.eval.num_score_samples = 10_000  # classifier score sample size (the paper: 50,000)
  config.eval.num_accuracy_samples = 50_000  # generated training set of the train-on-generated accuracy (0: skip)
  config.eval.classifier_steps = 10_000
  config.eval.classifier_width = 64
  config.eval.classifier_cache_dir = ml_collections.config_dict.placeholder(str)  # else $STEIN_JAX_CACHE_DIR
  config.eval.grid_columns = 10

  if setting == "cpu":
    config.update(CPU)
  if setting in ("authors", "cpu_authors"):
    config.update(AUTHORS_OPTIONS)
    config.update(batch_size=100, num_steps=100_000)
    config.model.update(energy_width=128, generator_width=128)
  if setting == "cpu_authors":
    config.update(CPU_AUTHORS)
  return config


SETTINGS = ("", "paper", "cpu", "authors", "cpu_authors")

# The authors' public code (cifar10/steingan_supervised.py, April 2017): docs/steingan_images.md sec. 5.
# Nested as the config is; ``config.update`` sets the named keys of each group and keeps the others.
AUTHORS_OPTIONS = dict(
  discount_rule="authors_code",
  model=dict(input_dropout=0.2, energy_batch_norm=True, label_every_layer=True),
  svgd=dict(bandwidth_rule="authors_code", direction="nearest_neighbor", direction_norm_stats="batch"),
  optimizer=dict(weight_decay=1e-5),
)

# Narrow networks, batch 32 (docs/results/steingan_cifar10.md's sizes).
_CPU_SIZES = dict(
  batch_size=32,
  model=dict(code_dim=32, energy_width=16, generator_width=32),
  eval=dict(batches=4, num_score_samples=2000, num_accuracy_samples=5000, classifier_steps=600, classifier_width=32),
)
CPU = dict(_CPU_SIZES, num_steps=600, eval_every=200, checkpoint_every=200, log_every=50)
# One CPU core for about 30 minutes (docs/results/steingan_cifar10.md): the authors' options on narrow networks.
CPU_AUTHORS = dict(_CPU_SIZES, num_steps=1000, eval_every=250, checkpoint_every=250, log_every=50)
