"""``python -m experiments.steingan_rbm --config=configs/steingan_rbm_mnist.py --workdir=DIR`` (see the package docstring)."""

from stein_jax.train import run_main

from experiments.steingan_rbm import SteinGANExperiment

if __name__ == "__main__":
  run_main(SteinGANExperiment)
