"""SteinGAN / SteinCD-GAN (Liu & Wang 2017, Algorithm 2, sec. 5.1) against hand-written equations and brute force."""

import functools

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from stein_jax import svgd_direction
from stein_jax.models.energy import GaussianBernoulliRBM, IsotropicGaussianEnergy
from stein_jax.models.generator import ConvGenerator, MLPGenerator
from stein_jax.objectives import energy as energy_objectives
from stein_jax.objectives import steingan
from tests import reference


def _rbm(dim=6, num_hidden=3, seed=0):
  model = GaussianBernoulliRBM(num_hidden, weight_init=jax.nn.initializers.normal(0.5))
  variables = model.init(jax.random.key(seed), jnp.zeros((1, dim)))
  variables = jax.tree.map(lambda a: a + 0.3 * jax.random.normal(jax.random.key(seed + 1), a.shape), variables)
  return model, variables


def _image_energy(model):
  """The RBM read on ``[m, 2, 3]`` "images": apply flattens them."""
  return lambda p, x: model.apply(p, x.reshape(x.shape[0], -1))


def _flat(tree):
  return np.concatenate([np.ravel(a) for a in jax.tree.leaves(tree)]).astype(np.float64)


def _data(n, dim, seed=0, shift=0.5):
  return jnp.asarray(np.random.RandomState(seed).randn(n, dim) + shift, jnp.float32)


# ------------------------------------------------------------------ energy_loss, eq. (23)


@pytest.mark.parametrize("discount", [0.0, 0.3])
def test_energy_loss_gradient_is_eq23_per_example(discount):
  model, variables = _rbm()
  pos, neg = _data(7, 6, seed=1), _data(5, 6, seed=2, shift=-0.5)
  grads = jax.grad(lambda p: steingan.energy_loss(model.apply, p, pos, neg, discount=discount)[0])(variables)
  # eq. (23) by hand: one single-example gradient at a time.
  one = jax.jit(jax.grad(lambda p, x: model.apply(p, x[None])[0]))
  expected = np.mean([_flat(one(variables, x)) for x in pos], 0) - (1 - discount) * np.mean(
    [_flat(one(variables, x)) for x in neg], 0
  )
  np.testing.assert_allclose(-_flat(grads), expected, rtol=1e-4, atol=1e-5)


def test_energy_loss_closed_form_on_gaussian_and_metrics():
  model = IsotropicGaussianEnergy()
  variables = model.init(jax.random.key(0), jnp.zeros((1, 3)))
  variables = {"params": {"mu": jnp.asarray([0.5, -1.0, 2.0])}}
  pos, neg = _data(9, 3, seed=3), _data(9, 3, seed=4, shift=2.0)
  (loss, metrics), grads = jax.value_and_grad(
    lambda p: steingan.energy_loss(model.apply, p, pos, neg, discount=0.25), has_aux=True
  )(variables)
  mu = np.asarray(variables["params"]["mu"])
  # grad_mu f(x) = x - mu: -grad loss = mean(x+ - mu) - 0.75 mean(x- - mu).
  expected = np.mean(np.asarray(pos) - mu, 0) - 0.75 * np.mean(np.asarray(neg) - mu, 0)
  np.testing.assert_allclose(-np.asarray(grads["params"]["mu"]), expected, rtol=1e-5)
  e = lambda x: 0.5 * np.sum((np.asarray(x) - mu) ** 2, -1).mean()
  assert float(metrics["energy_pos"]) == pytest.approx(e(pos), rel=1e-5)
  assert float(metrics["energy_neg"]) == pytest.approx(e(neg), rel=1e-5)
  assert float(loss) == pytest.approx(e(pos) - 0.75 * e(neg), rel=1e-5)
  assert bool(metrics["finite"])
  # The negatives are constants: no gradient reaches them.
  g_neg = jax.grad(lambda n: steingan.energy_loss(model.apply, variables, pos, n)[0])(neg)
  np.testing.assert_array_equal(g_neg, 0.0)
  bad = neg.at[0, 0].set(jnp.nan)
  assert not bool(steingan.energy_loss(model.apply, variables, pos, bad)[1]["finite"])


def test_energy_loss_rejects_bad_input():
  model = IsotropicGaussianEnergy()
  variables = model.init(jax.random.key(0), jnp.zeros((1, 3)))
  x = _data(4, 3)
  for bad in (1.0, -0.1, float("nan")):
    with pytest.raises(ValueError, match="discount"):
      steingan.energy_loss(model.apply, variables, x, x, discount=bad)
  with pytest.raises(ValueError, match="trailing"):
    steingan.energy_loss(model.apply, variables, x, _data(4, 2))
  with pytest.raises(ValueError, match="one negative energy per example"):
    steingan.energy_loss(lambda p, y: jnp.sum(y), variables, x, x)


# ------------------------------------------------------------------ generator_direction, Algorithm 2 step 3


def test_generator_direction_is_svgd_on_flattened_particles_and_the_double_loop():
  model, variables = _rbm()
  apply = _image_energy(model)
  x = _data(12, 6, seed=5).reshape(12, 2, 3)
  phi = steingan.generator_direction(apply, variables, x)
  assert phi.shape == (12, 2, 3)
  flat = x.reshape(12, 6)
  score = jax.vmap(jax.grad(lambda v: model.apply(variables, v[None])[0]))(flat)
  np.testing.assert_allclose(
    phi.reshape(12, 6), svgd_direction(flat, score, bandwidth="median_log"), rtol=1e-5, atol=1e-6
  )
  expected = reference.svgd_direction(flat, score, "median_log")
  np.testing.assert_allclose(phi.reshape(12, 6), expected, rtol=1e-4, atol=1e-5)
  # The bandwidth argument is honoured.
  phi2 = steingan.generator_direction(apply, variables, x, bandwidth=3.0)
  np.testing.assert_allclose(phi2.reshape(12, 6), reference.svgd_direction(flat, score, 3.0), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("bandwidth", [2.0, "median_log"])
def test_generator_direction_with_a_feature_kernel_matches_the_double_loop(bandwidth):
  model, variables = _rbm()
  apply = _image_energy(model)
  x = _data(10, 6, seed=6).reshape(10, 2, 3)
  a = jnp.asarray(np.random.RandomState(7).randn(6, 4), jnp.float32)
  g_one = lambda v: jnp.tanh(v.reshape(-1) @ a)  # one image -> [4]
  features = lambda imgs: jax.vmap(g_one)(imgs)  # [m, 2, 3] -> [m, 4]
  phi = steingan.generator_direction(apply, variables, x, bandwidth=bandwidth, features=features)
  flat = x.reshape(10, 6)
  score = jax.vmap(jax.grad(lambda v: model.apply(variables, v[None])[0]))(flat)
  # The same feature map and its Jacobian [4, 6] in float64 numpy for the double loop.
  a64 = np.asarray(a, np.float64)
  g_np = lambda v: np.tanh(v @ a64)
  jac_np = lambda v: (1 - np.tanh(v @ a64) ** 2)[:, None] * a64.T
  expected = reference.svgd_direction(flat, score, bandwidth, features=g_np, features_jacobian=jac_np)
  np.testing.assert_allclose(phi.reshape(10, 6), expected, rtol=1e-4, atol=1e-5)


def test_generator_direction_without_kernel_is_the_score():
  model = IsotropicGaussianEnergy()
  variables = {"params": {"mu": jnp.asarray([1.0, -2.0])}}
  x = _data(8, 2, seed=8)
  phi = steingan.generator_direction(model.apply, variables, x, use_kernel=False)
  np.testing.assert_allclose(phi, np.asarray([1.0, -2.0]) - np.asarray(x), rtol=1e-6)  # grad_x f = mu - x
  # Not the constant kernel k = 1, which would move every particle by the mean score.
  assert np.ptp(np.asarray(phi), axis=0).min() > 0.1


def test_generator_direction_stops_gradients():
  model, variables = _rbm()
  x = _data(6, 6, seed=9)
  g = jax.grad(lambda y: jnp.sum(steingan.generator_direction(model.apply, variables, y)))(x)
  np.testing.assert_array_equal(g, 0.0)


# ------------------------------------------------------------------ mix_negatives, SteinCD-GAN(alpha)


def test_mix_negatives_rates_and_shapes():
  m = 4000
  gen = jnp.zeros((m, 2, 3))
  cd = jnp.ones((m, 2, 3))
  rng = jax.random.key(0)
  np.testing.assert_array_equal(steingan.mix_negatives(rng, gen, cd, 0.0), gen)
  np.testing.assert_array_equal(steingan.mix_negatives(rng, gen, cd, 1.0), cd)
  mixed = np.asarray(steingan.mix_negatives(rng, gen, cd, 0.25))
  assert mixed.shape == (m, 2, 3)
  per_example = mixed.reshape(m, -1)
  assert np.all((per_example.min(1) == per_example.max(1)))  # each negative comes whole from one source
  rate = per_example[:, 0].mean()
  assert abs(rate - 0.25) < 5 * np.sqrt(0.25 * 0.75 / m)
  # Independent draws: another key gives another selection at the same rate.
  other = np.asarray(steingan.mix_negatives(jax.random.key(1), gen, cd, 0.25)).reshape(m, -1)[:, 0]
  assert np.any(other != per_example[:, 0])
  # Traced alpha (e.g. a schedule) works under jit.
  jitted = jax.jit(steingan.mix_negatives)(rng, gen, cd, 0.25)
  np.testing.assert_array_equal(jitted, mixed)


def test_mix_negatives_rejects_bad_input():
  gen = jnp.zeros((4, 3))
  for bad in (-0.1, 1.5, float("nan")):
    with pytest.raises(ValueError, match="alpha"):
      steingan.mix_negatives(jax.random.key(0), gen, gen, bad)
  with pytest.raises(ValueError, match="same shape"):
    steingan.mix_negatives(jax.random.key(0), gen, jnp.zeros((5, 3)), 0.5)


# ------------------------------------------------------------------ the training step


def _setup(dim=2, noise_dim=3, m=16, seed=0):
  energy = IsotropicGaussianEnergy(mean_init=jax.nn.initializers.constant(0.3))
  gen = MLPGenerator(dim, hidden=(8,))
  xi = jax.random.normal(jax.random.key(seed), (m, noise_dim))
  x = _data(m, dim, seed=seed + 1)
  theta = energy.init(jax.random.key(seed + 2), x)
  eta = gen.init(jax.random.key(seed + 3), xi)
  return energy, gen, theta, eta, x, xi


def _update(energy, gen, state, x, xi, etx, gtx, **kw):
  step = lambda s, a, b: steingan.update(
    jax.random.key(5),
    s,
    a,
    b,
    energy_apply=energy.apply,
    generator_apply=gen.apply,
    energy_tx=etx,
    generator_tx=gtx,
    **kw,
  )
  if x.shape[0] != xi.shape[0]:
    return step(state, x, xi)  # the error is raised at trace time either way
  return jax.jit(step)(state, x, xi)


def test_chain_rule_step_is_one_sgd_step_of_the_eq20_regression():
  energy, gen, theta, eta, x, xi = _setup()
  lr, eps, m = 0.1, 0.7, x.shape[0]
  tx = optax.sgd(lr)
  state = steingan.init(theta, eta, tx, tx)
  chain, _ = _update(energy, gen, state, x, xi, tx, tx, step_size=eps)
  regress, metrics = _update(energy, gen, state, x, xi, tx, tx, step_size=eps, generator_update="regression")
  np.testing.assert_allclose(_flat(chain.generator), _flat(regress.generator), rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(_flat(chain.energy), _flat(regress.energy), rtol=1e-6)
  assert float(metrics["generator_fit_loss"]) == pytest.approx(
    0.5 * eps**2 * float(jnp.sum(steingan.generator_direction(energy.apply, theta, gen.apply(eta, xi)) ** 2)) / m,
    rel=1e-4,
  )
  # Both equal Algorithm 2 step 3 written out with explicit per-example Jacobians:
  # eta <- eta + lr * eps / m * sum_i dG(xi_i)/deta^T phi(x_i).
  phi = steingan.generator_direction(energy.apply, theta, gen.apply(eta, xi))
  flat_eta, unravel = jax.flatten_util.ravel_pytree(eta)
  jac = jax.jit(jax.vmap(jax.jacobian(lambda e, v: gen.apply(unravel(e), v[None])[0]), in_axes=(None, 0)))
  jacs = np.asarray(jac(flat_eta, xi), np.float64)  # [m, d, P]
  step = sum(jacs[i].T @ np.asarray(phi[i], np.float64) for i in range(m))
  np.testing.assert_allclose(_flat(chain.generator), np.asarray(flat_eta) + lr * eps / m * step, rtol=1e-5, atol=1e-6)


def test_regression_with_several_fit_steps_moves_further_toward_the_targets():
  energy, gen, theta, eta, x, xi = _setup()
  tx = optax.sgd(0.05)
  state = steingan.init(theta, eta, tx, tx)
  targets = gen.apply(eta, xi) + steingan.generator_direction(energy.apply, theta, gen.apply(eta, xi))
  dist = lambda s: float(jnp.sum((gen.apply(s.generator, xi) - targets) ** 2))
  one, _ = _update(energy, gen, state, x, xi, tx, tx, generator_update="regression", num_fit_steps=1)
  five, _ = _update(energy, gen, state, x, xi, tx, tx, generator_update="regression", num_fit_steps=5)
  assert dist(five) < dist(one) < dist(state)


def test_alpha_one_is_stein_cd_and_alpha_zero_uses_the_generator():
  energy, gen, theta, eta, x, xi = _setup(m=20)
  tx = optax.sgd(0.1)
  state = steingan.init(theta, eta, tx, tx)
  cd_state, metrics = _update(energy, gen, state, x, xi, tx, tx, alpha=1.0, cd_step_size=0.5)
  assert float(metrics["cd_fraction"]) == 1.0
  g = jax.grad(lambda p: energy_objectives.stein_cd_loss(None, energy.apply, p, x, step_size=0.5)[0])(theta)
  np.testing.assert_allclose(_flat(cd_state.energy), _flat(theta) - 0.1 * _flat(g), rtol=1e-5)
  gan_state, metrics = _update(energy, gen, state, x, xi, tx, tx, alpha=0.0)
  assert float(metrics["cd_fraction"]) == 0.0
  g = jax.grad(lambda p: steingan.energy_loss(energy.apply, p, x, gen.apply(eta, xi))[0])(theta)
  np.testing.assert_allclose(_flat(gan_state.energy), _flat(theta) - 0.1 * _flat(g), rtol=1e-5)
  # The generator step does not depend on alpha (it follows the current energy either way).
  np.testing.assert_allclose(_flat(gan_state.generator), _flat(cd_state.generator), rtol=1e-6)


def test_update_on_images_with_the_conv_generator():
  model, _ = _rbm(dim=16, num_hidden=2)
  energy_apply = lambda p, x: model.apply(p, x.reshape(x.shape[0], -1))
  theta = model.init(jax.random.key(0), jnp.zeros((1, 16)))
  gen = ConvGenerator(image_shape=(4, 4, 1), hidden=8, channels=2, flatten=False)
  xi = jax.random.uniform(jax.random.key(1), (6, 5), minval=-1, maxval=1)
  eta = gen.init(jax.random.key(2), xi)
  x = _data(6, 16).reshape(6, 4, 4, 1)
  tx = optax.adam(1e-3)
  state = steingan.init(theta, eta, tx, tx)
  new, metrics = jax.jit(
    lambda s: steingan.update(
      jax.random.key(3),
      s,
      x,
      xi,
      energy_apply=energy_apply,
      generator_apply=gen.apply,
      energy_tx=tx,
      generator_tx=tx,
      alpha=0.5,
    )
  )(state)
  assert bool(metrics["finite"])
  assert jax.tree.structure(new) == jax.tree.structure(state)
  assert not np.allclose(_flat(new.generator), _flat(state.generator))


def test_update_rejects_bad_config():
  energy, gen, theta, eta, x, xi = _setup()
  tx = optax.sgd(0.1)
  state = steingan.init(theta, eta, tx, tx)
  with pytest.raises(ValueError, match="generator_update"):
    _update(energy, gen, state, x, xi, tx, tx, generator_update="adversarial")
  with pytest.raises(ValueError, match="alpha"):
    _update(energy, gen, state, x, xi, tx, tx, alpha=2.0)
  with pytest.raises(ValueError, match="step_size"):
    _update(energy, gen, state, x, xi, tx, tx, step_size=0.0)
  with pytest.raises(ValueError, match="num_fit_steps"):
    _update(energy, gen, state, x, xi, tx, tx, generator_update="regression", num_fit_steps=0)
  with pytest.raises(ValueError, match="one noise vector per data example"):
    _update(energy, gen, state, x[:5], xi, tx, tx)


# ------------------------------------------------------------------ SteinGAN learns a 2-d Gaussian


@functools.partial(jax.jit, static_argnames=("use_kernel",))
def _train(theta, eta, data, *, use_kernel):
  energy = IsotropicGaussianEnergy()
  gen = MLPGenerator(2, hidden=(32, 32))
  etx, gtx = optax.adam(2e-2), optax.adam(5e-3)
  state = steingan.init(theta, eta, etx, gtx)
  m = 100

  def body(state, t):
    key = jax.random.fold_in(jax.random.key(0), t)
    idx = jax.random.choice(jax.random.fold_in(key, 1), data.shape[0], (m,), replace=False)
    xi = jax.random.normal(jax.random.fold_in(key, 2), (m, 4))
    state, metrics = steingan.update(
      key,
      state,
      data[idx],
      xi,
      energy_apply=energy.apply,
      generator_apply=gen.apply,
      energy_tx=etx,
      generator_tx=gtx,
      use_kernel=use_kernel,
    )
    return state, metrics["finite"]

  return jax.lax.scan(body, state, jnp.arange(400))


@pytest.mark.parametrize("use_kernel", [True, False])
def test_steingan_learns_a_gaussian_and_the_kernel_gives_diversity(use_kernel):
  # Data N(mu*, I) and the energy N(mu, I): the energy learns mu = mean of the data and the generator follows it.
  mu_star = np.asarray([2.0, -1.0], np.float32)
  data = jnp.asarray(np.random.RandomState(0).randn(2000, 2).astype(np.float32) + mu_star)
  theta = {"params": {"mu": jnp.zeros(2)}}
  eta = MLPGenerator(2, hidden=(32, 32)).init(jax.random.key(1), jnp.zeros((1, 4)))
  state, finite = _train(theta, eta, data, use_kernel=use_kernel)
  assert bool(jnp.all(finite))
  mu = np.asarray(state.energy["params"]["mu"])
  samples = np.asarray(
    MLPGenerator(2, hidden=(32, 32)).apply(state.generator, jax.random.normal(jax.random.key(9), (4000, 4)))
  )
  if use_kernel:
    np.testing.assert_allclose(mu, np.asarray(data).mean(0), atol=0.25)
    np.testing.assert_allclose(samples.mean(0), mu_star, atol=0.3)
    np.testing.assert_allclose(np.cov(samples.T), np.eye(2), atol=0.35)
  else:
    # Without the repulsive term the generator maximises E f(G(xi)): it collapses to the mode, so the energy's
    # contrast never vanishes and its covariance is far from the data's.
    assert np.trace(np.cov(samples.T)) < 0.3


def test_conv_generator_batch_normalisation_and_sigmoid_output():
  gen = ConvGenerator(image_shape=(8, 8, 1), hidden=6, channels=2, normalize=True, output="sigmoid")
  xi = jax.random.uniform(jax.random.key(0), (5, 3), minval=-1, maxval=1)
  params = gen.init(jax.random.key(1), xi)
  assert "bias" not in params["params"]["Dense_0"]  # the normalisation removes it
  x = gen.apply(params, xi)
  assert x.shape == (5, 64) and bool(jnp.all((x > 0) & (x < 1)))
  # Every hidden feature of a batch is standardised: a batch cannot map to one image unless the output layer
  # ignores all hidden units; and a sample depends on its batch.
  from stein_jax.models.generator import batch_standardize

  h = batch_standardize(jax.random.normal(jax.random.key(2), (7, 3, 3, 4)) * 5 + 2)
  np.testing.assert_allclose(jnp.mean(h, axis=(0, 1, 2)), 0.0, atol=1e-5)
  np.testing.assert_allclose(jnp.mean(h**2, axis=(0, 1, 2)), 1.0, rtol=1e-4)
  assert not np.allclose(gen.apply(params, xi[:3])[0], x[0])
  with pytest.raises(ValueError, match="batch of at least 2"):
    gen.apply(params, xi[:1])
  with pytest.raises(ValueError, match="output must be one of"):
    ConvGenerator(image_shape=(8, 8, 1), hidden=6, channels=2, output="tanh").init(jax.random.key(1), xi)
