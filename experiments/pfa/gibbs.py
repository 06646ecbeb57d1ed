"""Stage 1 of the PFA experiment: theta by Gibbs sampling and the Gibbs ground truth of z | x, theta, each cached.

Each cache is an npz file with its settings as JSON (``meta``); a cache whose settings differ from the run's is an
error, never silently reused (docs/pfa.md, sec. 5).
"""

import hashlib
import json
import os
import time

from absl import logging
import jax
import numpy as np

from stein_jax.evaluation import pfa_gibbs


def _theta_digest(theta) -> str:
  return hashlib.sha256(np.ascontiguousarray(np.asarray(theta, np.float32)).tobytes()).hexdigest()


def _load_checked(path, key, meta, what, mismatch, config_key):
  """``key`` from the npz cache at ``path``, after checking its stored meta agrees with ``meta``."""
  with np.load(path) as f:
    stored = json.loads(str(f["meta"]))
    value = f[key]
  diff = {k: (stored.get(k), v) for k, v in meta.items() if stored.get(k) != v}
  if diff:
    raise ValueError(f"{what} {path} {mismatch} (stored, now): {diff}; point {config_key} " "elsewhere or delete it.")
  return value


def _save_atomic(path, meta, **arrays):
  """Writes ``arrays`` and ``meta`` (as JSON) to the npz cache ``path`` atomically."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  np.savez(path + ".tmp.npz", meta=json.dumps(meta), **arrays)
  os.replace(path + ".tmp.npz", path)


def theta_meta(config, vocab_size: int) -> dict:
  """The settings a theta cache must share with the run."""
  return {
    "dataset": config.dataset,
    "num_topics": config.model.num_topics,
    "vocab_size": vocab_size,
    "a0": config.model.prior_a0,
    "r": config.model.prior_r,
    "c": config.model.prior_c,
  }


def get_theta(config, x_train, prior, path):
  """theta ``[P, V]`` from the cache ``path`` if it exists (checked), else learned by Gibbs (then saved there).

  Returns:
    ``(theta, seconds)``: ``seconds`` is the Gibbs fit's wall time, None when read from the cache.
  """
  meta = theta_meta(config, x_train.shape[1])
  if path and os.path.exists(path):
    theta = _load_checked(path, "theta", meta, "theta file", "was learned with other settings", "theta.file")
    logging.info("Loaded theta from %s.", path)
    return theta, None
  n = config.theta.train_docs or x_train.shape[0]
  x = x_train[:n]
  tokens = pfa_gibbs.corpus_tokens(x, config.theta.chunk_size)
  t0 = time.time()
  fit = pfa_gibbs.learn_theta(
    jax.random.key(config.seed + 101),
    tokens,
    config.model.num_topics,
    prior,
    num_sweeps=config.theta.sweeps,
    num_burnin=config.theta.burnin,
    chunk_size=config.theta.chunk_size,
  )
  theta = np.asarray(fit.theta)
  seconds = time.time() - t0
  logging.info("Learned theta by %d Gibbs sweeps on %d documents in %.1f s.", config.theta.sweeps, n, seconds)
  if path and jax.process_index() == 0:
    meta.update(
      train_docs=n,
      sweeps=config.theta.sweeps,
      burnin=config.theta.burnin,
      seconds=seconds,
      log_likelihood_per_token=np.asarray(fit.log_likelihood).tolist(),
    )
    _save_atomic(path, meta, theta=theta)
  return theta, seconds


def get_gibbs(config, theta, x_test, prior, path):
  """Gibbs samples ``[D, C, V]`` of the test documents' z | x, theta, from the cache ``path`` or computed."""
  meta = {
    "theta_sha256": _theta_digest(theta),
    "num_test_docs": config.num_test_docs,
    "burnin": config.gibbs.burnin,
    "collect": config.gibbs.collect,
    "thin": config.gibbs.thin,
    "r": config.model.prior_r,
    "c": config.model.prior_c,
  }
  if path and os.path.exists(path):
    return _load_checked(path, "samples", meta, "Gibbs file", "belongs to another theta or protocol", "gibbs.file")
  t0 = time.time()
  samples = np.asarray(
    pfa_gibbs.posterior_z(
      jax.random.key(config.seed + 202),
      theta,
      pfa_gibbs.doc_tokens(x_test),
      prior,
      num_burnin=config.gibbs.burnin,
      num_collect=config.gibbs.collect,
      thin=config.gibbs.thin,
    )
  )
  meta["seconds"] = time.time() - t0
  logging.info("Gibbs ground truth for %d test documents in %.1f s.", config.num_test_docs, meta["seconds"])
  if path and jax.process_index() == 0:
    _save_atomic(path, meta, samples=samples)
  return samples
