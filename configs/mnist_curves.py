r"""Table 1's learning curves of MNIST runs, all methods in one figure, or Fig. 3's decoder-particle sweep.

Command (each RUN the --workdir of an experiments.stein_vae MNIST run, labelled; DIR: where
figures/mnist_curves.png and mnist_curves.md go; docs/results/stein_vae_mnist.md):
    python -m experiments.mnist_curves --config=configs/mnist_curves.py --workdir=DIR \
        --config.runs='("vae=RUN1","iwae=RUN2","stein_vae=RUN3","stein_viwae=RUN4")'
or one flag per run (the same tuple): --config.runs=vae=RUN1 --config.runs=iwae=RUN2 ...
Fig. 3 (runs labelled by their decoder-particle count; NLL and test time against M at one step):
    python -m experiments.mnist_curves --config=configs/mnist_curves.py --workdir=DIR \
        --config.runs='("M1=RUN1","M3=RUN3","M10=RUN10")' --config.decoder_sweep_step=2000
"""

import ml_collections


def get_config():
  config = ml_collections.ConfigDict()
  config.runs = ()  # required: "label=workdir" strings; labels of LABELS get their long names
  config.eval_dirs = ()  # more directories holding eval_test_step<N>.json of experiments.stein_vae_eval
  # None: the learning curves; a step: Fig. 3 instead, from runs labelled M<count>.
  config.decoder_sweep_step = ml_collections.config_dict.placeholder(int)
  return config
