"""Stein VAE and Stein VIWAE (Pu et al. 2017, secs. 2-3) with VAE and IWAE baselines.

Everything here is a pure function over pytrees. Shapes:

  x        [B, dx]            a minibatch of data
  xi       [S, dz]            encoder noise, shared across the batch (sec. 5)
  z        [B, S, dz]         latent particles z_jn = f_eta(x_n, xi_j)
  dec      pytree, leaves [M, ...]: M decoder-parameter particles theta_m (M = 1 is
           the point estimate); the decoder is ``jax.vmap``-ed over them.

Algorithms (derivations in docs/stein_vae.md and docs/stein_viwae.md):

  * Stein VAE (sec. 2): each data point's S particles move by SVGD on
    grad_z [mean_m log p(x_n | z, theta_m) + log p(z)] (eq. 6), the encoder is pulled
    to z + eps * phi by K steps of an optimiser on eq. (7), and the decoder particles
    move by SVGD on the flattened parameters with a Gaussian prior (eq. 5), or by
    gradient ascent for M = 1.
  * Stein VIWAE (sec. 3): the same, with the importance-weighted direction of eq. (12):
    the S particles form S / k groups of k, each self-normalised with weights
    log w = log mean_m p(x, z | theta_m) - log q(z | x), log q by the change of
    variables; the decoder ascends the k-sample bound (eq. 8).
  * VAE / IWAE: gradient ascent on the reparameterised ELBO / k-sample bound, with the
    same encoder (any noise encoder with a log-det) and decoder code.

The model (:class:`LatentModel`), its likelihoods, log joint and the encoder's density are
in :mod:`stein_jax.targets.latent` (re-exported here).
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import optax

from stein_jax import algorithm as algorithm_lib
from stein_jax import amortized
from stein_jax import kernels as kernels_lib
from stein_jax import stein
from stein_jax import transform
from stein_jax.stein import SteinKernel

Array = jax.Array
PyTree = Any


# The model and its densities live in stein_jax.targets.latent (objectives and evaluation both use
# them); re-exported here, where the Stein VAE code has always found them.
from stein_jax.targets.latent import (  # pylint: disable=unused-import
  LatentModel,
  LIKELIHOODS,
  check_model,
  check_data,
  log_likelihood,
  multinomial_log_coefficient,
  num_decoder_particles,
  init_params,
  encode,
  sample_with_log_q,
  log_joint_per_decoder,
  log_joint,
  latent_scores,
  standard_normal_log_prob,
)


# ---------------------------------------------------------------- Stein directions


def latent_direction(
  model: LatentModel,
  dec_params: PyTree,
  x: Array,
  z: Array,
  *,
  log_q: Optional[Array] = None,
  group_size: Optional[int] = None,
  kernel: SteinKernel = SteinKernel(),
) -> tuple[Array, dict]:
  """SVGD direction for the latent particles of every data point: phi [B, S, dz].

  Without ``log_q``: eq. (6), plain SVGD over each data point's S particles.
  With ``log_q`` [B, S] and ``group_size`` k: importance-weighted SVGD, eq. (12) as
  applied to z in docs/stein_viwae.md: S / k consecutive groups of k, weights
  softmax over each group of log w = log mean_m p(x, z | theta_m) - log q(z | x),
  held constant (no gradient flows through them). k = 1 gives eq. (6) exactly.
  ``kernel``: the SVGD kernel (:class:`stein_jax.SteinKernel`; the default is eq. (6)'s).
  """
  scores = latent_scores(model, dec_params, x, z)
  aux = {}
  if log_q is None:
    phi = kernel.direction(z, scores)
    return phi, aux
  s = z.shape[-2]
  k = s if group_size is None else int(group_size)
  if k < 1 or s % k:
    raise ValueError(f"group_size k={k} must divide the number of latent particles S={s}.")
  log_w = jax.lax.stop_gradient(log_joint(model, dec_params, x, z, "logmeanexp") - log_q)
  phi = kernel.direction(z, scores, log_weights=log_w, weight_groups=s // k)
  groups = log_w.reshape(log_w.shape[:-1] + (s // k, k))
  w = jax.nn.softmax(groups, -1)
  aux["iw_bound"] = jnp.mean(jax.nn.logsumexp(groups, -1) - math.log(k))
  aux["ess_fraction"] = jnp.mean(1.0 / jnp.sum(w**2, -1)) / k
  return phi, aux


def decoder_objective(
  model: LatentModel,
  theta: PyTree,
  x: Array,
  z: Array,
  *,
  num_data: int,
  prior_std: Optional[float] = None,
  log_q: Optional[Array] = None,
  group_size: Optional[int] = None,
) -> Array:
  """log p~(theta; D) for ONE decoder (unstacked params): its gradient is the score in eq. (5).

  Stein VAE: (N / B) sum_n mean_j log p(x_n | z_jn, theta) + log p(theta).
  Stein VIWAE (log_q given): (N / B) sum_n mean_groups log (1/k) sum_i p(x_n, z_i | theta)
  / q(z_i | x_n) + log p(theta), the k-sample bound of eq. (8) (docs/stein_viwae.md).
  p(theta) = N(0, prior_std^2 I); prior_std=None drops it (maximum likelihood).
  """
  z = jax.lax.stop_gradient(z)
  out = model.decoder.apply(theta, z)
  ll = log_likelihood(model, out, x[:, None, :])  # [B, S]
  if log_q is None:
    per_point = jnp.mean(ll, -1)
  else:
    s = z.shape[-2]
    k = s if group_size is None else int(group_size)
    lw = ll + model.log_prior(z) - jax.lax.stop_gradient(log_q)
    lw = lw.reshape(lw.shape[:-1] + (s // k, k))
    per_point = jnp.mean(jax.nn.logsumexp(lw, -1) - math.log(k), -1)
  value = num_data / x.shape[0] * jnp.sum(per_point)
  if prior_std is not None:
    sq = sum(jnp.sum(leaf**2) for leaf in jax.tree_util.tree_leaves(theta))
    value = value - 0.5 * sq / prior_std**2
  return value


def decoder_direction(
  model: LatentModel,
  dec_params: PyTree,
  x: Array,
  z: Array,
  *,
  num_data: int,
  prior_std: Optional[float] = 1.0,
  log_q: Optional[Array] = None,
  group_size: Optional[int] = None,
  kernel: SteinKernel = SteinKernel(),
) -> tuple[PyTree, Array]:
  """Ascent direction for the stacked decoder particles [M, ...] and mean log p~.

  M = 1: the gradient of :func:`decoder_objective` (point estimate, sec. 2.2's special
  case). M > 1: SVGD (eq. 5) over the M flattened parameter vectors with those
  gradients as scores (eq. 12's weighting lives inside the VIWAE objective, see
  docs/stein_viwae.md).
  """
  obj = lambda th: decoder_objective(
    model, th, x, z, num_data=num_data, prior_std=prior_std, log_q=log_q, group_size=group_size
  )
  values, scores = jax.vmap(jax.value_and_grad(obj))(dec_params)
  if num_decoder_particles(dec_params) == 1:
    return scores, jnp.mean(values)
  return kernel.direction(dec_params, scores), jnp.mean(values)


def stein_gradients(
  model: LatentModel,
  dec_params: PyTree,
  x: Array,
  z: Array,
  *,
  num_data: int,
  prior_std: Optional[float] = 1.0,
  log_q: Optional[Array] = None,
  group_size: Optional[int] = None,
  latent_kernel: SteinKernel = SteinKernel(),
  latent_bandwidth_scale: Optional[Array] = None,
  latent_group_size: Optional[int] = None,
):
  """The latent SVGD direction and the decoder particles' loss gradients, from one forward pass.

  Both come from vector-Jacobian products of the same per-decoder log-likelihoods
  ll [M, B, S]: the latent score with cotangent 1/M (eq. 6), the decoder score with
  cotangent N / (B S) (eq. 5) or, for VIWAE, N / (B G) times the self-normalised weights
  of each decoder's own k-sample bound (docs/stein_viwae.md). Sharing the forward pass
  (and, for Stein VAE, the backward pass too) is what keeps a Stein step near an IWAE
  step's cost.

  Returns:
    (phi [B, S, dz], decoder gradients, aux metrics): phi is the latent SVGD direction
    (eq. 6, or eq. 12 for VIWAE) with ``latent_kernel``; the decoder gradients (leaves
    [M, ...]) are those of each particle's loss -log p~(theta_m; D) (eq. 5's scores,
    negated: the input of ``optax.chain(svgd_transform(decoder_kernel), optimizer)``,
    or of the optimizer alone for M = 1).

  ``latent_group_size`` (VIWAE only; default ``group_size``) sets the groups of the
  latent step's weights separately from the decoder's k-sample bound: small groups
  (k_z = 2-5) shrink the weighted update's under-dispersion bias (docs/stein_viwae.md
  sec. 4); k_z = 1 gives plain SVGD for z with the importance-weighted decoder step.

  ``latent_kernel`` (:class:`stein_jax.SteinKernel`) is eq. (6)'s by default; the
  authors' related code (lewisKit/Amortized_SVGD) uses repulsion 100 with "row_sum"; with
  repulsion alpha != 1 the fixed point is no longer p(z | x) but, for many particles, the
  tempered p(z | x)^(1 / alpha) (docs/stein_math.md sec. 12); ``metric="diagonal"``
  whitens the kernel per coordinate of each data point's particles (sec. 13).
  ``latent_bandwidth_scale`` multiplies its bandwidth (an annealing schedule's value).
  """
  z = jax.lax.stop_gradient(z)
  direction = lambda sc, **kw: latent_kernel.direction(z, sc, bandwidth_scale=latent_bandwidth_scale, **kw)
  m_dec = num_decoder_particles(dec_params)
  b, s = z.shape[0], z.shape[-2]

  def per_decoder_ll(theta_stack, zz):
    out = jax.vmap(lambda p: model.decoder.apply(p, zz))(theta_stack)
    return log_likelihood(model, out, x[:, None, :])  # [M, B, S]

  ll, vjp_fn = jax.vjp(per_decoder_ll, dec_params, z)
  grad_log_pz = jax.grad(lambda zz: jnp.sum(model.log_prior(zz)))(z)
  log_pz = model.log_prior(z)
  aux = {}
  if log_q is None:
    g_theta, g_z = vjp_fn(jnp.ones_like(ll))
    scores = g_z / m_dec + grad_log_pz
    dec_scores = jax.tree_util.tree_map(lambda g: g * (num_data / (b * s)), g_theta)
    values = num_data / b * jnp.sum(jnp.mean(ll, -1), -1)  # [M]
    phi = direction(scores)
  else:
    k = s if group_size is None else int(group_size)
    if k < 1 or s % k:
      raise ValueError(f"group_size k={k} must divide the number of latent particles S={s}.")
    g = s // k
    _, g_z = vjp_fn(jnp.ones_like(ll))
    scores = g_z / m_dec + grad_log_pz
    lw_m = jax.lax.stop_gradient(ll + log_pz - log_q)  # [M, B, S]: each decoder's weights
    groups_m = lw_m.reshape(lw_m.shape[:-1] + (g, k))
    w_m = jax.nn.softmax(groups_m, -1).reshape(lw_m.shape)
    dec_scores, _ = vjp_fn(w_m * (num_data / (b * g)))
    values = num_data / b * jnp.sum(jnp.mean(jax.nn.logsumexp(groups_m, -1) - math.log(k), -1), -1)
    log_w = jax.nn.logsumexp(lw_m, 0) - math.log(m_dec)  # model-averaged joint / q
    kz = k if latent_group_size is None else int(latent_group_size)
    if kz < 1 or s % kz:
      raise ValueError(f"latent_group_size={kz} must divide the number of latent particles S={s}.")
    phi = direction(scores, log_weights=log_w, weight_groups=s // kz)
    groups = log_w.reshape(log_w.shape[:-1] + (g, k))
    w = jax.nn.softmax(groups, -1)
    aux["iw_bound"] = jnp.mean(jax.nn.logsumexp(groups, -1) - math.log(k))
    aux["ess_fraction"] = jnp.mean(1.0 / jnp.sum(w**2, -1)) / k
  if prior_std is not None:
    dec_scores = jax.tree_util.tree_map(lambda gr, th: gr - th / prior_std**2, dec_scores, dec_params)
    values = (
      values
      - 0.5
      * sum(jnp.sum(leaf.reshape(m_dec, -1) ** 2, -1) for leaf in jax.tree_util.tree_leaves(dec_params))
      / prior_std**2
    )
  aux["decoder_objective"] = jnp.mean(values) / num_data
  aux["log_joint"] = jnp.mean(jnp.mean(ll, 0) + log_pz)
  # The scores of eq. (5) are ascent directions of log p~; the optimizer descends the loss.
  dec_grads = jax.tree_util.tree_map(jnp.negative, dec_scores)
  return phi, dec_grads, aux


def stein_directions(
  model: LatentModel, dec_params: PyTree, x: Array, z: Array, *, decoder_kernel: SteinKernel = SteinKernel(), **kwargs
):
  """:func:`latent_direction` and :func:`decoder_direction` from one forward pass.

  Returns (phi [B, S, dz], the decoder particles' ascent direction [M, ...], aux): the
  decoder direction is the score for M = 1 and its SVGD direction with
  ``decoder_kernel`` for M > 1 (eq. 5). ``kwargs`` are those of :func:`stein_gradients`.
  A training step uses :func:`stein_gradients` with ``svgd_transform`` instead; this form
  is for analysis (gradient SNR) and tests.
  """
  phi, dec_grads, aux = stein_gradients(model, dec_params, x, z, **kwargs)
  dec_scores = jax.tree_util.tree_map(jnp.negative, dec_grads)
  if num_decoder_particles(dec_params) == 1:
    return phi, dec_scores, aux
  return phi, decoder_kernel.direction(dec_params, dec_scores), aux


# ---------------------------------------------------------------- training steps


LATENT_UPDATES = ("sgd", "adam", "rms")
KERNEL_NORMALIZATIONS = stein.NORMALIZATIONS
KERNEL_METRICS = stein.METRICS
KERNEL_NAMES = tuple(kernels_lib.KERNELS)
BANDWIDTH_RULES = tuple(kernels_lib.BANDWIDTH_RULES)


LATENT_STEP_KEYS = ("latent_update", "kernel", "bandwidth", "repulsion_scale", "kernel_normalization", "kernel_metric")


def latent_step_options(config, prefix: str = "") -> tuple[dict, list]:
  """The latent step's options read from a config's SVGD keys, and what is wrong with them.

  ``config`` is a mapping with the keys :data:`LATENT_STEP_KEYS` (the ``svgd`` group of a
  nested config); each must be there: a missing one is a problem like a bad value, named
  ``prefix + key`` (``"svgd.kernel"``). Returns (keyword arguments ``latent_update`` and
  ``latent_kernel`` (a :class:`stein_jax.SteinKernel` built from ``kernel``, ``bandwidth``,
  ``kernel_metric``, ``repulsion_scale``, ``kernel_normalization``) for :func:`stein_vae` and
  ``objectives.pfa.stein_vae_step``, a list of problem strings for the experiment's config
  check; with problems the kernel is the default one).
  """
  missing = [k for k in LATENT_STEP_KEYS if k not in config]
  if missing:
    return {"latent_update": "sgd", "latent_kernel": SteinKernel()}, [
      f"the config lacks {prefix}{k} (declare it in get_config())" for k in missing
    ]
  opts = {k: config[k] for k in LATENT_STEP_KEYS}
  problems = []
  if opts["latent_update"] not in LATENT_UPDATES:
    problems.append(f"{prefix}latent_update must be one of {LATENT_UPDATES}, got {opts['latent_update']!r}")
  alpha = opts["repulsion_scale"]
  if not (isinstance(alpha, (int, float)) and not isinstance(alpha, bool) and alpha >= 0):
    problems.append(f"{prefix}repulsion_scale must be a number >= 0, got {alpha!r}")
  if opts["kernel"] not in KERNEL_NAMES:
    problems.append(f"{prefix}kernel must be one of {KERNEL_NAMES}, got {opts['kernel']!r}")
  if opts["bandwidth"] not in BANDWIDTH_RULES:
    problems.append(f"{prefix}bandwidth must be one of {BANDWIDTH_RULES}, got {opts['bandwidth']!r}")
  if opts["kernel_metric"] not in KERNEL_METRICS:
    problems.append(f"{prefix}kernel_metric must be one of {KERNEL_METRICS}, got {opts['kernel_metric']!r}")
  if opts["kernel_normalization"] not in KERNEL_NORMALIZATIONS:
    problems.append(
      f"{prefix}kernel_normalization must be one of {KERNEL_NORMALIZATIONS}, got {opts['kernel_normalization']!r}"
    )
  kernel = SteinKernel()
  if not problems:
    kernel = SteinKernel(
      kernel=opts["kernel"],
      bandwidth=opts["bandwidth"],
      metric=opts["kernel_metric"],
      repulsion=float(alpha),
      normalization=opts["kernel_normalization"],
    )
  return {"latent_update": opts["latent_update"], "latent_kernel": kernel}, problems


def move_particles(z: Array, phi: Array, step_size: float, latent_update: str = "sgd") -> Array:
  """The moved particles, the regression targets of eq. (7): z [..., S, d] + a step along phi.

  "sgd": z + eps phi. "adam": one Adam step from a fresh state with learning rate eps,
  z + eps phi / (|phi| + 1e-8) elementwise (the particles are regenerated by the encoder
  every iteration, so there is no Adam state to carry). "rms": z + eps phi / rms(phi), the
  root-mean-square of each coordinate over the S particles of a data point.
  """
  if latent_update == "adam":
    z_tx = optax.adam(step_size)
    z_step, _ = z_tx.update(-phi, z_tx.init(z), z)
    return z + z_step
  if latent_update == "rms":
    rms = jnp.sqrt(jnp.mean(phi**2, axis=-2, keepdims=True))
    return z + step_size * phi / (rms + 1e-8)
  if latent_update == "sgd":
    return z + step_size * phi
  raise ValueError(f"latent_update must be one of {LATENT_UPDATES}, got {latent_update!r}.")


def decoder_transform(
  num_decoder: int, kernel: SteinKernel, optimizer: optax.GradientTransformation
) -> optax.GradientTransformation:
  """The decoder particles' update from their loss gradients (eq. 5).

  M = 1 is a point estimate: the optimizer alone on -log p~ (so its state is the optimizer's,
  as in older checkpoints); M > 1: ``optax.chain(svgd_transform(kernel), optimizer)``, SVGD
  over the flattened decoder parameters.
  """
  if num_decoder == 1:
    return optimizer
  return optax.chain(transform.svgd_transform(kernel), optimizer)


def check_decoder_count(in_state: int, built_for: int) -> None:
  """Raises unless the state holds the number of decoder particles the trainer was built for
  (its decoder optimizer, SVGD for M > 1, is chosen at construction)."""
  if in_state != built_for:
    raise ValueError(
      f"the state holds {in_state} decoder particles but the trainer was built with "
      f"num_decoder={built_for}; build it with num_decoder={in_state} (or init the state "
      "with the trainer's init)."
    )


def batch_x(batch) -> Array:
  """The data of a density model's batch ``{"x": x [B, dx]}``."""
  if not (hasattr(batch, "keys") and "x" in batch):
    raise ValueError(f"a batch is a dict {{'x': x [B, dx]}}; got {type(batch).__name__}.")
  return batch["x"]


class SteinVAEState(NamedTuple):
  """Training state of a Stein VAE / VIWAE (or of a VAE / IWAE baseline)."""

  step: Array
  enc_params: PyTree
  dec_params: PyTree  # leaves [M, ...]
  enc_opt_state: Any
  dec_opt_state: Any

  @property
  def params(self) -> dict:
    """The model's parameters ``{"enc": encoder, "dec": decoder particles}``."""
    return {"enc": self.enc_params, "dec": self.dec_params}


def split_state(state: SteinVAEState) -> tuple[dict, tuple]:
  """``(params {"enc", "dec"}, (encoder opt state, decoder opt state))``: the layout in which
  runs were saved before the algorithm protocol (``TrainState.params`` / ``opt_state``)."""
  return state.params, (state.enc_opt_state, state.dec_opt_state)


def join_state(step: Array, params: dict, opt_state: tuple) -> SteinVAEState:
  """The inverse of :func:`split_state`."""
  return SteinVAEState(step, params["enc"], params["dec"], opt_state[0], opt_state[1])


# ``init(rng) -> SteinVAEState`` and ``step(rng, state, {"x": x}) -> (state, metrics)``: the
# library's one protocol (:class:`stein_jax.algorithm.Algorithm`); jit ``step`` at the edge.
Trainer = algorithm_lib.Algorithm


def stein_vae(
  model: LatentModel,
  enc_optimizer: optax.GradientTransformation,
  dec_optimizer: optax.GradientTransformation,
  *,
  num_particles: int = 100,
  num_decoder: int = 1,
  group_size: Optional[int] = None,
  step_size: float = 1.0,
  encoder_steps: int = 1,
  num_data: int = 50_000,
  decoder_prior_std: Optional[float] = 1.0,
  latent_kernel: SteinKernel = SteinKernel(),
  decoder_kernel: SteinKernel = SteinKernel(),
  latent_bandwidth_schedule: Optional[Callable[[Array], Array]] = None,
  birth_death_rate: float = 0.0,
  birth_death_start: int = 0,
  latent_group_size: Optional[int] = None,
  latent_update: str = "sgd",
) -> Trainer:
  """Stein VAE (sec. 2; ``group_size=None``) or Stein VIWAE (sec. 3; ``group_size=k``).

  One step on a minibatch x [B, dx]: draw xi [S, dz] (shared across the batch, sec. 5),
  z = f_eta(x, xi); move z by eps * phi (eq. 6, or eq. 12 with groups of k for VIWAE);
  move the decoder particles by ``optax.chain(svgd_transform(decoder_kernel),
  dec_optimizer)`` on their loss gradients (eq. 5; ``dec_optimizer`` alone for M = 1);
  pull the encoder to the moved particles with ``encoder_steps`` = K steps of
  ``enc_optimizer`` (eq. 7).

  Args:
    model: the :class:`LatentModel`.
    enc_optimizer, dec_optimizer: optax transformations (the paper: Adam, lr 2e-4).
      ``optax.set_to_zero()`` for the decoder keeps it fixed (sec. 5.1 studies the encoder).
    num_particles: S latent particles per data point (the paper's M = 100).
    num_decoder: M_theta decoder particles (1 = point estimate).
    group_size: k of Stein VIWAE (must divide S); None for Stein VAE.
    step_size: eps of z + eps * phi. With K = 1 and Adam it only rescales the gradient
      (to which Adam is invariant); it matters for K > 1.
    encoder_steps: K of eq. (7).
    num_data: N, scaling the decoder's likelihood term against its prior (eq. 5).
    decoder_prior_std: std of the Gaussian prior on theta; None drops it.
    latent_kernel, decoder_kernel: the SVGD kernels (:class:`stein_jax.SteinKernel`) of the
      latent particles and of the decoder particles; the defaults are eqs. (5)-(6)'s (RBF,
      h = med^2). E.g. ``SteinKernel("imq")``, or ``SteinKernel(metric="diagonal",
      repulsion=2.0)`` (docs/stein_math.md secs. 12-13).
    latent_bandwidth_schedule: optional ``step -> factor`` multiplying the latent kernel's
      bandwidth (an annealed kernel, optax-schedule style).
    latent_group_size: Stein VIWAE only: the group size k_z of the latent step's weights
      (default k); see :func:`stein_directions`.
    latent_update: how the particles take their step before the encoder fit: "sgd",
      z + eps * phi; or "adam", one Adam step from a fresh state with learning rate eps,
      z + eps * phi / (|phi| + 1e-8) elementwise (sec. 5: "the samples of theta and z ...
      are optimized via Adam"; the particles are regenerated by the encoder every
      iteration, so there is no Adam state to carry). "adam" makes every coordinate of
      every particle pull on the encoder alike, whatever the curvature of the posterior.
      Or "rms": z + eps * phi / rms(phi), the root-mean-square of each latent coordinate
      over the data point's S particles: the same per-coordinate preconditioning, but
      particles keep their relative step sizes (a particle with a vanishing phi, e.g. one
      of negligible importance weight in Stein VIWAE, is not given a full-size step).
    birth_death_rate: 0 (the paper's method) or the rate of a birth-death step applied to
      each data point's moved particles before the encoder fit (:func:`stein.birth_death`
      with log-weights log mean_m p(x, z | theta_m) - log q(z | x) at the encoder's
      samples): over-represented particles are replaced by importance-resampled copies,
      which gives the encoder the force across low-density valleys that SVGD lacks
      (docs/stein_math.md sec. 10). An extension beyond Pu et al.

  Returns:
    An :class:`~stein_jax.algorithm.Algorithm`: ``init(rng)``, ``step(rng, state, {"x": x})``
    (``rng`` is the step's key). Metrics: ``log_joint`` (mean log p(x, z) at the particles),
    ``phi_norm``, ``fit_loss``, ``decoder_objective``, ``move_max`` (the largest particle
    move |target - z|), ``z_abs_max`` (the largest |z| coordinate) and, for VIWAE,
    ``iw_bound``, ``ess_fraction`` and ``encoder_log_det`` (mean log|det df/dxi|); with
    birth-death, ``killed_fraction`` (and ``encoder_log_det``).
  """
  check_model(model)
  if group_size is not None and (group_size < 1 or num_particles % group_size):
    raise ValueError(f"group_size={group_size} must divide num_particles={num_particles}.")
  if latent_group_size is not None and (
    group_size is None or latent_group_size < 1 or num_particles % latent_group_size
  ):
    raise ValueError(
      f"latent_group_size={latent_group_size} needs Stein VIWAE (group_size "
      f"set) and must divide num_particles={num_particles}."
    )
  if latent_update not in LATENT_UPDATES:
    raise ValueError(f"latent_update must be one of {LATENT_UPDATES}, got {latent_update!r}.")
  if not birth_death_rate >= 0:
    raise ValueError(f"birth_death_rate must be >= 0, got {birth_death_rate}.")
  for name, kern in (("latent_kernel", latent_kernel), ("decoder_kernel", decoder_kernel)):
    if not isinstance(kern, SteinKernel):
      raise ValueError(f"{name} must be a stein_jax.SteinKernel, got {kern!r}.")
  viwae = group_size is not None
  need_log_q = viwae or birth_death_rate > 0
  dec_tx = decoder_transform(num_decoder, decoder_kernel, dec_optimizer)

  def init(key: Array) -> SteinVAEState:
    enc_params, dec_params = init_params(key, model, num_decoder)
    return SteinVAEState(
      jnp.zeros((), jnp.int32), enc_params, dec_params, enc_optimizer.init(enc_params), dec_tx.init(dec_params)
    )

  def step(key: Array, state: SteinVAEState, batch: dict):
    x = batch_x(batch)
    check_data(model, x)
    check_decoder_count(num_decoder_particles(state.dec_params), num_decoder)
    xi = jax.random.normal(key, (num_particles, model.latent_dim))
    xb, xib = x[:, None, :], xi[None]
    # One encoder forward pass: its vjp is the first step of the fit to the moved particles (eq. 7).
    if need_log_q:
      z_out, enc_vjp, log_q = jax.vjp(lambda p: sample_with_log_q(model, p, xb, xib), state.enc_params, has_aux=True)
      log_q = jax.lax.stop_gradient(log_q)
    else:
      z_out, enc_vjp = jax.vjp(lambda p: encode(model, p, xb, xib), state.enc_params)
      log_q = None
    z = jax.lax.stop_gradient(z_out)
    scale = None if latent_bandwidth_schedule is None else latent_bandwidth_schedule(state.step)
    phi, dec_grads, aux = stein_gradients(
      model,
      state.dec_params,
      x,
      z,
      num_data=num_data,
      prior_std=decoder_prior_std,
      log_q=log_q if viwae else None,
      group_size=group_size,
      latent_kernel=latent_kernel,
      latent_bandwidth_scale=scale,
      latent_group_size=latent_group_size,
    )
    targets = move_particles(z, phi, step_size, latent_update)
    if birth_death_rate > 0:
      log_w = log_joint(model, state.dec_params, x, z, "logmeanexp") - log_q
      bd_targets, killed = stein.birth_death(
        jax.random.fold_in(key, 1), targets, log_w, birth_death_rate, bandwidth=latent_kernel.bandwidth
      )
      on = state.step >= birth_death_start
      targets = jnp.where(on, bd_targets, targets)
      killed = jnp.logical_and(on, killed)
      aux["killed_fraction"] = jnp.mean(killed.astype(jnp.float32))
    upd, dec_opt_state = dec_tx.update(dec_grads, state.dec_opt_state, state.dec_params)
    dec_params = optax.apply_updates(state.dec_params, upd)
    # eq. (7): K optimiser steps on 1/2 ||f_eta(x, xi) - (z + eps phi)||^2, averaged over
    # the B x S particles (a constant rescaling of eq. 7 that keeps SGD learning rates
    # independent of B and S; Adam is invariant to it).
    enc_params, enc_opt_state, fit = amortized.fit_to_targets(
      lambda p, xx, ee: encode(model, p, xx, ee),
      state.enc_params,
      state.enc_opt_state,
      enc_optimizer,
      (xb, xib),
      targets,
      num_steps=encoder_steps,
      reduction="mean",
      forward=(z_out, enc_vjp),
    )
    metrics = {
      "phi_norm": jnp.mean(jnp.linalg.norm(phi, axis=-1)),
      "fit_loss": fit,
      "move_max": jnp.max(jnp.linalg.norm(targets - z, axis=-1)),
      "z_abs_max": jnp.max(jnp.abs(z)),
      **aux,
    }
    if need_log_q:  # log|det df/dxi| = log N(xi; 0, I) - log q(z | x): the encoder's log-det
      metrics["encoder_log_det"] = jnp.mean(standard_normal_log_prob(xib) - log_q)
    new = SteinVAEState(state.step + 1, enc_params, dec_params, enc_opt_state, dec_opt_state)
    return new, metrics

  return Trainer(init, step)


def bound_loss(model: LatentModel, enc_params: PyTree, dec_params: PyTree, x: Array, xi: Array) -> Array:
  """Negative k-sample bound (eq. 8), mean over the batch: xi [B, k, dz] (k = 1: the ELBO).

  log w = log mean_m p(x, z | theta_m) - log q(z | x), z = f_eta(x, xi) reparameterised,
  log q by the change of variables (for the Gaussian encoder: the usual density).
  """
  z, log_q = sample_with_log_q(model, enc_params, x[:, None, :], xi)
  lw = log_joint(model, dec_params, x, z, "logmeanexp") - log_q
  k = xi.shape[-2]
  return -jnp.mean(jax.nn.logsumexp(lw, -1) - math.log(k))


def importance_weighted_vae(
  model: LatentModel, optimizer: optax.GradientTransformation, *, num_samples: int = 1, num_decoder: int = 1
) -> Trainer:
  """VAE (``num_samples=1``: reparameterised ELBO, eq. 1) or IWAE (k samples, eq. 8) baseline.

  Encoder and decoder parameters are updated jointly by ``optimizer`` on
  :func:`bound_loss`, with independent noise xi [B, k, dz] per data point.
  Metrics: ``bound`` (the minibatch's mean bound, nats).
  """
  check_model(model)

  def init(key: Array) -> SteinVAEState:
    enc_params, dec_params = init_params(key, model, num_decoder)
    opt_state = optimizer.init((enc_params, dec_params))
    return SteinVAEState(jnp.zeros((), jnp.int32), enc_params, dec_params, opt_state, ())

  def step(key: Array, state: SteinVAEState, batch: dict):
    x = batch_x(batch)
    check_data(model, x)
    xi = jax.random.normal(key, (x.shape[0], num_samples, model.latent_dim))
    params = (state.enc_params, state.dec_params)
    loss, g = jax.value_and_grad(lambda p: bound_loss(model, p[0], p[1], x, xi))(params)
    upd, opt_state = optimizer.update(g, state.enc_opt_state, params)
    enc_params, dec_params = optax.apply_updates(params, upd)
    new = SteinVAEState(state.step + 1, enc_params, dec_params, opt_state, ())
    return new, {"bound": -loss}

  return Trainer(init, step)


METHODS = ("stein_vae", "stein_viwae", "vae", "iwae")


def make_trainer(
  method: str,
  model: LatentModel,
  optimizer: optax.GradientTransformation,
  *,
  num_particles: int = 100,
  k: int = 50,
  num_decoder: int = 1,
  decoder_optimizer: Optional[optax.GradientTransformation] = None,
  **stein_kwargs,
) -> Trainer:
  """One registry for the four methods of Table 1: "stein_vae", "stein_viwae", "vae", "iwae".

  ``num_particles`` is the Stein methods' S; ``k`` the VIWAE group size and the IWAE
  sample count. ``decoder_optimizer`` defaults to ``optimizer``.
  """
  if method == "stein_vae":
    return stein_vae(
      model,
      optimizer,
      decoder_optimizer or optimizer,
      num_particles=num_particles,
      num_decoder=num_decoder,
      **stein_kwargs,
    )
  if method == "stein_viwae":
    return stein_vae(
      model,
      optimizer,
      decoder_optimizer or optimizer,
      num_particles=num_particles,
      num_decoder=num_decoder,
      group_size=k,
      **stein_kwargs,
    )
  if method == "vae":
    return importance_weighted_vae(model, optimizer, num_samples=1, num_decoder=num_decoder)
  if method == "iwae":
    return importance_weighted_vae(model, optimizer, num_samples=k, num_decoder=num_decoder)
  raise ValueError(f"Unknown method {method!r}: use one of {METHODS}.")
