r"""One bandwidth on an anisotropic Gaussian posterior: free vs amortised SVGD, isotropic vs diagonal metric.

Command (DIR: where anisotropic_collapse.json, table.md and figures/ go; about 3 minutes on a 2-core CPU;
docs/stein_math.md sec. 13, docs/results/stein_vae_text.md):
    python -m experiments.anisotropic_collapse --config=configs/anisotropic_collapse.py --workdir=DIR
Other particle counts and dimension:
    python -m experiments.anisotropic_collapse --config=configs/anisotropic_collapse.py --workdir=DIR \
        --config.particles='(20,100)' --config.dim=50
"""

import ml_collections


def get_config():
  config = ml_collections.ConfigDict()
  config.particles = (20, 100)  # particle counts S
  config.dim = 50  # dimension d (the text and MNIST latents: 50)
  config.min_var = 0.01  # the smallest posterior variance (the largest is 1), in (0, 1]
  config.free_steps = 3000  # plain SVGD steps for free particles
  config.amortised_steps = 4000  # encoder updates for amortised SVGD
  config.seed = 0
  return config
