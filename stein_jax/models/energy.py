"""Energy-based models: the negative-energy interface and the Gaussian-Bernoulli RBM.

An energy model is a density known up to its normaliser (eq. (6) of Liu & Wang 2017):

  log p(x | theta) = f(x; theta) - log Z(theta).

Any Flax module whose ``__call__(x)`` maps ``[batch, d] -> [batch]`` negative energies ``f`` is an energy model here;
the objectives in ``stein_jax.objectives.energy`` only need its ``apply`` function and parameters. The helpers below
evaluate ``f`` and its score ``grad_x f`` with clear errors when the data do not fit the model.

Modules hold architecture only; the exact log-partition function, sampler and log-likelihood of the RBM are in
``stein_jax.targets.rbm``.

References:
  Liu, Q. and Wang, D. "Learning Deep Energy Models: Contrastive Divergence vs. Amortized MLE", 2017, sec. 2.2, 5.1.
"""

from __future__ import annotations

from typing import Any, Callable

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp

# The RBM's density lives with its exact log Z (stein_jax.targets.rbm); the module below applies it.
from stein_jax.targets.rbm import gaussian_bernoulli_negative_energy  # pylint: disable=unused-import

Array = jax.Array
EnergyApplyFn = Callable[[Any, Array], Array]
"""``apply_fn(params, x [batch, d]) -> f [batch]``, e.g. ``module.apply`` of an energy module."""


def _check_batch(x: Array, what: str = "x") -> None:
  if jnp.ndim(x) != 2:
    raise ValueError(
      f"{what} must be a batch of flat examples of shape [batch, d]; got shape {jnp.shape(x)}. "
      "Flatten images first, e.g. x.reshape(x.shape[0], -1)."
    )


def energy_values(apply_fn: EnergyApplyFn, params: Any, x: Array) -> Array:
  """Negative energies ``f(x; params)`` of a batch, with the shape contract checked.

  Args:
    apply_fn: ``apply_fn(params, x) -> [batch]``, typically ``module.apply``.
    params: the model's variables (for Flax, ``{"params": ...}``).
    x: data, ``[batch, d]``.

  Returns:
    ``[batch]`` negative energies.

  Raises:
    ValueError: if ``x`` is not ``[batch, d]``, if the model cannot be evaluated on data of that dimension, or if it
      does not return one value per example.
  """
  _check_batch(x)
  try:
    f = apply_fn(params, x)
  except ValueError:
    raise  # the model's own check (e.g. GaussianBernoulliRBM) already names the mismatch
  except (TypeError, flax.errors.FlaxError) as err:
    raise ValueError(
      f"The energy model could not be evaluated on data of shape {tuple(x.shape)} (dimension d={x.shape[-1]}); "
      f"check that the data dimension matches the one the model was initialised with. Underlying error: {err}"
    ) from err
  if jnp.shape(f) != (x.shape[0],):
    raise ValueError(
      f"An energy model must return one negative energy per example, shape ({x.shape[0]},); "
      f"got shape {jnp.shape(f)} for data of shape {tuple(x.shape)}."
    )
  return f


def energy_and_score(apply_fn: EnergyApplyFn, params: Any, x: Array) -> tuple[Array, Array]:
  """Negative energies and their scores ``grad_x f(x; params)``.

  Since examples do not interact, the per-example gradients are the gradient of the batch sum (one backward pass, no
  vmap needed). This is the score ``grad_x log p(x | params)``: the log-partition function does not depend on x.

  Args:
    apply_fn: ``apply_fn(params, x) -> [batch]``.
    params: the model's variables.
    x: data, ``[batch, d]``.

  Returns:
    ``(f [batch], score [batch, d])``.
  """
  _check_batch(x)
  f, vjp = jax.vjp(lambda y: energy_values(apply_fn, params, y), x)
  (score,) = vjp(jnp.ones_like(f))
  return f, score


def energy_score(apply_fn: EnergyApplyFn, params: Any, x: Array) -> Array:
  """Score ``grad_x f(x; params)`` of an energy model, ``[batch, d] -> [batch, d]``."""
  return energy_and_score(apply_fn, params, x)[1]


def _check_data_dim(module: nn.Module, param: str, x: Array, size: str) -> int:
  """The data dimension x.shape[-1], checked against an initialised module's ``param``.

  ``size`` describes the model's size in the message, with ``{}`` for the number.
  """
  dim = x.shape[-1]
  if module.has_variable("params", param):
    model_dim = module.get_variable("params", param).shape[0]
    if model_dim != dim:
      raise ValueError(
        f"{type(module).__name__} has {size.format(model_dim)} but the data have dimension "
        f"{dim} (shape {tuple(x.shape)}); reshape the data to [batch, {model_dim}] or re-initialise "
        "the model."
      )
  return dim


class GaussianBernoulliRBM(nn.Module):
  """Gaussian-Bernoulli RBM as an energy module, ``[batch, d] -> [batch]`` negative energies (sec. 5.1).

  Parameters: ``B [d, num_hidden]``, ``b [d]``, ``c [num_hidden]``; ``d`` is taken from the data at ``init``.
  Exact log Z, log-likelihood and sampling: ``stein_jax.targets.rbm``.

  Attributes:
    num_hidden: number of +-1 hidden units ``H`` (the paper uses 10 so that log Z is exact).
    weight_init: initialiser of ``B``.
  """

  num_hidden: int
  weight_init: Callable[..., Array] = nn.initializers.normal(stddev=0.01)

  @nn.compact
  def __call__(self, x: Array) -> Array:
    dim = _check_data_dim(self, "B", x, "{} visible units")
    weights = self.param("B", self.weight_init, (dim, self.num_hidden))
    visible_bias = self.param("b", nn.initializers.zeros_init(), (dim,))
    hidden_bias = self.param("c", nn.initializers.zeros_init(), (self.num_hidden,))
    return gaussian_bernoulli_negative_energy(weights, visible_bias, hidden_bias, x)


class IsotropicGaussianEnergy(nn.Module):
  """``f(x) = -||x - mu||^2 / 2``: the unit-covariance Gaussian ``N(mu, I)`` as an energy module.

  ``log Z = d/2 log(2 pi)`` does not depend on ``mu``, so every training rule's fixed point is known in closed form
  (``mu`` = data mean for MLE); used to check the direction of each rule.

  Attributes:
    mean_init: initialiser of ``mu [d]``.
  """

  mean_init: Callable[..., Array] = nn.initializers.zeros_init()

  @nn.compact
  def __call__(self, x: Array) -> Array:
    dim = _check_data_dim(self, "mu", x, "dimension {}")
    mu = self.param("mu", self.mean_init, (dim,))
    return -0.5 * jnp.sum((x - mu) ** 2, axis=-1)
