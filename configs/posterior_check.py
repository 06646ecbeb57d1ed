r"""Posterior check of a trained Stein VAE / VAE / PFA run (issue 11; Pu et al. 2017, secs. 5.1-5.2).

Command (RUN: the --workdir of an experiments.stein_vae run, GMM / MNIST / text, or of an
experiments.pfa run; DIR: where posterior_check.json, table.md and figures/ go):
    STEIN_JAX_DATA_DIR=/path/to/data python -m experiments.posterior_check \
        --config=configs/posterior_check.py --config.run_dir=RUN --workdir=DIR
e.g. the GMM run of configs/stein_vae_gmm.py:
    python -m experiments.stein_vae --config=configs/stein_vae_gmm.py --workdir=/tmp/pc/gmm
    python -m experiments.posterior_check --config=configs/posterior_check.py \
        --config.run_dir=/tmp/pc/gmm --workdir=/tmp/pc/gmm_check
Choose test points with --config.test_indices='(0,1,2)'. Numbers: docs/results/posterior_check.md.
"""

import ml_collections


def get_config():
  config = ml_collections.ConfigDict()
  config.run_dir = ml_collections.config_dict.placeholder(str)  # required: the trained run
  config.step = ml_collections.config_dict.placeholder(int)  # None: the run's newest checkpoint
  config.data_dir = ml_collections.config_dict.placeholder(str)  # default $STEIN_JAX_DATA_DIR
  config.seed = 0
  config.test_indices = (0, 1, 2, 3, 4)  # test points of the run's test split
  config.encoder_samples = 1000  # encoder samples for the encoder's own metrics
  config.large_particles = 1000  # the "many particles" free SVGD run
  config.top_coordinates = 5  # var_ratio_top: PFA top topics / smallest-variance z's
  config.mmd_points = 1000  # at most this many samples of each side in the MMD
  # Free SVGD to its fixed point (stein_jax.evaluation.posterior_check.free_svgd).
  config.svgd = ml_collections.ConfigDict()
  config.svgd.optimizer = "adam_sgd"  # Adam phase, then z + eps_i phi | "sgd" | "adam"
  config.svgd.learning_rate = 0.5  # sgd: eps_i = lr * min(var0_i, 1 / h_i); adam: lr * sd0_i
  config.svgd.adam_learning_rate = 0.05  # the Adam phase: steps of 0.05 x the start cloud's sd
  config.svgd.adam_steps = 300
  config.svgd.check_every = 100
  config.svgd.lag = 5  # convergence window: lag * check_every steps
  config.svgd.max_steps = 5000
  config.svgd.tol = 0.02  # max |d mean| / sd and max |d log var| over the window
  # The kernel's metric for free SVGD: None = the run's kernel_metric; "isotropic" | "diagonal".
  config.svgd.metric = ml_collections.config_dict.placeholder(str)
  # Ground truth. GMM: exact samples; PFA: the run's cached Gibbs draws; MNIST / text: NUTS.
  config.reference_samples = 2000  # GMM exact samples
  config.pfa_theta_file = ml_collections.config_dict.placeholder(str)  # default RUN/pfa_theta.npz
  config.pfa_gibbs_file = ml_collections.config_dict.placeholder(str)  # default RUN/pfa_gibbs_test.npz
  config.nuts = ml_collections.ConfigDict()
  config.nuts.num_chains = 4  # started from prior draws (over-dispersed)
  config.nuts.num_warmup = 500
  config.nuts.num_samples = 500
  config.nuts.target_acceptance_rate = 0.8
  config.nuts.rhat_threshold = 1.05  # split R-hat; above it the point is "not converged"
  config.nuts.max_divergence_fraction = 0.01
  config.plot = True
  return config
