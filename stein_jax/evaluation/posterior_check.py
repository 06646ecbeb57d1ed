"""Posterior check: what SVGD, the particle count and amortisation each do to q(z | x).

For one posterior p(z | x, theta) of a trained model (a log density of z known up to a
constant, the unnormalised log joint), three sample sets are compared with a ground truth:

  (a) the amortised encoder's samples z = f_eta(x, xi) as given;
  (b) free-particle SVGD (Liu & Wang 2016, eq. (5); Pu et al. 2017, eq. (6)) started from
      the encoder's samples and run to its fixed point, once with the run's S particles
      and once with many (1,000), with the run's kernel bandwidth rule;
  (c) the ground truth: exact samples (the GMM of Pu et al. 2017, sec. 5.1), Gibbs (PFA,
      sec. 5.1) or NUTS (:func:`nuts_reference`, BlackJAX, for the MNIST / text decoders).

So (b, S) against (c) is SVGD's own bias at the run's particle count, (b, 1,000) against
(b, S) the part that more particles remove, and (a) against (b, S) what amortisation
(fitting one network for every x, eq. (7), within the training budget) adds.

A target is ``logdensity_fn(z [d], data) -> []``: ``data`` is a pytree (the observation,
decoder parameters, ...) passed as an argument, not closed over, so that the jitted SVGD
and NUTS programs are compiled once per target function and shape and reused for every
test point. Builders for the repository's models: :func:`gmm_target`,
:func:`latent_model_target`, :func:`pfa_target`.

Metrics (:func:`sample_metrics`) per coordinate i, against reference samples:
  var_ratio      exp(mean_i log(var_i / var_ref_i)): the geometric mean of the per-coordinate
                 variance ratios (the PFA results doc's convention; 1 = right width);
  var_ratio_top  the same over the ``top`` coordinates (PFA: the topics with the largest
                 posterior means; Gaussian-prior decoders: the smallest posterior variances);
  mean_error     mean_i |mean_i - mean_ref_i| / sd_ref_i;
  mmd            unbiased MMD^2 (RBF, pooled median bandwidth; :mod:`stein_jax.evaluation.mmd`).
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax

from stein_jax import kernels
from stein_jax import stein
from stein_jax.evaluation.mmd import mmd
from stein_jax.targets import latent as latent_lib

Array = jax.Array
PyTree = Any
LogDensity = Callable[[Array, PyTree], Array]


class PosteriorCheckError(ValueError):
  """A user-facing problem with a posterior check's inputs (one clear line)."""


class NUTSNotConvergedError(PosteriorCheckError):
  """NUTS did not converge: its samples must not be used as a ground truth."""


# --------------------------------------------------------------------------- metrics


def _as_samples(name: str, a) -> np.ndarray:
  a = np.asarray(a, np.float64)
  if a.ndim != 2 or a.shape[0] < 2:
    raise PosteriorCheckError(f"{name} must be samples [n >= 2, d], got shape {a.shape}.")
  if not np.all(np.isfinite(a)):
    raise PosteriorCheckError(f"{name} contain NaN or inf values.")
  return a


def sample_metrics(samples, reference, *, top=None, mmd_points: int = 1000) -> dict:
  """Compares samples [n, d] of an approximation with reference samples [m, d].

  Args:
    samples: the approximation's samples (encoder or SVGD particles).
    reference: ground-truth samples of the same posterior, same coordinates.
    top: optional integer indices of the coordinates for ``var_ratio_top``.
    mmd_points: at most this many of each sample enter the MMD (it costs (n + m)^2).

  Returns:
    dict of floats ``var_ratio``, ``var_ratio_top`` (None without ``top``),
    ``mean_error``, ``mmd`` and the list ``var_ratio_per_coordinate`` [d]
    (definitions in the module docstring).

  Raises:
    PosteriorCheckError: shapes differ, fewer than 2 samples, non-finite values, or a
      reference coordinate with zero variance.
  """
  z = _as_samples("samples", samples)
  ref = _as_samples("reference samples", reference)
  if z.shape[1] != ref.shape[1]:
    raise PosteriorCheckError(f"samples have {z.shape[1]} coordinates but the reference " f"has {ref.shape[1]}.")
  v, v_ref = z.var(0, ddof=1), ref.var(0, ddof=1)
  if np.any(v_ref <= 0):
    raise PosteriorCheckError(
      "the reference samples have a coordinate with zero variance " "(a stuck chain or too few samples)."
    )
  log_ratio = np.log(np.maximum(v, 1e-300)) - np.log(v_ref)
  mean_err = np.abs(z.mean(0) - ref.mean(0)) / np.sqrt(v_ref)
  top_ratio = None
  if top is not None:
    top = np.asarray(top, np.int64)
    top_ratio = float(np.exp(log_ratio[top].mean()))
  k = int(mmd_points)
  m2 = float(mmd(jnp.asarray(z[:k], jnp.float32), jnp.asarray(ref[:k], jnp.float32)))
  return {
    "var_ratio": float(np.exp(log_ratio.mean())),
    "var_ratio_top": top_ratio,
    "mean_error": float(mean_err.mean()),
    "mmd": m2,
    "var_ratio_per_coordinate": np.exp(log_ratio).tolist(),
  }


# ------------------------------------------------------------------------ free SVGD


class FreeSVGDResult(NamedTuple):
  """Free-particle SVGD run towards its fixed point.

  Attributes:
    particles: [n, d] final particles.
    steps: SVGD steps taken (all phases).
    converged: whether the convergence criterion held before ``max_steps``.
    mean_change: max_i |mean_i - mean_i'| / sd_i over the last ``lag`` checks.
    log_var_change: max_i |log var_i - log var_i'| over the last ``lag`` checks.
    direction_rms: root-mean-square entry of phi at the final particles.
    ksd: V-statistic KSD^2 of the final particles (same kernel and bandwidth rule).
    trace: [(step, mean_i log(var_i / var0_i))] at every check: the cloud's width
      relative to the start (a slow drift shows here).
  """

  particles: np.ndarray
  steps: int
  converged: bool
  mean_change: float
  log_var_change: float
  direction_rms: float
  ksd: float
  trace: list


OPTIMIZERS = ("adam_sgd", "sgd", "adam")


def batched_score(logdensity_fn: LogDensity) -> Callable[[Array, PyTree], Array]:
  """grad_z log p(z | data) for particles [n, d] from the log density of one z [d]."""
  return jax.vmap(jax.grad(logdensity_fn), in_axes=(0, None))


@functools.lru_cache(maxsize=64)
def _svgd_program(logdensity_fn: LogDensity, bandwidth, num_steps: int, optimizer: str, metric: str = "isotropic"):
  """Jitted (z [n, d], adam state, step [d], data) -> (z, adam state): num_steps SVGD steps.

  Cached per (target, bandwidth rule, chunk length, optimizer): every test point and
  every chunk of a run reuses one compiled program (step sizes and data are arguments).
  """
  score = batched_score(logdensity_fn)
  adam = optax.scale_by_adam()

  def program(z, opt_state, step, data):
    def body(carry, _):
      zz, s = carry
      phi = stein.svgd_direction(zz, score(zz, data), bandwidth=bandwidth, metric=metric)
      if optimizer == "adam":
        # Adam's normalised step along +phi: its fixed points are phi = 0.
        upd, s = adam.update(phi, s)
      else:
        upd = phi  # z + eps * phi with a per-coordinate eps (a constant preconditioner)
      return (zz + step * upd, s), None

    (z, opt_state), _ = jax.lax.scan(body, (z, opt_state), None, length=num_steps)
    return z, opt_state

  return jax.jit(program)


@functools.lru_cache(maxsize=64)
def _svgd_diagnostics(logdensity_fn: LogDensity, bandwidth, metric: str = "isotropic"):
  score = batched_score(logdensity_fn)

  def diag(z, data):
    s = score(z, data)
    phi = stein.svgd_direction(z, s, bandwidth=bandwidth, metric=metric)
    # The V-statistic (>= 0): at an SVGD fixed point the particles beat i.i.d. samples
    # and the U-statistic is negative, which reads badly as a distance.
    return jnp.sqrt(jnp.mean(phi**2)), stein.ksd(z, s, bandwidth=bandwidth, statistic="v")

  return jax.jit(diag)


@functools.lru_cache(maxsize=64)
def _hessian_diagonal(logdensity_fn: LogDensity):
  """Jitted (z [m, d], data) -> mean over the m points of -diag grad^2 log p: [d] (d HVPs)."""
  grad = jax.grad(logdensity_fn)

  def one(z, data):
    hvp = lambda e: jax.jvp(lambda zz: grad(zz, data), (z,), (e,))[1]
    return -jnp.diagonal(jax.vmap(hvp)(jnp.eye(z.shape[-1])))

  return jax.jit(lambda z, data: jnp.mean(jax.vmap(one, in_axes=(0, None))(z, data), 0))


def svgd_step_sizes(logdensity_fn: LogDensity, data: PyTree, init, learning_rate: float, optimizer: str) -> Array:
  """Per-coordinate steps [d] of :func:`free_svgd` from the starting cloud ``init`` [n, d].

  adam: ``learning_rate * sd0_i``. sgd: ``learning_rate * min(var0_i, 1 / h_i)``, h_i the
  mean over (up to 32) starting particles of -d^2 log p / dz_i^2: a constant Jacobi
  preconditioner, so a step is stable on a stiff or strongly correlated posterior (the
  sec. 5.1 GMM: sd 0.03 across, 0.1 along) yet a fraction of the width on a flat one.
  sd0 / var0 are floored at a tenth of their mean.
  """
  z = jnp.asarray(init, jnp.float32)
  sd0 = jnp.std(z, 0)
  sd0 = jnp.maximum(sd0, 0.1 * jnp.mean(sd0) + 1e-12)
  if optimizer == "adam":
    return learning_rate * sd0
  h = _hessian_diagonal(logdensity_fn)(z[:32], data)
  inv_h = jnp.where(h > 0, 1.0 / jnp.maximum(h, 1e-30), jnp.inf)
  return learning_rate * jnp.minimum(sd0**2, inv_h)


def free_svgd(
  logdensity_fn: LogDensity,
  data: PyTree,
  init,
  *,
  bandwidth="median",
  optimizer: str = "adam_sgd",
  learning_rate: float = 0.5,
  adam_learning_rate: float = 0.05,
  adam_steps: int = 300,
  check_every: int = 100,
  lag: int = 5,
  max_steps: int = 5000,
  tol: float = 0.02,
  max_restarts: int = 3,
  metric: str = "isotropic",
) -> FreeSVGDResult:
  """Free-particle SVGD on p(z | data) from ``init`` [n, d] towards its fixed point.

  Each step moves every particle along phi(z_i) = (1/n) sum_j [k(z_j, z_i) grad log p(z_j)
  + grad_{z_j} k(z_j, z_i)] (eq. (6) of Pu et al. 2017; :func:`stein_jax.svgd_direction`).
  ``optimizer="adam_sgd"`` (default): ``adam_steps`` Adam steps (fast transport from a
  start far off, e.g. a cloud 6x too wide on the stiff sec. 5.1 posterior, where plain
  steps contract at ~1e-4 per step), then "sgd" from there; convergence is judged in the
  SGD phase only, so the result is the SGD flow's. ``"sgd"``: z + eps_i phi with constant
  per-coordinate steps
  (:func:`svgd_step_sizes`, a Jacobi preconditioner), a faithful discretisation of the
  SVGD flow, as the Stein VAE's own particle step (z + eps phi) and the variance-collapse
  measurements of docs/stein_math.md sec. 9. ``"adam"``: Adam's normalised step of
  ``learning_rate * sd0_i``; its fixed points are also phi = 0, but with a constant rate
  it keeps taking steps of full size where phi is tiny and settles in a cycle biased
  towards where the signs of phi balance: on PFA (d = 128) it narrows far below the SGD
  flow's value (docs/results/posterior_check.md). Kept for comparison only.

  Convergence: every ``check_every`` steps the per-coordinate mean and variance are
  compared with those ``lag`` checks earlier; converged once max_i |Delta mean_i| / sd_i
  < tol and max_i |Delta log var_i| < tol over that window (a lag of several checks
  catches a slow drift that a step-to-step test passes). A run whose particles become
  non-finite restarts from ``init`` with a 4x smaller step, at most ``max_restarts`` times.

  Args:
    logdensity_fn: log p(z | data) up to a constant, z [d] -> [].
    data: pytree passed to ``logdensity_fn``.
    init: starting particles [n, d] (the encoder's samples).
    bandwidth: the run's kernel rule ("median", "median_log", ...) or a float.
    optimizer: "sgd" or "adam" (see above).
    learning_rate: see :func:`svgd_step_sizes`.
    check_every: steps between checks (one compiled chunk).
    lag: the convergence window in checks.
    adam_learning_rate, adam_steps: the Adam phase of "adam_sgd".
    max_steps: upper bound on the steps (per attempt, after the Adam phase).
    tol: convergence tolerance (see above).
    max_restarts: restarts with a smaller step after a divergence.
    metric: the kernel's metric, "isotropic" (the paper's) or "diagonal"
      (:func:`stein_jax.svgd_direction`); the run's own by default in the experiment. The
      reported KSD always uses the isotropic kernel.

  Returns:
    :class:`FreeSVGDResult`.
  """
  if optimizer not in OPTIMIZERS:
    raise PosteriorCheckError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}.")
  z0 = jnp.asarray(init, jnp.float32)
  if z0.ndim != 2 or z0.shape[0] < 2:
    raise PosteriorCheckError(f"free_svgd needs starting particles [n >= 2, d], got {z0.shape}.")
  if not bool(jnp.all(jnp.isfinite(z0))):
    raise PosteriorCheckError("free_svgd: the starting particles contain NaN or inf.")
  if check_every < 1 or lag < 1 or max_steps < check_every:
    raise PosteriorCheckError(
      f"need check_every ({check_every}) >= 1, lag ({lag}) >= 1 and " f"max_steps ({max_steps}) >= check_every."
    )
  kernels.check_bandwidth(bandwidth)
  if metric not in stein.METRICS:
    raise PosteriorCheckError(f"metric must be one of {stein.METRICS}, got {metric!r}.")
  log_var0 = np.log(np.maximum(np.asarray(z0.var(0), np.float64), 1e-30))
  pre_steps, pre_trace = 0, []
  if optimizer == "adam_sgd":
    adam_step = svgd_step_sizes(logdensity_fn, data, z0, adam_learning_rate, "adam")
    chunk = _svgd_program(logdensity_fn, bandwidth, int(check_every), "adam", metric)
    z, opt_state = z0, optax.scale_by_adam().init(z0)
    while pre_steps < adam_steps:
      z, opt_state = chunk(z, opt_state, adam_step, data)
      pre_steps += check_every
      var = np.asarray(z.var(0), np.float64)
      pre_trace.append((pre_steps, float(np.mean(np.log(np.maximum(var, 1e-30)) - log_var0))))
    if not bool(jnp.all(jnp.isfinite(z))):
      raise FloatingPointError("free SVGD's Adam phase diverged; lower adam_learning_rate.")
    z0 = z
  optimizer = "sgd" if optimizer == "adam_sgd" else optimizer
  step = svgd_step_sizes(logdensity_fn, data, z0, learning_rate, optimizer)
  program = _svgd_program(logdensity_fn, bandwidth, int(check_every), optimizer, metric)
  for attempt in range(max_restarts + 1):
    z, opt_state = z0, optax.scale_by_adam().init(z0)
    history = [(np.asarray(z.mean(0), np.float64), np.asarray(z.var(0), np.float64))]
    trace = [(0, 0.0)] + pre_trace
    steps, converged, dm, dv, diverged = pre_steps, False, math.inf, math.inf, False
    while steps < max_steps + pre_steps:
      z, opt_state = program(z, opt_state, step, data)
      steps += check_every
      mean, var = np.asarray(z.mean(0), np.float64), np.asarray(z.var(0), np.float64)
      if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(var))):
        diverged = True
        break
      log_var = np.log(np.maximum(var, 1e-30))
      trace.append((steps, float(np.mean(log_var - log_var0))))
      history.append((mean, var))
      old_mean, old_var = history[max(0, len(history) - 1 - lag)]
      dm = float(np.max(np.abs(mean - old_mean) / np.sqrt(np.maximum(var, 1e-30))))
      dv = float(np.max(np.abs(log_var - np.log(np.maximum(old_var, 1e-30)))))
      if len(history) > lag and dm < tol and dv < tol:
        converged = True
        break
    if not diverged:
      break
    if attempt == max_restarts:
      raise FloatingPointError(
        f"free SVGD diverged (non-finite particles) with steps down "
        f"to {4.0**-attempt:g} x learning_rate; lower learning_rate."
      )
    step = step / 4.0
  rms, k = _svgd_diagnostics(logdensity_fn, bandwidth, metric)(z, data)
  return FreeSVGDResult(np.asarray(z), steps, converged, dm, dv, float(rms), float(k), trace)


# ----------------------------------------------------------------------------- NUTS


class NUTSResult(NamedTuple):
  """NUTS reference samples with their diagnostics.

  Attributes:
    samples: [chains, num_samples, d].
    rhat: [d] split R-hat per coordinate (Gelman & Rubin 1992 on half-chains).
    rhat_max: max over coordinates.
    divergences: [chains] divergent transitions after warm-up.
    step_size: [chains] adapted step sizes.
    converged: rhat_max <= threshold and divergences <= the allowed fraction.
    reason: why not converged ("" when converged).
  """

  samples: np.ndarray
  rhat: np.ndarray
  rhat_max: float
  divergences: np.ndarray
  step_size: np.ndarray
  converged: bool
  reason: str


@functools.lru_cache(maxsize=16)
def _nuts_program(logdensity_fn: LogDensity, num_warmup: int, num_samples: int, target_acceptance_rate: float):
  # Deferred import: blackjax is needed only for the NUTS ground truth.
  import blackjax  # pylint: disable=g-import-not-at-top
  from blackjax.adaptation.base import get_filter_adapt_info_fn  # pylint: disable=g-import-not-at-top

  def one_chain(key, x0, data):
    logp = lambda z: logdensity_fn(z, data)
    k_warm, k_run = jax.random.split(key)
    warmup = blackjax.window_adaptation(
      blackjax.nuts, logp, target_acceptance_rate=target_acceptance_rate, adaptation_info_fn=get_filter_adapt_info_fn()
    )
    (state, params), _ = warmup.run(k_warm, x0, num_steps=num_warmup)
    kernel = blackjax.nuts(logp, **params)

    def body(s, k):
      s, info = kernel.step(k, s)
      return s, (s.position, info.is_divergent)

    _, (pos, div) = jax.lax.scan(body, state, jax.random.split(k_run, num_samples))
    return pos, jnp.sum(div), params["step_size"]

  return jax.jit(jax.vmap(one_chain, in_axes=(0, 0, None)))


def split_rhat(samples) -> np.ndarray:
  """Split R-hat [d] of chains [C, N, d]: each chain halved, then Gelman-Rubin's R-hat.

  Splitting catches a chain that drifts within itself, which the plain R-hat misses.
  """
  import blackjax  # pylint: disable=g-import-not-at-top

  s = np.asarray(samples)
  c, n = s.shape[:2]
  half = n // 2
  split = np.concatenate([s[:, :half], s[:, half : 2 * half]], 0)
  return np.asarray(blackjax.diagnostics.potential_scale_reduction(jnp.asarray(split)))


def nuts_reference(
  rng: Array,
  logdensity_fn: LogDensity,
  data: PyTree,
  init,
  *,
  num_warmup: int = 500,
  num_samples: int = 500,
  target_acceptance_rate: float = 0.8,
  rhat_threshold: float = 1.05,
  max_divergence_fraction: float = 0.01,
) -> NUTSResult:
  """Ground-truth samples of p(z | data) by NUTS (``blackjax.nuts`` + ``window_adaptation``).

  One chain per row of ``init`` [C, d] (C >= 4 for a meaningful R-hat; start them
  over-dispersed, e.g. from the prior), each with its own Stan-style warm-up (step size
  and diagonal mass matrix), then ``num_samples`` draws. The chains run as one
  ``jax.vmap``-ed program. The result is marked not converged when the split R-hat of any
  coordinate exceeds ``rhat_threshold`` or more than ``max_divergence_fraction`` of the
  post-warm-up transitions diverged; callers must then not report numbers from it
  (:func:`require_converged`).

  Args:
    rng: PRNG key.
    logdensity_fn: log p(z | data) up to a constant, z [d] -> [].
    data: pytree passed to ``logdensity_fn``.
    init: [C, d] starting points.
    num_warmup, num_samples: per chain.
    target_acceptance_rate: the dual-averaging target.
    rhat_threshold, max_divergence_fraction: the convergence rule above.

  Returns:
    :class:`NUTSResult`.
  """
  x0 = jnp.asarray(init, jnp.float32)
  if x0.ndim != 2 or x0.shape[0] < 2:
    raise PosteriorCheckError(f"nuts_reference needs starting points [chains >= 2, d], got " f"{x0.shape}.")
  if num_samples < 4:
    raise PosteriorCheckError(f"nuts_reference needs num_samples >= 4, got {num_samples}.")
  program = _nuts_program(logdensity_fn, int(num_warmup), int(num_samples), float(target_acceptance_rate))
  keys = jax.random.split(rng, x0.shape[0])
  pos, div, step = program(keys, x0, data)
  pos = np.asarray(pos)
  div = np.asarray(div)
  if not np.all(np.isfinite(pos)):
    rhat = np.full(pos.shape[-1], np.inf)
  else:
    rhat = split_rhat(pos)
  rhat_max = float(np.max(rhat)) if np.all(np.isfinite(rhat)) else math.inf
  frac = float(div.sum()) / (pos.shape[0] * pos.shape[1])
  reasons = []
  if not rhat_max <= rhat_threshold:
    reasons.append(f"max split R-hat {rhat_max:.3f} > {rhat_threshold}")
  if frac > max_divergence_fraction:
    reasons.append(
      f"{int(div.sum())} divergent transitions ({100 * frac:.1f}% > " f"{100 * max_divergence_fraction:g}%)"
    )
  return NUTSResult(pos, rhat, rhat_max, div, np.asarray(step), not reasons, "; ".join(reasons))


def require_converged(result: NUTSResult, what: str = "NUTS") -> np.ndarray:
  """The pooled samples [C * N, d] of a converged :class:`NUTSResult`.

  Raises:
    NUTSNotConvergedError: naming the R-hat and divergences, never returning numbers.
  """
  if not result.converged:
    raise NUTSNotConvergedError(
      f"{what} did not converge ({result.reason}); no numbers are "
      "reported from it. Run longer chains (num_warmup, "
      "num_samples) or check the target."
    )
  return result.samples.reshape(-1, result.samples.shape[-1])


# ---------------------------------------------------------------------------- targets


@functools.lru_cache(maxsize=8)
def gmm_target(observation: str) -> LogDensity:
  """log p(z, x) of the sec. 5.1 mixture model, data = x [dx] (Pu et al. 2017, sec. 5.1)."""
  from stein_jax.data import synthetic_gmm as gmm  # pylint: disable=g-import-not-at-top

  gmm.observation_matrix(observation)  # validates

  def logdensity(z, x):
    return gmm.log_prior(z) + gmm.log_likelihood(x, z, observation)

  return logdensity


@functools.lru_cache(maxsize=8)
def latent_model_target(model) -> LogDensity:
  """log p~(z, x) = mean_m log p(x | z, theta_m) + log p(z), the target of eq. (6).

  ``model`` is a :class:`stein_jax.targets.latent.LatentModel`; data =
  (decoder params stacked [M, ...], x [dx]). With M = 1 this is the posterior's log joint.
  """

  def logdensity(z, data):
    dec, x = data
    return latent_lib.log_joint(model, dec, x[None], z[None, None])[0, 0]

  return logdensity


def pfa_words(x, theta) -> tuple[np.ndarray, np.ndarray]:
  """(counts [W], topics' rows [W, V]) of a document's W distinct words.

  Only the words present enter the Poisson log-likelihood's x log(theta z) term; the
  rest is -sum_v z_v colsum(theta)_v. W is padded by :func:`pfa_target_data`.
  """
  x = np.asarray(x)
  idx = np.nonzero(x > 0)[0]
  return x[idx].astype(np.float32), np.asarray(theta)[idx].astype(np.float32)


def pfa_target_data(x, theta, pad_to: Optional[int] = None) -> tuple:
  """data for :func:`pfa_target`: (counts [W], rows [W, V], colsum(theta) [V]).

  Words are padded with zero counts (they add nothing) to ``pad_to`` so that every
  document of a check shares one compiled program.
  """
  counts, rows = pfa_words(x, theta)
  w = counts.shape[0] if pad_to is None else int(pad_to)
  if w < counts.shape[0]:
    raise PosteriorCheckError(f"pad_to={w} is below the document's {counts.shape[0]} words.")
  pad = w - counts.shape[0]
  counts = np.concatenate([counts, np.zeros(pad, np.float32)])
  rows = np.concatenate([rows, np.ones((pad, rows.shape[1]), np.float32)])
  colsum = np.asarray(theta, np.float64).sum(0).astype(np.float32)
  return jnp.asarray(counts), jnp.asarray(rows), jnp.asarray(colsum)


@functools.lru_cache(maxsize=8)
def pfa_target(r: float, c: float) -> LogDensity:
  """log p(x, u | theta) of PFA in u = log z (docs/pfa.md, sec. 2), up to a constant.

  sum_w x_w log (theta u)_w - sum_v e^{u_v} (colsum_v + c) + r sum_v u_v (the Gamma(r, c)
  prior with the Jacobian of z = e^u), the density the PFA Stein VAE runs SVGD on
  (:func:`stein_jax.objectives.pfa.score_u`). data = :func:`pfa_target_data`.
  """

  def logdensity(u, data):
    counts, rows, colsum = data
    z = jnp.exp(u)
    lam = rows @ z
    return jnp.sum(jax.scipy.special.xlogy(counts, lam)) - jnp.sum(z * (colsum + c)) + r * jnp.sum(u)

  return logdensity


# ------------------------------------------------------------------- one test point


def check_point(
  logdensity_fn: LogDensity,
  data: PyTree,
  encoder_samples,
  encoder_start_s,
  encoder_start_large,
  reference,
  *,
  bandwidth="median",
  top=None,
  to_report: Callable[[np.ndarray], np.ndarray] = lambda a: a,
  svgd_kwargs: Optional[dict] = None,
  mmd_points: int = 1000,
  native_mmd_name: Optional[str] = None,
) -> dict:
  """The three approximations of one posterior against its ground truth.

  Args:
    logdensity_fn, data: the target (SVGD coordinates).
    encoder_samples: [n, d] encoder samples for the encoder's own metrics.
    encoder_start_s: [S, d] encoder samples starting free SVGD with the run's S.
    encoder_start_large: [L, d] encoder samples starting free SVGD with L (1,000) particles.
    reference: [m, d] ground-truth samples (SVGD coordinates).
    bandwidth: the run's SVGD bandwidth rule.
    top: coordinates for ``var_ratio_top`` (or None).
    to_report: map from SVGD coordinates to the reported ones (PFA: z = exp(u)).
    svgd_kwargs: passed to :func:`free_svgd`.
    mmd_points: as for :func:`sample_metrics`.
    native_mmd_name: if given, also the MMD^2 in SVGD coordinates under this key
      (PFA: "mmd_log_z", the second MMD of docs/results/pfa_20news.md).

  Returns:
    {"encoder": metrics, "svgd_s": metrics + svgd diagnostics, "svgd_large": ...}.
  """
  svgd_kwargs = dict(svgd_kwargs or {})
  reference = np.asarray(reference)
  ref = to_report(reference)

  def metrics(samples):
    samples = np.asarray(samples)
    m = sample_metrics(to_report(samples), ref, top=top, mmd_points=mmd_points)
    if native_mmd_name:
      k = int(mmd_points)
      m[native_mmd_name] = float(mmd(jnp.asarray(samples[:k], jnp.float32), jnp.asarray(reference[:k], jnp.float32)))
    return m

  out = {"encoder": metrics(encoder_samples)}
  for name, start in (("svgd_s", encoder_start_s), ("svgd_large", encoder_start_large)):
    res = free_svgd(logdensity_fn, data, start, bandwidth=bandwidth, **svgd_kwargs)
    m = metrics(res.particles)
    m.update(
      particles=int(res.particles.shape[0]),
      steps=res.steps,
      converged=res.converged,
      mean_change=res.mean_change,
      log_var_change=res.log_var_change,
      direction_rms=res.direction_rms,
      ksd=res.ksd,
      trace=res.trace,
    )
    out[name] = m
  return out
