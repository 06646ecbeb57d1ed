"""``python -m experiments.pfa --config=configs/pfa_20news.py --workdir=DIR`` (see the package docstring)."""

from stein_jax.train import run_main

from experiments.pfa import experiment_from_flags

if __name__ == "__main__":
  run_main(experiment_from_flags)
