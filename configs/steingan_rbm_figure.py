r"""Fig. 1(b)-(d) of Liu & Wang (2017): SteinCD-GAN(alpha) on the Gaussian-Bernoulli RBM, and the kernel ablation.

Command (DIR: one run per alpha (and seed) under DIR/alpha<a>[_seed<s>], DIR/nokernel[_seed<s>], then
fig1b.png, fig1cd.png, results.json and table.md; finished runs are not retrained;
docs/results/steingan_rbm_mnist.md):
    STEIN_JAX_DATA_DIR=/path/to/data python -m experiments.steingan_rbm_figure \
        --config=configs/steingan_rbm_figure.py --workdir=DIR
Only score runs that exist (no training), or the paper's budget with three seeds:
    ... --config.train=False
    ... --config.setting="" --config.seeds='(0,1,2)'
"""

import ml_collections


def get_config():
  config = ml_collections.ConfigDict()
  config.setting = "cpu"  # the setting of configs/steingan_rbm_mnist.py ("" the paper's, "cpu", ...)
  config.alphas = (0.0, 0.1, 0.25, 0.5, 1.0)  # SteinCD-GAN mixing probabilities, in [0, 1]
  config.seeds = (0,)  # training seeds
  config.num_score_samples = 50_000  # generator samples for the final classifier score
  config.train = True  # False: only evaluate the runs that exist
  return config
