"""Semi-supervised Stein VAE / Stein VIWAE and a VAE baseline (Pu et al. 2017, sec. 4, 5.3).

Model (sec. 4): p(x, y | z) = p(x | z; theta) p(y | z; theta~) with p(y | z) =
softmax(theta~ z) and p(z) the base model's prior. Data: unlabelled x (the set D) and
labelled pairs (x, y) (the set D_l). Everything here is a pure function over pytrees;
derivations are in docs/semi_supervised.md. Shapes:

  x_u [Bu, dx], x_l [Bl, dx], y_l [Bl] int   minibatches of D and D_l
  xi  [S, dz]                                 encoder noise, shared by every data point (sec. 5)
  z   [B, S, dz]                              latent particles z_jn = f_eta(x_n, xi_j)
  dec {"x": theta, "y": theta~}               decoder pytree, every leaf stacked [M, ...];
                                              (theta_m, theta~_m) is one decoder particle.

One Stein step (:func:`semi_supervised_stein_vae`):

  * unlabelled codes move by SVGD on grad_z log p(x, z) (Stein VAE, eq. 6) or by the
    importance-weighted SVGD of eq. (12) (Stein VIWAE), exactly as in
    :func:`stein_jax.objectives.stein_vae.stein_directions`, which computes them;
  * labelled codes move by SVGD on grad_z [log p(x | z) + log p(y | z) + log p(z)]
    (:func:`labelled_scores`, the label-augmented score of sec. 4);
  * the decoder pair ascends log p~(theta, theta~; D, D_l) of Corollary 3.3 / eq. (14)
    (:func:`decoder_objective`): the unlabelled term of the base method scaled to |D|, the
    labelled term scaled to |D_l|, and Gaussian priors; M = 1 is gradient ascent, M > 1
    SVGD over the M flattened (theta, theta~) vectors;
  * the encoder is pulled to all moved codes, labelled and unlabelled, by eq. (7).

With no labelled data the step is exactly the Stein VAE / VIWAE step of
:func:`stein_jax.objectives.stein_vae.stein_vae` (theta~ then only feels its prior).
A test image is classified by mean_{m, j} softmax(theta~_m f_eta(x, xi_j))
(:func:`predict_proba`).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from stein_jax import algorithm as algorithm_lib
from stein_jax import amortized
from stein_jax.objectives import stein_vae as sv
from stein_jax.stein import SteinKernel

Array = jax.Array
PyTree = Any

METHODS = ("stein_vae", "stein_viwae", "vae")


class SemiSupervisedModel(NamedTuple):
  """The base latent model p(z) p(x | z, theta) plus a label head p(y | z, theta~).

  Attributes:
    base: a :class:`stein_jax.objectives.stein_vae.LatentModel` (encoder, image decoder).
    classifier: a module mapping z [..., dz] to C logits; ``flax.linen.Dense(C)`` is the
      paper's softmax(theta~ z) (with a bias).
    num_classes: C.
    label_weight: multiplies log p(y | z) wherever it appears (1 = the paper's model; a
      value > 1 tempers the labelled likelihood, an option the paper does not use).
  """

  base: sv.LatentModel
  classifier: nn.Module
  num_classes: int
  label_weight: float = 1.0


def check_model(model: SemiSupervisedModel) -> None:
  """Raises ValueError for a bad base model, fewer than 2 classes or a negative label weight."""
  sv.check_model(model.base)
  if not (isinstance(model.num_classes, int) and model.num_classes >= 2):
    raise ValueError(f"num_classes must be an int >= 2, got {model.num_classes!r}.")
  if not model.label_weight >= 0:
    raise ValueError(f"label_weight must be >= 0, got {model.label_weight!r}.")


def check_labelled(model: SemiSupervisedModel, x: Array, y: Array) -> None:
  """Raises ValueError for labelled data of the wrong shape or labels outside [0, C)."""
  if x.ndim == 2 and x.shape[0] == 0 and x.shape[1] == model.base.data_dim:
    pass  # no labelled data this step: nothing to range-check
  else:
    sv.check_data(model.base, x)
  if y.ndim != 1 or y.shape[0] != x.shape[0]:
    raise ValueError(f"Labels must have shape [{x.shape[0]}] (one int per labelled image), " f"got {tuple(y.shape)}.")
  if not jnp.issubdtype(y.dtype, jnp.integer):
    raise ValueError(f"Labels must be integers in [0, {model.num_classes}), got dtype {y.dtype}.")
  if isinstance(y, jax.core.Tracer) or y.size == 0:
    return
  yn = np.asarray(y)
  if yn.min() < 0 or yn.max() >= model.num_classes:
    raise ValueError(f"Labels must lie in [0, {model.num_classes}); got values in " f"[{yn.min()}, {yn.max()}].")


def init_params(key: Array, model: SemiSupervisedModel, num_decoder: int = 1) -> tuple[PyTree, PyTree]:
  """(encoder params, {"x": theta, "y": theta~}, both stacked [M, ...])."""
  check_model(model)
  k_base, k_cls = jax.random.split(key)
  enc_params, dec_x = sv.init_params(k_base, model.base, num_decoder)
  z0 = jnp.zeros((1, model.base.latent_dim))
  dec_y = jax.vmap(lambda k: model.classifier.init(k, z0))(jax.random.split(k_cls, num_decoder))
  return enc_params, {"x": dec_x, "y": dec_y}


# ------------------------------------------------------------------------ likelihood


def label_log_likelihood(logits: Array, y: Array) -> Array:
  """log softmax(logits)_y: logits [..., C], y [...] int (broadcast) -> [...]."""
  logp = jax.nn.log_softmax(logits, -1)
  y = jnp.broadcast_to(y, logp.shape[:-1])
  return jnp.take_along_axis(logp, y[..., None], -1)[..., 0]


def labelled_log_lik_per_decoder(model: SemiSupervisedModel, dec: PyTree, x: Array, y: Array, z: Array) -> Array:
  """log p(x_n | z_nj, theta_m) + w log p(y_n | z_nj, theta~_m) -> [M, B, S].

  x [B, dx], y [B] int, z [B, S, dz]; decoder leaves stacked [M, ...].
  """
  out = jax.vmap(lambda p: model.base.decoder.apply(p, z))(dec["x"])  # [M, B, S, dx]
  ll_x = sv.log_likelihood(model.base, out, x[:, None, :])
  logits = jax.vmap(lambda p: model.classifier.apply(p, z))(dec["y"])  # [M, B, S, C]
  ll_y = label_log_likelihood(logits, y[:, None])
  return ll_x + model.label_weight * ll_y


def labelled_log_joint(model: SemiSupervisedModel, dec: PyTree, x: Array, y: Array, z: Array) -> Array:
  """mean_m [log p(x | z, theta_m) + log p(y | z, theta~_m)] + log p(z): [B, S] (sec. 4)."""
  lj = labelled_log_lik_per_decoder(model, dec, x, y, z)
  return jnp.mean(lj, 0) + model.base.log_prior(z)


def labelled_scores(
  model: SemiSupervisedModel, dec: PyTree, x: Array, y: Array, z: Array, *, num_labelled: int
) -> tuple[Array, PyTree, Array]:
  """Scores of the labelled codes and the labelled part of the decoders' score, one pass.

  Both are vector-Jacobian products of ll [M, B, S] = log p(x | z, theta_m) + w log p(y | z,
  theta~_m): the code score grad_z [mean_m ll + log p(z)] with cotangent 1/M, and the
  decoders' gradient of (N_l / B) sum_n mean_j ll_mnj with cotangent N_l / (B S).

  Returns:
    (scores [B, S, dz], decoder scores {"x", "y"} stacked [M, ...], ll [M, B, S]).
  """
  z = jax.lax.stop_gradient(z)
  m = sv.num_decoder_particles(dec)
  b, s = z.shape[0], z.shape[-2]
  ll, vjp_fn = jax.vjp(lambda d, zz: labelled_log_lik_per_decoder(model, d, x, y, zz), dec, z)
  g_dec, g_z = vjp_fn(jnp.ones_like(ll))
  scores = g_z / m + jax.grad(lambda zz: jnp.sum(model.base.log_prior(zz)))(z)
  dec_scores = jax.tree_util.tree_map(lambda g: g * (num_labelled / (b * s)), g_dec)
  return scores, dec_scores, ll


def _gaussian_log_prior(params: PyTree, prior_std: Optional[float]) -> Array:
  if prior_std is None:
    return jnp.zeros(())
  return -0.5 * sum(jnp.sum(leaf**2) for leaf in jax.tree_util.tree_leaves(params)) / prior_std**2


def decoder_objective(
  model: SemiSupervisedModel,
  dec: PyTree,
  x_u: Array,
  z_u: Array,
  x_l: Array,
  y_l: Array,
  z_l: Array,
  *,
  num_unlabelled: int,
  num_labelled: int,
  prior_std: Optional[float] = 1.0,
  log_q_u: Optional[Array] = None,
  group_size: Optional[int] = None,
) -> Array:
  """log p~(theta, theta~; D, D_l) for ONE decoder pair (unstacked): the score of eq. (14).

  (N_u / B_u) sum_n [unlabelled term of the base method] (Stein VAE: mean_j log p(x_n |
  z_nj, theta); Stein VIWAE: the k-sample bound, see
  :func:`stein_jax.objectives.stein_vae.decoder_objective`) + (N_l / B_l) sum_n mean_j
  [log p(x_n | z_nj, theta) + w log p(y_n | z_nj, theta~)] + log N(theta; 0, s^2 I) +
  log N(theta~; 0, s^2 I). Codes are constants. ``prior_std=None`` drops both priors.
  """
  value = sv.decoder_objective(
    model.base, dec["x"], x_u, z_u, num_data=num_unlabelled, prior_std=prior_std, log_q=log_q_u, group_size=group_size
  )
  if x_l.shape[0]:
    stacked = jax.tree_util.tree_map(lambda a: a[None], dec)
    ll = labelled_log_lik_per_decoder(model, stacked, x_l, y_l, jax.lax.stop_gradient(z_l))[0]
    value = value + num_labelled / x_l.shape[0] * jnp.sum(jnp.mean(ll, -1))
  return value + _gaussian_log_prior(dec["y"], prior_std)


# ---------------------------------------------------------------- classification


def predict_proba(model: SemiSupervisedModel, enc_params: PyTree, dec: PyTree, x: Array, xi: Array) -> Array:
  """p(y | x) ~ mean_{m, j} softmax(theta~_m f_eta(x, xi_j)): x [T, dx], xi [S, dz] -> [T, C]."""
  z = sv.encode(model.base, enc_params, x[:, None, :], xi[None])  # [T, S, dz]
  logits = jax.vmap(lambda p: model.classifier.apply(p, z))(dec["y"])  # [M, T, S, C]
  return jnp.mean(jax.nn.softmax(logits, -1), (0, 2))


def classification_error(
  model: SemiSupervisedModel, enc_params: PyTree, dec: PyTree, x: Array, y: Array, xi: Array
) -> Array:
  """Error rate in percent of argmax :func:`predict_proba` against labels y [T]."""
  pred = jnp.argmax(predict_proba(model, enc_params, dec, x, xi), -1)
  return 100.0 * jnp.mean(pred != y)


# --------------------------------------------------------------- training steps


# ``init(rng) -> state``; ``step(rng, state, {"x_u": x_u, "x_l": x_l, "y_l": y_l}) ->
# (state, metrics)``: the library's one protocol (:class:`stein_jax.algorithm.Algorithm`).
# The state is a :class:`stein_jax.objectives.stein_vae.SteinVAEState` whose ``dec_params``
# is the pair {"x": theta, "y": theta~}. Jit ``step`` at the edge.
Trainer = algorithm_lib.Algorithm


def batch_parts(batch) -> tuple[Array, Array, Array]:
  """(x_u, x_l, y_l) of a semi-supervised batch ``{"x_u", "x_l", "y_l"}``."""
  if not (hasattr(batch, "keys") and {"x_u", "x_l", "y_l"} <= set(batch.keys())):
    raise ValueError(
      "a semi-supervised batch is a dict with keys 'x_u' [Bu, dx], 'x_l' [Bl, dx] "
      f"and 'y_l' [Bl]; got {type(batch).__name__}"
      + (f" with keys {sorted(batch.keys())}" if hasattr(batch, "keys") else "")
      + "."
    )
  return batch["x_u"], batch["x_l"], batch["y_l"]


def _fit_encoder(apply_fn, params, opt_state, optimizer, inputs, targets, num_steps: int):
  """Eq. (7): ``amortized.fit_to_targets`` (mean reduction), with K = 1 taken outside ``lax.scan``.

  Same arithmetic; the reason is speed: on XLA's CPU backend the convolution gradients of the
  CNN encoder (stein_jax.models.conv) ran 20x slower inside the scan's loop body (4.3 s against
  0.2 s for one fit of 128 MNIST codes).
  """
  if num_steps != 1:
    return amortized.fit_to_targets(
      apply_fn, params, opt_state, optimizer, inputs, targets, num_steps=num_steps, reduction="mean"
    )
  loss, g = jax.value_and_grad(lambda p: amortized.regression_loss(apply_fn, p, inputs, targets, "mean"))(params)
  updates, opt_state = optimizer.update(g, opt_state, params)
  return optax.apply_updates(params, updates), opt_state, loss


def semi_supervised_stein_vae(
  model: SemiSupervisedModel,
  enc_optimizer: optax.GradientTransformation,
  dec_optimizer: optax.GradientTransformation,
  *,
  num_unlabelled: int,
  num_labelled: int,
  num_particles: int = 100,
  num_decoder: int = 1,
  group_size: Optional[int] = None,
  step_size: float = 1.0,
  encoder_steps: int = 1,
  decoder_prior_std: Optional[float] = 1.0,
  latent_kernel: SteinKernel = SteinKernel(),
  decoder_kernel: SteinKernel = SteinKernel(),
  latent_update: str = "sgd",
) -> Trainer:
  """Semi-supervised Stein VAE (``group_size=None``) or Stein VIWAE (``group_size=k``), sec. 4.

  One step on x_u [Bu, dx] and (x_l [Bl, dx], y_l [Bl]): draw xi [S, dz] shared by all
  data points; z = f_eta(x, xi) for both sets; unlabelled directions and the unlabelled
  decoder gradient from :func:`stein_jax.objectives.stein_vae.stein_gradients`; labelled
  codes by SVGD on :func:`labelled_scores`; the decoder pair by ``dec_optimizer`` on the
  summed loss gradients (M = 1) or ``optax.chain(svgd_transform(decoder_kernel),
  dec_optimizer)`` over them (M > 1), eq. (14); the encoder by K steps of
  ``enc_optimizer`` towards every moved code, eq. (7). ``Bl = 0`` is allowed and gives
  the Stein VAE / VIWAE step exactly.

  Args:
    model: the :class:`SemiSupervisedModel`.
    enc_optimizer, dec_optimizer: optax transformations (paper: Adam, lr 2e-4).
    num_unlabelled, num_labelled: N_u = |D| and N_l = |D_l|, scaling the two data terms.
    num_particles: S codes per data point (paper: M = 100).
    num_decoder: M_theta decoder particles (1: point estimate).
    group_size: Stein VIWAE's k (must divide S); None for Stein VAE.
    step_size, encoder_steps: eps and K of eq. (7).
    decoder_prior_std: std of the Gaussian priors on theta and theta~; None drops them.
    latent_kernel, decoder_kernel: SVGD kernels (:class:`stein_jax.SteinKernel`) of the
      codes (labelled and unlabelled) and of the decoder particles.
    latent_update: the codes' step before the encoder fit, "sgd", "adam" or "rms"
      (:func:`stein_jax.objectives.stein_vae.move_particles`).

  Returns:
    An :class:`~stein_jax.algorithm.Algorithm` (``step(rng, state, batch)``, ``rng`` the
    step's key). Metrics: the base step's (``log_joint``, ``decoder_objective``,
    VIWAE's ``iw_bound`` and ``ess_fraction``), ``phi_norm``, ``fit_loss``, and with
    labelled data ``labelled_log_lik_y`` (mean log p(y | z) at the labelled codes) and
    ``labelled_phi_norm``.
  """
  check_model(model)
  base = model.base
  if group_size is not None and (group_size < 1 or num_particles % group_size):
    raise ValueError(f"group_size={group_size} must divide num_particles={num_particles}.")
  if num_unlabelled < 1 or num_labelled < 0:
    raise ValueError(f"num_unlabelled must be >= 1 and num_labelled >= 0, got " f"{num_unlabelled} and {num_labelled}.")
  if latent_update not in sv.LATENT_UPDATES:
    raise ValueError(f"latent_update must be one of {sv.LATENT_UPDATES}, got {latent_update!r}.")
  viwae = group_size is not None
  dec_tx = sv.decoder_transform(num_decoder, decoder_kernel, dec_optimizer)

  def init(key: Array) -> sv.SteinVAEState:
    enc_params, dec = init_params(key, model, num_decoder)
    return sv.SteinVAEState(jnp.zeros((), jnp.int32), enc_params, dec, enc_optimizer.init(enc_params), dec_tx.init(dec))

  def step(key: Array, state: sv.SteinVAEState, batch: dict):
    x_u, x_l, y_l = batch_parts(batch)
    sv.check_data(base, x_u)
    check_labelled(model, x_l, y_l)
    if x_l.shape[0] and num_labelled < 1:
      raise ValueError("Labelled data were passed but num_labelled is 0.")
    xi = jax.random.normal(key, (num_particles, base.latent_dim))
    xib = xi[None]
    dec = state.dec_params
    m_dec = sv.num_decoder_particles(dec)
    sv.check_decoder_count(m_dec, num_decoder)
    if viwae:
      z_u, log_q_u = sv.sample_with_log_q(base, state.enc_params, x_u[:, None, :], xib)
    else:
      z_u, log_q_u = sv.encode(base, state.enc_params, x_u[:, None, :], xib), None
    z_u = jax.lax.stop_gradient(z_u)
    phi_u, g_x, aux = sv.stein_gradients(
      base,
      dec["x"],
      x_u,
      z_u,
      num_data=num_unlabelled,
      prior_std=decoder_prior_std,
      log_q=log_q_u,
      group_size=group_size,
      latent_kernel=latent_kernel,
    )
    has_labels = x_l.shape[0] > 0
    if has_labels:
      z_l = jax.lax.stop_gradient(sv.encode(base, state.enc_params, x_l[:, None, :], xib))
      scores_l, g_l, ll_l = labelled_scores(model, dec, x_l, y_l, z_l, num_labelled=num_labelled)
      phi_l = latent_kernel.direction(z_l, scores_l)
    if m_dec == 1:
      # stein_gradients returned the unlabelled loss gradient itself (prior included): its
      # negation is the score, summed with the labelled scores of eq. (14).
      scores = {
        "x": jax.tree_util.tree_map(jnp.negative, g_x),
        "y": jax.tree_util.tree_map(
          lambda th: jnp.zeros_like(th) if decoder_prior_std is None else -th / decoder_prior_std**2, dec["y"]
        ),
      }
      if has_labels:
        scores = jax.tree_util.tree_map(jnp.add, scores, g_l)
    else:
      z_l_arg = z_l if has_labels else jnp.zeros((0, num_particles, base.latent_dim))
      obj = lambda d: decoder_objective(
        model,
        d,
        x_u,
        z_u,
        x_l,
        y_l,
        z_l_arg,
        num_unlabelled=num_unlabelled,
        num_labelled=num_labelled,
        prior_std=decoder_prior_std,
        log_q_u=log_q_u,
        group_size=group_size,
      )
      scores = jax.vmap(jax.grad(obj))(dec)
    grads = jax.tree_util.tree_map(jnp.negative, scores)  # of the loss -log p~ (optax descends)
    upd, dec_opt_state = dec_tx.update(grads, state.dec_opt_state, dec)
    new_dec = optax.apply_updates(dec, upd)
    if has_labels:
      x_fit = jnp.concatenate([x_u, x_l], 0)[:, None, :]
      targets = jnp.concatenate(
        [
          sv.move_particles(z_u, phi_u, step_size, latent_update),
          sv.move_particles(z_l, phi_l, step_size, latent_update),
        ],
        0,
      )
    else:
      x_fit, targets = x_u[:, None, :], sv.move_particles(z_u, phi_u, step_size, latent_update)
    enc_params, enc_opt_state, fit = _fit_encoder(
      lambda p, xx, ee: sv.encode(base, p, xx, ee),
      state.enc_params,
      state.enc_opt_state,
      enc_optimizer,
      (x_fit, xib),
      targets,
      encoder_steps,
    )
    metrics = {"phi_norm": jnp.mean(jnp.linalg.norm(phi_u, axis=-1)), "fit_loss": fit, **aux}
    if has_labels:
      logits = jax.vmap(lambda p: model.classifier.apply(p, z_l))(dec["y"])
      metrics["labelled_log_lik_y"] = jnp.mean(label_log_likelihood(logits, y_l[:, None]))
      metrics["labelled_phi_norm"] = jnp.mean(jnp.linalg.norm(phi_l, axis=-1))
    new = sv.SteinVAEState(state.step + 1, enc_params, new_dec, enc_opt_state, dec_opt_state)
    return new, metrics

  return Trainer(init, step)


def elbo_terms(
  model: SemiSupervisedModel,
  enc_params: PyTree,
  dec: PyTree,
  x_u: Array,
  x_l: Array,
  y_l: Array,
  xi_u: Array,
  xi_l: Array,
) -> tuple[Array, Array]:
  """Per-data-point bounds: (ELBO(x_n) [Bu], ELBO(x_n, y_n) [Bl]).

  ELBO(x, y) = E_q [log p(x | z) + w log p(y | z) + log p(z) - log q(z | x)] and ELBO(x)
  likewise without the label term, estimated with the reparameterised noise xi_u [Bu, k, dz]
  and xi_l [Bl, k, dz] (k = 1: the ELBO; k > 1 the k-sample bound of eq. 8). Decoder
  particles enter through log mean_m p(x, y, z | theta_m, theta~_m).
  """
  z, log_q = sv.sample_with_log_q(model.base, enc_params, x_u[:, None, :], xi_u)
  lw = sv.log_joint(model.base, dec["x"], x_u, z, "logmeanexp") - log_q
  e_u = jax.nn.logsumexp(lw, -1) - math.log(lw.shape[-1])
  if not x_l.shape[0]:
    return e_u, jnp.zeros((0,), e_u.dtype)
  z, log_q = sv.sample_with_log_q(model.base, enc_params, x_l[:, None, :], xi_l)
  lj = labelled_log_lik_per_decoder(model, dec, x_l, y_l, z)  # [M, Bl, k]
  lw = jax.nn.logsumexp(lj, 0) - math.log(lj.shape[0]) + model.base.log_prior(z) - log_q
  return e_u, jax.nn.logsumexp(lw, -1) - math.log(lw.shape[-1])


def vae_loss(
  model: SemiSupervisedModel,
  enc_params: PyTree,
  dec: PyTree,
  x_u: Array,
  x_l: Array,
  y_l: Array,
  xi_u: Array,
  xi_l: Array,
  *,
  num_unlabelled: int,
  num_labelled: int,
) -> Array:
  """Negative semi-supervised ELBO per data point of D and D_l (the VAE baseline's objective).

  -(N_u mean_n ELBO(x_n) + N_l mean_n ELBO(x_n, y_n)) / (N_u + N_l), terms of
  :func:`elbo_terms`. The same p(y | z) head as the Stein methods; this is not Kingma et
  al.'s (2014) M2, whose y is a latent variable of the generative model with its own
  classifier q(y | x).
  """
  e_u, e_l = elbo_terms(model, enc_params, dec, x_u, x_l, y_l, xi_u, xi_l)
  value = num_unlabelled * jnp.mean(e_u)
  if x_l.shape[0]:
    value = value + num_labelled * jnp.mean(e_l)
  return -value / (num_unlabelled + num_labelled)


def semi_supervised_vae(
  model: SemiSupervisedModel,
  optimizer: optax.GradientTransformation,
  *,
  num_unlabelled: int,
  num_labelled: int,
  num_decoder: int = 1,
  encoder_weighting: str = "batch",
) -> Trainer:
  """VAE baseline: ``optimizer`` on the semi-supervised ELBO over encoder, theta and theta~.

  The decoders follow the gradient of :func:`vae_loss` (labelled and unlabelled terms
  scaled to the data-set sizes, as the Stein decoders are). The encoder is an amortised
  variational family; ``encoder_weighting="batch"`` gives it the gradient of the plain
  minibatch mean of the Bu + Bl bounds, the weighting that the Stein encoder's eq. (7)
  regression gives the moved codes (every code of the minibatch counts once), so both
  methods' encoders see labelled images in the same proportion. ``"data"`` uses the
  gradient of :func:`vae_loss` for the encoder too (labelled terms then weigh N_l / N,
  which is tiny for N_rho = 10). Independent noise per data point (xi [B, 1, dz]).
  Metrics: ``bound`` (minus :func:`vae_loss`).
  """
  check_model(model)
  if encoder_weighting not in ("batch", "data"):
    raise ValueError(f"encoder_weighting must be 'batch' or 'data', got {encoder_weighting!r}.")
  n_all = num_unlabelled + num_labelled

  def init(key: Array) -> sv.SteinVAEState:
    enc_params, dec = init_params(key, model, num_decoder)
    return sv.SteinVAEState(jnp.zeros((), jnp.int32), enc_params, dec, optimizer.init((enc_params, dec)), ())

  def step(key: Array, state: sv.SteinVAEState, batch: dict):
    x_u, x_l, y_l = batch_parts(batch)
    sv.check_data(model.base, x_u)
    check_labelled(model, x_l, y_l)
    k_u, k_l = jax.random.split(key)
    dz = model.base.latent_dim
    b_u, b_l = x_u.shape[0], x_l.shape[0]
    xi_u = jax.random.normal(k_u, (b_u, 1, dz))
    xi_l = jax.random.normal(k_l, (b_l, 1, dz))
    params = (state.enc_params, state.dec_params)
    (e_u, e_l), vjp_fn = jax.vjp(lambda p: elbo_terms(model, p[0], p[1], x_u, x_l, y_l, xi_u, xi_l), params)
    # Cotangents of minus the objectives (optax minimises).
    c_data = (
      jnp.full_like(e_u, -num_unlabelled / (b_u * n_all)),
      jnp.full_like(e_l, -num_labelled / (max(b_l, 1) * n_all)),
    )
    g_data = vjp_fn(c_data)[0]
    if encoder_weighting == "batch":
      g_enc = vjp_fn((jnp.full_like(e_u, -1.0 / (b_u + b_l)), jnp.full_like(e_l, -1.0 / (b_u + b_l))))[0][0]
      g = (g_enc, g_data[1])
    else:
      g = g_data
    upd, opt_state = optimizer.update(g, state.enc_opt_state, params)
    enc_params, dec = optax.apply_updates(params, upd)
    loss = -(num_unlabelled * jnp.mean(e_u) + (num_labelled * jnp.mean(e_l) if b_l else 0.0)) / n_all
    new = sv.SteinVAEState(state.step + 1, enc_params, dec, opt_state, ())
    return new, {"bound": -loss}

  return Trainer(init, step)


def make_trainer(
  method: str,
  model: SemiSupervisedModel,
  optimizer: optax.GradientTransformation,
  *,
  num_unlabelled: int,
  num_labelled: int,
  num_particles: int = 100,
  k: int = 50,
  num_decoder: int = 1,
  decoder_optimizer: Optional[optax.GradientTransformation] = None,
  encoder_weighting: str = "batch",
  **stein_kwargs,
) -> Trainer:
  """The three methods of Table 3: "stein_vae", "stein_viwae" (group size k), "vae".

  ``encoder_weighting`` is the VAE's (:func:`semi_supervised_vae`); ``stein_kwargs`` go
  to :func:`semi_supervised_stein_vae`.
  """
  if method in ("stein_vae", "stein_viwae"):
    return semi_supervised_stein_vae(
      model,
      optimizer,
      decoder_optimizer or optimizer,
      num_unlabelled=num_unlabelled,
      num_labelled=num_labelled,
      num_particles=num_particles,
      num_decoder=num_decoder,
      group_size=k if method == "stein_viwae" else None,
      **stein_kwargs,
    )
  if method == "vae":
    return semi_supervised_vae(
      model,
      optimizer,
      num_unlabelled=num_unlabelled,
      num_labelled=num_labelled,
      num_decoder=num_decoder,
      encoder_weighting=encoder_weighting,
    )
  raise ValueError(f"Unknown method {method!r}: use one of {METHODS}.")
