"""Amortized SVGD: train a network to reproduce what SVGD does to its outputs.

A network z = f(params, *inputs) (the Stein VAE encoder f_eta(x, xi), Pu et al.
2017 sec. 2.3; the SteinGAN generator G(xi; eta), Liu & Wang 2017 sec. 4) produces
particles; SVGD moves them by eps * phi; the network is then updated to follow:

  * ``"regression"`` (eq. (7) of Pu et al. 2017): K steps of gradient descent on
        L(params) = 1/2 sum || f(params, *inputs) - stop_gradient(z + eps * phi) ||^2,
    with any optax optimizer;
  * ``"chain_rule"`` (eqs. (20)-(21) of Liu & Wang 2017): one step along
        params <- params + eps * (d f / d params)^T phi,
    computed with a single vector-Jacobian product and handed to the optimizer as
    the "gradient" -(d f / d params)^T phi.

With plain SGD at learning rate delta, one regression step equals one chain-rule
step with learning rate delta * eps (the regression gradient at the current
params is -eps J^T phi); tests/test_amortized.py checks this identity.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp
import optax

from stein_jax import algorithm as algorithm_lib
from stein_jax import stein

PyTree = Any
ApplyFn = Callable[..., jax.Array]

METHODS = ("regression", "chain_rule")


class AmortizedInfo(NamedTuple):
  """Diagnostics of one amortized step.

  Attributes:
    fit_loss: regression loss 1/2 sum ||f - target||^2 before the update (0 for
      chain_rule, where there is no target).
    direction_norm: root-mean-square entry of phi.
  """

  fit_loss: jax.Array
  direction_norm: jax.Array


def regression_loss(
  apply_fn: ApplyFn, params: PyTree, inputs: Tuple, targets: jax.Array, reduction: str = "sum"
) -> jax.Array:
  """1/2 sum || f(params, *inputs) - targets ||^2, eq. (7) of Pu et al. 2017.

  ``reduction="mean"`` divides by the number of particles (leading axes of targets
  except the last), which makes learning rates independent of batch size.
  """
  out = apply_fn(params, *inputs)
  if out.shape != targets.shape:
    raise ValueError(f"network output shape {out.shape} != target shape {targets.shape}.")
  sq = 0.5 * jnp.sum((out - jax.lax.stop_gradient(targets)) ** 2)
  if reduction == "mean":
    return sq / (targets.size // targets.shape[-1])
  if reduction != "sum":
    raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}.")
  return sq


def fit_to_targets(
  apply_fn: ApplyFn,
  params: PyTree,
  opt_state: optax.OptState,
  optimizer: optax.GradientTransformation,
  inputs: Tuple,
  targets: jax.Array,
  num_steps: int = 1,
  reduction: str = "sum",
  forward: Optional[Tuple[jax.Array, Callable]] = None,
):
  """K = num_steps optimizer steps on :func:`regression_loss` (eq. (7), Pu et al.).

  Args:
    apply_fn, params, opt_state, optimizer, inputs, targets, reduction: as :func:`regression_loss`.
    num_steps: K.
    forward: optional ``(out, vjp_fn) = jax.vjp(lambda p: apply_fn(p, *inputs), params)`` that the caller already
      computed (the particles it moved were the network's output at ``params``): the first step then takes its
      gradient from it instead of a second forward pass (the same gradient, up to float rounding).

  Returns:
    (params, opt_state, loss before the first step).
  """
  if num_steps < 1:
    raise ValueError(f"num_steps must be >= 1, got {num_steps}.")
  loss_grad = jax.value_and_grad(lambda p: regression_loss(apply_fn, p, inputs, targets, reduction))

  def body(carry, _):
    p, s = carry
    loss, g = loss_grad(p)
    updates, s = optimizer.update(g, s, p)
    return (optax.apply_updates(p, updates), s), loss

  if forward is None:
    (params, opt_state), losses = jax.lax.scan(body, (params, opt_state), None, length=num_steps)
    return params, opt_state, losses[0]
  out, vjp_fn = forward
  if out.shape != targets.shape:
    raise ValueError(f"network output shape {out.shape} != target shape {targets.shape}.")
  if reduction not in ("sum", "mean"):
    raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}.")
  residual = out - jax.lax.stop_gradient(targets)
  count = targets.size // targets.shape[-1] if reduction == "mean" else 1
  loss = 0.5 * jnp.sum(residual**2) / count
  (g,) = vjp_fn(residual / count)
  updates, opt_state = optimizer.update(g, opt_state, params)
  params = optax.apply_updates(params, updates)
  if num_steps > 1:
    (params, opt_state), _ = jax.lax.scan(body, (params, opt_state), None, length=num_steps - 1)
  return params, opt_state, loss


def chain_rule_gradient(apply_fn: ApplyFn, params: PyTree, inputs: Tuple, phi: jax.Array) -> PyTree:
  """-(d f / d params)^T phi as a pytree like params (eq. (21), Liu & Wang 2017).

  Feeding it to an optimizer as a gradient moves params along +J^T phi.
  """
  _, vjp = jax.vjp(lambda p: apply_fn(p, *inputs), params)
  (g,) = vjp(phi)
  return jax.tree_util.tree_map(jnp.negative, g)


def amortized_svgd_step(
  apply_fn: ApplyFn,
  params: PyTree,
  opt_state: optax.OptState,
  optimizer: optax.GradientTransformation,
  inputs: Tuple,
  score_fn: Callable[[jax.Array], jax.Array],
  *,
  step_size: float = 1.0,
  method: str = "regression",
  num_fit_steps: int = 1,
  reduction: str = "sum",
  **direction_kwargs,
):
  """One amortized SVGD update of a network's parameters.

  Args:
    apply_fn: f(params, *inputs) -> particles [..., n, d] (leading axes: independent
      particle sets, e.g. one set per data point).
    params, opt_state, optimizer: the network's parameters and optax optimizer.
    inputs: tuple of inputs to apply_fn (e.g. (x, xi) or (xi,)).
    score_fn: particles [..., n, d] -> grad log p at them.
    step_size: eps, the SVGD step in the regression target z + eps * phi (for
      chain_rule it scales the direction; the optimizer's learning rate scales too).
    method: "regression" (Pu et al. eq. (7), K = num_fit_steps steps) or
      "chain_rule" (Liu & Wang eq. (21)).
    reduction: "sum" (as written in eq. (7)) or "mean" over particles for the
      regression loss; for chain_rule, "mean" divides J^T phi by the number of particles.
    **direction_kwargs: for :func:`stein_jax.svgd_direction` (bandwidth, kernel,
      repulsion, log_weights, ...).

  Returns:
    (params, opt_state, :class:`AmortizedInfo`).
  """
  if method not in METHODS:
    raise ValueError(f"method must be one of {METHODS}, got {method!r}.")
  z = apply_fn(params, *inputs)
  phi = stein.svgd_direction(jax.lax.stop_gradient(z), score_fn(z), **direction_kwargs)
  phi = jax.lax.stop_gradient(phi)
  norm = jnp.sqrt(jnp.mean(phi**2))
  if method == "regression":
    params, opt_state, loss = fit_to_targets(
      apply_fn, params, opt_state, optimizer, inputs, z + step_size * phi, num_fit_steps, reduction
    )
    return params, opt_state, AmortizedInfo(loss, norm)
  direction = step_size * phi
  if reduction == "mean":
    direction = direction / (z.size // z.shape[-1])
  g = chain_rule_gradient(apply_fn, params, inputs, direction)
  updates, opt_state = optimizer.update(g, opt_state, params)
  return optax.apply_updates(params, updates), opt_state, AmortizedInfo(jnp.zeros(()), norm)


class AmortizedState(NamedTuple):
  """State of :func:`amortized_svgd`: the network's parameters and optimizer state."""

  params: PyTree
  opt_state: optax.OptState
  step: jax.Array


def amortized_svgd(
  apply_fn: ApplyFn,
  optimizer: optax.GradientTransformation,
  score_fn: Callable[[jax.Array], jax.Array],
  inputs_fn: Callable[[jax.Array, Any], Tuple],
  **step_kwargs,
) -> algorithm_lib.Algorithm:
  """Amortized SVGD as an :class:`~stein_jax.algorithm.Algorithm`.

  Args:
    apply_fn, optimizer, score_fn: as for :func:`amortized_svgd_step`.
    inputs_fn: ``inputs_fn(rng, batch) -> inputs`` of ``apply_fn`` for one step, e.g.
      ``lambda rng, _: (jax.random.normal(rng, (n, noise_dim)),)`` for a generator
      driven by fresh noise.
    **step_kwargs: the other options of :func:`amortized_svgd_step` (step_size, method,
      num_fit_steps, reduction, and the SVGD direction's keywords).

  Returns:
    ``init(rng, params) -> AmortizedState`` (``rng`` unused) and ``step(rng, state,
    batch=None) -> (state, AmortizedInfo)``.
  """
  method = step_kwargs.get("method", "regression")
  if method not in METHODS:
    raise ValueError(f"method must be one of {METHODS}, got {method!r}.")

  def init(rng, params: PyTree) -> AmortizedState:
    del rng
    return AmortizedState(params, optimizer.init(params), jnp.zeros((), jnp.int32))

  def step(rng, state: AmortizedState, batch: Any = None):
    params, opt_state, info = amortized_svgd_step(
      apply_fn, state.params, state.opt_state, optimizer, inputs_fn(rng, batch), score_fn, **step_kwargs
    )
    return AmortizedState(params, opt_state, state.step + 1), info

  return algorithm_lib.Algorithm(init, step)
