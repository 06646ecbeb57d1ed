r"""SVGD's variance collapse with dimension: n particles at their fixed point on N(0, I_d) (docs/stein_math.md sec. 9).

Command (DIR: where variance_collapse.json and figures/variance_collapse.png go; about 8 minutes on a 2-core CPU):
    python -m experiments.variance_collapse --config=configs/variance_collapse.py --workdir=DIR
A subset (tuples on the command line):
    python -m experiments.variance_collapse --config=configs/variance_collapse.py --workdir=DIR \
        --config.dims='(2,16,128,784)' --config.particles='(50,100,1000)'
"""

import ml_collections


def get_config():
  config = ml_collections.ConfigDict()
  config.dims = (1, 2, 8, 32, 128, 784)  # dimensions d
  config.particles = (50, 100, 500)  # particle counts n
  config.bandwidths = ("median", "median_log")  # bandwidth rules
  config.num_steps = 5000  # 5,000 steps of 0.5 reach the fixed point for n <= 500
  config.step_size = 0.5  # eps of x <- x + eps * phi(x)
  config.seed = 0
  return config
