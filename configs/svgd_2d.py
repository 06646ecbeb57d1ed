r"""SVGD on a 2-D target of stein_jax.targets: particles and the KSD trace (Liu & Wang 2016).

Command (DIR: where figures/svgd_2d_<target>.png and svgd_2d_<target>.json go; seconds on a CPU):
    python -m experiments.svgd_2d --config=configs/svgd_2d.py --workdir=DIR
Another target and particle count:
    python -m experiments.svgd_2d --config=configs/svgd_2d.py --workdir=DIR \
        --config.target=ring --config.num_particles=500
"""

import ml_collections


def get_config():
  config = ml_collections.ConfigDict()
  config.target = "mixture"  # a name of stein_jax.targets.TARGETS
  config.num_particles = 300  # started from N(0, 4 I)
  config.num_steps = 1000  # plain steps x <- x + eps * phi(x)
  config.learning_rate = 0.5  # eps
  config.bandwidth = "median"  # "median" | "median_log" | a positive number, e.g. "0.5"
  config.seed = 0
  config.trace_every = 10  # record the KSD every this many steps (<= num_steps)
  return config
