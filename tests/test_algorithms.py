"""Every method of the library through its one protocol, on a small problem with a known answer.

Like optax's list of optimizers under test: each entry of ``CASES`` builds an
:class:`stein_jax.algorithm.Algorithm` (``init(rng, ...)``, ``step(rng, state, batch)``),
and the one test below runs it with keys from ``step_key`` and checks that the step is
traced once, that its info is finite, and the problem's answer. A new method is one
objective file plus one line here.

Known answers: the SVGD and amortized-SVGD particles reach the target's mean; the latent
models' encoders (decoder fixed at the truth) reach the exact Gaussian posterior mean of a
linear-Gaussian model; the PFA encoders the conjugate Gamma posterior mean of a one-topic
model; the semi-supervised models classify separable data far better than chance; the
Langevin CD rule moves a Gaussian energy's mean to the data mean (the exact MLE rule raises
the RBM's exact log-likelihood); SteinGAN's generator and energy both reach the data mean; SteinCD and Stein score matching
the kernel-weighted data mean that is their exact fixed point on a Gaussian energy.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from experiments import semi_supervised as ss_exp
from stein_jax import amortized, kernels, sampler
from stein_jax.algorithm import Algorithm, run, step_key
from stein_jax.models import pfa as pfa_models
from stein_jax.models import vae
from stein_jax.models.energy import GaussianBernoulliRBM
from stein_jax.objectives import energy as energy_obj
from stein_jax.objectives import pfa as pfa_obj
from stein_jax.objectives import semi_supervised as ss
from stein_jax.objectives import stein_vae as sv
from stein_jax.objectives import autoencoder_steingan, steingan
from stein_jax.data.images import synthetic_images
from stein_jax.models import autoencoder_energy, dcgan
from stein_jax.targets import rbm as rbm_targets


class Case(NamedTuple):
  name: str
  build: Callable[[], tuple[Algorithm, tuple, Callable[[int], Any]]]  # (algorithm, init args, batch of step t)
  num_steps: int
  check: Callable[[Any], None]


# ------------------------------------------------------------------ SVGD and amortized SVGD

MU = jnp.array([3.0, -1.0])


def _svgd():
  smp = sampler.svgd(lambda x: MU - x, optax.sgd(0.3))
  x0 = jax.random.normal(jax.random.key(1), (40, 2))
  return smp, (x0,), lambda t: None


def _check_svgd(state):
  np.testing.assert_allclose(np.mean(state.particles, 0), MU, atol=0.05)


def _generator(p, xi):
  return xi @ p["A"] + p["c"]


def _amortized(method):
  def build():
    gen = amortized.amortized_svgd(
      _generator,
      optax.adam(5e-2),
      lambda z: MU - z,
      lambda rng, _: (jax.random.normal(rng, (64, 2)),),
      method=method,
      reduction="mean",
    )
    return gen, ({"A": jnp.eye(2), "c": jnp.zeros(2)},), lambda t: None

  return build


def _check_amortized(state):
  np.testing.assert_allclose(state.params["c"], MU, atol=0.1)


# ------------------------------------------------------------------------- latent models

DZ, DX, NOISE = 2, 3, 0.7
A = np.array([[1.0, 0.8], [0.4, 1.2], [-0.6, 0.5]])  # x = A z + N(0, NOISE^2 I), z ~ N(0, I)
X = np.asarray(
  jax.random.normal(jax.random.key(2), (64, DZ)) @ A.T + NOISE * jax.random.normal(jax.random.key(3), (64, DX)),
  np.float32,
)
W_POST = np.linalg.inv(np.eye(DZ) + A.T @ A / NOISE**2) @ A.T / NOISE**2  # E[z | x] = W x


def _linear_model():
  init = lambda key, shape, dtype=jnp.float32: jnp.asarray(A, dtype).reshape(shape)
  return sv.LatentModel(
    vae.AffineEncoder(DZ),
    vae.LinearGaussianDecoder(DX, theta_init=init),
    latent_dim=DZ,
    data_dim=DX,
    likelihood="gaussian",
    noise_std=NOISE,
  )


def _latent(method):
  def build():
    model = _linear_model()
    enc_tx = optax.adam(2e-2)
    if method.startswith("stein"):  # the decoder at the truth: its optimizer moves nothing
      alg = sv.make_trainer(
        method, model, enc_tx, decoder_optimizer=optax.set_to_zero(), num_particles=20, k=5, num_data=X.shape[0]
      )
    else:
      tx = optax.multi_transform(
        {"enc": enc_tx, "dec": optax.set_to_zero()},
        lambda p: (jax.tree.map(lambda _: "enc", p[0]), jax.tree.map(lambda _: "dec", p[1])),
      )
      alg = sv.make_trainer(method, model, tx, k=5)
    return alg, (), lambda t: {"x": X}

  return build


def _check_latent(state):
  xi = jax.random.normal(jax.random.key(4), (2000, DZ))
  z = sv.encode(_linear_model(), state.enc_params, jnp.asarray(X)[:, None, :], xi[None])
  err = np.abs(np.asarray(z.mean(1)) - X @ W_POST.T)
  assert float(err.mean()) < 0.1, float(err.mean())


# ---------------------------------------------------------------------------------- PFA

R, C = 2.0, 1.0
COUNTS = np.random.default_rng(0).poisson(3.0, (16, 5)).astype(np.float32)  # 16 documents, 5 words


def _pfa(method):
  def build():
    enc = pfa_models.PositiveNoiseEncoder(1, (16,)) if method == "stein_vae" else pfa_models.LogNormalEncoder(1, (16,))
    theta = jnp.full((5, 1), 0.2)
    alg = pfa_obj.make_trainer(
      method, enc, optax.adam(2e-2), theta, pfa_obj.PFAPrior(1.0, R, C), num_particles=30, vae_samples=10
    )
    return alg, (), lambda t: {"x": COUNTS}

  return build


def _check_pfa(method):
  def check(state):
    # One topic, theta's column summing to 1: z | x ~ Gamma(r + sum x, c + 1).
    exact = (R + COUNTS.sum(1)) / (C + 1.0)
    enc = pfa_models.PositiveNoiseEncoder(1, (16,)) if method == "stein_vae" else pfa_models.LogNormalEncoder(1, (16,))
    xi = jax.random.normal(jax.random.key(5), (COUNTS.shape[0], 2000, 1))
    z = jnp.exp(pfa_models.encode_log_z(enc, state.params, jnp.asarray(COUNTS)[:, None, :], xi))
    rel = np.abs(np.asarray(z.mean((1, 2))) / exact - 1.0)
    assert float(rel.mean()) < 0.1, float(rel.mean())

  return check


# ---------------------------------------------------------------------- semi-supervised

XS, YS = ss_exp.synthetic_classes(0, 240, 3, 16, 0.05, "train")
XT, YT = ss_exp.synthetic_classes(0, 90, 3, 16, 0.05, "test")
LAB, UNL = ss_exp.balanced_split(YS, 4, 0, 3)


def _ss_model():
  base = sv.LatentModel(
    vae.FlowEncoder(2, (16,), num_coupling_layers=0), vae.BernoulliDecoder(16, (16,)), 2, 16, "bernoulli"
  )
  return ss.SemiSupervisedModel(base, nn.Dense(3), 3)


def _semi(method):
  def build():
    alg = ss.make_trainer(
      method, _ss_model(), optax.adam(1e-2), num_unlabelled=UNL.size, num_labelled=LAB.size, num_particles=8, k=4
    )

    def batch(t):
      rng = np.random.default_rng(t)
      iu, il = rng.choice(UNL, 16), rng.choice(LAB, 6)
      return {"x_u": XS[iu], "x_l": XS[il], "y_l": YS[il]}

    return alg, (), batch

  return build


def _check_semi(state):
  xi = jax.random.normal(jax.random.key(6), (20, 2))
  err = float(ss.classification_error(_ss_model(), state.enc_params, state.dec_params, XT, YT, xi))
  assert err < 20.0, err  # chance: 66.7 %


# -------------------------------------------------------------------------- energy models

DATA_MEAN = np.array([1.5, -0.5], np.float32)
ENERGY_X = (np.random.default_rng(1).normal(size=(512, 2)) * 0.8 + DATA_MEAN).astype(np.float32)
DECAYING = lambda lr, steps: optax.adam(optax.linear_schedule(lr, lr / 30, steps))  # a settled end point


def _gaussian_energy(params, x):
  return -0.5 * jnp.sum((x - params["mu"]) ** 2, -1)


def _energy(rule, **hp):
  def build():
    alg = energy_obj.make_trainer(rule, _gaussian_energy, DECAYING(5e-2, 200), **hp)
    return alg, ({"mu": jnp.zeros(2)},), lambda t: {"x": ENERGY_X}

  return build


def _check_energy(state):
  np.testing.assert_allclose(state.params["mu"], ENERGY_X.mean(0), atol=0.1)


def _check_kernel_weighted_mean(state):
  """SteinCD and Stein score matching on a unit-variance Gaussian energy: the gradient in mu is
  proportional to sum_ij k_ij (mu - x_j) (the repulsive terms cancel by antisymmetry), so the
  fixed point is the kernel-weighted data mean, w_j = sum_i k(x_i, x_j), h = med^2 / log n."""
  x = jnp.asarray(ENERGY_X)
  k = kernels.rbf().matrix(x, x, kernels.median_log_bandwidth(x))
  w = np.asarray(k.sum(0))
  np.testing.assert_allclose(state.params["mu"], (w[:, None] * ENERGY_X).sum(0) / w.sum(), atol=0.02)


RBM = GaussianBernoulliRBM(3)
RBM_X = (np.random.default_rng(2).normal(size=(128, 4)) + [2.0, -1.0, 0.0, 1.0]).astype(np.float32)


def _rbm_mle():
  alg = energy_obj.make_trainer("rbm_exact_mle", RBM.apply, optax.adam(3e-2))
  return alg, (RBM.init(jax.random.key(9), jnp.zeros((1, 4))),), lambda t: {"x": RBM_X}


def _check_rbm(state):
  start = RBM.init(jax.random.key(9), jnp.zeros((1, 4)))
  ll = lambda v: float(rbm_targets.mean_log_likelihood(rbm_targets.rbm_params(v), jnp.asarray(RBM_X)))
  assert ll(state.params) > ll(start) + 0.1, (ll(state.params), ll(start))


def _steingan():
  tx = DECAYING(3e-2, 300)
  alg = steingan.make_trainer(_gaussian_energy, _generator, tx, tx, lambda rng, m: jax.random.normal(rng, (m, 2)))
  return alg, ({"mu": jnp.zeros(2)}, {"A": jnp.eye(2), "c": jnp.zeros(2)}), lambda t: {"x": ENERGY_X}


def _check_steingan(state):
  np.testing.assert_allclose(state.energy["mu"], ENERGY_X.mean(0), atol=0.15)
  np.testing.assert_allclose(state.generator["c"], ENERGY_X.mean(0), atol=0.15)


# The image SteinGAN on a data set of one 8x8 image: the generator's samples move to it (mean absolute pixel
# distance 0.74 at initialisation) and the energy ranks it above the generated images.
ONE_IMAGE = np.repeat(synthetic_images(1, 8, 1, 0)[0], 8, 0)
IMAGE_ENERGY = autoencoder_energy.AutoencoderEnergy((8, 8, 3), code_dim=4, width=4)
IMAGE_GENERATOR = dcgan.DCGANGenerator(8, 3, 4)


def _image_steingan():
  tx = optax.adam(1e-3, b1=0.5)
  bandwidth = autoencoder_energy.default_code_bandwidth(0.5)
  alg = autoencoder_steingan.make_trainer(IMAGE_ENERGY, IMAGE_GENERATOR, tx, tx, noise_dim=8, bandwidth=bandwidth)
  return alg, (8,), lambda t: {"x": ONE_IMAGE}


def _check_image_steingan(state):
  target = ONE_IMAGE[0].astype(np.float32) / 127.5 - 1.0
  generated = IMAGE_GENERATOR.apply(state.generator, dcgan.uniform_noise(jax.random.key(9), 64, 8), None)
  assert float(jnp.mean(jnp.abs(generated - target))) < 0.4
  assert float(jnp.mean(IMAGE_ENERGY.apply(state.energy, target[None]))) > float(
    jnp.mean(IMAGE_ENERGY.apply(state.energy, generated))
  )


CASES = [
  Case("svgd", _svgd, 100, _check_svgd),
  Case("amortized_regression", _amortized("regression"), 150, _check_amortized),
  Case("amortized_chain_rule", _amortized("chain_rule"), 150, _check_amortized),
  Case("stein_vae", _latent("stein_vae"), 300, _check_latent),
  Case("stein_viwae", _latent("stein_viwae"), 300, _check_latent),
  Case("vae", _latent("vae"), 300, _check_latent),
  Case("iwae", _latent("iwae"), 300, _check_latent),
  Case("pfa_stein_vae", _pfa("stein_vae"), 300, _check_pfa("stein_vae")),
  Case("pfa_vae", _pfa("vae"), 300, _check_pfa("vae")),
  Case("semi_supervised_stein_vae", _semi("stein_vae"), 150, _check_semi),
  Case("semi_supervised_stein_viwae", _semi("stein_viwae"), 150, _check_semi),
  Case("semi_supervised_vae", _semi("vae"), 150, _check_semi),
  Case("steincd", _energy("steincd", step_size=0.1), 200, _check_kernel_weighted_mean),
  Case("stein_score_matching", _energy("stein_score_matching"), 200, _check_kernel_weighted_mean),
  Case("cd_langevin", _energy("cd_langevin", step_size=0.1, num_steps=5), 200, _check_energy),
  Case("rbm_exact_mle", _rbm_mle, 100, _check_rbm),
  Case("steingan", _steingan, 300, _check_steingan),
  Case("image_steingan", _image_steingan, 300, _check_image_steingan),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_algorithm_protocol_and_known_answer(case):
  algorithm, init_args, batch_of = case.build()
  traces = []

  def traced_step(rng, state, batch):
    traces.append(1)
    return algorithm.step(rng, state, batch)

  step = jax.jit(traced_step)
  rng = jax.random.key(0)
  state = algorithm.init(rng, *init_args)
  for t in range(case.num_steps):
    state, info = step(step_key(rng, t), state, batch_of(t))
  assert len(traces) == 1, f"{case.name}: the step was traced {len(traces)} times"
  for leaf in jax.tree.leaves(info):
    assert np.all(np.isfinite(np.asarray(leaf))), (case.name, info)
  case.check(state)


def test_run_is_the_loop_with_step_keys():
  """algorithm.run (one lax.scan) equals the Python loop with keys step_key(rng, t)."""
  gen, (eta,), _ = _amortized("regression")()
  rng = jax.random.key(3)
  scanned, trace = jax.jit(lambda s: run(gen, rng, s, num_steps=5))(gen.init(rng, eta))
  looped, step = gen.init(rng, eta), jax.jit(gen.step)
  for t in range(5):
    looped, _ = step(step_key(rng, t), looped, None)
  for a, b in zip(jax.tree.leaves(scanned), jax.tree.leaves(looped)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  assert trace.fit_loss.shape == (5,)
  # a continued run draws fresh keys: start=5 continues the same stream
  cont, _ = run(gen, rng, scanned, num_steps=2, start=5)
  for t in range(5, 7):
    looped, _ = step(step_key(rng, t), looped, None)
  for a, b in zip(jax.tree.leaves(cont), jax.tree.leaves(looped)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_a_batch_of_the_wrong_form_is_a_clear_error():
  alg, _, _ = _latent("stein_vae")()
  state = alg.init(jax.random.key(0))
  with pytest.raises(ValueError, match=r"a batch is a dict \{'x'"):
    alg.step(jax.random.key(1), state, X)
  alg, _, _ = _semi("vae")()
  state = alg.init(jax.random.key(0))
  with pytest.raises(ValueError, match="'x_u'.*'x_l'.*'y_l'"):
    alg.step(jax.random.key(1), state, {"x": XS[:4]})
