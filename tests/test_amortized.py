"""Tests of amortized SVGD (Pu et al. eq. 7; Liu & Wang eq. 21)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from stein_jax import amortized, svgd_direction


def _linear(params, xi):
  return xi @ params["w"] + params["b"]


def _setup(n=16, d=2, seed=0):
  k1, k2 = jax.random.split(jax.random.key(seed))
  params = {"w": jax.random.normal(k1, (d, d)) * 0.5 + jnp.eye(d), "b": jnp.zeros(d)}
  xi = jax.random.normal(k2, (n, d))
  return params, xi


def test_one_sgd_regression_step_equals_chain_rule_step():
  params, xi = _setup()
  score = lambda z: -(z - 2.0)
  lr, eps = 0.01, 0.5
  kw = dict(bandwidth=1.0)
  p_reg, _, info = amortized.amortized_svgd_step(
    _linear, params, optax.sgd(lr).init(params), optax.sgd(lr), (xi,), score, step_size=eps, method="regression", **kw
  )
  p_cr, _, _ = amortized.amortized_svgd_step(
    _linear,
    params,
    optax.sgd(lr * eps).init(params),
    optax.sgd(lr * eps),
    (xi,),
    score,
    step_size=1.0,
    method="chain_rule",
    **kw,
  )
  for a, b in zip(jax.tree.leaves(p_reg), jax.tree.leaves(p_cr)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  # The regression loss before the step is 1/2 eps^2 ||phi||^2.
  phi = svgd_direction(_linear(params, xi), score(_linear(params, xi)), **kw)
  np.testing.assert_allclose(info.fit_loss, 0.5 * eps**2 * jnp.sum(phi**2), rtol=1e-5)


def test_chain_rule_gradient_is_vjp():
  params, xi = _setup(n=5)
  phi = jax.random.normal(jax.random.key(3), (5, 2))
  g = amortized.chain_rule_gradient(_linear, params, (xi,), phi)
  # For z = xi W + b: dL/dW = xi^T phi, dL/db = sum phi (with L = <z, phi>).
  np.testing.assert_allclose(-g["w"], xi.T @ phi, rtol=1e-5)
  np.testing.assert_allclose(-g["b"], phi.sum(0), rtol=1e-5)


def test_k_regression_steps_reduce_the_fit_loss():
  params, xi = _setup()
  target = _linear(params, xi) + 1.0
  opt = optax.sgd(0.01)
  _, _, loss0 = amortized.fit_to_targets(_linear, params, opt.init(params), opt, (xi,), target, 1)
  p, _, _ = amortized.fit_to_targets(_linear, params, opt.init(params), opt, (xi,), target, 20)
  after = amortized.regression_loss(_linear, p, (xi,), target)
  assert after < 0.2 * loss0


@pytest.mark.parametrize("method", ["regression", "chain_rule"])
def test_affine_generator_learns_a_gaussian(method):
  """An affine map of noise trained by amortized SVGD matches N(mu, Sigma)."""
  mean = jnp.array([2.0, -1.0])
  cov = jnp.array([[1.0, 0.6], [0.6, 1.0]])
  prec = jnp.linalg.inv(cov)
  score = lambda z: -(z - mean) @ prec
  params, _ = _setup()
  opt = optax.adam(2e-2)
  state = opt.init(params)

  @jax.jit
  def step(params, state, key):
    xi = jax.random.normal(key, (100, 2))
    return amortized.amortized_svgd_step(
      _linear,
      params,
      state,
      opt,
      (xi,),
      score,
      step_size=1.0,
      method=method,
      num_fit_steps=1,
      reduction="mean",
      bandwidth="median",
    )

  for t in range(800):
    params, state, _ = step(params, state, jax.random.fold_in(jax.random.key(1), t))
  z = _linear(params, jax.random.normal(jax.random.key(9), (20000, 2)))
  np.testing.assert_allclose(z.mean(0), mean, atol=0.1)
  np.testing.assert_allclose(jnp.cov(z.T), cov, atol=0.15)


def test_bad_arguments():
  params, xi = _setup()
  opt = optax.sgd(0.1)
  with pytest.raises(ValueError, match="method"):
    amortized.amortized_svgd_step(_linear, params, opt.init(params), opt, (xi,), lambda z: -z, method="newton")
  with pytest.raises(ValueError, match="shape"):
    amortized.regression_loss(_linear, params, (xi,), jnp.zeros((3, 2)))
  with pytest.raises(ValueError, match="num_steps"):
    amortized.fit_to_targets(_linear, params, opt.init(params), opt, (xi,), xi, 0)
