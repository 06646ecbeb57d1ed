"""The Gaussian-Bernoulli RBM as a density: free energy, exact log Z, log-likelihood, moments and samples.

With ``H`` hidden units ``s in {-1, +1}^H`` the visible variables integrate out in closed form for each hidden state
(derivation in ``docs/rbm.md``):

  log Z = d/2 log(2 pi) + logsumexp_s [ ||b + B s||^2 / 2 + c^T s ],

so log Z costs one pass over the ``2^H`` hidden states. Writing ``||b + B s||^2 / 2 + c^T s =
||b||^2 / 2 + (B^T b + c)^T s + s^T (B^T B) s / 2`` makes that pass independent of ``d``: ``O(2^H H^2)`` after one
``O(d H^2)`` Gram matrix. The states are streamed in chunks, so ``H`` up to about 20 runs in a few MB; above
``MAX_EXACT_HIDDEN`` the enumeration is refused.

The same decomposition gives an exact sampler: ``s`` from its marginal ``p(s) ∝ exp(||b + B s||^2 / 2 + c^T s)``,
then ``x | s ~ N(b + B s, I)``; so the RBM is a mixture of ``2^H`` unit-covariance Gaussians.

References:
  Liu, Q. and Wang, D. "Learning Deep Energy Models: Contrastive Divergence vs. Amortized MLE", 2017, sec. 5.1
  ("calculate log Z using exact variable elimination").
"""

from __future__ import annotations

import functools
import math
from typing import Any, Mapping, NamedTuple

import jax
import jax.numpy as jnp

Array = jax.Array

MAX_EXACT_HIDDEN = 24
"""Largest number of hidden units for which exact enumeration (2^H states) is allowed."""

DEFAULT_CHUNK_SIZE = 4096
"""Hidden states evaluated at once; memory is O(chunk_size * H)."""


def gaussian_bernoulli_negative_energy(weights: Array, visible_bias: Array, hidden_bias: Array, x: Array) -> Array:
  """Negative energy of a Gaussian-Bernoulli RBM with +-1 hidden units, hidden units summed out (sec. 5.1).

  ``f(x) = b^T x - ||x||^2 / 2 + sum_i log(exp(h_i) + exp(-h_i))`` with ``h = B^T x + c``. This is the marginal of
  ``p(x, s) ∝ exp(x^T B s + b^T x + c^T s - ||x||^2 / 2)`` over ``s in {-1, +1}^H`` (the paper writes ``x^T B h / 2``
  in the joint, which is the same model with ``B`` halved; we follow its ``f``).

  Args:
    weights: ``B``, ``[d, H]``.
    visible_bias: ``b``, ``[d]``.
    hidden_bias: ``c``, ``[H]``.
    x: ``[..., d]``.

  Returns:
    ``[...]`` negative energies.
  """
  pre = x @ weights + hidden_bias
  return x @ visible_bias - 0.5 * jnp.sum(x * x, axis=-1) + jnp.sum(jnp.logaddexp(pre, -pre), axis=-1)


class RBMParams(NamedTuple):
  """Parameters of a Gaussian-Bernoulli RBM: ``weights`` B ``[d, H]``, ``visible_bias`` b ``[d]``,
  ``hidden_bias`` c ``[H]``."""

  weights: Array
  visible_bias: Array
  hidden_bias: Array

  @property
  def num_visible(self) -> int:
    return self.weights.shape[0]

  @property
  def num_hidden(self) -> int:
    return self.weights.shape[1]


def rbm_params(variables: Any) -> RBMParams:
  """``RBMParams`` from the variables of ``GaussianBernoulliRBM`` (``{"params": {"B", "b", "c"}}`` or the inner
  dict), or an ``RBMParams`` unchanged."""
  if isinstance(variables, RBMParams):
    return variables
  if isinstance(variables, Mapping) and "params" in variables:
    variables = variables["params"]
  if not (isinstance(variables, Mapping) and {"B", "b", "c"} <= set(variables)):
    keys = sorted(variables) if isinstance(variables, Mapping) else type(variables).__name__
    raise ValueError(
      "Expected the variables of a GaussianBernoulliRBM, a mapping with 'B', 'b' and 'c' (optionally under "
      f"'params'); got {keys}."
    )
  params = RBMParams(variables["B"], variables["b"], variables["c"])
  dim, num_hidden = params.weights.shape
  if params.visible_bias.shape != (dim,) or params.hidden_bias.shape != (num_hidden,):
    raise ValueError(
      f"Inconsistent RBM parameter shapes: B {params.weights.shape}, b {params.visible_bias.shape}, "
      f"c {params.hidden_bias.shape}; expected B [d, H], b [d], c [H]."
    )
  return params


def _check_enumerable(num_hidden: int) -> None:
  if num_hidden > MAX_EXACT_HIDDEN:
    raise ValueError(
      f"Exact RBM computations enumerate all 2**H hidden states; H={num_hidden} exceeds the limit "
      f"MAX_EXACT_HIDDEN={MAX_EXACT_HIDDEN} (2**{MAX_EXACT_HIDDEN} states). Use a model with at most "
      f"{MAX_EXACT_HIDDEN} hidden units, or an approximate estimator (e.g. annealed importance sampling)."
    )


def hidden_states(num_hidden: int, start: Array | int = 0, count: int | None = None) -> Array:
  """Hidden states ``s in {-1, +1}^H`` with indices ``start .. start + count - 1``, as ``[count, H]`` floats.

  State ``i`` has ``s_k = 1 - 2 * bit_k(i)``; ``hidden_states(H)`` lists all ``2^H`` states.
  """
  _check_enumerable(num_hidden)
  count = 2**num_hidden if count is None else count
  return _states_from_index(start + jnp.arange(count, dtype=jnp.int32), num_hidden)


def _states_from_index(index: Array, num_hidden: int) -> Array:
  bits = (index[..., None] >> jnp.arange(num_hidden, dtype=jnp.int32)) & 1
  return (1 - 2 * bits).astype(jnp.float32)


def _hidden_quadratic(params: RBMParams) -> tuple[Array, Array, Array]:
  """``(gram [H, H], linear [H], const)`` with ``||b + B s||^2/2 + c^T s = const + linear^T s + s^T gram s / 2``."""
  weights, visible_bias, hidden_bias = params
  gram = weights.T @ weights
  linear = weights.T @ visible_bias + hidden_bias
  const = 0.5 * jnp.sum(visible_bias**2)
  return gram, linear, const


def _hidden_log_weights(states: Array, gram: Array, linear: Array, const: Array) -> Array:
  return const + states @ linear + 0.5 * jnp.sum((states @ gram) * states, axis=-1)


def hidden_log_weights(params: Any) -> Array:
  """Unnormalised log marginal of the hidden states, ``[2^H]``: ``log w_s = ||b + B s||^2 / 2 + c^T s``.

  ``log Z = d/2 log(2 pi) + logsumexp(log w)`` and ``p(s) = softmax(log w)_s`` for the states of ``hidden_states``.
  Materialises all ``2^H`` values; ``log_partition`` streams them instead.
  """
  params = rbm_params(params)
  return _hidden_log_weights(hidden_states(params.num_hidden), *_hidden_quadratic(params))


@functools.partial(jax.jit, static_argnames=("chunk_size",))
def log_partition(params: Any, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Array:
  """Exact ``log Z`` of a Gaussian-Bernoulli RBM by enumerating the hidden states in chunks.

  ``log Z = d/2 log(2 pi) + logsumexp_s [||b + B s||^2 / 2 + c^T s]`` (docs/rbm.md). Differentiable; each chunk is
  rematerialised in the backward pass, so the exact gradient also runs in ``O(chunk_size * H)`` memory.

  Args:
    params: ``RBMParams`` or the variables of ``GaussianBernoulliRBM``.
    chunk_size: hidden states per chunk (rounded down to a power of two).

  Returns:
    Scalar ``log Z``.

  Raises:
    ValueError: if ``H > MAX_EXACT_HIDDEN``.
  """
  params = rbm_params(params)
  num_hidden = params.num_hidden
  _check_enumerable(num_hidden)
  if chunk_size < 1:
    raise ValueError(f"chunk_size must be a positive number of hidden states; got {chunk_size}.")
  chunk = min(2 ** int(math.log2(chunk_size)), 2**num_hidden)
  num_chunks = 2**num_hidden // chunk
  quadratic = _hidden_quadratic(params)

  @jax.checkpoint
  def chunk_logsumexp(start, gram, linear, const):
    states = hidden_states(num_hidden, start, chunk)
    return jax.nn.logsumexp(_hidden_log_weights(states, gram, linear, const))

  starts = jnp.arange(num_chunks, dtype=jnp.int32) * chunk
  partial = jax.lax.map(lambda start: chunk_logsumexp(start, *quadratic), starts)
  return 0.5 * params.num_visible * math.log(2 * math.pi) + jax.nn.logsumexp(partial)


def _check_data(params: RBMParams, x: Array) -> None:
  if jnp.ndim(x) != 2 or x.shape[-1] != params.num_visible:
    raise ValueError(
      f"The RBM has {params.num_visible} visible units; data must have shape [batch, {params.num_visible}], "
      f"got {jnp.shape(x)}."
    )


def log_likelihood(params: Any, x: Array, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Array:
  """Exact ``log p(x) = f(x) - log Z`` per example.

  Args:
    params: ``RBMParams`` or the variables of ``GaussianBernoulliRBM``.
    x: ``[batch, d]``.
    chunk_size: see ``log_partition``.

  Returns:
    ``[batch]`` log-densities.
  """
  params = rbm_params(params)
  _check_data(params, x)
  return gaussian_bernoulli_negative_energy(*params, x) - log_partition(params, chunk_size=chunk_size)


def mean_log_likelihood(
  params: Any, x: Array, *, batch_size: int = 10_000, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> Array:
  """Exact average test log-likelihood ``mean_i log p(x_i)`` (the y-axis of Fig. 1a of Liu & Wang 2017).

  ``log Z`` is computed once; ``f`` is evaluated over ``x`` in batches of ``batch_size`` rows.

  Args:
    params: ``RBMParams`` or the variables of ``GaussianBernoulliRBM``.
    x: ``[n, d]`` test set.
    batch_size: rows of ``x`` per evaluation of ``f``.
    chunk_size: see ``log_partition``.

  Returns:
    Scalar mean log-likelihood in nats.
  """
  params = rbm_params(params)
  _check_data(params, x)
  total = jnp.zeros((), x.dtype)
  for start in range(0, x.shape[0], batch_size):
    total = total + jnp.sum(gaussian_bernoulli_negative_energy(*params, x[start : start + batch_size]))
  return total / x.shape[0] - log_partition(params, chunk_size=chunk_size)


@jax.jit
def hidden_marginal_moments(params: Any) -> tuple[Array, Array]:
  """Exact ``E[s] [H]`` and ``E[s s^T] [H, H]`` under the RBM's hidden marginal, by enumeration."""
  params = rbm_params(params)
  states = hidden_states(params.num_hidden)
  probs = jax.nn.softmax(_hidden_log_weights(states, *_hidden_quadratic(params)))
  return probs @ states, (states * probs[:, None]).T @ states


def rbm_mean(params: Any) -> Array:
  """Exact mean of the visible variables, ``E[x] = b + B E[s]``, ``[d]``."""
  params = rbm_params(params)
  mean_s, _ = hidden_marginal_moments(params)
  return params.visible_bias + params.weights @ mean_s


@functools.partial(jax.jit, static_argnames=("num_samples",))
def sample(rng: Array, params: Any, num_samples: int) -> tuple[Array, Array]:
  """Exact samples: ``s`` from its marginal over all ``2^H`` states, then ``x | s ~ N(b + B s, I)``.

  Args:
    rng: PRNG key.
    params: ``RBMParams`` or the variables of ``GaussianBernoulliRBM``.
    num_samples: number of samples ``n``.

  Returns:
    ``(x [n, d], s [n, H])``.
  """
  params = rbm_params(params)
  num_hidden = params.num_hidden
  _check_enumerable(num_hidden)
  key_s, key_x = jax.random.split(rng)
  logits = _hidden_log_weights(hidden_states(num_hidden), *_hidden_quadratic(params))
  index = jax.random.categorical(key_s, logits, shape=(num_samples,)).astype(jnp.int32)
  states = _states_from_index(index, num_hidden)
  noise = jax.random.normal(key_x, (num_samples, params.num_visible), params.weights.dtype)
  return params.visible_bias + states @ params.weights.T + noise, states
