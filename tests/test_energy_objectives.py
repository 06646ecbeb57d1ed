"""Training rules for energy models (Liu & Wang 2017, sec. 2.2, 3, 5.1) against closed forms and independent code."""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from stein_jax.targets import rbm
from stein_jax.models.energy import GaussianBernoulliRBM, IsotropicGaussianEnergy, energy_score
from stein_jax.objectives import energy as obj
from tests import reference


def _rbm(dim=3, num_hidden=4, seed=0, scale=0.5):
  model = GaussianBernoulliRBM(num_hidden, weight_init=jax.nn.initializers.normal(scale))
  variables = model.init(jax.random.key(seed), jnp.zeros((1, dim)))
  variables = jax.tree_util.tree_map(
    lambda a: a + 0.3 * jax.random.normal(jax.random.key(seed + 1), a.shape) if a.ndim == 1 else a, variables
  )
  return model, variables


def _data(n, dim, seed=0, shift=0.5):
  return jnp.asarray(np.random.RandomState(seed).randn(n, dim) + shift, jnp.float32)


def _grad(rule, model, variables, x, rng=None, **hp):
  return jax.jit(jax.grad(lambda p, x, k: rule(k, model.apply, p, x, **hp)[0]))(variables, x, rng)


def _flat(tree):
  return np.concatenate([np.ravel(a) for a in jax.tree_util.tree_leaves(tree)]).astype(np.float64)


def _mean_param_grad_of_f(model, variables, x):
  return jax.grad(lambda p: jnp.mean(model.apply(p, x)))(variables)


# ---------------------------------------------------------------------------- SteinCD


@pytest.mark.parametrize("bandwidth", [1.3, "median_log"])
def test_svgd_negatives_match_double_loop(bandwidth):
  model, variables = _rbm()
  x = _data(12, 3)
  scores = energy_score(model.apply, variables, x)
  expected = np.asarray(x, np.float64) + 0.1 * reference.svgd_direction(x, scores, bandwidth)
  got = obj.svgd_negatives(model.apply, variables, x, step_size=0.1, bandwidth=bandwidth)
  np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_stein_cd_gradient_is_negative_phase_minus_positive_phase():
  """Algorithm 1, step 3: descent direction = -(E_data grad f - E_neg grad f) with x^- one SVGD step."""
  model, variables = _rbm()
  x = _data(12, 3)
  eps = 0.05
  x_neg = x + eps * reference.svgd_direction(x, energy_score(model.apply, variables, x), "median_log")
  x_neg = jnp.asarray(x_neg, jnp.float32)
  expected = _flat(_mean_param_grad_of_f(model, variables, x_neg)) - _flat(_mean_param_grad_of_f(model, variables, x))
  got = _flat(_grad(obj.stein_cd_loss, model, variables, x, step_size=eps))
  np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)


# --------------------------------------------------------------------------- Langevin CD


def test_langevin_negatives_match_ula_variance_on_gaussian():
  """f = -x^2/2: x' = (1 - eps/2) x + sqrt(eps) xi, so from N(0, 1) the k-step variance is closed form."""
  model = IsotropicGaussianEnergy()
  variables = model.init(jax.random.key(0), jnp.zeros((1, 1)))
  n, eps, k = 50_000, 0.3, 10
  x = jax.random.normal(jax.random.key(1), (n, 1))
  y = obj.langevin_negatives(jax.random.key(2), model.apply, variables, x, num_steps=k, step_size=eps)
  rho = 1 - eps / 2
  v_inf = eps / (1 - rho**2)
  var_k = rho ** (2 * k) * (1 - v_inf) + v_inf
  se = var_k * math.sqrt(2 / n)
  np.testing.assert_allclose(jnp.var(y), var_k, atol=5 * se)
  assert abs(var_k - 1.0) > 10 * se  # the check distinguishes ULA from an exact sampler


def test_langevin_cd_gradient_is_negative_phase_minus_positive_phase():
  model, variables = _rbm()
  x = _data(16, 3)
  rng = jax.random.key(3)
  x_neg = obj.langevin_negatives(rng, model.apply, variables, x, num_steps=10, step_size=0.05)
  assert float(jnp.abs(x_neg - x).max()) > 0.05
  expected = _flat(_mean_param_grad_of_f(model, variables, x_neg)) - _flat(_mean_param_grad_of_f(model, variables, x))
  got = _flat(_grad(obj.langevin_cd_loss, model, variables, x, rng, num_steps=10, step_size=0.05))
  np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)


# ----------------------------------------------------------------- Stein score matching


def _ksd_v_closed_form(a, sigma, h, n):
  """E of the V-statistic KSD^2 for model N(mu, 1), data N(m, sigma^2), RBF bandwidth h, a = mu - m (docs/rbm.md)."""
  tau2 = 2 * sigma**2
  big_a = 1 + 2 * tau2 / h
  e_k, e_u2k = big_a**-0.5, tau2 * big_a**-1.5
  off = (a**2 + sigma**2 / 2) * e_k - (0.25 + 2 / h + 4 / h**2) * e_u2k + 2 / h * e_k
  diag = a**2 + sigma**2 + 2 / h
  grad_half = a * ((1 - 1 / n) * e_k + 1 / n)  # d/dmu of half the expectation
  return (1 - 1 / n) * off + diag / n, grad_half


def test_stein_score_matching_matches_gaussian_closed_form():
  model = IsotropicGaussianEnergy(mean_init=nn.initializers.constant(1.5))
  variables = model.init(jax.random.key(0), jnp.zeros((1, 1)))
  m, sigma, h, n, reps = 0.5, 1.2, 2.0, 400, 24
  xs = m + sigma * jax.random.normal(jax.random.key(1), (reps, n, 1))
  value_and_grad = jax.jit(
    jax.vmap(
      jax.value_and_grad(lambda p, x: obj.stein_score_matching_loss(None, model.apply, p, x, bandwidth=h)[0]), (None, 0)
    )
  )
  losses, grads = value_and_grad(variables, xs)
  grads = grads["params"]["mu"][:, 0]
  expected_ksd, expected_grad = _ksd_v_closed_form(1.5 - m, sigma, h, n)
  np.testing.assert_allclose(jnp.mean(2 * losses), expected_ksd, atol=4 * jnp.std(2 * losses) / math.sqrt(reps))
  np.testing.assert_allclose(jnp.mean(grads), expected_grad, atol=4 * jnp.std(grads) / math.sqrt(reps))


@pytest.mark.parametrize("bandwidth", [0.9, "median_log"])
def test_stein_score_matching_gradient_is_cross_derivative_times_svgd_direction(bandwidth):
  """eq. (15): grad = E_q0[grad_theta grad_x f(x) phi*(x)], phi* by the double loop, cross derivative by autodiff."""
  model, variables = _rbm(seed=4)
  x = _data(10, 3, seed=1)
  phi = jnp.asarray(reference.svgd_direction(x, energy_score(model.apply, variables, x), bandwidth), jnp.float32)
  surrogate = lambda p: jnp.mean(jnp.sum(energy_score(model.apply, p, x) * phi, axis=-1))
  expected = _flat(jax.grad(surrogate)(variables))
  got = _flat(_grad(obj.stein_score_matching_loss, model, variables, x, bandwidth=bandwidth))
  np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)


def test_finite_difference_rules_approach_stein_score_matching():
  """eq. (16): SteinCD / eps -> eq. (15) with O(eps) error; eq. (17) / (2 eps) with O(eps^2) error."""
  model, variables = _rbm(seed=5, scale=0.8)
  x = _data(20, 3, seed=2)
  target = _flat(_grad(obj.stein_score_matching_loss, model, variables, x))
  fwd_grad, sym_grad = (
    jax.jit(jax.grad(lambda p, x, eps, rule=rule: rule(None, model.apply, p, x, step_size=eps)[0]))
    for rule in (obj.stein_cd_loss, obj.symmetric_stein_cd_loss)
  )
  errors = {}
  for eps in (0.02, 0.01):
    fwd = _flat(fwd_grad(variables, x, eps)) / eps
    sym = _flat(sym_grad(variables, x, eps)) / (2 * eps)
    errors[eps] = (np.linalg.norm(fwd - target), np.linalg.norm(sym - target))
  scale = np.linalg.norm(target)
  assert errors[0.01][0] < 0.05 * scale and errors[0.01][1] < 0.005 * scale
  assert errors[0.01][1] < 0.2 * errors[0.01][0]
  np.testing.assert_allclose(errors[0.02][0] / errors[0.01][0], 2.0, rtol=0.2)  # first order


# ---------------------------------------------------------------------------- exact MLE


def test_exact_mle_loss_is_negative_mean_log_likelihood_and_gradient_matches_finite_differences():
  model, variables = _rbm(dim=3, num_hidden=4, seed=6)
  x = _data(30, 3, seed=3)
  loss, metrics = obj.rbm_exact_mle_loss(None, model.apply, variables, x)
  np.testing.assert_allclose(loss, -rbm.mean_log_likelihood(variables, x), rtol=1e-6)
  assert bool(metrics["finite"])
  with jax.enable_x64(True):
    variables, x = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), (variables, x))
    loss_fn = jax.jit(lambda p: obj.rbm_exact_mle_loss(None, model.apply, p, x, chunk_size=4)[0])
    grad = jax.grad(loss_fn)(variables)
    leaves, treedef = jax.tree_util.tree_flatten(variables)
    rs = np.random.RandomState(0)
    for _ in range(3):
      direction = [jnp.asarray(rs.randn(*a.shape)) for a in leaves]
      shifted = lambda t: jax.tree_util.tree_unflatten(treedef, [a + t * d for a, d in zip(leaves, direction)])
      delta = 1e-5
      fd = (loss_fn(shifted(delta)) - loss_fn(shifted(-delta))) / (2 * delta)
      analytic = sum(jnp.vdot(g, d) for g, d in zip(jax.tree_util.tree_leaves(grad), direction))
      np.testing.assert_allclose(analytic, fd, rtol=1e-7)


# ------------------------------------------------------------------- direction and fixed point

_RULES = {
  "steincd": dict(step_size=0.1),
  "steincd_symmetric": dict(step_size=0.1),
  "cd_langevin": dict(step_size=0.1, num_steps=10),
  "stein_score_matching": dict(),
}


@pytest.mark.parametrize("name", sorted(_RULES))
def test_rules_move_gaussian_mean_towards_data_mean(name):
  """f = -(x - mu)^2/2 with data around 2: the gradient in mu is negative, and Adam reaches the data mean."""
  rule = obj.get_energy_objective(name)
  model = IsotropicGaussianEnergy()
  variables = model.init(jax.random.key(0), jnp.zeros((1, 1)))
  x = 2.0 + jax.random.normal(jax.random.key(1), (200, 1))
  grad_fn = jax.jit(jax.grad(lambda p, k, x: rule(k, model.apply, p, x, **_RULES[name])[0]))
  assert float(grad_fn(variables, jax.random.key(2), x)["params"]["mu"][0]) < 0
  opt = optax.adam(0.05)

  def step(carry, t):
    p, s = carry
    updates, s = opt.update(grad_fn(p, jax.random.fold_in(jax.random.key(3), t), x), s)
    return (optax.apply_updates(p, updates), s), None

  (variables, _), _ = jax.jit(lambda c: jax.lax.scan(step, c, jnp.arange(300)))((variables, opt.init(variables)))
  np.testing.assert_allclose(variables["params"]["mu"][0], jnp.mean(x), atol=0.15)


def test_steincd_and_exact_mle_improve_rbm_test_likelihood():
  """A small Fig. 1a: learn a teacher RBM's samples; exact test log-likelihood must rise towards the teacher's."""
  dim, num_hidden = 4, 3
  teacher = rbm.RBMParams(
    jnp.asarray(np.random.RandomState(0).randn(dim, num_hidden), jnp.float32),
    jnp.asarray([0.5, -0.5, 1.0, 0.0], jnp.float32),
    jnp.asarray([0.2, -0.3, 0.1], jnp.float32),
  )
  x_train, _ = rbm.sample(jax.random.key(0), teacher, 2000)
  x_test, _ = rbm.sample(jax.random.key(1), teacher, 2000)
  teacher_ll = float(rbm.mean_log_likelihood(teacher, x_test))
  model = GaussianBernoulliRBM(num_hidden, weight_init=jax.nn.initializers.normal(0.1))
  init = model.init(jax.random.key(2), x_train[:1])
  init_ll = float(rbm.mean_log_likelihood(init, x_test))
  final = {}
  for name, hp in (("steincd", dict(step_size=0.1)), ("rbm_exact_mle", {})):
    rule = obj.get_energy_objective(name)
    opt = optax.adam(0.03)

    def step(carry, t):
      p, s = carry
      batch = jax.lax.dynamic_slice_in_dim(x_train, (t % 20) * 100, 100)
      (_, metrics), g = jax.value_and_grad(
        lambda q: rule(jax.random.fold_in(jax.random.key(4), t), model.apply, q, batch, **hp), has_aux=True
      )(p)
      updates, s = opt.update(g, s)
      return (optax.apply_updates(p, updates), s), metrics["finite"]

    (params, _), finite = jax.jit(lambda c: jax.lax.scan(step, c, jnp.arange(400)))((init, opt.init(init)))
    assert bool(jnp.all(finite))
    final[name] = float(rbm.mean_log_likelihood(params, x_test))
  assert teacher_ll - init_ll > 10.0  # nats; the initial model is far off
  assert final["rbm_exact_mle"] > teacher_ll - 0.5
  assert final["steincd"] > teacher_ll - 2.0


# ------------------------------------------------------------------------------- errors


def test_divergent_chains_are_flagged_not_hidden():
  model = IsotropicGaussianEnergy()
  variables = model.init(jax.random.key(0), jnp.zeros((1, 2)))
  x = _data(8, 2)
  run = jax.jit(
    lambda p, x, k, eps: obj.langevin_cd_loss(k, model.apply, p, x, num_steps=20, step_size=eps)[1]["finite"]
  )
  assert bool(run(variables, x, jax.random.key(1), 0.1))
  assert not bool(run(variables, x, jax.random.key(1), 1e3))  # |1 - eps/2|^20 overflows float32
  nan_params = jax.tree_util.tree_map(lambda a: jnp.full_like(a, jnp.nan), variables)
  for name in ("steincd", "steincd_symmetric", "stein_score_matching"):
    rule = obj.get_energy_objective(name)
    hp = {} if name == "stein_score_matching" else dict(step_size=0.1)
    flag = jax.jit(lambda p, x: rule(None, model.apply, p, x, **hp)[1]["finite"])
    assert bool(flag(variables, x)), name
    assert not bool(flag(nan_params, x)), name


class _DenseEnergy(nn.Module):
  @nn.compact
  def __call__(self, x):
    return nn.Dense(1)(nn.tanh(nn.Dense(8)(x)))[:, 0]


@pytest.mark.parametrize("name", sorted(obj.ENERGY_OBJECTIVES))
def test_wrong_data_dimension_raises_value_error(name):
  rule = obj.get_energy_objective(name)
  hp = {
    "steincd": dict(step_size=0.1),
    "steincd_symmetric": dict(step_size=0.1),
    "cd_langevin": dict(step_size=0.1, num_steps=1),
  }.get(name, {})
  model, variables = _rbm(dim=3)
  with pytest.raises(ValueError, match="3 visible units"):
    rule(jax.random.key(0), model.apply, variables, jnp.zeros((4, 5)), **hp)
  with pytest.raises(ValueError, match=r"\[batch, d\]"):
    rule(jax.random.key(0), model.apply, variables, jnp.zeros((4, 3, 1)), **hp)
  if name != "rbm_exact_mle":
    dense = _DenseEnergy()
    dense_vars = dense.init(jax.random.key(0), jnp.zeros((1, 3)))
    with pytest.raises(ValueError, match="dimension d=5"):
      rule(jax.random.key(0), dense.apply, dense_vars, jnp.zeros((4, 5)), **hp)


def test_bad_hyperparameters_and_names_raise():
  model, variables = _rbm()
  x = _data(4, 3)
  with pytest.raises(ValueError, match="step_size"):
    obj.stein_cd_loss(None, model.apply, variables, x, step_size=-0.1)
  with pytest.raises(ValueError, match="num_steps"):
    obj.langevin_cd_loss(jax.random.key(0), model.apply, variables, x, num_steps=0, step_size=0.1)
  with pytest.raises(ValueError, match="PRNG key"):
    obj.langevin_cd_loss(None, model.apply, variables, x, step_size=0.1)
  with pytest.raises(ValueError, match="steincd"):
    obj.get_energy_objective("stein_cd_typo")
