"""Experiment platform: train state, loop, checkpoints, metrics, sharding.

See docs/platform.md. An experiment implements :class:`Experiment` in one
file; its main is ``run_main(MyExperiment)``.
"""

from stein_jax.train.checkpoint import CheckpointRestoreError
from stein_jax.train.checkpoint import Checkpointer
from stein_jax.train.config import ConfigError
from stein_jax.train.config import validate_config
from stein_jax.train.experiment import AlgorithmExperiment
from stein_jax.train.experiment import Experiment
from stein_jax.train.figures import save_figure
from stein_jax.train.loop import NonFiniteLossError
from stein_jax.train.loop import train_and_evaluate
from stein_jax.train.loop import WorkdirMismatchError
from stein_jax.train.main import run_main
from stein_jax.train.main import run_tool
from stein_jax.train.metrics import MetricWriter
from stein_jax.train.metrics import read_metrics
from stein_jax.train.sharding import BatchShardingError
from stein_jax.train.state import AlgorithmState
from stein_jax.train.state import TrainState

__all__ = [
  "AlgorithmExperiment",
  "AlgorithmState",
  "BatchShardingError",
  "CheckpointRestoreError",
  "Checkpointer",
  "ConfigError",
  "Experiment",
  "MetricWriter",
  "NonFiniteLossError",
  "TrainState",
  "WorkdirMismatchError",
  "read_metrics",
  "run_main",
  "run_tool",
  "save_figure",
  "train_and_evaluate",
  "validate_config",
]
