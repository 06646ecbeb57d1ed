"""``python -m experiments.semi_supervised --config=configs/semi_supervised_mnist.py --workdir=DIR``."""

from stein_jax.train import run_main

from experiments.semi_supervised import SemiSupervisedExperiment

if __name__ == "__main__":
  run_main(SemiSupervisedExperiment)
