r"""Stein VAE on the Gaussian-mixture posterior of Pu et al. (2017), sec. 5.1 (Fig. 1).

Command (the bimodal setting, Stein VAE with 100 particles; about 3 minutes on a loaded 2-core CPU):
    python -m experiments.stein_vae --config=configs/stein_vae_gmm.py --workdir=/tmp/svae_gmm
The paper's observation x = theta z, and the Gaussian VAE baseline:
    python -m experiments.stein_vae --config=configs/stein_vae_gmm.py \
        --config.observation=paper --workdir=/tmp/svae_gmm_paper
    python -m experiments.stein_vae --config=configs/stein_vae_gmm.py \
        --config.method=vae --workdir=/tmp/svae_gmm_vae
Groups: ``model`` (encoder, decoder), ``svgd`` (particles, kernel, step), ``optimizer``, ``eval``
(e.g. --config.svgd.num_particles=10 --config.optimizer.learning_rate=3e-3); data, seed and schedule
keys at the top.
All settings side by side (10/50/100 particles vs the VAE, both observations):
    python -m experiments.gmm_figure --config=configs/gmm_figure.py --workdir=/tmp/gmm_figure

Evaluations log eval/posterior_mmd and (bimodal) eval/mode_weight_error; figures of the
encoder samples over each test point's exact posterior go to WORKDIR/figures/.
"""

import ml_collections


def get_config():
  config = ml_collections.ConfigDict()
  # Shared keys.
  config.seed = 0
  config.num_steps = 2000
  config.eval_every = 1000
  config.checkpoint_every = 1000
  config.log_every = 200
  config.data_dir = ml_collections.config_dict.placeholder(str)  # synthetic: unused
  # Data (sec. 5.1): 10,000 training and 10 test points.
  config.dataset = "gmm"
  config.observation = "bimodal"  # "paper" (x = theta z) | "bimodal" (x = z_1 - z_2)
  config.data_seed = 0
  config.num_train = 10_000
  config.num_test = 10
  config.batch_size = 100
  config.method = "stein_vae"  # "stein_vae" | "stein_viwae" | "vae" | "iwae"

  # The model: encoder q(z | x), and the decoder theta (known here).
  config.model = ml_collections.ConfigDict()
  config.model.encoder = "auto"  # auto: "mlp" (concat(x, xi), sec. 5.1) for Stein, "gaussian" for VAE/IWAE
  config.model.encoder_hidden = (100,)
  # Remedy for SVGD's lack of mass transport between modes (see
  # docs/results/stein_vae_gmm.md): start q(z|x) at the prior's first two moments for every x.
  config.model.encoder_init = "prior_moments"  # "default" | "prior_moments"
  config.model.learn_decoder = False  # sec. 5.1 studies the encoder with theta known
  config.model.decoder_prior_std = 1.0

  # SVGD: particles, kernel and the particles' step.
  config.svgd = ml_collections.ConfigDict()
  config.svgd.num_particles = 100  # S latent particles per data point (Stein methods)
  config.svgd.k = 10  # VIWAE group size / IWAE samples
  config.svgd.latent_k = ml_collections.config_dict.placeholder(int)  # Stein VIWAE latent groups (None: k)
  config.svgd.num_decoder = 1  # M_theta decoder particles
  config.svgd.step_size = 1.0  # eps of z + eps * phi
  config.svgd.encoder_steps = 1  # K of eq. (7)
  config.svgd.latent_update = "sgd"  # particles' step: "sgd" (z + eps phi) | "adam" (one fresh Adam step)
  config.svgd.kernel = "rbf"  # latent SVGD kernel: "rbf" (eq. 6) | "imq" (inverse multiquadric)
  config.svgd.bandwidth = "median"  # kernel rule: "median" (h = med^2) | "median_log" (h = med^2 / log S)
  config.svgd.repulsion_scale = 1.0  # alpha on the grad-k term of the latent direction (1: eq. 6)
  config.svgd.kernel_normalization = "mean"  # "mean" (1/S, eq. 6) | "row_sum" (1 / sum_j k_ij)
  config.svgd.kernel_metric = (
    "isotropic"  # "isotropic" (eq. 6) | "diagonal" (per-coordinate whitened, docs/stein_math.md sec. 13)
  )
  # Birth-death step (an extension beyond the paper; 0 = the paper's method): before the
  # encoder fit, over-represented particles are replaced by importance-resampled copies
  # (stein_jax.stein.birth_death), a force across the valley between the modes.
  config.svgd.birth_death_rate = 0.0
  config.svgd.birth_death_start = 0  # first step of the birth-death step
  # Optional kernel annealing: start `bandwidth_anneal_factor` x wider than the bandwidth rule,
  # decaying to it over `bandwidth_anneal_steps` steps (0 disables). Off: the multi-seed ablation
  # in docs/results/stein_vae_gmm.md finds it no better on top of prior_moments, and worse without.
  config.svgd.bandwidth_anneal_steps = 0
  config.svgd.bandwidth_anneal_factor = 100.0

  config.optimizer = ml_collections.ConfigDict()
  config.optimizer.learning_rate = 1e-3  # Adam
  config.optimizer.lr_decay = "constant"  # "constant" | "cosine" (to 0 over num_steps)

  config.eval = ml_collections.ConfigDict()
  config.eval.samples = 1000  # encoder and exact samples per test point for the MMD
  config.eval.mode_samples = 100_000  # encoder samples per test point for the mode weights (SE <= 0.0016)
  config.eval.plot = True
  return config
