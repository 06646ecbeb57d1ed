r"""Stein VAE training step vs IWAE (k = 100), side by side, and test-time cost per image.

    python -m benchmarks.stein_vae_step                  # sec. 5.2 architecture, batch 64
    python -m benchmarks.stein_vae_step --repeats=20 --test_images=200

Same decoder (Bernoulli, tanh 200-200, 50 latent units) and x-trunk (tanh 200-200) for
all rows, random binary "images" (speed does not depend on the data). Rows:

  * IWAE, k = 100: Gaussian encoder, one reparameterised 100-sample bound per image.
  * Stein VAE, S = 100, Gaussian-noise encoder (FlowEncoder with 0 couplings, the same
    encoder network as IWAE's): the issue's "same architecture" comparison.
  * Stein VAE, S = 100, FlowEncoder with 4 couplings (the encoder we train on MNIST).

The steps are interleaved (one of each per round, and a 1024 x 1024 matmul that gives the same-run matmul rate)
so that the load from other processes on a shared machine hits all of them alike; the median over rounds is
reported, the median of the per-round ratios Stein / IWAE (issue 15's target: <= 1.3 for the flow encoder), and
each step's rate: XLA's counted flops of the compiled step (``cost_analysis``) per second, as a percentage of the
matmul rate (target for IWAE: >= 50 %). Test time: seconds per image of the ELBO + S-ELBO evaluation
(``bounds.evaluate``) with 1 and with 100 decoder particles. Runs unchanged on an accelerator (the device JAX
chooses; printed first). The profile behind the step's fixes: docs/results/stein_vae_step.md.
"""

from __future__ import annotations

import time

from absl import app, flags
import jax
import jax.numpy as jnp
import numpy as np
import optax

from stein_jax.evaluation import bounds
from stein_jax.models import vae as vae_models
from stein_jax.objectives import stein_vae as sv

FLAGS = flags.FLAGS
flags.DEFINE_integer("repeats", 15, "Timed rounds (one step of each method per round).")
flags.DEFINE_integer("batch_size", 64, "Minibatch size.")
flags.DEFINE_integer("particles", 100, "Stein particles S and IWAE samples k.")
flags.DEFINE_integer("test_images", 20, "Images for the test-time cost.")
flags.DEFINE_integer(
  "test_samples",
  100,
  "Samples per image for the test-time cost " "(the cost is linear in it: the paper's S-ELBO uses 5,000).",
)
flags.DEFINE_bool("skip_steps", False, "Only measure the test-time cost.")


def _model(encoder):
  return sv.LatentModel(encoder, vae_models.BernoulliDecoder(784, (200, 200)), 50, 784)


def _flops(compiled) -> float:
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  return float(cost.get("flops", float("nan"))) if cost else float("nan")


def _timed_step(trainer, x, key, flops):
  state = trainer.init(key)
  step = jax.jit(trainer.step, donate_argnums=1)
  batch = {"x": x}
  flops.append(_flops(step.lower(key, state, batch).compile()))
  state, _ = step(key, state, batch)
  jax.block_until_ready(state)
  box = [state]

  def run():
    t0 = time.perf_counter()
    box[0], m = step(key, box[0], batch)
    jax.block_until_ready((box[0], m))
    return time.perf_counter() - t0

  return run


def main(argv):
  del argv
  s = FLAGS.particles
  key = jax.random.key(0)
  x = jnp.asarray(np.random.default_rng(0).uniform(size=(FLAGS.batch_size, 784)) < 0.2, jnp.float32)
  tx = optax.adam(2e-4)
  rows = {
    f"IWAE k={s} (Gaussian encoder)": sv.make_trainer("iwae", _model(vae_models.GaussianEncoder(50)), tx, k=s),
    f"Stein VAE S={s} (Gaussian-noise encoder)": sv.make_trainer(
      "stein_vae", _model(vae_models.FlowEncoder(50, num_coupling_layers=0)), tx, num_particles=s
    ),
    f"Stein VAE S={s} (flow encoder, 4 couplings)": sv.make_trainer(
      "stein_vae", _model(vae_models.FlowEncoder(50)), tx, num_particles=s
    ),
    f"Stein VIWAE S={s}, k=50 (flow encoder)": sv.make_trainer(
      "stein_viwae", _model(vae_models.FlowEncoder(50)), tx, num_particles=s, k=50
    ),
  }
  if FLAGS.skip_steps:
    rows = {}
  print(f"devices: {jax.devices()} (backend {jax.default_backend()}); batch {FLAGS.batch_size}")
  counted = {}
  runners = {}
  for name, tr in rows.items():
    flops = []
    runners[name] = _timed_step(tr, x, key, flops)
    counted[name] = flops[0]
  a = jnp.ones((1024, 1024), jnp.float32)
  matmul = jax.jit(lambda m: m @ m)
  jax.block_until_ready(matmul(a))
  times = {name: [] for name in rows}
  matmul_times = []
  for _ in range(FLAGS.repeats):
    for name, run in runners.items():
      times[name].append(run())
    t0 = time.perf_counter()
    jax.block_until_ready(matmul(a))
    matmul_times.append(time.perf_counter() - t0)
  rate = 2 * 1024**3 / float(np.median(matmul_times)) if matmul_times else float("nan")
  med = {name: float(np.median(t)) for name, t in times.items()}
  base = next(iter(times.values()), None)
  print(f"{FLAGS.repeats} interleaved rounds; same-run matmul rate (1024^3, float32): {rate / 1e9:.1f} GFLOP/s")
  print("| step | median ms | ratio to IWAE (median per round) | GFLOP (XLA count) | % of matmul rate |")
  print("|---|---:|---:|---:|---:|")
  for name, t in med.items():
    ratio = float(np.median(np.asarray(times[name]) / np.asarray(base)))
    pct = 100.0 * counted[name] / t / rate
    print(f"| {name} | {1e3 * t:.1f} | {ratio:.2f} | {counted[name] / 1e9:.2f} | {pct:.0f} |")

  # Test-time cost per image (ELBO + S-ELBO with test_samples samples), M = 1 and 100.
  model = _model(vae_models.FlowEncoder(50))
  xt = jnp.asarray(np.random.default_rng(1).uniform(size=(FLAGS.test_images, 784)) < 0.2, jnp.float32)
  print(f"\ntest time, {FLAGS.test_samples} samples per image, {FLAGS.test_images} images:")
  print("| decoder particles M | seconds per image |\n|---:|---:|")
  for m in (1, 100):
    enc, dec = sv.init_params(key, model, num_decoder=m)
    res = bounds.evaluate(
      key,
      model,
      enc,
      dec,
      xt,
      batch_size=min(10, FLAGS.test_images),
      num_samples=FLAGS.test_samples,
      chunk_size=50 if m > 1 else 250,
    )
    print(f"| {m} | {res['seconds_per_image']:.4f} |")


if __name__ == "__main__":
  app.run(main)
