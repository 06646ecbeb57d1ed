r"""Signal-to-noise of the Stein VIWAE encoder update at a trained MNIST / text run (docs/stein_viwae.md sec. 5).

Command (RUN: the --workdir of an experiments.stein_vae MNIST or text run; DIR: output):
    STEIN_JAX_DATA_DIR=/path/to/data python -m experiments.viwae_snr \
        --config=configs/viwae_snr.py --config.run_dir=RUN --workdir=DIR
For every latent weight-group size k_z in ``latent_ks`` and particle step in ``updates`` it draws the
encoder's eq. (7) gradient ``num_draws`` times (fresh xi each, parameters fixed) on one training batch
and reports the update's signal-to-noise ratio, the cloud's expansion per step and the weights' ESS.
"""

import ml_collections


def get_config():
  config = ml_collections.ConfigDict()
  config.run_dir = ml_collections.config_dict.placeholder(str)  # required: the trained run
  config.step = ml_collections.config_dict.placeholder(int)  # None: the newest checkpoint
  config.data_dir = ml_collections.config_dict.placeholder(str)  # default $STEIN_JAX_DATA_DIR
  config.seed = 0
  config.batch_step = 0  # which training batch (the run's batcher at this step)
  config.batch_size = 64  # images of that batch used (<= the run's batch size)
  config.num_draws = 32  # independent draws of xi per setting
  config.k = 50  # the weight groups' size of the importance weights (VIWAE's k)
  config.latent_ks = (1, 5, 25, 50)  # k_z of the latent step: 1 = unweighted (Stein VAE's step)
  config.updates = ("sgd", "adam")  # the particle step (move_particles)
  config.plot = True
  return config
