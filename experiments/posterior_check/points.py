"""One test point of a posterior check: its target density, encoder sampler and ground truth."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from stein_jax.evaluation import posterior_check as pc

from experiments.posterior_check.reopen import Error, Run


class Point(NamedTuple):
  """What check_point needs for one test point."""

  logdensity_fn: Any
  data: Any
  encoder: Any  # (num, seed) -> [num, d] encoder samples, SVGD coordinates
  reference: Any  # (key) -> ([m, d] samples, info dict) or raises NUTSNotConvergedError
  top_fn: Any  # reference [m, d] -> indices or None
  to_report: Any
  native_mmd_name: str  # "" or the name of an MMD in SVGD coordinates (PFA: log z)


def num_test_points(run: Run) -> int:
  exp = run.experiment
  if run.name == "stein_vae_gmm":
    return int(exp.data.x_test.shape[0])
  if run.name == "stein_vae_mnist":
    return int(exp.test_data.x.shape[0])
  if run.name == "stein_vae_text":
    return int(exp.test_x.shape[0])
  return int(exp.gibbs.shape[0])


def check_indices(run: Run, indices) -> list[int]:
  n = num_test_points(run)
  idx = [int(i) for i in indices]
  bad = [i for i in idx if not 0 <= i < n]
  if not idx or bad:
    what = "test documents with Gibbs ground truth" if run.name == "pfa" else "test points"
    raise Error(f"test_indices {tuple(idx)} out of range: the run has {n} {what} " f"(valid: 0..{n - 1}).")
  if len(set(idx)) != len(idx):
    raise Error(f"test_indices {tuple(idx)} repeat a point.")
  return idx


def _smallest_variance(k):
  return lambda ref: np.argsort(np.asarray(ref).var(0))[:k]


def make_point(run: Run, config, i: int, pad_to: int | None = None) -> Point:
  """The target, encoder sampler and ground truth of test point ``i`` of ``run``."""
  exp, params = run.experiment, run.state.inner.params
  ident = lambda a: a
  if run.name == "stein_vae_gmm":
    from stein_jax.data import synthetic_gmm as gmm  # pylint: disable=g-import-not-at-top

    if run.config.model.learn_decoder:
      raise Error(
        "the GMM run learned its decoder; the exact posterior is that of the true "
        "theta, so the check needs a run with model.learn_decoder=False (sec. 5.1)."
      )
    x = np.asarray(exp.data.x_test[i], np.float32)
    post = gmm.GMMPosterior(exp.post.log_weights[i], exp.post.means[i], exp.post.cov)
    enc = lambda num, seed: np.asarray(exp.encoder_samples(params, jnp.asarray(x)[None], num, seed)[0])
    ref = lambda key: (np.asarray(gmm.posterior_sample(key, post, config.reference_samples)), {"kind": "exact"})
    return Point(pc.gmm_target(run.config.observation), jnp.asarray(x), enc, ref, lambda r: None, ident, "")
  if run.name in ("stein_vae_mnist", "stein_vae_text"):
    xs = exp.test_data.x if run.name == "stein_vae_mnist" else exp.test_x
    x = np.asarray(xs[i], np.float32).reshape(-1)
    dz = exp.model.latent_dim
    enc = lambda num, seed: np.asarray(exp.encoder_samples(params, jnp.asarray(x)[None], num, seed)[0])
    target = pc.latent_model_target(exp.model)
    data = (params["dec"], jnp.asarray(x))
    nc = config.nuts

    def ref(key):
      k_init, k_run = jax.random.split(key)
      init = jax.random.normal(k_init, (nc.num_chains, dz))  # prior draws: over-dispersed
      res = pc.nuts_reference(
        k_run,
        target,
        data,
        init,
        num_warmup=nc.num_warmup,
        num_samples=nc.num_samples,
        target_acceptance_rate=nc.target_acceptance_rate,
        rhat_threshold=nc.rhat_threshold,
        max_divergence_fraction=nc.max_divergence_fraction,
      )
      info = {
        "kind": "nuts",
        "rhat_max": res.rhat_max,
        "divergences": res.divergences.tolist(),
        "step_size": res.step_size.tolist(),
        "converged": res.converged,
        "reason": res.reason,
      }
      try:
        return pc.require_converged(res, f"NUTS for test point {i}"), info
      except pc.NUTSNotConvergedError as e:
        e.info = info
        raise

    return Point(target, data, enc, ref, _smallest_variance(config.top_coordinates), ident, "")
  # PFA: SVGD on u = log z as in training; metrics in z as docs/results/pfa_20news.md.
  from stein_jax.models import pfa as pfa_models  # pylint: disable=g-import-not-at-top

  x = np.asarray(exp.x_test[i], np.float32)
  v = run.config.model.num_topics

  def enc(num, seed):
    xi = jax.random.normal(jax.random.key(seed), (1, num, v))
    u = pfa_models.encode_log_z(exp.encoder, params, jnp.asarray(x)[None, None], xi)
    return np.asarray(u[0])

  gibbs = np.asarray(exp.gibbs[i], np.float64)
  ref = lambda key: (np.log(np.maximum(gibbs, 1e-30)), {"kind": "gibbs", "draws": int(gibbs.shape[0])})
  top = np.argsort(-gibbs.mean(0))[: config.top_coordinates]
  data = pc.pfa_target_data(x, exp.theta, pad_to)
  return Point(
    pc.pfa_target(float(run.config.model.prior_r), float(run.config.model.prior_c)),
    data,
    enc,
    ref,
    lambda r: top,
    np.exp,
    "mmd_log_z",
  )


def bandwidth_rule(run: Run):
  """The run's latent kernel rule, ``svgd.bandwidth``."""
  return run.config.svgd.bandwidth


def kernel_metric(run: Run, config) -> str:
  """``config.svgd.metric`` if set, else the run's ``svgd.kernel_metric``."""
  if config.svgd.metric is not None:
    return config.svgd.metric
  return run.config.svgd.kernel_metric
