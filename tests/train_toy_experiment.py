"""A tiny deterministic experiment for the platform tests (not a test file).

MLP regression of y = sin(3 x) + noise on a fixed synthetic data set, Adam,
with per-step input jitter from ``state.step_rng()`` and an EMA of the
parameters in ``state.extra`` so that resuming exercises every state field.

Run (it is its own config file):
  python tests/train_toy_experiment.py \
      --config=tests/train_toy_experiment.py --workdir=/tmp/toy
"""

import os
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from stein_jax.data.checksums import array_fingerprint
from stein_jax.train.experiment import Experiment
from stein_jax.train.state import TrainState

# Incremented each time train_step is traced (the loop must trace it once).
TRACE_COUNT = [0]


class SimulatedCrash(Exception):
  pass


def get_config():
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.num_steps = 200
  config.eval_every = 50
  config.checkpoint_every = 20
  config.log_every = 10
  config.data_dir = ml_collections.config_dict.placeholder(str)
  config.batch_size = 16
  config.num_examples = 256
  config.hidden = 16
  config.learning_rate = 1e-2
  config.nan_at_step = -1  # > 0: the loss becomes NaN at this step.
  config.blowup_at_step = -1  # > 0: the loss is multiplied by 1e8 from this step on (finite divergence).
  config.step_sleep = 0.0  # host-side delay per step (kill tests).
  config.crash_at_step = -1  # >= 0: batch(step) raises (crash tests).
  config.no_data = False  # True: batch() returns None.
  return config


def _data(seed, n):
  rng = np.random.default_rng(seed)
  x = rng.uniform(-1, 1, size=(n, 1)).astype(np.float32)
  y = (np.sin(3 * x) + 0.05 * rng.normal(size=(n, 1))).astype(np.float32)
  return x, y


def _mlp(params, x):
  h = jnp.tanh(x @ params["w1"] + params["b1"])
  return h @ params["w2"] + params["b2"]


class ToyRegression(Experiment):
  name = "toy_regression"
  resumable_keys = ("step_sleep", "crash_at_step")

  def __init__(self, config):
    super().__init__(config)
    self.tx = optax.adam(config.learning_rate)
    if config.data_dir is None:
      self.x, self.y = _data(config.seed, config.num_examples)
    else:
      path = os.path.join(config.data_dir, "toy.npz")
      if not os.path.exists(path):
        raise FileNotFoundError(
          f"toy data set not found at {path}; run " "without --config.data_dir for synthetic data"
        )
      with np.load(path) as f:
        self.x, self.y = f["x"], f["y"]

  def data_fingerprint(self):
    return None if self.config.data_dir is None else array_fingerprint(self.x, self.y)

  def init_state(self, rng, config):
    k1, k2 = jax.random.split(rng)
    params = {
      "w1": jax.random.normal(k1, (1, config.hidden)),
      "b1": jnp.zeros(config.hidden),
      "w2": jax.random.normal(k2, (config.hidden, 1)) / config.hidden**0.5,
      "b2": jnp.zeros(1),
    }
    return TrainState.create(params=params, tx=self.tx, rng=rng, extra={"ema": params})

  def _loss(self, params, x, y, step):
    loss = jnp.mean((_mlp(params, x) - y) ** 2)
    blowup = (self.config.blowup_at_step > 0) & (step + 1 >= self.config.blowup_at_step)
    loss = jnp.where(blowup, 1e8 * (1.0 + loss), loss)
    return jnp.where(step + 1 == self.config.nan_at_step, jnp.nan, loss)

  def train_step(self, state, batch):
    TRACE_COUNT[0] += 1
    if batch is None:
      x, y = jnp.asarray(self.x[:16]), jnp.asarray(self.y[:16])
    else:
      x, y = batch["x"], batch["y"]
    x = x + 0.01 * jax.random.normal(state.step_rng(), x.shape)
    loss, grads = jax.value_and_grad(self._loss)(state.params, x, y, state.step)
    new = state.apply_gradients(grads, self.tx)
    ema = jax.tree.map(lambda e, p: 0.9 * e + 0.1 * p, state.extra["ema"], new.params)
    gnorm = optax.tree.norm(grads)
    return new.replace(extra={"ema": ema}), {"loss": loss, "grad_norm": gnorm}

  def batch(self, step):
    if self.config.step_sleep:
      time.sleep(self.config.step_sleep)
    if step == self.config.crash_at_step:
      raise SimulatedCrash(f"simulated crash before step {step + 1}")
    if self.config.no_data:
      return None
    rng = np.random.default_rng([self.config.seed, step])
    idx = rng.choice(self.config.num_examples, self.config.batch_size, replace=False)
    return {"x": self.x[idx], "y": self.y[idx]}

  def evaluate(self, state, step, workdir):
    p = jax.device_get(state.params)  # numpy on the host: nothing to compile
    pred = np.tanh(self.x @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]
    return {"mse": float(np.mean((pred - self.y) ** 2))}


if __name__ == "__main__":
  from stein_jax.train.main import run_main  # pylint: disable=g-import-not-at-top

  run_main(ToyRegression)
