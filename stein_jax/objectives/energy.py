"""Training rules for energy models: SteinCD, CD-k with Langevin dynamics, Stein score matching, exact RBM MLE.

Every rule is a pure function

  loss, metrics = rule(rng, apply_fn, params, x, **hyperparameters)

whose gradient in ``params`` is the rule's *descent* direction, so any optax optimiser (the paper uses Adam) applies it
with ``jax.value_and_grad(rule, argnums=2, has_aux=True)``. ``apply_fn(params, x [batch, d]) -> [batch]`` returns the
negative energy ``f`` of ``log p(x) = f(x) - log Z`` (``stein_jax.models.energy``). ``rng`` is only used by the
stochastic rules (Langevin CD); the others accept ``None``.

Contrastive rules (eqs. (11), (13), (17) of Liu & Wang 2017) move the data ``x`` to negatives ``x^-`` and use

  loss = mean f(stop_gradient(x^-)) - mean f(x),   grad = -(E_data grad f - E_neg grad f),

whose descent is the paper's update ``theta <- theta + mu (E_q0 grad f - E_neg grad f)``.

``metrics["finite"]`` is False when a chain or the loss produced NaN / inf (a divergent Langevin or SVGD step); the
training loop should stop and report the step instead of feeding NaN gradients to the optimiser.

Derivations (eq. (15) as half the gradient of the squared kernel Stein discrepancy, the finite-difference forms) are in
docs/rbm.md.

References:
  Liu, Q. and Wang, D. "Learning Deep Energy Models: Contrastive Divergence vs. Amortized MLE", 2017, sec. 2.2, 3, 5.1.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from stein_jax import algorithm as algorithm_lib
from stein_jax import ksd, svgd_direction
from stein_jax.targets import rbm as rbm_eval
from stein_jax.models.energy import EnergyApplyFn, energy_and_score, energy_values

Array = jax.Array
Metrics = dict[str, Array]
EnergyObjective = Callable[..., tuple[Array, Metrics]]


def _check_step_size(step_size: Any, name: str = "step_size") -> None:
  if isinstance(step_size, jax.core.Tracer):
    return
  value = np.asarray(step_size, dtype=np.float64)
  if value.shape != () or not np.isfinite(value) or value <= 0:
    raise ValueError(f"{name} must be a finite positive scalar; got {step_size!r}.")


def _all_finite(*arrays: Array) -> Array:
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(a)) for a in arrays]))


def _contrastive(apply_fn: EnergyApplyFn, params: Any, x: Array, negatives: Array) -> tuple[Array, Metrics]:
  """``mean f(sg(negatives)) - mean f(x)`` and the shared metrics of the contrastive rules."""
  negatives = jax.lax.stop_gradient(negatives)
  f_data = jnp.mean(energy_values(apply_fn, params, x))
  f_neg = jnp.mean(energy_values(apply_fn, params, negatives))
  loss = f_neg - f_data
  metrics = {
    "loss": loss,
    "data_energy": f_data,
    "negative_energy": f_neg,
    "negative_shift": jnp.mean(jnp.linalg.norm(negatives - x, axis=-1)),
    "finite": _all_finite(negatives, loss),
  }
  return loss, metrics


def svgd_negatives(
  apply_fn: EnergyApplyFn,
  params: Any,
  x: Array,
  *,
  step_size: float,
  bandwidth: Any = "median_log",
  kernel: Any = None,
) -> Array:
  """One SVGD step on the data under the model, ``x + eps * phi(x)`` (step 2 of Algorithm 1, eq. (5)).

  Args:
    apply_fn, params: the energy model.
    x: data, ``[m, d]``.
    step_size: ``eps``; a negative value gives the backward step ``x - |eps| phi(x)`` of eq. (17).
    bandwidth: SVGD bandwidth rule; ``"median_log"`` is ``h = med^2 / log m`` (sec. 5.1).
    kernel: ``None`` (RBF ``exp(-||x - x'||^2 / h)``) or a ``stein_jax.kernels`` kernel.

  Returns:
    ``[m, d]`` moved particles; not stop-gradient'ed.
  """
  _, score = energy_and_score(apply_fn, params, x)
  phi = svgd_direction(x, jax.lax.stop_gradient(score), bandwidth=bandwidth, kernel=kernel)
  return x + step_size * phi


def stein_cd_loss(
  rng: Array | None,
  apply_fn: EnergyApplyFn,
  params: Any,
  x: Array,
  *,
  step_size: float,
  bandwidth: Any = "median_log",
  kernel: Any = None,
) -> tuple[Array, Metrics]:
  """Stein contrastive divergence (Algorithm 1, eq. (13) of Liu & Wang 2017).

  Negatives are one SVGD step on the minibatch, ``x^- = x + eps * phi(x)``, and
  ``loss = mean f(sg(x^-)) - mean f(x)``: descent is ``theta <- theta + mu/m sum_i (grad f(x_i) - grad f(x^-_i))``.
  For small ``eps`` the gradient is ``eps`` times the Stein score matching gradient (eq. (16)).

  Args:
    rng: unused (deterministic rule); accepted for the common signature.
    apply_fn, params: the energy model, ``apply_fn(params, x [m, d]) -> [m]``.
    x: minibatch of data, ``[m, d]``.
    step_size: SVGD step ``eps > 0``.
    bandwidth: SVGD bandwidth rule (default ``"median_log"``, sec. 5.1).
    kernel: SVGD kernel (default RBF).

  Returns:
    ``(loss, metrics)``; ``metrics["finite"]`` is False if the SVGD step or the loss is not finite.
  """
  del rng
  _check_step_size(step_size)
  negatives = svgd_negatives(
    apply_fn, jax.lax.stop_gradient(params), x, step_size=step_size, bandwidth=bandwidth, kernel=kernel
  )
  return _contrastive(apply_fn, params, x, negatives)


def symmetric_stein_cd_loss(
  rng: Array | None,
  apply_fn: EnergyApplyFn,
  params: Any,
  x: Array,
  *,
  step_size: float,
  bandwidth: Any = "median_log",
  kernel: Any = None,
) -> tuple[Array, Metrics]:
  """Symmetric finite-difference Stein score matching (eq. (17) of Liu & Wang 2017).

  ``loss = mean f(sg(x + eps phi)) - mean f(sg(x - eps phi))`` with ``phi`` the SVGD direction at the data; descent
  is ``theta <- theta + mu (E_{q[-eps phi]} grad f - E_{q[eps phi]} grad f)``, and the gradient is
  ``2 eps`` times the Stein score matching gradient up to ``O(eps^3)``.

  Args and Returns: as ``stein_cd_loss``; the metrics' "data_energy" is the mean ``f`` at ``x - eps phi``.
  """
  del rng
  _check_step_size(step_size)
  _, score = energy_and_score(apply_fn, jax.lax.stop_gradient(params), x)
  step = step_size * svgd_direction(x, jax.lax.stop_gradient(score), bandwidth=bandwidth, kernel=kernel)
  loss, metrics = _contrastive(apply_fn, params, jax.lax.stop_gradient(x - step), x + step)
  metrics["finite"] = metrics["finite"] & _all_finite(step)
  return loss, metrics


def langevin_negatives(
  rng: Array, apply_fn: EnergyApplyFn, params: Any, x: Array, *, num_steps: int, step_size: float
) -> Array:
  """``num_steps`` of unadjusted Langevin dynamics on the model started at the data.

  ``x_{t+1} = x_t + (eps / 2) grad_x f(x_t) + sqrt(eps) * xi_t``, ``xi_t ~ N(0, I)`` drawn with
  ``fold_in(rng, t)``.

  Returns:
    ``[m, d]`` final states; not stop-gradient'ed in ``params`` (callers stop it).
  """
  _check_step_size(step_size)
  if not isinstance(num_steps, (int, np.integer)) or num_steps < 1:
    raise ValueError(f"num_steps must be a positive Python int (the CD-k chain length); got {num_steps!r}.")

  def step(t, y):
    _, score = energy_and_score(apply_fn, params, y)
    noise = jax.random.normal(jax.random.fold_in(rng, t), y.shape, y.dtype)
    return y + 0.5 * step_size * score + jnp.sqrt(step_size) * noise

  return jax.lax.fori_loop(0, int(num_steps), step, x)


def langevin_cd_loss(
  rng: Array,
  apply_fn: EnergyApplyFn,
  params: Any,
  x: Array,
  *,
  num_steps: int = 1,
  step_size: float,
) -> tuple[Array, Metrics]:
  """CD-k with Langevin dynamics (eq. (11) of Liu & Wang 2017; their CD-1 and CD-10 baselines of Fig. 1a).

  Negatives are ``num_steps`` Langevin steps from the data (``langevin_negatives``);
  ``loss = mean f(sg(x_k)) - mean f(x)``.

  Args:
    rng: PRNG key for the Langevin noise (use ``fold_in(key, step)`` per training step).
    apply_fn, params: the energy model.
    x: minibatch of data, ``[m, d]``.
    num_steps: chain length ``k`` (static).
    step_size: Langevin step ``eps > 0``.

  Returns:
    ``(loss, metrics)``; ``metrics["finite"]`` is False if the chain diverged to NaN / inf.
  """
  if rng is None:
    raise ValueError("langevin_cd_loss needs a PRNG key `rng` for the Langevin noise; got None.")
  negatives = langevin_negatives(
    rng, apply_fn, jax.lax.stop_gradient(params), x, num_steps=num_steps, step_size=step_size
  )
  return _contrastive(apply_fn, params, x, negatives)


def stein_score_matching_loss(
  rng: Array | None,
  apply_fn: EnergyApplyFn,
  params: Any,
  x: Array,
  *,
  bandwidth: Any = "median_log",
  kernel: Any = None,
) -> tuple[Array, Metrics]:
  """Stein score matching (eq. (15) of Liu & Wang 2017) with the cross derivative by automatic differentiation.

  ``loss = KSD_V^2(q0, p_theta) / 2``, half the V-statistic squared kernel Stein discrepancy between the minibatch
  and the model, with the bandwidth fixed by the data. Its exact gradient is the paper's update direction

    grad_theta loss = 1/m sum_i grad_theta grad_x f(x_i; theta) phi*(x_i),
    phi*(x_i) = 1/m sum_j [k(x_j, x_i) grad_x f(x_j) + grad_{x_j} k(x_j, x_i)],

  i.e. the SVGD direction at the data weighted by the cross derivative (docs/rbm.md). SteinCD / eps and eq. (17) /
  (2 eps) are finite-difference approximations of this gradient.

  Args:
    rng: unused; accepted for the common signature.
    apply_fn, params: the energy model.
    x: minibatch of data, ``[m, d]``.
    bandwidth: kernel bandwidth rule (default ``"median_log"``), computed from ``x``.
    kernel: ``None`` (RBF) or a ``stein_jax.kernels`` kernel.

  Returns:
    ``(loss, metrics)`` with ``metrics["ksd_squared"] = 2 * loss``.
  """
  del rng
  _, score = energy_and_score(apply_fn, params, x)
  ksd_sq = ksd(x, score, bandwidth=bandwidth, kernel=kernel, statistic="v")
  loss = 0.5 * ksd_sq
  return loss, {"loss": loss, "ksd_squared": ksd_sq, "finite": _all_finite(score, loss)}


def rbm_exact_mle_loss(
  rng: Array | None,
  apply_fn: EnergyApplyFn,
  params: Any,
  x: Array,
  *,
  chunk_size: int = rbm_eval.DEFAULT_CHUNK_SIZE,
) -> tuple[Array, Metrics]:
  """Exact maximum likelihood for a Gaussian-Bernoulli RBM (eq. (7)): ``loss = -(mean f(x) - log Z)``.

  The gradient is the exact MLE update (eq. (8)), with ``E_p grad f = grad log Z`` obtained by differentiating the
  exact enumeration of ``stein_jax.targets.rbm.log_partition``: the ceiling the approximate rules aim for.

  Args:
    rng: unused; accepted for the common signature.
    apply_fn: ``GaussianBernoulliRBM(...).apply``.
    params: its variables (``{"params": {"B", "b", "c"}}``).
    x: minibatch of data, ``[m, d]``.
    chunk_size: hidden states per chunk of the enumeration.

  Returns:
    ``(loss, metrics)`` with the minibatch "log_likelihood" and "log_partition".
  """
  del rng
  f_data = jnp.mean(energy_values(apply_fn, params, x))
  log_z = rbm_eval.log_partition(params, chunk_size=chunk_size)
  loss = log_z - f_data
  return loss, {"loss": loss, "log_likelihood": -loss, "log_partition": log_z, "finite": _all_finite(loss)}


ENERGY_OBJECTIVES: Mapping[str, EnergyObjective] = {
  "steincd": stein_cd_loss,
  "steincd_symmetric": symmetric_stein_cd_loss,
  "cd_langevin": langevin_cd_loss,
  "stein_score_matching": stein_score_matching_loss,
  "rbm_exact_mle": rbm_exact_mle_loss,
}
"""Training rules by name; all share ``rule(rng, apply_fn, params, x, **hyperparameters) -> (loss, metrics)``."""


def get_energy_objective(name: str) -> EnergyObjective:
  """The training rule registered under ``name`` in ``ENERGY_OBJECTIVES``."""
  try:
    return ENERGY_OBJECTIVES[name]
  except KeyError:
    raise ValueError(f"Unknown energy objective {name!r}; choose one of {sorted(ENERGY_OBJECTIVES)}.") from None


class EnergyTrainState(NamedTuple):
  """State of :func:`make_trainer`: the energy's parameters and optimizer state."""

  params: Any
  opt_state: Any
  step: Array


def make_trainer(
  rule: str | EnergyObjective, apply_fn: EnergyApplyFn, optimizer: optax.GradientTransformation, **hyperparameters
) -> algorithm_lib.Algorithm:
  """A training rule with its optimiser as an :class:`~stein_jax.algorithm.Algorithm`.

  Args:
    rule: a name of ``ENERGY_OBJECTIVES`` or a rule function.
    apply_fn: the negative energy ``f(params, x [batch, d]) -> [batch]``.
    optimizer: optax (the paper: Adam).
    **hyperparameters: the rule's keywords (step sizes, chain lengths, bandwidths).

  Returns:
    ``init(rng, params) -> EnergyTrainState`` (``rng`` unused) and ``step(rng, state, {"x": x}) -> (state,
    metrics)``: one optimiser step on the rule's gradient. ``metrics`` are the rule's, with ``loss`` NaN when a chain,
    the loss or a gradient was not finite (the platform then stops and reports the step) and ``grad_norm``.
  """
  rule_fn = get_energy_objective(rule) if isinstance(rule, str) else rule

  def init(rng, params) -> EnergyTrainState:
    del rng
    return EnergyTrainState(params, optimizer.init(params), jnp.zeros((), jnp.int32))

  def step(rng, state: EnergyTrainState, batch):
    x = batch["x"]
    loss_fn = lambda p: rule_fn(rng, apply_fn, p, x, **hyperparameters)
    (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    metrics = dict(metrics)
    finite = metrics.pop("finite") & jnp.all(jnp.asarray([jnp.all(jnp.isfinite(g)) for g in jax.tree.leaves(grads)]))
    metrics["loss"] = jnp.where(finite, loss, jnp.nan)
    metrics["grad_norm"] = optax.tree.norm(grads)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    return EnergyTrainState(optax.apply_updates(state.params, updates), opt_state, state.step + 1), metrics

  return algorithm_lib.Algorithm(init, step)
