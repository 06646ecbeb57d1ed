"""ELBO and importance-weighted bounds ("S-ELBO") for noise encoders (Pu et al. 2017, sec. 5.2).

For data x, encoder samples z_s = f_eta(x, xi_s), xi_s ~ N(0, I), and decoder particles
theta_1..M, the log importance weights are

    log w_s = log (1/M) sum_m p(x, z_s | theta_m) - log q(z_s | x),
    log q(z | x) = log q0(xi) - log|det d f_eta(x, xi) / d xi|   (change of variables),

i.e. the decoder parameters are integrated out by averaging over the particles, the
model-averaged p(x*, z*) of sec. 5.2. Then

    ELBO   = mean_s log w_s                      (<= log p(x))
    S-ELBO = log (1/S) sum_s w_s, S = 5,000      (the k-sample bound of Burda et al.)

The S samples are drawn in chunks and reduced with a streaming logsumexp (a running
max and a rescaled running sum), so memory is O(B * chunk * dx), not O(B * S * dx).
:func:`perplexity` turns per-document bounds into exp(- sum_d log p(x_d) / sum_d N_d).
A bound that comes out NaN or infinite is never returned as a number: the public
functions raise :class:`NonFiniteBoundError`.
"""

from __future__ import annotations

import functools
import math
import time
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np

from stein_jax.targets import latent as sv

Array = jax.Array
PyTree = Any


class NonFiniteBoundError(ValueError):
  """A bound evaluated to NaN or inf (diverged parameters, or a non-invertible encoder)."""


def check_finite(name: str, value) -> None:
  """Raises :class:`NonFiniteBoundError` naming ``name`` if any entry of value is not finite."""
  arr = np.asarray(value)
  if not np.all(np.isfinite(arr)):
    bad = int(np.sum(~np.isfinite(arr)))
    raise NonFiniteBoundError(
      f"{name}: {bad} of {arr.size} values are NaN or inf; refusing to report a bound. "
      "Check the parameters for divergence (lower the learning rate) and that the "
      "encoder is invertible in xi (its log-det must be finite)."
    )


def log_weights(
  key: Array, model: sv.LatentModel, enc_params: PyTree, dec_params: PyTree, x: Array, num_samples: int
) -> Array:
  """log w [B, S] for x [B, dx], with independent xi [B, S, dz] per data point."""
  xi = jax.random.normal(key, (x.shape[0], num_samples, model.latent_dim))
  z, log_q = sv.sample_with_log_q(model, enc_params, x[:, None, :], xi)
  return sv.log_joint(model, dec_params, x, z, "logmeanexp") - log_q


def _streaming_bounds(key, model, enc_params, dec_params, x, num_samples: int, chunk_size: int):
  """(mean_s log w_s, log mean_s w_s), each [B], over num_samples drawn chunk by chunk."""
  chunk = max(1, min(int(chunk_size), int(num_samples)))
  num_chunks = -(-num_samples // chunk)
  b = x.shape[0]

  def body(carry, i):
    run_max, run_sum, run_mean = carry
    lw = log_weights(jax.random.fold_in(key, i), model, enc_params, dec_params, x, chunk)
    valid = (i * chunk + jnp.arange(chunk)) < num_samples  # mask the last chunk's padding
    lw_masked = jnp.where(valid, lw, -jnp.inf)
    new_max = jnp.maximum(run_max, jnp.max(lw_masked, -1))
    run_sum = run_sum * jnp.exp(run_max - new_max) + jnp.sum(jnp.exp(lw_masked - new_max[:, None]), -1)
    run_mean = run_mean + jnp.sum(jnp.where(valid, lw, 0.0), -1) / num_samples
    return (new_max, run_sum, run_mean), None

  init = (jnp.full((b,), -jnp.inf), jnp.zeros((b,)), jnp.zeros((b,)))
  (run_max, run_sum, run_mean), _ = jax.lax.scan(body, init, jnp.arange(num_chunks))
  # A NaN log-weight makes run_max NaN, so a NaN can never hide inside the max.
  iw = run_max + jnp.log(run_sum) - math.log(num_samples)
  return run_mean, iw


def make_bound_fn(model: sv.LatentModel, num_samples: int = 5000, chunk_size: int = 250) -> Callable:
  """A jitted ``(key, enc_params, dec_params, x) -> (elbo [B], iw_bound [B])`` (no checks)."""
  if num_samples < 1:
    raise ValueError(f"num_samples must be >= 1, got {num_samples}.")
  sv.check_model(model)
  try:
    return _cached_bound_fn(model, num_samples, chunk_size)
  except TypeError:  # a model with unhashable fields: build (and compile) afresh
    return _build_bound_fn(model, num_samples, chunk_size)


def _build_bound_fn(model, num_samples, chunk_size):
  return jax.jit(lambda key, ep, dp, x: _streaming_bounds(key, model, ep, dp, x, num_samples, chunk_size))


# One jitted function per (model, num_samples, chunk_size): a training run evaluates
# every eval_every steps, and a fresh jit per call would recompile the whole bound.
_cached_bound_fn = functools.lru_cache(maxsize=16)(_build_bound_fn)


def elbo(
  key: Array,
  model: sv.LatentModel,
  enc_params: PyTree,
  dec_params: PyTree,
  x: Array,
  num_samples: int = 100,
  chunk_size: int = 250,
) -> Array:
  """Per-example ELBO [B] with the change-of-variables entropy (sec. 5.2). Raises on NaN."""
  sv.check_data(model, x)
  out = make_bound_fn(model, num_samples, chunk_size)(key, enc_params, dec_params, x)[0]
  check_finite("ELBO", out)
  return out


def importance_weighted_bound(
  key: Array,
  model: sv.LatentModel,
  enc_params: PyTree,
  dec_params: PyTree,
  x: Array,
  num_samples: int = 5000,
  chunk_size: int = 250,
) -> Array:
  """Per-example S-sample bound [B] (S-ELBO; Burda et al. 2016), streamed. Raises on NaN."""
  sv.check_data(model, x)
  out = make_bound_fn(model, num_samples, chunk_size)(key, enc_params, dec_params, x)[1]
  check_finite("importance-weighted bound", out)
  return out


EVAL_MEMORY_BUDGET_BYTES = 2 * 2**30


def max_chunk_size(
  model: sv.LatentModel,
  dec_params: PyTree,
  batch_size: int,
  chunk_size: int,
  budget_bytes: int = EVAL_MEMORY_BUDGET_BYTES,
) -> int:
  """``chunk_size`` capped so that one chunk's activations stay within ``budget_bytes``.

  One chunk evaluates ``batch_size x chunk x M`` decoder passes (M stacked decoders); each holds its logits and
  log-likelihood terms (~4 dx floats) and hidden layers (budgeted at 4 x 1024 floats). A request for more samples
  than fit is therefore split into more chunks of the streaming reduction, never one allocation that cannot fit.
  """
  leaves = jax.tree_util.tree_leaves(dec_params)
  m = int(leaves[0].shape[0]) if leaves and leaves[0].ndim else 1
  per_sample = 4 * m * (4 * int(model.data_dim) + 4 * 1024)
  cap = max(1, int(budget_bytes) // max(1, int(batch_size) * per_sample))
  return max(1, min(int(chunk_size), cap))


def evaluate(
  key: Array,
  model: sv.LatentModel,
  enc_params: PyTree,
  dec_params: PyTree,
  x: Array,
  *,
  batch_size: int = 100,
  num_samples: int = 5000,
  elbo_samples: Optional[int] = None,
  chunk_size: int = 250,
  return_per_example: bool = False,
) -> dict:
  """Test NLL (nats, positive) by ELBO and by S-ELBO, and the cost per image.

  Args:
    key: PRNG key; batch i uses ``fold_in(key, i)``.
    model, enc_params, dec_params: the trained model (dec_params stacked [M, ...]).
    x: test data [N, dx].
    batch_size: images per jitted call.
    num_samples: S of the S-ELBO (5,000 in the paper).
    elbo_samples: samples for the ELBO; by default the ELBO is the mean log-weight of
      the same S samples (it is an unbiased ELBO estimate for any S).
    chunk_size: samples per chunk of the streaming reduction (capped by :func:`max_chunk_size`, so any
      ``num_samples`` fits in memory).
    return_per_example: also return the per-example bounds (e.g. for a perplexity,
      which weights documents by their lengths: :func:`perplexity`).

  Returns:
    {"nll_elbo", "nll_s_elbo", "seconds_per_image"} (the timing excludes compilation:
    the first batch is run once before timing) and, with ``return_per_example``,
    "elbo" and "s_elbo": numpy arrays [N] of the per-example bounds (log p estimates).

  Raises:
    NonFiniteBoundError if any image's bound is NaN or inf.
  """
  sv.check_data(model, x)
  n = x.shape[0]
  chunk_size = max_chunk_size(model, dec_params, batch_size, chunk_size)
  fn = make_bound_fn(model, num_samples, chunk_size)
  fn_elbo = None if elbo_samples is None else make_bound_fn(model, elbo_samples, chunk_size)
  pad = (-n) % batch_size
  xp = jnp.concatenate([x, jnp.repeat(x[:1], pad, 0)]) if pad else x
  batches = xp.reshape(-1, batch_size, x.shape[-1])
  jax.block_until_ready(fn(key, enc_params, dec_params, batches[0]))  # compile
  elbos, iws, seconds = [], [], 0.0
  for i in range(batches.shape[0]):
    k = jax.random.fold_in(key, i)
    t0 = time.perf_counter()
    e, w = jax.block_until_ready(fn(k, enc_params, dec_params, batches[i]))
    seconds += time.perf_counter() - t0
    if fn_elbo is not None:
      e = fn_elbo(jax.random.fold_in(k, 1 << 20), enc_params, dec_params, batches[i])[0]
    elbos.append(np.asarray(e))
    iws.append(np.asarray(w))
  elbos = np.concatenate(elbos)[:n]
  iws = np.concatenate(iws)[:n]
  check_finite("test ELBO", elbos)
  check_finite("test S-ELBO", iws)
  out = {
    "nll_elbo": float(-elbos.mean()),
    "nll_s_elbo": float(-iws.mean()),
    "seconds_per_image": seconds / batches.shape[0] / batch_size,
  }
  if return_per_example:
    out.update(elbo=elbos, s_elbo=iws)
  return out


def perplexity(log_probs, num_words) -> float:
  """Corpus perplexity exp(- sum_d log p(x_d) / sum_d N_d) (Table 2 of Pu et al. 2017).

  Args:
    log_probs: [D] estimates (or bounds) of log p(x_d) per document; a lower bound
      on log p gives an upper bound on the perplexity.
    num_words: [D] document lengths N_d = sum_w x_dw.

  Raises:
    ValueError on mismatched shapes, non-finite values or no words at all.
  """
  lp = np.asarray(log_probs, np.float64)
  n = np.asarray(num_words, np.float64)
  if lp.shape != n.shape or lp.ndim != 1:
    raise ValueError(f"log_probs and num_words must both have shape [D]; got {lp.shape} " f"and {n.shape}.")
  check_finite("perplexity log-probabilities", lp)
  if not n.sum() > 0:
    raise ValueError("perplexity needs at least one word in the documents (sum N_d > 0).")
  return float(np.exp(-lp.sum() / n.sum()))
