r"""SteinGAN and SteinCD-GAN(alpha) on the Gaussian-Bernoulli RBM, Fig. 1(b)-(d) of Liu & Wang 2017 (sec. 4, 5.1).

Settings (``--config=configs/steingan_rbm_mnist.py:<setting>``):

* ``""`` / ``authors``: the practice of the authors' public code (DartML/SteinGAN ``mnist/rbm_adv.py``), which
  produced the paper's diverse digits: pixels in [0, 1]; a generator with batch-statistics normalisation (no scale or
  shift) after every hidden layer and a sigmoid output (2 dense layers of 1024 and 7*7*128, 2 transposed 5x5
  convolutions); the RBM's B drawn from U[-0.05, 0.05] (their ``inits.Uniform`` ignores the scale
  4 sqrt(6 / (d + H)) it is given, so 0.05 is what ran); Adam 3e-4 with beta1 = 0.5 for both networks with L2 weight
  decay 1e-5 added to the gradients; the SVGD direction divided by the kernel row sum, with h = med^2 / log(m + 1);
  the generator's gradient summed over the batch (``step_size = m``); 20 epochs of 500 batches of 100 = 10,000 steps.
* ``cpu``: the same at a generator width of 256 / 16 channels and 10,000 images for the score: one run of 10,000
  steps in about 15 minutes on 2 cores.
* ``legacy``: our earlier defaults (centred-and-scaled pixels, linear output without normalisation, B ~ N(0, 0.01^2),
  Adam 3e-3 / 1e-3, no weight decay, the paper's 1/m and h = med^2 / log m, 1,000 steps at width 256 / 16): the
  generator collapses to one image (docs/results/steingan_rbm_mnist.md).

Every authors'-code choice is also a key of its own (``preprocess``, ``model.generator_normalization``,
``model.generator_output``, ``model.rbm_init`` / ``model.init_scale``, ``optimizer.weight_decay``,
``svgd.kernel_normalization`` "mean" | "row_sum", ``svgd.bandwidth``), for ablations. Groups: ``model`` (the RBM and
the generator), ``svgd`` (the generator's step and the SteinCD negatives), ``optimizer``, ``eval``; data and the
method's ``alpha`` and ``discount`` at the top. Runs:

    STEIN_JAX_DATA_DIR=/path/to/data python -m experiments.steingan_rbm \
        --config=configs/steingan_rbm_mnist.py:cpu --workdir=/tmp/steingan/alpha0
    python -m experiments.steingan_rbm --config=configs/steingan_rbm_mnist.py:cpu --config.alpha=0.25 \
        --workdir=/tmp/steingan/alpha0.25                # SteinCD-GAN(0.25)
    python -m experiments.steingan_rbm --config=configs/steingan_rbm_mnist.py:cpu --config.svgd.use_kernel=False \
        --workdir=/tmp/steingan/nokernel                 # Fig. 1(d): SteinGAN without kernel

``alpha`` = 0 is SteinGAN (Algorithm 2), 1 is SteinCD (Algorithm 1), in between SteinCD-GAN(alpha): each negative
of the energy update is the SteinCD sample with probability alpha. MNIST "train" is 50,000 images, 10 hidden units,
the exact log-likelihood is in nats per image in the preprocessed space (``test/loglik``) and in [0, 1] pixels
(``test/loglik_pixels``). ``<data_dir>/mnist/`` holds the MNIST IDX files (docs/data.md).
"""

import ml_collections


SETTINGS = ("", "authors", "cpu", "legacy")


def get_config(setting: str = "") -> ml_collections.ConfigDict:
  """The config of one SteinCD-GAN(alpha) run (``setting``: see the module docstring)."""
  if setting not in SETTINGS:
    raise ValueError(
      f"Unknown setting {setting!r} in --config=configs/steingan_rbm_mnist.py:<setting>; use one of " f"{SETTINGS[1:]}."
    )
  config = ml_collections.ConfigDict()
  # Shared platform keys.
  config.seed = 0
  config.num_steps = 10_000
  config.eval_every = 500
  config.checkpoint_every = 1000
  config.log_every = 50
  config.data_dir = ml_collections.config_dict.placeholder(str)  # else $STEIN_JAX_DATA_DIR

  # Data: as configs/rbm_mnist.py (dataset "synthetic_rbm" needs no files; for tests).
  config.dataset = "mnist"
  config.preprocess = "unit"  # x in [0, 1] pixels (the authors' code); "center_scale" as configs/rbm_mnist.py
  config.synthetic_dim = 16
  config.num_visible = 784
  config.num_eval_train = 10_000
  config.batch_size = 100  # Adam on batches of 100 (sec. 5.1)

  # The method.
  config.alpha = 0.0  # SteinCD-GAN mixing probability: 0 SteinGAN, 1 SteinCD
  config.discount = 0.0  # gamma of the stabilised energy update (sec. 5.2); 0 is eq. (23)

  # The energy model and the generator (sec. 5.1): "conv" is 2 dense layers then 2 transposed 5x5
  # convolutions; "mlp" for non-square data.
  config.model = ml_collections.ConfigDict()
  config.model.num_hidden = 10
  config.model.rbm_init = (
    "uniform"  # B ~ U[-init_scale, init_scale] (the authors' code); or "normal": N(0, init_scale^2)
  )
  config.model.init_scale = 0.05
  config.model.generator = "conv"
  config.model.noise_dim = 100
  config.model.noise = "uniform"  # xi ~ U[-1, 1]^noise_dim (sec. 5.2); or "normal"
  config.model.generator_hidden = 1024
  config.model.generator_channels = 64
  config.model.generator_normalization = True  # batch statistics, no scale/shift, after every hidden layer (authors)
  config.model.generator_output = "sigmoid"  # pixels in [0, 1] (needs preprocess="unit"); or "linear"

  # The generator's SVGD step and the SteinCD negatives.
  config.svgd = ml_collections.ConfigDict()
  config.svgd.use_kernel = True  # False: "SteinGAN without kernel" (Fig. 1(d))
  config.svgd.generator_update = "chain_rule"  # eq. (21); or "regression" (eq. (20), num_fit_steps steps)
  config.svgd.num_fit_steps = 1
  config.svgd.step_size = 100.0  # eps of the generator's SVGD step; = m sums over the batch as the authors' code
  config.svgd.kernel_normalization = "row_sum"  # divide phi by sum_j k_ij (the authors' code); "mean": 1/m (eq. (5))
  config.svgd.bandwidth = "median_log1p"  # h = med^2 / log(m + 1) (the authors' code); the text: "median_log"
  config.svgd.cd_step_size = 1.0  # eps of the SteinCD negatives (tuned for SteinCD in configs/rbm_mnist.py)

  # Optimisation: one Adam for each network.
  config.optimizer = ml_collections.ConfigDict()
  config.optimizer.energy_learning_rate = 3e-4  # the authors' code, both networks
  config.optimizer.generator_learning_rate = 3e-4
  config.optimizer.adam_b1 = 0.5
  config.optimizer.weight_decay = 1e-5  # L2 penalty added to the gradient before Adam (the authors' code)

  # Evaluation: exact test log-likelihood and the classifier ("inception") score of generated images.
  config.eval = ml_collections.ConfigDict()
  config.eval.num_score_samples = 50_000  # the paper's 50,000
  config.eval.classifier_cache_dir = ml_collections.config_dict.placeholder(str)  # else $STEIN_JAX_CACHE_DIR or workdir
  config.eval.classifier_epochs = 3
  config.eval.num_samples = 100  # generator samples in the final grid

  if setting == "cpu":
    config.update(eval_every=1000, checkpoint_every=1000, log_every=100)
    config.model.update(generator_hidden=256, generator_channels=16)
    config.eval.num_score_samples = 10_000
  elif setting == "legacy":
    config.update(preprocess="center_scale", num_steps=1000, eval_every=250)
    config.model.update(
      rbm_init="normal",
      init_scale=0.01,
      generator_normalization=False,
      generator_output="linear",
      generator_hidden=256,
      generator_channels=16,
    )
    config.optimizer.update(energy_learning_rate=3e-3, generator_learning_rate=1e-3, weight_decay=0.0)
    config.svgd.update(kernel_normalization="mean", bandwidth="median_log", step_size=1.0)
    config.eval.num_score_samples = 10_000
  return config
