"""``python -m experiments.posterior_check --config=configs/posterior_check.py --config.run_dir=RUN --workdir=DIR``."""

from stein_jax.evaluation import posterior_check as pc
from stein_jax.train import checkpoint as checkpoint_lib
from stein_jax.train import main as main_lib

from experiments.posterior_check import run_check

if __name__ == "__main__":
  main_lib.run_tool(run_check, (pc.PosteriorCheckError, checkpoint_lib.CheckpointRestoreError))
