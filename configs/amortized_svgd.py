r"""Amortized SVGD generator on a 2-D target (issue: amortized SVGD platform).

Command:
    python -m experiments.amortized_svgd --config=configs/amortized_svgd.py --workdir=/tmp/asvgd
Ablation (kernel off, the generator collapses onto modes):
    python -m experiments.amortized_svgd --config=configs/amortized_svgd.py \
        --config.svgd.repulsion=False --workdir=/tmp/asvgd_norep
Other targets: --config.target=ring | banana. Groups: ``model`` (the generator), ``svgd``, ``optimizer``, ``eval``.
"""

import ml_collections


def get_config():
  config = ml_collections.ConfigDict()
  # Shared keys (every experiment has them).
  config.seed = 0
  config.num_steps = 3000
  config.eval_every = 1000
  config.checkpoint_every = 1000
  config.log_every = 100
  config.data_dir = ml_collections.config_dict.placeholder(str)  # no data: the target is analytic
  # This experiment.
  config.target = "mixture"  # "mixture" | "ring" | "banana"
  config.method = "chain_rule"  # "chain_rule" (Liu & Wang eq. 21) | "regression" (Pu et al. eq. 7)
  config.model = ml_collections.ConfigDict()  # the generator x = G(xi)
  config.model.noise_dim = 4
  config.model.hidden = (64, 64)
  config.svgd = ml_collections.ConfigDict()
  config.svgd.num_particles = 256  # generated samples per step
  config.svgd.step_size = 1.0  # eps in z + eps * phi
  config.svgd.bandwidth = "median"  # "median" | "median_log" | a positive float
  config.svgd.repulsion = True  # False: the kernel-off ablation
  config.svgd.num_fit_steps = 1  # K of eq. 7 (regression only)
  config.optimizer = ml_collections.ConfigDict()
  config.optimizer.learning_rate = 2e-3  # Adam
  config.eval = ml_collections.ConfigDict()
  config.eval.samples = 5000
  return config
