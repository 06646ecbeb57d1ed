"""Semi-supervised Stein VAE / VIWAE and the VAE baseline (Pu et al. 2017, sec. 4, 5.3).

References independent of the code under test: the closed-form score of a linear-Gaussian
decoder with a softmax label head, analytic per-example gradients summed in numpy loops,
the existing Stein VAE / VIWAE step (zero labelled data), and plain autodiff of the
objectives written out here.
"""

import json
import math
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from configs import semi_supervised_mnist
from experiments import semi_supervised as exp
from stein_jax.algorithm import step_key
from stein_jax.models import vae
from stein_jax.objectives import semi_supervised as ss
from stein_jax.objectives import stein_vae as sv
from stein_jax.train import ConfigError, read_metrics, train_and_evaluate
from stein_jax.train import config as config_lib
from tests import reference

DZ, DX, C, NOISE = 2, 3, 3, 0.7
PRIOR_STD = 1.5


def _model(label_weight=1.0, encoder=None):
  base = sv.LatentModel(
    encoder or vae.AffineEncoder(DZ),
    vae.LinearGaussianDecoder(DX),
    latent_dim=DZ,
    data_dim=DX,
    likelihood="gaussian",
    noise_std=NOISE,
  )
  return ss.SemiSupervisedModel(base, nn.Dense(C), C, label_weight)


def _setup(num_decoder, seed=0, b_u=4, b_l=3, s=6):
  model = _model(label_weight=0.7)
  keys = jax.random.split(jax.random.key(seed), 6)
  enc, dec = ss.init_params(keys[0], model, num_decoder)
  dec = jax.tree_util.tree_map(lambda a: a + 0.3 * jax.random.normal(keys[1], a.shape), dec)
  x_u = jax.random.normal(keys[2], (b_u, DX))
  x_l = jax.random.normal(keys[3], (b_l, DX))
  y_l = jnp.arange(b_l) % C
  z_u = jax.random.normal(keys[4], (b_u, s, DZ))
  z_l = jax.random.normal(keys[5], (b_l, s, DZ))
  return model, enc, dec, x_u, x_l, y_l, z_u, z_l


def _np(tree):
  return jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), tree)


# ------------------------------------------------------------------ labelled scores


def test_labelled_scores_match_autodiff_and_closed_form():
  model, _, dec, _, x_l, y_l, _, z_l = _setup(num_decoder=2)
  scores, _, _ = jax.jit(lambda d, z: ss.labelled_scores(model, d, x_l, y_l, z, num_labelled=30))(dec, z_l)

  # Autodiff of log p(x|z) + w log p(y|z) + log p(z), written out independently.
  def log_joint(z):
    total = 0.0
    for m in range(2):
      a = dec["x"]["params"]["theta"][m]
      w, b = dec["y"]["params"]["kernel"][m], dec["y"]["params"]["bias"][m]
      mean = z @ a.T
      llx = -0.5 * jnp.sum((x_l[:, None] - mean) ** 2, -1) / NOISE**2
      lly = jnp.take_along_axis(jax.nn.log_softmax(z @ w + b, -1), y_l[:, None, None], -1)[..., 0]
      total = total + jnp.sum(llx + 0.7 * lly) / 2
    return total - 0.5 * jnp.sum(z**2)

  np.testing.assert_allclose(scores, jax.jit(jax.grad(log_joint))(z_l), rtol=1e-5, atol=1e-5)

  # Closed form: mean_m [A_m^T (x - A_m z) / s^2 + w W_m (e_y - softmax(z W_m + b_m))] - z.
  d = _np(dec)
  z, x, y = np.asarray(z_l, np.float64), np.asarray(x_l, np.float64), np.asarray(y_l)
  want = -z.copy()
  for m in range(2):
    a = d["x"]["params"]["theta"][m]
    w, b = d["y"]["params"]["kernel"][m], d["y"]["params"]["bias"][m]
    for n in range(z.shape[0]):
      for j in range(z.shape[1]):
        logits = z[n, j] @ w + b
        p = np.exp(logits - logits.max())
        p /= p.sum()
        onehot = np.eye(C)[y[n]]
        want[n, j] += 0.5 * (a.T @ (x[n] - a @ z[n, j]) / NOISE**2 + 0.7 * w @ (onehot - p))
  np.testing.assert_allclose(scores, want, rtol=1e-4, atol=1e-4)


# --------------------------------------------------------------- decoder objective


def _brute_force_decoder_grad(dec1, x_u, z_u, x_l, y_l, z_l, n_u, n_l, w_label):
  """Gradient of eq. (14)'s log p~ for one linear-Gaussian + softmax decoder, by loops."""
  a = dec1["x"]["params"]["theta"]
  w, b = dec1["y"]["params"]["kernel"], dec1["y"]["params"]["bias"]
  ga, gw, gb = -a / PRIOR_STD**2, -w / PRIOR_STD**2, -b / PRIOR_STD**2
  for xs, zs, ys, n_data in ((x_u, z_u, None, n_u), (x_l, z_l, y_l, n_l)):
    scale = n_data / (xs.shape[0] * zs.shape[1])
    for n in range(xs.shape[0]):
      for j in range(zs.shape[1]):
        z = zs[n, j]
        ga += scale * np.outer(xs[n] - a @ z, z) / NOISE**2
        if ys is not None:
          logits = z @ w + b
          p = np.exp(logits - logits.max())
          p /= p.sum()
          r = np.eye(C)[ys[n]] - p
          gw += scale * w_label * np.outer(z, r)
          gb += scale * w_label * r
  return ga, gw, gb


def test_decoder_gradient_matches_brute_force_and_step_scores():
  model, _, dec, x_u, x_l, y_l, z_u, z_l = _setup(num_decoder=1)
  n_u, n_l = 500, 40
  dec1 = jax.tree_util.tree_map(lambda a: a[0], dec)
  g = jax.jit(
    jax.grad(
      lambda d: ss.decoder_objective(
        model, d, x_u, z_u, x_l, y_l, z_l, num_unlabelled=n_u, num_labelled=n_l, prior_std=PRIOR_STD
      )
    )
  )(dec1)
  want = _brute_force_decoder_grad(
    _np(dec1),
    *(np.asarray(v, np.float64) for v in (x_u, z_u, x_l)),
    np.asarray(y_l),
    np.asarray(z_l, np.float64),
    n_u,
    n_l,
    0.7,
  )
  got = (g["x"]["params"]["theta"], g["y"]["params"]["kernel"], g["y"]["params"]["bias"])
  for gg, ww in zip(got, want):
    np.testing.assert_allclose(gg, ww, rtol=1e-4, atol=1e-3)

  # The step's fast path: stein_directions' unlabelled score + labelled_scores + theta~ prior.
  @jax.jit
  def fast_path(dec):
    _, d_x, _ = sv.stein_directions(model.base, dec["x"], x_u, z_u, num_data=n_u, prior_std=PRIOR_STD)
    return d_x, ss.labelled_scores(model, dec, x_l, y_l, z_l, num_labelled=n_l)[1]

  d_x, g_l = fast_path(dec)
  np.testing.assert_allclose(d_x["params"]["theta"][0] + g_l["x"]["params"]["theta"][0], want[0], rtol=1e-4, atol=1e-3)
  np.testing.assert_allclose(
    g_l["y"]["params"]["kernel"][0] - dec["y"]["params"]["kernel"][0] / PRIOR_STD**2, want[1], rtol=1e-4, atol=1e-3
  )


def test_viwae_decoder_objective_uses_the_k_sample_bound():
  model, _, dec, x_u, x_l, y_l, z_u, z_l = _setup(num_decoder=1)
  dec1 = jax.tree_util.tree_map(lambda a: a[0], dec)
  log_q = -0.3 * jnp.sum(z_u**2, -1)
  got = ss.decoder_objective(
    model, dec1, x_u, z_u, x_l, y_l, z_l, num_unlabelled=50, num_labelled=9, prior_std=None, log_q_u=log_q, group_size=3
  )
  # Brute force: groups of 3 consecutive particles, log mean_i p(x, z_i) / q(z_i).
  a = np.asarray(dec1["x"]["params"]["theta"], np.float64)
  xu, zu, lq = (np.asarray(v, np.float64) for v in (x_u, z_u, log_q))
  unl = 0.0
  for n in range(xu.shape[0]):
    for g in range(2):
      lw = []
      for i in range(3 * g, 3 * g + 3):
        z = zu[n, i]
        ll = -0.5 * np.sum((xu[n] - a @ z) ** 2) / NOISE**2 - DX * (math.log(NOISE) + 0.5 * math.log(2 * math.pi))
        lw.append(ll - 0.5 * z @ z - math.log(2 * math.pi) - lq[n, i])
      unl += (np.logaddexp.reduce(lw) - math.log(3)) / 2
  stacked = jax.tree_util.tree_map(lambda v: v[None], dec1)
  lab = ss.labelled_log_lik_per_decoder(model, stacked, x_l, y_l, z_l)[0]
  want = 50 / 4 * unl + 9 / 3 * float(jnp.sum(jnp.mean(lab, -1)))
  np.testing.assert_allclose(got, want, rtol=1e-5)


# ------------------------------------------------------ zero labels = Stein VAE step


@pytest.mark.parametrize("group_size", [None, 3])
def test_no_labelled_data_is_exactly_the_stein_vae_step(group_size):
  model = _model()
  tx = optax.adam(1e-2)
  kw = dict(num_particles=6, group_size=group_size, num_data=200)
  ref = sv.stein_vae(model.base, tx, tx, decoder_prior_std=1.0, **kw)
  semi = ss.semi_supervised_stein_vae(
    model, tx, tx, num_unlabelled=200, num_labelled=0, num_particles=6, group_size=group_size
  )
  key = jax.random.key(3)
  s_ref = ref.init(key)
  s_semi = semi.init(key)
  s_semi = s_semi._replace(
    enc_params=s_ref.enc_params,
    dec_params={"x": s_ref.dec_params, "y": s_semi.dec_params["y"]},
    enc_opt_state=s_ref.enc_opt_state,
    dec_opt_state=tx.init({"x": s_ref.dec_params, "y": s_semi.dec_params["y"]}),
  )
  x = jax.random.normal(jax.random.key(4), (5, DX))
  x0, y0 = jnp.zeros((0, DX)), jnp.zeros((0,), jnp.int32)
  ref_step, semi_step = jax.jit(ref.step), jax.jit(semi.step)
  for t in range(2):
    s_ref, _ = ref_step(step_key(key, t), s_ref, {"x": x})
    s_semi, _ = semi_step(step_key(key, t), s_semi, {"x_u": x, "x_l": x0, "y_l": y0})
  for a, b in zip(
    jax.tree_util.tree_leaves((s_ref.enc_params, s_ref.dec_params)),
    jax.tree_util.tree_leaves((s_semi.enc_params, s_semi.dec_params["x"])),
  ):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_multiple_decoder_particles_follow_svgd_on_the_joint_score():
  model, enc, dec, x_u, x_l, y_l, _, _ = _setup(num_decoder=3)
  sgd = optax.sgd(1.0)
  tr = ss.semi_supervised_stein_vae(
    model, sgd, sgd, num_unlabelled=100, num_labelled=12, num_particles=6, num_decoder=3, decoder_prior_std=PRIOR_STD
  )
  # the trainer's own state layout (the decoder's is optax.chain(svgd_transform, sgd)'s), these parameters
  state = tr.init(jax.random.key(0))._replace(enc_params=enc, dec_params=dec, enc_opt_state=sgd.init(enc))
  key = jax.random.key(9)
  new, _ = jax.jit(tr.step)(key, state, {"x_u": x_u, "x_l": x_l, "y_l": y_l})
  xi = jax.random.normal(key, (6, DZ))
  z_u = sv.encode(model.base, enc, x_u[:, None], xi[None])
  z_l = sv.encode(model.base, enc, x_l[:, None], xi[None])
  scores = jax.jit(
    jax.vmap(
      jax.grad(
        lambda d: ss.decoder_objective(
          model, d, x_u, z_u, x_l, y_l, z_l, num_unlabelled=100, num_labelled=12, prior_std=PRIOR_STD
        )
      )
    )
  )(dec)
  flat = np.concatenate([np.asarray(l, np.float64).reshape(3, -1) for l in jax.tree_util.tree_leaves(dec)], 1)
  sc = np.concatenate([np.asarray(l, np.float64).reshape(3, -1) for l in jax.tree_util.tree_leaves(scores)], 1)
  # phi_i = (1/M) sum_j k_ji s_j + (2 / h) k_ji (theta_i - theta_j), h = median, brute force.
  phi = reference.svgd_direction(flat, sc, "median")
  moved = np.concatenate(
    [np.asarray(l, np.float64).reshape(3, -1) for l in jax.tree_util.tree_leaves(new.dec_params)], 1
  )
  np.testing.assert_allclose(moved - flat, phi, rtol=2e-3, atol=2e-3)
  # a trainer built for one decoder refuses a state with three (its optimizer would be wrong)
  one = ss.semi_supervised_stein_vae(model, sgd, sgd, num_unlabelled=100, num_labelled=12, num_particles=6)
  with pytest.raises(ValueError, match="3 decoder particles but the trainer was built with num_decoder=1"):
    one.step(key, state, {"x_u": x_u, "x_l": x_l, "y_l": y_l})


# -------------------------------------------------------------------- VAE baseline


@pytest.mark.parametrize("weighting", ["data", "batch"])
def test_vae_gradients(weighting):
  model, enc, dec, x_u, x_l, y_l, _, _ = _setup(num_decoder=1)
  model = model._replace(base=model.base._replace(encoder=vae.GaussianEncoder(DZ, (8,))))
  enc, _ = ss.init_params(jax.random.key(1), model)
  sgd = optax.sgd(1.0)
  tr = ss.semi_supervised_vae(model, sgd, num_unlabelled=90, num_labelled=10, encoder_weighting=weighting)
  state = sv.SteinVAEState(jnp.zeros((), jnp.int32), enc, dec, sgd.init((enc, dec)), ())
  key = jax.random.key(5)
  new, _ = jax.jit(tr.step)(key, state, {"x_u": x_u, "x_l": x_l, "y_l": y_l})
  k_u, k_l = jax.random.split(key)
  xi_u = jax.random.normal(k_u, (x_u.shape[0], 1, DZ))
  xi_l = jax.random.normal(k_l, (x_l.shape[0], 1, DZ))
  loss = lambda p: ss.vae_loss(model, p[0], p[1], x_u, x_l, y_l, xi_u, xi_l, num_unlabelled=90, num_labelled=10)
  g_enc, g_dec = jax.jit(jax.grad(loss))((enc, dec))
  if weighting == "batch":  # the encoder sees the plain minibatch mean of all 7 bounds

    def batch_mean(e):
      eu, el = ss.elbo_terms(model, e, dec, x_u, x_l, y_l, xi_u, xi_l)
      return -jnp.mean(jnp.concatenate([eu, el]))

    g_enc = jax.jit(jax.grad(batch_mean))(enc)
  for p0, p1, g in zip(
    jax.tree_util.tree_leaves((enc, dec)),
    jax.tree_util.tree_leaves((new.enc_params, new.dec_params)),
    jax.tree_util.tree_leaves((g_enc, g_dec)),
  ):
    np.testing.assert_allclose(p0 - p1, g, rtol=1e-4, atol=1e-6)


# ---------------------------------------------------------- classification works


def test_tiny_run_on_separable_data_beats_chance():
  x_tr, y_tr = exp.synthetic_classes(0, 240, 3, 16, 0.05, "train")
  x_te, y_te = exp.synthetic_classes(0, 90, 3, 16, 0.05, "test")
  lab, unl = exp.balanced_split(y_tr, 4, 0, 3)
  base = sv.LatentModel(
    vae.FlowEncoder(2, (16,), num_coupling_layers=0), vae.BernoulliDecoder(16, (16,)), 2, 16, "bernoulli"
  )
  model = ss.SemiSupervisedModel(base, nn.Dense(3), 3)
  tx = optax.adam(1e-2)
  tr = ss.semi_supervised_stein_vae(model, tx, tx, num_unlabelled=unl.size, num_labelled=lab.size, num_particles=8)
  step = jax.jit(tr.step)
  state = tr.init(jax.random.key(0))
  rng = np.random.default_rng(0)
  for t in range(150):
    iu, il = rng.choice(unl, 16), rng.choice(lab, 6)
    state, metrics = step(step_key(jax.random.key(1), t), state, {"x_u": x_tr[iu], "x_l": x_tr[il], "y_l": y_tr[il]})
  xi = jax.random.normal(jax.random.key(2), (20, 2))
  err = float(ss.classification_error(model, state.enc_params, state.dec_params, x_te, y_te, xi))
  assert err < 15.0, err  # chance: 66.7%
  assert float(metrics["labelled_log_lik_y"]) > math.log(1 / 3) + 0.5


# ------------------------------------------------------------------------ splits


def test_balanced_split_counts_disjoint_deterministic():
  y = np.random.default_rng(0).integers(0, 4, 500)
  lab, unl = exp.balanced_split(y, 7, 3, 4)
  assert np.array_equal(np.bincount(y[lab], minlength=4), [7, 7, 7, 7])
  assert np.intersect1d(lab, unl).size == 0
  assert np.array_equal(np.sort(np.concatenate([lab, unl])), np.arange(500))
  lab2, unl2 = exp.balanced_split(y, 7, 3, 4)
  assert np.array_equal(lab, lab2) and np.array_equal(unl, unl2)
  assert not np.array_equal(lab, exp.balanced_split(y, 7, 4, 4)[0])
  with pytest.raises(ValueError, match="labels_per_class=200 is too large"):
    exp.balanced_split(y, 200, 0, 4)


REAL_DATA_DIR = os.environ.get("STEIN_JAX_DATA_DIR", "").strip()


@pytest.mark.skipif(
  not REAL_DATA_DIR,
  reason="real data sets not configured: set " "STEIN_JAX_DATA_DIR to a data directory holding mnist/",
)
def test_balanced_split_on_real_mnist():
  from stein_jax import data

  y = data.load("mnist", "train", REAL_DATA_DIR).y
  assert y.shape == (50_000,)
  lab, unl = exp.balanced_split(y, 10, 0, 10)
  assert np.array_equal(np.bincount(y[lab], minlength=10), [10] * 10)
  assert unl.size == 49_900


# -------------------------------------------------------------------- experiment


def _config(**kw):
  c = semi_supervised_mnist.get_config("cpu")
  c.dataset = "synthetic"
  c.num_steps, c.eval_every, c.checkpoint_every, c.log_every = 3, 3, 3, 1
  c.model.latent_dim, c.model.hidden = 2, (8,)
  c.model.num_coupling_layers, c.model.coupling_hidden = 1, 4
  c.svgd.num_particles, c.svgd.k = 4, 2
  c.batch_size, c.labelled_batch_size, c.labels_per_class = 8, 3, 2
  c.eval.samples, c.eval.batch_size = 3, 25
  config_lib.override(c, kw)  # keys by path: "svgd.k"
  return c


@pytest.mark.slow
def test_experiment_runs_resumes_and_writes_final_json(tmp_path):
  method = "stein_viwae"  # the VAE's trainer is tested above; the platform path is shared
  config = _config(method=method)
  train_and_evaluate(exp.SemiSupervisedExperiment(config), config, str(tmp_path))
  config.num_steps = 5
  config.eval_every = 5
  train_and_evaluate(exp.SemiSupervisedExperiment(config), config, str(tmp_path))
  recs = read_metrics(str(tmp_path))
  assert [r["step"] for r in recs if "test/error" in r] == [3, 5]
  assert sorted({r["step"] for r in recs if any(k.startswith("train/") for k in r)}) == [1, 2, 3, 4, 5]
  final = json.loads((tmp_path / "final.json").read_text())
  assert final["step"] == 5 and final["method"] == method
  assert 0 <= final["test/error"] <= 100 and 0 <= final["valid/error"] <= 100
  assert final["num_labelled"] == 6 and final["num_unlabelled"] == 294


def test_bad_configs_are_config_errors():
  for kw, needle in [
    ({"labels_per_class": 100}, "labels_per_class=100 is too large"),
    ({"method": "m2"}, "method must be one of"),
    ({"labelled_batch_size": 8}, "labelled_batch_size must be in"),
    ({"labelled_batch_size": 7}, "exceeds the 6 labelled images"),
    ({"dataset": "imagenet32"}, "imagenet32 is not supported"),
    ({"method": "stein_viwae", "svgd.k": 3}, "svgd.k to divide svgd.num_particles"),
  ]:
    with pytest.raises(ConfigError, match=needle):
      exp.SemiSupervisedExperiment(_config(**kw))


def test_bad_labels_are_clear_errors():
  model, enc, dec, x_u, x_l, _, _, _ = _setup(num_decoder=1)
  with pytest.raises(ValueError, match=r"Labels must lie in \[0, 3\)"):
    ss.check_labelled(model, x_l, jnp.array([0, 1, 3]))
  with pytest.raises(ValueError, match="Labels must have shape"):
    ss.check_labelled(model, x_l, jnp.array([0, 1]))
  with pytest.raises(ValueError, match="Unknown method"):
    ss.make_trainer("m2", model, optax.adam(1e-3), num_unlabelled=10, num_labelled=3)


def test_linear_probe_on_frozen_codes_is_logged_and_resumable(tmp_path):
  # Prototypes 3 bit flips in 100 apart, labels for 30 images per class: an untrained encoder already
  # maps them to codes a linear head separates, while the untrained head is near chance.
  kw = {
    "method": "vae",
    "model.latent_dim": 8,
    "labels_per_class": 30,
    "num_steps": 2,
    "eval_every": 2,
    "checkpoint_every": 2,
  }
  config = _config(**kw)
  config.synthetic.update(dict(flip=0.03, num_valid=90, num_test=90))
  train_and_evaluate(exp.SemiSupervisedExperiment(config), config, str(tmp_path))
  assert not any("probe/l2" in r for r in read_metrics(str(tmp_path)))
  config.eval.probe, config.num_steps, config.eval_every = True, 3, 3  # evaluation keys: the run resumes
  train_and_evaluate(exp.SemiSupervisedExperiment(config), config, str(tmp_path))
  rec = [r for r in read_metrics(str(tmp_path)) if "probe/l2" in r]
  assert [r["step"] for r in rec] == [3]
  rec = rec[0]
  assert rec["probe/l2"] in config.eval.probe_l2s
  assert rec["test/probe_error"] < 10 and rec["valid/probe_error"] < 10 and rec["probe/labelled_error"] < 10
  assert rec["test/error"] > 30  # the jointly trained head after 3 steps
  final = json.loads((tmp_path / "final.json").read_text())
  assert final["test/probe_error"] == rec["test/probe_error"]
  with pytest.raises(ConfigError, match="probe_l2s must be a non-empty tuple"):
    exp.SemiSupervisedExperiment(_config(**{"eval.probe_l2s": (0.1, -1.0)}))
