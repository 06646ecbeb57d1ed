"""stein_jax.evaluation.linear_probe against scipy's optimiser, autodiff and closed-form cases."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

from stein_jax.evaluation import linear_probe


def _problem(n=90, d=3, c=3, seed=0):
  rng = np.random.default_rng(seed)
  y = rng.integers(0, c, n)
  centres = rng.normal(size=(c, d)) * 1.5
  x = centres[y] + rng.normal(size=(n, d)) * 1.2 + np.linspace(5.0, -3.0, d)
  return x, y


def test_matches_scipy_minimiser():
  x, y = _problem()
  l2 = 0.05
  probe = linear_probe.fit(x, y, 3, l2=l2)
  assert probe.decrement < 1e-10
  xs = (x - x.mean(0)) / x.std(0)

  def loss(t):  # written independently of the module: log-sum-exp form
    w, b = t[:9].reshape(3, 3), t[9:]
    z = xs @ w + b
    return np.mean(np.logaddexp.reduce(z, axis=1) - z[np.arange(len(y)), y]) + 0.5 * l2 * np.sum(w * w)

  ref = scipy.optimize.minimize(loss, np.zeros(12), method="BFGS", options={"gtol": 1e-10})
  w, b = ref.x[:9].reshape(3, 3), ref.x[9:]
  p_ref = jax.nn.softmax(xs @ w + b)
  p = linear_probe.predict_proba(probe, x)
  np.testing.assert_allclose(np.asarray(p), np.asarray(p_ref), atol=2e-5)
  np.testing.assert_allclose(np.asarray(probe.weights), w, atol=2e-4)


def test_gradient_and_hessian_match_autodiff():
  x, y = _problem(n=40, d=4, c=3, seed=1)
  rng = np.random.default_rng(2)
  w, b = rng.normal(size=(4, 3)), rng.normal(size=3)
  _, g, h = linear_probe._objective(w, b, x, y, 0.3)

  def f(t):
    ww, bb = t[:12].reshape(4, 3), t[12:]
    logits = jnp.asarray(x, jnp.float32) @ ww + bb
    nll = -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(40), y])
    return nll + 0.15 * jnp.sum(ww * ww)

  # The module's layout: the rows of [w; b] ((d + 1) x C) flattened, w's 12 entries then b's 3, as in f.
  t = jnp.asarray(np.concatenate([w, b[None]], 0).reshape(-1), jnp.float32)
  np.testing.assert_allclose(g, np.asarray(jax.grad(f)(t)), rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(h, np.asarray(jax.hessian(f)(t)), rtol=1e-3, atol=1e-5)


def test_separable_classes_are_fitted_exactly_and_constant_features_are_harmless():
  rng = np.random.default_rng(3)
  y = np.repeat(np.arange(4), 25)
  x = np.eye(4)[y] * 10 + rng.normal(size=(100, 4)) * 0.1
  x = np.concatenate([x, np.full((100, 1), 7.0)], 1)  # a constant feature: std 0
  probe = linear_probe.fit(x, y, 4, l2=1e-4)
  p = np.asarray(linear_probe.predict_proba(probe, x))
  assert np.all(p.argmax(1) == y)
  assert p[np.arange(100), y].min() > 0.9
  assert np.all(np.isfinite(np.asarray(probe.weights)))


def test_shift_invariance_leaves_the_step_well_defined():
  # A single class present: the optimum puts all mass on it, the singular bias direction must not blow up.
  x, _ = _problem(n=30, d=2, c=2, seed=4)
  probe = linear_probe.fit(x, np.zeros(30, int), 3, l2=1.0)
  p = np.asarray(linear_probe.predict_proba(probe, x))
  assert np.all(np.isfinite(p)) and p[:, 0].min() > 0.9


@pytest.mark.parametrize(
  "kwargs, match",
  [
    (dict(features=np.zeros((5, 2)), labels=np.zeros(4, int)), "labels \\[n\\]"),
    (dict(features=np.zeros((5, 2)), labels=np.full(5, 3)), "in \\[0, 3\\)"),
    (dict(features=np.zeros((5, 2)), labels=np.zeros(5), num_classes=3), "integers"),
    (dict(features=np.full((5, 2), np.nan), labels=np.zeros(5, int)), "non-finite"),
    (dict(features=np.zeros((5, 2)), labels=np.zeros(5, int), l2=0.0), "l2 must be > 0"),
  ],
)
def test_bad_input_is_a_clear_error(kwargs, match):
  kwargs.setdefault("num_classes", 3)
  with pytest.raises(ValueError, match=match):
    linear_probe.fit(**kwargs)
