r"""Fig. 1 of Pu et al. (2017): Stein VAE with 10, 50 and 100 particles vs the Gaussian VAE, both observations.

Command (DIR: one run per setting under DIR/<observation>/<run>, then fig1_<observation>.png, tables.md,
valley_bimodal.png and results.json in DIR; a finished run is resumed, not retrained):
    python -m experiments.gmm_figure --config=configs/gmm_figure.py --workdir=DIR
The numbers of docs/results/stein_vae_gmm.md (8,000 steps per run):
    python -m experiments.gmm_figure --config=configs/gmm_figure.py --workdir=DIR --config.num_steps=8000
A quicker subset:
    python -m experiments.gmm_figure --config=configs/gmm_figure.py --workdir=DIR --config.num_steps=1000 \
        --config.observations=bimodal --config.particles=100
Every run starts from ``base`` (configs/stein_vae_gmm.py); override its keys as --config.base.<key>=<value>
(e.g. --config.base.seed=1, --config.base.svgd.step_size=0.5). The figure sets each run's observation, method,
svgd.num_particles and eval.plot=False.
"""

import ml_collections

from configs import stein_vae_gmm


def get_config():
  config = ml_collections.ConfigDict()
  config.observations = ("paper", "bimodal")  # "paper" (x = theta z) | "bimodal" (x = z_1 - z_2)
  config.particles = (10, 50, 100)  # Stein VAE particle counts (and one Gaussian VAE per observation)
  # None: base's num_steps; an int: every run's num_steps, eval_every and checkpoint_every.
  config.num_steps = ml_collections.config_dict.placeholder(int)
  config.base = stein_vae_gmm.get_config()  # what every run starts from
  return config
