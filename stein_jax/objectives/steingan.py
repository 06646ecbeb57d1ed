"""SteinGAN (amortized MLE, Algorithm 2) and SteinCD-GAN(alpha) of Liu & Wang 2017, as pure functions.

An energy model ``p_theta(x) ∝ exp f(x; theta)`` and a generator ``x = G(xi; eta)`` are trained together:

  1. a minibatch of data ``x+ [m, ...]``;
  2. negatives ``x- = G(xi; eta)`` from noise ``xi``;
  3. the generator follows the SVGD direction toward ``p_theta`` (eq. (21), or the regression of eq. (20)):
       ``eta <- eta + eps/m sum_i dG(xi_i)/deta^T phi*(x-_i)``, ``phi*`` = :func:`generator_direction`;
  4. the energy descends :func:`energy_loss`, the contrastive update of eq. (23) (``discount = gamma`` gives the
     stabilised update of sec. 5.2).

SteinCD-GAN(alpha) (sec. 5.1) replaces each negative of step 4, with probability ``alpha``, by the SteinCD negative
``x+ + eps phi*(x+)`` (Algorithm 1), :func:`mix_negatives`: ``alpha = 0`` is SteinGAN, ``alpha = 1`` SteinCD.

:func:`init` and :func:`update` wrap the four steps into one pure training step on a small pytree state, with separate
optax optimisers (the paper: Adam) for the energy and the generator.

Derivations (why eq. (21) is one gradient step of eq. (20); what "without kernel" maximises) are in docs/steingan.md.

References:
  Liu, Q. and Wang, D. "Learning Deep Energy Models: Contrastive Divergence vs. Amortized MLE", 2017, sec. 4, 5.1, 5.2.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from stein_jax import algorithm as algorithm_lib
from stein_jax import amortized, svgd_direction
from stein_jax import kernels as kernels_lib
from stein_jax.objectives import energy as energy_objectives

Array = jax.Array
PyTree = Any
Metrics = dict[str, Array]

GENERATOR_UPDATES = ("chain_rule", "regression")
DIRECTIONS = ("svgd", "nearest_neighbor")
NEAREST_NEIGHBOR_REPULSION = 0.5
"""Weight of the one-neighbour repulsion in the authors' April 2017 code (``svgd_grad = grad + dxkxy / 2.``)."""


def _is_concrete(value: Any) -> bool:
  return not isinstance(value, jax.core.Tracer)


def _check_unit_interval(value: Any, name: str, *, upper_open: bool = False) -> None:
  if not _is_concrete(value):
    return  # traced: the caller's contract
  v = np.asarray(value, dtype=np.float64)
  upper_ok = v < 1.0 if upper_open else v <= 1.0
  if v.shape != () or not np.isfinite(v) or v < 0.0 or not upper_ok:
    interval = "[0, 1)" if upper_open else "[0, 1]"
    raise ValueError(f"{name} must be a scalar in {interval}; got {value!r}.")


def _negative_energies(apply_fn: Callable, params: PyTree, x: Array, what: str) -> Array:
  f = apply_fn(params, x)
  if jnp.shape(f) != (x.shape[0],):
    raise ValueError(
      f"apply_fn must return one negative energy per example, shape ({x.shape[0]},); got shape {jnp.shape(f)} "
      f"for the {what} of shape {tuple(x.shape)}."
    )
  return f


def _all_finite(*arrays: Array) -> Array:
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(a)) for a in arrays]))


# ------------------------------------------------------------------------------------------------ Algorithm 2


def energy_loss(
  apply_fn: Callable,
  params: PyTree,
  positives: Array,
  negatives: Array,
  *,
  discount: float = 0.0,
  negative_apply_fn: Optional[Callable] = None,
) -> tuple[Array, Metrics]:
  """The energy's loss of Algorithm 2 step 4; descending it is eq. (23).

  ``loss = -(mean_i f(x+_i) - (1 - discount) * mean_i f(x-_i))`` with the negatives held constant, so
  ``-grad loss = 1/m sum_i (grad f(x+_i) - (1 - gamma) grad f(x-_i))``: eq. (23) for ``discount = 0`` and the
  stabilised update of sec. 5.2 for ``discount = gamma``.

  Args:
    apply_fn: ``apply_fn(params, x [m, ...]) -> f [m]``, the negative energy (``log p`` up to ``log Z``).
    params: the energy's parameters ``theta``.
    positives: data minibatch ``x+``, ``[m, ...]``.
    negatives: negatives ``x-``, ``[m', ...]`` (same trailing shape); a constant for differentiation.
    discount: ``gamma`` in ``[0, 1)``.
    negative_apply_fn: optional separate ``apply_fn`` for the negatives (e.g. another dropout draw); default
      ``apply_fn``.

  Returns:
    ``(loss, metrics)``: "energy_pos" / "energy_neg" are the means of ``-f`` on positives / negatives, "finite" is
    False when the negatives or the loss are not finite.
  """
  _check_unit_interval(discount, "discount", upper_open=True)
  if positives.shape[1:] != negatives.shape[1:]:
    raise ValueError(
      f"positives {tuple(positives.shape)} and negatives {tuple(negatives.shape)} must have the "
      "same trailing (per-example) shape."
    )
  negatives = jax.lax.stop_gradient(negatives)
  f_pos = jnp.mean(_negative_energies(apply_fn, params, positives, "positives"))
  f_neg = jnp.mean(_negative_energies(negative_apply_fn or apply_fn, params, negatives, "negatives"))
  loss = -(f_pos - (1.0 - discount) * f_neg)
  metrics = {"loss": loss, "energy_pos": -f_pos, "energy_neg": -f_neg, "finite": _all_finite(negatives, loss)}
  return loss, metrics


def generator_direction(
  apply_fn: Callable,
  params: PyTree,
  negatives: Array,
  *,
  bandwidth: Any = "median_log",
  kernel: Any = None,
  features: Optional[Callable[[Array], Array]] = None,
  use_kernel: bool = True,
  kernel_normalization: str = "mean",
) -> Array:
  """``phi*(x-_i)`` of Algorithm 2 step 3: the SVGD direction (eq. (5)) at the negatives toward ``p_theta``.

  ``phi*(x) = 1/m sum_j [grad_{x_j} f(x_j) k(x_j, x) + grad_{x_j} k(x_j, x)]`` with the RBF kernel
  ``k = exp(-||x - x'||^2 / h)`` on the flattened negatives, or on ``features(x)`` when given (sec. 5.2: the
  autoencoder's code ``E(x; theta)``, the bandwidth rule then applied to the features).

  ``use_kernel=False`` is the paper's "SteinGAN without kernel" (sec. 5.1, Fig. 1(d)): each particle moves by its
  own score ``grad_x f(x_i)``, and the generator update maximises ``E_xi f(G(xi))`` (amortized Viterbi / herding;
  docs/steingan.md). It is *not* the literal constant kernel ``k = 1``, which would give every particle the mean
  score and no per-particle signal at all.

  Args:
    apply_fn: ``apply_fn(params, x [m, ...]) -> f [m]``.
    params: energy parameters (held constant).
    negatives: particles ``[m, ...]`` (any trailing shape, e.g. images ``[m, H, W, C]``).
    bandwidth: SVGD bandwidth rule; ``"median_log"`` is ``h = med^2 / log m`` (sec. 5.1).
    kernel: ``None`` (RBF) or a ``stein_jax.kernels`` kernel.
    features: optional ``x [m, ...] -> [m, k]`` used inside the kernel.
    use_kernel: False gives the score alone (see above).
    kernel_normalization: "mean" (eq. (5), ``1/m``) or "row_sum" (the authors' code divides ``phi*(x_i)`` by
      ``sum_j k(x_j, x_i)``; docs/steingan.md).

  Returns:
    ``phi*`` with the shape of ``negatives``; no gradient flows to ``params`` or ``negatives``.
  """
  x = jax.lax.stop_gradient(jnp.asarray(negatives))
  if x.ndim < 2:
    raise ValueError(f"negatives must have a leading particle axis, [m, ...]; got shape {tuple(x.shape)}.")
  params = jax.lax.stop_gradient(params)
  f, vjp = jax.vjp(lambda y: _negative_energies(apply_fn, params, y, "negatives"), x)
  (score,) = vjp(jnp.ones_like(f))
  if not use_kernel:
    return score
  m, shape = x.shape[0], x.shape[1:]
  flat_features = None
  if features is not None:
    flat_features = lambda y: features(y.reshape((y.shape[0],) + shape))
  phi = svgd_direction(
    x.reshape(m, -1),
    score.reshape(m, -1),
    bandwidth=bandwidth,
    kernel=kernel,
    features=flat_features,
    normalization=kernel_normalization,
  )
  return phi.reshape(x.shape)


def nearest_neighbor_direction(
  particles: Array,
  scores: Array,
  features: Callable[[Array], Array],
  *,
  bandwidth: Any,
  repulsion_weight: float = NEAREST_NEIGHBOR_REPULSION,
) -> Array:
  """The generator direction of the authors' April 2017 SteinGAN code: own score plus one neighbour's repulsion.

  ``phi(x_i) = grad f(x_i) + w grad_{x_j} k(x_j, x_i) |_{j = nn(i)}``, ``nn(i)`` the nearest other particle to
  ``x_i`` in feature space, ``k(x, x') = exp(-||g(x) - g(x')||^2 / H)`` with ``g = features`` and ``w = 0.5``:

      grad_{x_j} k(x_j, x_i) = J_g(x_j)^T (2 / H) k(x_j, x_i) (g(x_i) - g(x_j)),

  pushing ``x_i`` away from its neighbour (``svgd_gradient`` of ``cifar10/steingan_supervised.py`` lines 226-242 at
  commit ``db2735b^`` of DartML/SteinGAN). There is no kernel smoothing of the score and no ``1/m``: this is not
  eq. (5), which sums the repulsion of all particles. The Jacobian-vector product is one reverse pass of
  ``features`` at the batch ``particles[nn]`` (row ``i`` holds ``x_nn(i)``), so with per-example features it costs
  one backward pass, not ``m * k`` as the per-particle Jacobian of the full kernel.

  Args:
    particles: ``[m, ...]``.
    scores: ``grad log p`` at the particles, same shape.
    features: ``g: [m, ...] -> [m, k]``. For a per-example ``g`` row ``i`` of the product is exactly
      ``J_g(x_nn(i))^T v_i``; a batch-dependent ``g`` (batch norm with the batch's statistics) adds the statistics'
      cross terms of the batch ``x[nn]``, as the authors' ``T.Lop`` at ``discrim(X0[neighbors])`` does.
    bandwidth: ``H`` of ``k = exp(-r^2 / H)``: a positive float, a rule name of ``stein_jax.kernels`` or a callable
      ``codes [m, k] -> H`` (computed on the features, a constant for differentiation).
    repulsion_weight: ``w`` (the authors' 0.5).

  Returns:
    ``phi`` with the shape of ``particles`` (the scores unchanged when m = 1: no neighbour).
  """
  x = jax.lax.stop_gradient(jnp.asarray(particles))
  scores = jax.lax.stop_gradient(jnp.asarray(scores))
  if x.ndim < 2 or scores.shape != x.shape:
    raise ValueError(
      f"particles [m, ...] and scores of the same shape are needed; got {tuple(x.shape)} and "
      f"{tuple(jnp.shape(scores))}."
    )
  m = x.shape[0]
  if m < 2:
    return scores
  g = features(x)
  if g.ndim != 2 or g.shape[0] != m:
    raise ValueError(f"features must map [m, ...] -> [m, k]; got {tuple(x.shape)} -> {tuple(g.shape)}.")
  kernels_lib.check_bandwidth(bandwidth)
  h = kernels_lib.resolve_bandwidth(bandwidth, g)
  gc = g - jnp.mean(g, axis=0)
  r = kernels_lib.pairwise_sq_dists(gc, gc)
  neighbor = jnp.argmin(jnp.where(jnp.eye(m, dtype=bool), jnp.inf, r), axis=1)
  diff = g - g[neighbor]  # g(x_i) - g(x_nn(i))
  k = jnp.exp(-jnp.sum(diff * diff, axis=1) / h)
  cotangent = jax.lax.stop_gradient((2.0 / h) * k[:, None] * diff)
  _, vjp = jax.vjp(features, x[neighbor])
  (repulsion,) = vjp(cotangent.astype(g.dtype))
  return scores + repulsion_weight * repulsion


def authors_discount(reconstruction_pos, reconstruction_neg, base: float = 0.7, boosted: float = 0.9):
  """The discount switch of the authors' public code: ``base`` when the real batch reconstructs worse, else ``boosted``.

  Their loop (``cifar10/steingan_supervised.py`` lines 326-335 at ``db2735b^``) measures the mean reconstruction
  error ``||x - D(E(x))||`` (no label term) of the real and of the generated batch *after* the step's updates and sets
  the weight of the negative phase, ``balance_weight = 1 - gamma``, to 0.3 when the real error is larger and 0.1
  otherwise, for the next step: gamma = 0.7 when real > generated, 0.9 otherwise (ties included). This is the
  reverse of the paper's text (:func:`adaptive_discount`).

  Returns:
    scalar gamma (traceable).
  """
  return jnp.where(reconstruction_pos > reconstruction_neg, base, boosted)


def adaptive_discount(energy_pos, energy_neg, base: float = 0.7, boosted: float = 0.9):
  """The discount gamma of sec. 5.2: ``boosted`` when the real batch's mean energy exceeds the generated batch's.

  A larger gamma shrinks the negative phase of the energy update, ``grad f(x+) - (1 - gamma) grad f(x-)``, so the
  energy of the data is pushed down faster ("we speed up the theta-update ... when the energy of the real data batch
  is larger than the energy of the simulated images").

  Args:
    energy_pos: mean energy ``-f`` of the real batch (scalar).
    energy_neg: mean energy ``-f`` of the generated batch.
    base, boosted: the paper's 0.7 and 0.9.

  Returns:
    scalar gamma (traceable).
  """
  return jnp.where(energy_pos > energy_neg, boosted, base)


def coupled_l2_adam(learning_rate: float, b1: float, weight_decay: float) -> optax.GradientTransformation:
  """Adam, the optimiser of the energy and the generator in both SteinGAN experiments (RBM, images).

  With ``weight_decay > 0`` the L2 term ``weight_decay * theta`` is added to the gradient before Adam (coupled, as
  the authors' ``updates.Regularizer(l2=...)``), not decoupled as in AdamW.
  """
  adam = optax.adam(learning_rate, b1=b1)
  if weight_decay > 0:
    return optax.chain(optax.add_decayed_weights(weight_decay), adam)
  return adam


def mix_negatives(rng: Array, generated: Array, cd_negatives: Array, alpha: float) -> Array:
  """SteinCD-GAN(alpha) negatives (sec. 5.1): each is the SteinCD sample with probability ``alpha``.

  Args:
    rng: PRNG key.
    generated: generator samples ``G(xi_i)``, ``[m, ...]``.
    cd_negatives: SteinCD negatives ``x+_i + eps phi*(x+_i)`` (Algorithm 1 step 2), same shape.
    alpha: probability in ``[0, 1]``; ``alpha = 0`` returns ``generated`` and ``alpha = 1`` ``cd_negatives``
      exactly (independent Bernoulli draws per example).

  Returns:
    ``[m, ...]`` negatives.
  """
  _check_unit_interval(alpha, "alpha")
  if generated.shape != cd_negatives.shape:
    raise ValueError(
      f"generated {tuple(generated.shape)} and cd_negatives {tuple(cd_negatives.shape)} must have "
      "the same shape (use one noise draw per data example)."
    )
  pick_cd = jax.random.bernoulli(rng, alpha, (generated.shape[0],))
  pick_cd = pick_cd.reshape((-1,) + (1,) * (generated.ndim - 1))
  return jnp.where(pick_cd, cd_negatives, generated)


# ------------------------------------------------------------------------------------------------ training step


class SteinGANState(flax.struct.PyTreeNode):
  """Parameters and optimiser states of the energy and the generator.

  Attributes:
    energy: energy parameters ``theta``.
    generator: generator parameters ``eta``.
    energy_opt: ``energy_tx.init(energy)``.
    generator_opt: ``generator_tx.init(generator)``.
  """

  energy: PyTree
  generator: PyTree
  energy_opt: PyTree
  generator_opt: PyTree

  @property
  def params(self) -> dict:
    """``{"energy": theta, "generator": eta}``."""
    return {"energy": self.energy, "generator": self.generator}


def init(
  energy_params: PyTree,
  generator_params: PyTree,
  energy_tx: optax.GradientTransformation,
  generator_tx: optax.GradientTransformation,
) -> SteinGANState:
  """The step-0 :class:`SteinGANState` with fresh optimiser states."""
  return SteinGANState(
    energy_params, generator_params, energy_tx.init(energy_params), generator_tx.init(generator_params)
  )


def update(
  rng: Array,
  state: SteinGANState,
  positives: Array,
  noise: Array,
  *,
  energy_apply: Callable,
  generator_apply: Callable,
  energy_tx: optax.GradientTransformation,
  generator_tx: optax.GradientTransformation,
  alpha: float = 0.0,
  discount: float = 0.0,
  use_kernel: bool = True,
  generator_update: str = "chain_rule",
  step_size: float = 1.0,
  cd_step_size: float = 1.0,
  num_fit_steps: int = 1,
  bandwidth: Any = "median_log",
  kernel: Any = None,
  features: Optional[Callable[[Array, PyTree], Array]] = None,
  kernel_normalization: str = "mean",
  direction: str = "svgd",
  direction_energy_apply: Optional[Callable] = None,
  energy_loss_apply: Optional[Callable] = None,
) -> tuple[SteinGANState, Metrics]:
  """One iteration of Algorithm 2 (SteinGAN), or of SteinCD-GAN(alpha) when ``alpha > 0``.

  Steps 3 and 4 both use the current ``(theta, eta)``: the generator follows ``phi*`` under the current energy,
  and the energy contrasts the data with the current generator's samples (mixed with SteinCD negatives).

  Generator update (``generator_update``):
    * ``"chain_rule"`` (eq. (21)): the optimiser receives ``-(eps/m) sum_i dG(xi_i)/deta^T phi*(x-_i)``
      (``amortized.chain_rule_gradient``), i.e. plain SGD at learning rate mu is step 3 with ``epsilon = mu eps``;
    * ``"regression"`` (eq. (20)): ``num_fit_steps`` optimiser steps on
      ``1/(2m) sum_i ||G(xi_i; eta) - sg(x-_i + eps phi*(x-_i))||^2`` (``amortized.fit_to_targets``). Its first
      gradient equals the chain-rule gradient exactly (docs/steingan.md), so with one fit step the two coincide.

  Args:
    rng: key for this step (e.g. ``fold_in(base, step)``); only the mixing draws from it.
    state: the current :class:`SteinGANState`.
    positives: data minibatch ``x+ [m, ...]``.
    noise: generator inputs ``xi [m, ...]``; ``generator_apply(eta, xi)`` must return ``[m, ...]`` like positives.
    energy_apply: ``f(theta, x [m, ...]) -> [m]``.
    generator_apply: ``G(eta, xi) -> x``.
    energy_tx, generator_tx: separate optimisers (Adam in the paper).
    alpha: SteinCD-GAN mixing probability in ``[0, 1]`` (a Python float: ``0`` skips the SteinCD negatives).
    discount: ``gamma`` of the stabilised energy update (sec. 5.2).
    use_kernel: False: "SteinGAN without kernel" (:func:`generator_direction`).
    generator_update: "chain_rule" or "regression".
    step_size: ``eps`` of the generator's SVGD step.
    cd_step_size: ``eps`` of the SteinCD negatives.
    num_fit_steps: regression steps per iteration (``generator_update="regression"``).
    bandwidth, kernel: SVGD kernel of both the generator direction and the SteinCD negatives.
    features: optional ``features(x [m, ...], theta) -> [m, k]``: the kernel of the generator direction is put on
      these features of the current energy parameters (sec. 5.2).
    kernel_normalization: "mean" (eq. (5)) or "row_sum" (the authors' code) for the generator direction.
    direction: "svgd" (:func:`generator_direction`) or "nearest_neighbor" (:func:`nearest_neighbor_direction`, the
      authors' April 2017 code; needs ``features``, ``kernel`` must be None and ``use_kernel=False`` gives the
      score alone as for "svgd").
    direction_energy_apply: optional ``f(theta, x) -> [m]`` used for the score of the generator direction instead
      of ``energy_apply`` (e.g. a deterministic energy with frozen batch-norm statistics).
    energy_loss_apply: optional ``f(theta, x, which) -> [m]`` for the energy's loss, ``which`` 0 for the positives
      and 1 for the negatives (e.g. with input dropout keyed by ``which``); default ``energy_apply``.

  Returns:
    ``(new_state, metrics)``; ``metrics["finite"]`` is False when a negative, the direction or a gradient is not
    finite (the caller should stop rather than apply it).
  """
  if generator_update not in GENERATOR_UPDATES:
    raise ValueError(f"generator_update must be one of {GENERATOR_UPDATES}; got {generator_update!r}.")
  if direction not in DIRECTIONS:
    raise ValueError(f"direction must be one of {DIRECTIONS}; got {direction!r}.")
  if direction == "nearest_neighbor" and (features is None or kernel is not None):
    raise ValueError("direction='nearest_neighbor' needs features= (the code E(x)) and the RBF kernel (kernel=None).")
  _check_unit_interval(alpha, "alpha")
  energy_objectives._check_step_size(step_size, "step_size")
  if not isinstance(num_fit_steps, (int, np.integer)) or num_fit_steps < 1:
    raise ValueError(f"num_fit_steps must be a positive Python int; got {num_fit_steps!r}.")
  theta, eta = state.energy, state.generator
  generated = jax.lax.stop_gradient(generator_apply(eta, noise))
  if generated.shape != positives.shape:
    raise ValueError(
      f"The generator's samples have shape {tuple(generated.shape)} but the data minibatch has shape "
      f"{tuple(positives.shape)}; draw one noise vector per data example and match the data's shape."
    )
  m = generated.shape[0]

  # Step 3: the generator follows phi* toward p_theta.
  feats = None if features is None else (lambda y: features(y, jax.lax.stop_gradient(theta)))
  score_apply = energy_apply if direction_energy_apply is None else direction_energy_apply
  if direction == "svgd" or not use_kernel:
    phi = generator_direction(
      score_apply,
      theta,
      generated,
      bandwidth=bandwidth,
      kernel=kernel,
      features=feats,
      use_kernel=use_kernel,
      kernel_normalization=kernel_normalization,
    )
  else:
    score = generator_direction(score_apply, theta, generated, use_kernel=False)
    phi = nearest_neighbor_direction(generated, score, feats, bandwidth=bandwidth)
  if generator_update == "chain_rule":
    g_grads = amortized.chain_rule_gradient(generator_apply, eta, (noise,), step_size * phi / m)
    g_updates, generator_opt = generator_tx.update(g_grads, state.generator_opt, eta)
    new_eta = optax.apply_updates(eta, g_updates)
    fit_loss = jnp.zeros((), generated.dtype)
  else:
    flat_apply = lambda p, xi: generator_apply(p, xi).reshape(m, -1)
    targets = (generated + step_size * phi).reshape(m, -1)
    new_eta, generator_opt, fit_loss = amortized.fit_to_targets(
      flat_apply, eta, state.generator_opt, generator_tx, (noise,), targets, int(num_fit_steps), reduction="mean"
    )
    g_grads = new_eta  # only checked for finiteness below

  # Step 4: the energy contrasts the data with the (mixed) negatives.
  negatives = generated
  if not (_is_concrete(alpha) and float(alpha) == 0.0):
    shape = positives.shape[1:]
    flat_energy = lambda p, y: energy_apply(p, y.reshape((y.shape[0],) + shape))
    cd = energy_objectives.svgd_negatives(
      flat_energy,
      jax.lax.stop_gradient(theta),
      positives.reshape(m, -1),
      step_size=cd_step_size,
      bandwidth=bandwidth,
      kernel=kernel,
    )
    negatives = mix_negatives(rng, generated, cd.reshape(positives.shape), alpha)
  if energy_loss_apply is None:
    loss_fn = lambda p: energy_loss(energy_apply, p, positives, negatives, discount=discount)
  else:
    loss_fn = lambda p: energy_loss(
      lambda q, v: energy_loss_apply(q, v, 0),
      p,
      positives,
      negatives,
      discount=discount,
      negative_apply_fn=lambda q, v: energy_loss_apply(q, v, 1),
    )
  (loss, metrics), e_grads = jax.value_and_grad(loss_fn, has_aux=True)(theta)
  e_updates, energy_opt = energy_tx.update(e_grads, state.energy_opt, theta)
  new_theta = optax.apply_updates(theta, e_updates)

  finite = metrics.pop("finite") & _all_finite(phi, fit_loss, *jax.tree.leaves(e_grads), *jax.tree.leaves(g_grads))
  metrics.update(
    finite=finite,
    energy_grad_norm=optax.tree.norm(e_grads),
    phi_rms=jnp.sqrt(jnp.mean(phi**2)),
    generator_fit_loss=fit_loss,
    cd_fraction=jnp.mean(jnp.any(negatives != generated, axis=tuple(range(1, negatives.ndim)))),
  )
  return SteinGANState(new_theta, new_eta, energy_opt, generator_opt), metrics


def make_trainer(
  energy_apply: Callable,
  generator_apply: Callable,
  energy_tx: optax.GradientTransformation,
  generator_tx: optax.GradientTransformation,
  noise_fn: Callable[[Array, int], Array],
  **update_kwargs,
) -> algorithm_lib.Algorithm:
  """SteinGAN / SteinCD-GAN (:func:`update`) as an :class:`~stein_jax.algorithm.Algorithm`.

  Args:
    energy_apply, generator_apply, energy_tx, generator_tx: as for :func:`update`.
    noise_fn: ``noise_fn(rng, m) -> xi [m, ...]``, the generator's input for a batch of m.
    **update_kwargs: the other options of :func:`update` (alpha, discount, use_kernel, ...).

  Returns:
    ``init(rng, energy_params, generator_params) -> SteinGANState`` (``rng`` unused) and ``step(rng, state,
    {"x": x [m, ...]}) -> (state, metrics)``: the noise from ``fold_in(rng, 0)``, the update's own draws from
    ``fold_in(rng, 1)``. ``metrics["loss"]`` is NaN when :func:`update` reports a non-finite step (the platform
    then stops and reports it).
  """

  def init_fn(rng, energy_params: PyTree, generator_params: PyTree) -> SteinGANState:
    del rng
    return init(energy_params, generator_params, energy_tx, generator_tx)

  def step(rng: Array, state: SteinGANState, batch):
    x = batch["x"]
    noise = noise_fn(jax.random.fold_in(rng, 0), x.shape[0])
    state, metrics = update(
      jax.random.fold_in(rng, 1),
      state,
      x,
      noise,
      energy_apply=energy_apply,
      generator_apply=generator_apply,
      energy_tx=energy_tx,
      generator_tx=generator_tx,
      **update_kwargs,
    )
    metrics = dict(metrics)
    metrics["loss"] = jnp.where(metrics.pop("finite"), metrics["loss"], jnp.nan)
    return state, metrics

  return algorithm_lib.Algorithm(init_fn, step)
