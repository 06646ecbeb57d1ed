"""``python -m experiments.stein_vae --config=configs/stein_vae_gmm.py --workdir=DIR`` (see the package docstring)."""

from stein_jax.train import run_main

from experiments.stein_vae import make_experiment

if __name__ == "__main__":
  run_main(make_experiment)
