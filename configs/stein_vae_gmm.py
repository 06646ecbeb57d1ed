r"""Stein VAE on the Gaussian-mixture posterior of Pu et al. (2017), sec. 5.1 (Fig. 1).

Command (the bimodal setting, Stein VAE with 100 particles; about 3 minutes on a loaded 2-core CPU):
    python -m experiments.stein_vae --config=configs/stein_vae_gmm.py --workdir=/tmp/svae_gmm
The paper's observation x = theta z, and the Gaussian VAE baseline:
    python -m experiments.stein_vae --config=configs/stein_vae_gmm.py \
        --config.observation=paper --workdir=/tmp/svae_gmm_paper
    python -m experiments.stein_vae --config=configs/stein_vae_gmm.py \
        --config.method=vae --workdir=/tmp/svae_gmm_vae
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
  # Method.
  config.method = "stein_vae"  # "stein_vae" | "stein_viwae" | "vae" | "iwae"
  config.num_particles = 100  # S latent particles per data point (Stein methods)
  config.k = 10  # VIWAE group size / IWAE samples
  config.encoder = "auto"  # auto: "mlp" (concat(x, xi), sec. 5.1) for Stein, "gaussian" for VAE/IWAE
  config.encoder_hidden = (100,)
  config.learn_decoder = False  # sec. 5.1 studies the encoder with theta known
  config.decoder_prior_std = 1.0
  config.batch_size = 100
  config.learning_rate = 1e-3  # Adam
  config.lr_decay = "constant"  # "constant" | "cosine" (to 0 over num_steps)
  config.step_size = 1.0  # eps of z + eps * phi
  config.bandwidth = "median"  # SVGD kernel rule: "median" (h = med^2) | "median_log" (h = med^2 / log S)
  config.encoder_steps = 1  # K of eq. (7)
  config.latent_update = "sgd"  # particles' step: "sgd" (z + eps phi) | "adam" (one fresh Adam step)
  config.kernel = "rbf"  # latent SVGD kernel: "rbf" (eq. 6) | "imq" (inverse multiquadric)
  config.repulsion_scale = 1.0  # alpha on the grad-k term of the latent direction (1: eq. 6)
  config.kernel_normalization = "mean"  # "mean" (1/S, eq. 6) | "row_sum" (1 / sum_j k_ij)
  config.kernel_metric = (
    "isotropic"  # "isotropic" (eq. 6) | "diagonal" (per-coordinate whitened, docs/stein_math.md sec. 13)
  )
  # Remedy for SVGD's lack of mass transport between modes (see
  # docs/results/stein_vae_gmm.md): start q(z|x) at the prior's first two moments for every x.
  config.encoder_init = "prior_moments"  # "default" | "prior_moments"
  # Optional kernel annealing: start `bandwidth_anneal_factor` x wider than the bandwidth rule,
  # decaying to it over `bandwidth_anneal_steps` steps (0 disables). Off: the multi-seed ablation
  # in docs/results/stein_vae_gmm.md finds it no better on top of prior_moments, and worse without.
  # Birth-death step (an extension beyond the paper; 0 = the paper's method): before the
  # encoder fit, over-represented particles are replaced by importance-resampled copies
  # (stein_jax.stein.birth_death), a force across the valley between the modes.
  config.birth_death_rate = 0.0
  config.birth_death_start = 0  # first step of the birth-death step
  config.bandwidth_anneal_steps = 0
  config.bandwidth_anneal_factor = 100.0
  # Evaluation.
  config.eval_samples = 1000  # encoder and exact samples per test point for the MMD
  config.mode_samples = 100_000  # encoder samples per test point for the mode weights (SE <= 0.0016)
  config.plot = True
  return config
