r"""Table 1's evaluation of a trained MNIST run: every test image, 5,000 importance samples, ELBO and S-ELBO.

    STEIN_JAX_DATA_DIR=/path/to/data python -m experiments.stein_vae_eval \
        --config=configs/stein_vae_eval.py --config.run_dir=RUN --workdir=DIR

The run's checkpoint (``--config.step``: "best" validation S-ELBO, "last" or a step) is restored, the split
is evaluated by :func:`stein_jax.evaluation.bounds.evaluate` (streamed: any number of samples fits in
memory) and DIR/eval_<split>_step<N>.json records the NLLs, the cost per image, the device and the
protocol. The training runs' own evaluations use 1,000 images and 1,000 samples (configs/stein_vae_mnist_cpu.py).
"""

from __future__ import annotations

import json
import os
import time

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from experiments import stein_vae as stein_vae_family
from stein_jax import data as data_lib
from stein_jax.evaluation import bounds
from stein_jax.evaluation import posterior_check as pc
from stein_jax.train import checkpoint as checkpoint_lib
from stein_jax.train import runs
from stein_jax.train import main as main_lib
from stein_jax.train import read_metrics

SPLITS = ("test", "valid", "train")


class Error(ValueError):
  """A bad setting of this evaluation (one line for the user)."""


def choose_step(run_dir: str, step, available: list[int]) -> int:
  """The checkpoint step for ``step`` = "best" | "last" | int, given the run's saved steps."""
  if not available:
    raise Error(f"{run_dir} holds no checkpoint.")
  if isinstance(step, str) and step.strip().isdigit():
    step = int(step)
  if step == "last":
    return available[-1]
  if step == "best":
    best = None
    for rec in read_metrics(run_dir):
      if "valid/nll_s_elbo" in rec and (best is None or rec["valid/nll_s_elbo"] < best[1]):
        best = (int(rec["step"]), rec["valid/nll_s_elbo"])
    if best is None:
      raise Error(
        f"{run_dir} logged no validation S-ELBO (valid/nll_s_elbo): train with "
        "eval.valid_examples > 0, or pass --config.step=last or a step."
      )
    if best[0] not in available:
      raise Error(
        f"the best validation step of {run_dir} is {best[0]} (valid S-ELBO {best[1]:.2f}) "
        f"but its checkpoint is gone (kept: {available}); raise max_to_keep when training, "
        "or pass --config.step=last."
      )
    return best[0]
  if isinstance(step, int) and not isinstance(step, bool):
    if step not in available:
      raise Error(f"{run_dir} has no checkpoint at step {step}; it has {available}.")
    return step
  raise Error(f"step must be 'best', 'last' or a step number, got {step!r}.")


def run_evaluation(config, workdir: str) -> dict:
  if config.split not in SPLITS:
    raise Error(f"split must be one of {SPLITS}, got {config.split!r}.")
  if not (isinstance(config.num_samples, int) and config.num_samples >= 1):
    raise Error(f"num_samples must be an int >= 1, got {config.num_samples!r}.")
  if not config.run_dir:
    raise Error("--config.run_dir is required: the --workdir of a trained MNIST run.")
  ckpt = checkpoint_lib.Checkpointer(os.path.abspath(config.run_dir))
  try:
    available = ckpt.all_steps()
  finally:
    ckpt.close()
  step = choose_step(config.run_dir, config.step, available)
  run = stein_vae_family.load_run(config.run_dir, step=step, data_dir=config.data_dir)
  if run.name != "stein_vae_mnist":
    raise Error(
      f"run_dir holds a {run.name!r} run; this evaluation is for MNIST runs "
      "(text runs report perplexities in their own evaluation)."
    )
  data = data_lib.load(
    "binarized_mnist", config.split, config.data_dir or run.config.data_dir, max_examples=config.max_examples
  )
  x = jnp.asarray(data.x, jnp.float32)
  t0 = time.time()
  res = bounds.evaluate(
    jax.random.key(config.seed),
    run.experiment.model,
    run.state.inner.params["enc"],
    run.state.inner.params["dec"],
    x,
    batch_size=min(config.batch_size, x.shape[0]),
    num_samples=config.num_samples,
    chunk_size=config.chunk_size,
  )
  out = {
    "run_dir": os.path.abspath(config.run_dir),
    "method": run.config.method,
    "step": int(run.step),
    "step_rule": config.step,
    "split": config.split,
    "num_images": int(x.shape[0]),
    "num_samples": int(config.num_samples),
    "pixels_on": float(np.mean(data.x)),
    "nll_elbo": res["nll_elbo"],
    "nll_s_elbo": res["nll_s_elbo"],
    "seconds_per_image": res["seconds_per_image"],
    "wall_seconds": time.time() - t0,
    "device": jax.devices()[0].device_kind,
    "num_decoder": int(run.config.svgd.num_decoder),
  }
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, f"eval_{config.split}_step{out['step']}.json")
  with open(path + ".tmp", "w") as f:
    json.dump(out, f, indent=1)
  os.replace(path + ".tmp", path)
  logging.info("wrote %s", path)
  return out


def report(out: dict) -> None:
  print(
    f"{out['method']} step {out['step']} ({out['step_rule']}): {out['split']} NLL on "
    f"{out['num_images']} images, {out['num_samples']} samples: ELBO {out['nll_elbo']:.3f}, "
    f"S-ELBO {out['nll_s_elbo']:.3f} nats; {1e3 * out['seconds_per_image']:.3f} ms per image "
    f"({out['device']})"
  )


if __name__ == "__main__":
  main_lib.run_tool(
    run_evaluation,
    (
      Error,
      pc.PosteriorCheckError,
      runs.RunLoadError,
      checkpoint_lib.CheckpointRestoreError,
      bounds.NonFiniteBoundError,
    ),
    report=report,
  )
