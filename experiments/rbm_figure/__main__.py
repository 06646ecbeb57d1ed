"""``python -m experiments.rbm_figure --config=configs/rbm_figure.py --workdir=DIR`` (see the package docstring)."""

from stein_jax.train import main as main_lib

from experiments.rbm_figure import run_from_config

if __name__ == "__main__":
  main_lib.run_tool(run_from_config)
