r"""Stein VAE / VIWAE and VAE / IWAE on binarized MNIST, the paper's setting (Pu et al. 2017, sec. 5.2, Table 1).

Command (needs the data: STEIN_JAX_DATA_DIR or --config.data_dir; see docs/data.md):
    STEIN_JAX_DATA_DIR=/path/to/data python -m experiments.stein_vae \
        --config=configs/stein_vae_mnist.py --workdir=/tmp/svae_mnist
Other methods: --config.method=stein_viwae | vae | iwae. The CPU-budget variant is
configs/stein_vae_mnist_cpu.py. Groups: ``model``, ``svgd``, ``optimizer``, ``eval``
(--config.svgd.num_particles=20, --config.eval.samples=1000, ...).

Paper setting: one stochastic layer of 50 units, two deterministic tanh layers of 200,
Bernoulli decoder, Adam lr 2e-4, batch 64, 100 latent particles, k = 50, test NLL by the
ELBO and by the 5,000-sample S-ELBO on the 10,000 test images. The paper does not give
the number of epochs; 3,000 epochs of 781 steps is the IWAE paper's schedule length,
we use 1,000 epochs (a GPU-scale budget).
"""

import ml_collections


def get_config():
  config = ml_collections.ConfigDict()
  # Shared keys.
  config.seed = 0
  config.num_steps = 781_000  # 1,000 epochs of 50,000 / 64
  config.eval_every = 78_100
  config.checkpoint_every = 7_810
  config.log_every = 781
  config.data_dir = ml_collections.config_dict.placeholder(str)
  # Data.
  config.dataset = "binarized_mnist"
  config.max_train_examples = ml_collections.config_dict.placeholder(int)  # None: all 50,000
  config.batch_size = 64
  config.method = "stein_vae"  # "stein_vae" | "stein_viwae" | "vae" | "iwae"

  # Model (sec. 5.2).
  config.model = ml_collections.ConfigDict()
  config.model.latent_dim = 50
  config.model.hidden = (200, 200)
  config.model.encoder = "auto"  # auto: "flow" for Stein (exact log q), "gaussian" for VAE/IWAE
  config.model.num_coupling_layers = 4
  config.model.coupling_hidden = 64
  config.model.learn_decoder = True
  config.model.decoder_prior_std = 1.0

  config.svgd = ml_collections.ConfigDict()
  config.svgd.num_particles = 100
  config.svgd.k = 50
  # Stein VIWAE: group size k_z of the latent step's weights (None: k, the paper's form). Use
  # --config.svgd.latent_k=1 for Stein VIWAE: with k_z = k = 50 and the Adam particle step the
  # encoder's update is mostly noise and spreads it until the run diverges (~3,000 steps;
  # docs/stein_viwae.md sec. 5); k_z = 1 keeps the unweighted latent step and the decoder's
  # k-sample bound (the PIWAE split of Rainforth et al. 2018). (The default stays None so that
  # runs started before this finding resume.)
  config.svgd.latent_k = ml_collections.config_dict.placeholder(int)
  config.svgd.num_decoder = 1  # M_theta decoder particles (Fig. 3 sweeps it)
  # The particles' step before the encoder fit: "adam" (sec. 5: "the samples of ... z ... are
  # optimized via Adam": one Adam step of learning rate step_size from a fresh state,
  # z + step_size * phi / |phi|) or "sgd" (z + step_size * phi). With "sgd" the Stein
  # encoders stall after about 2,000 steps on MNIST (docs/results/stein_vae_mnist.md); or
  # "rms" (z + step_size * phi / rms(phi), per coordinate over each image's particles).
  config.svgd.latent_update = "adam"
  config.svgd.step_size = 1.0
  config.svgd.encoder_steps = 1
  # The latent direction's grad-k multiplier alpha and kernel normalisation ("mean": 1/S as in
  # eq. 6, or "row_sum": 1 / sum_j k_ij). The authors' related code (lewisKit/Amortized_SVGD,
  # SteinVAE/steinvae.py) uses alpha = 100 with "row_sum"; alpha != 1 tempers the fixed
  # point to p(z | x)^(1 / alpha) (docs/stein_math.md sec. 12).
  config.svgd.kernel = "rbf"  # the latent SVGD kernel: "rbf" (eq. 6) | "imq" (inverse multiquadric, beta = -1/2)
  config.svgd.bandwidth = "median"  # "median" (h = med^2) | "median_log" (h = med^2 / log S)
  config.svgd.repulsion_scale = 1.0
  config.svgd.kernel_normalization = "mean"
  config.svgd.kernel_metric = (
    "isotropic"  # "isotropic" (eq. 6) | "diagonal" (per-coordinate whitened, docs/stein_math.md sec. 13)
  )
  config.svgd.bandwidth_anneal_steps = 0
  config.svgd.bandwidth_anneal_factor = 1.0
  config.svgd.birth_death_rate = 0.0  # the birth-death step of configs/stein_vae_gmm.py (0: off, the paper's)
  config.svgd.birth_death_start = 0

  config.optimizer = ml_collections.ConfigDict()
  config.optimizer.learning_rate = 2e-4  # Adam
  config.optimizer.lr_decay = "constant"  # "constant" | "cosine" (to 0 over num_steps)

  # Evaluation: NLL by the ELBO and the S-ELBO with eval.samples samples per image.
  config.eval = ml_collections.ConfigDict()
  config.eval.test_examples = ml_collections.config_dict.placeholder(int)  # None: all 10,000
  # Validation images for early stopping (sec. 5: model selection on the validation set):
  # each evaluation also logs valid/nll_* and best/* (the test NLL at the best valid S-ELBO
  # so far). None: all 10,000; 0: no validation.
  config.eval.valid_examples = ml_collections.config_dict.placeholder(int)
  # Which images when test_examples / valid_examples is smaller than the split: "first" (the
  # source's order) or "random" (a fixed uniform sample, the same for every run).
  config.eval.subset = "first"
  config.eval.samples = 5000
  config.eval.batch_size = 100
  config.eval.chunk_size = 250
  return config
