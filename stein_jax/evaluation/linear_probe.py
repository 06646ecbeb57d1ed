"""A converged linear classifier on frozen features: how much label information the codes hold.

The semi-supervised models of Pu et al. 2017 (sec. 4, 5.3) predict y from the latent code through
p(y | z) = softmax(theta~ z + b), trained jointly with the encoder and decoder. At a short budget two things
can limit their error: the codes may not separate the classes yet, or the jointly trained head may not have
caught up with codes that do. :func:`fit` separates them: it fits the same model family (multinomial
logistic regression on the codes) to convergence on the labelled set only, with the encoder frozen, so the
difference between its error and the trained head's is the head's optimisation deficit, and its own error is
what the codes allow a linear head. It uses no label the model did not see (only the labelled training set),
so it is a legitimate semi-supervised classifier, not an oracle.

The problem is convex and small (features [n, d], C classes: (d + 1) C parameters), so :func:`fit` solves it
by Newton's method (float64, numpy: the Hessian is [(d + 1) C]^2) with a backtracking line search on the
mean negative log-likelihood plus
``l2 / 2 * ||W||^2`` (the bias is not penalised; the penalty also removes the softmax's shift invariance, so
the Hessian is positive definite). Features are standardised with the training features' mean and standard
deviation first, for conditioning; ``l2`` applies to the standardised weights. The stopping rule is the
Newton decrement, g^T H^-1 g / 2 < ``tol``, the standard one for self-concordant-like objectives.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array
_ROWS = 8192  # rows per block of the Hessian's products (bounds the [rows, (d + 1) C] temporary)


class Probe(NamedTuple):
  """A fitted multinomial logistic regression on standardised features.

  Attributes:
    weights: [d, C] weights on the standardised features.
    bias: [C].
    mean: [d] feature mean used for standardisation.
    scale: [d] feature standard deviation used for standardisation (1 where a feature is constant).
    iterations: Newton iterations taken.
    decrement: the last Newton decrement g^T H^-1 g / 2 (below ``tol`` when converged).
  """

  weights: Array
  bias: Array
  mean: Array
  scale: Array
  iterations: int
  decrement: float


def _objective(w, b, x, y, l2, derivatives: bool = True):
  """Mean negative log-likelihood + l2/2 ||w||^2, its gradient and Hessian, in float64 (numpy).

  ``derivatives=False``: the value alone (the line search's trial points).
  """
  n, d = x.shape
  logits = x @ w + b
  logits = logits - logits.max(1, keepdims=True)
  logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
  p = np.exp(logp)
  value = -logp[np.arange(n), y].mean() + 0.5 * l2 * np.sum(w * w)
  if not derivatives:
    return value
  r = p.copy()
  r[np.arange(n), y] -= 1.0
  xt = np.concatenate([x, np.ones((n, 1))], 1)  # [n, d + 1]: the bias as a constant feature
  g = (xt.T @ r) / n  # [d + 1, C]
  g[:d] += l2 * w
  # H[(i, a), (j, b)] = mean_n xt_ni xt_nj (p_na delta_ab - p_na p_nb) + l2 delta_ij delta_ab (i < d): the
  # first term block-diagonal in the classes (C products X^T diag(p_a) X), the second V^T V with
  # V_n = xt_n (x) p_n; BLAS products over row blocks (a three-operand einsum was 100x slower).
  c = p.shape[1]
  h = np.zeros((d + 1, c, d + 1, c))
  for s in range(0, n, _ROWS):
    xb, pb = xt[s : s + _ROWS], p[s : s + _ROWS]
    v = (xb[:, :, None] * pb[:, None, :]).reshape(xb.shape[0], -1)
    h -= (v.T @ v).reshape(d + 1, c, d + 1, c)
    for a in range(c):
      h[:, a, :, a] += (xb * pb[:, a : a + 1]).T @ xb
  h = h.reshape((d + 1) * c, (d + 1) * c) / n
  h[: d * c, : d * c] += l2 * np.eye(d * c)
  return value, g.reshape(-1), h


def fit(features, labels, num_classes: int, l2: float = 1e-3, tol: float = 1e-10, max_iterations: int = 50) -> Probe:
  """Multinomial logistic regression on ``features`` [n, d], ``labels`` [n] in {0..C-1}, to convergence.

  Args:
    features: [n, d] training features (for example latent codes of the labelled images).
    labels: [n] integer labels.
    num_classes: C.
    l2: penalty on the standardised weights (> 0; with it the minimiser is unique up to the bias shift).
    tol: stop when the Newton decrement falls below this.
    max_iterations: Newton iterations at most.

  Returns:
    The fitted :class:`Probe`.

  Raises:
    ValueError: on mismatched shapes, labels out of range, a non-positive ``l2`` or non-finite features.
  """
  x = np.asarray(features, dtype=np.float64)
  y = np.asarray(labels)
  if x.ndim != 2 or y.shape != (x.shape[0],) or x.shape[0] == 0:
    raise ValueError(f"features must be [n, d] and labels [n] with n >= 1; got {x.shape} and {y.shape}.")
  if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= num_classes:
    raise ValueError(f"labels must be integers in [0, {num_classes}); got range [{y.min()}, {y.max()}].")
  if not l2 > 0:
    raise ValueError(f"l2 must be > 0 (it makes the minimiser unique); got {l2}.")
  if not np.all(np.isfinite(x)):
    raise ValueError("features hold non-finite values; the encoder diverged.")
  mean = x.mean(0)
  scale = x.std(0)
  scale = np.where(scale > 0, scale, 1.0)
  xs = (x - mean) / scale
  d, c = x.shape[1], num_classes
  theta = np.zeros((d + 1) * c)

  def split(t):
    t = t.reshape(d + 1, c)
    return t[:d], t[d]

  f, g, h = _objective(*split(theta), xs, y, l2)
  decrement, it = np.inf, 0
  for it in range(1, max_iterations + 1):
    # The bias block is unpenalised and the softmax is shift-invariant in it, so H is singular along
    # (0, 1_C); the gradient is orthogonal to that direction, and the least-squares step is the Newton
    # step in the complement.
    step = np.linalg.lstsq(h, g, rcond=None)[0]
    decrement = 0.5 * float(g @ step)
    if decrement < tol:
      break
    t = 1.0
    while True:
      cand = theta - t * step
      fc = _objective(*split(cand), xs, y, l2, derivatives=False)
      if fc <= f - 0.5 * t * decrement or t < 1e-10:  # Armijo with c = 1/4 (g^T step = 2 decrement)
        break
      t *= 0.5
    theta = cand
    f, g, h = _objective(*split(theta), xs, y, l2)
  w, b = split(theta)
  return Probe(
    jnp.asarray(w, jnp.float32),
    jnp.asarray(b, jnp.float32),
    jnp.asarray(mean, jnp.float32),
    jnp.asarray(scale, jnp.float32),
    it,
    decrement,
  )


def predict_proba(probe: Probe, features) -> Array:
  """Class probabilities [..., C] of ``features`` [..., d]."""
  x = (jnp.asarray(features, jnp.float32) - probe.mean) / probe.scale
  return jax.nn.softmax(x @ probe.weights + probe.bias, axis=-1)
