"""Text density estimation with Stein VAE / VIWAE (Pu et al. 2017, sec. 5.2, Table 2).

Independent references: scipy.stats.multinomial (the likelihood with its coefficient), a
float64 numpy re-implementation of the decoder with central finite differences (the
latent score), and models whose perplexity is known in closed form (a uniform decoder
has perplexity V; a z-independent decoder equal to the unigram, with the encoder at the
prior, has the unigram's perplexity), evaluated through the experiment's own path.
Experiments run on tiny synthetic bag-of-words files in the 20news layout.
"""

import io
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from configs import stein_vae_text
from experiments import stein_vae as exp
from stein_jax.data import checksums
from stein_jax.evaluation import bounds
from stein_jax.models import vae
from stein_jax.objectives import stein_vae as sv
from stein_jax.train import config as config_lib
from stein_jax.train import ConfigError, read_metrics, train_and_evaluate

V, DZ = 12, 3


def _small_model(likelihood="multinomial"):
  return sv.LatentModel(
    vae.GaussianEncoder(DZ, (4,), input_transform="log1p"), vae.BernoulliDecoder(V, (6,)), DZ, V, likelihood
  )


def _counts(rng, n, v=V, max_count=4):
  x = rng.integers(0, max_count + 1, size=(n, v)) * (rng.uniform(size=(n, v)) < 0.5)
  x[:, 0] += 1  # no empty documents
  return x.astype(np.float32)


# ------------------------------------------------------------------ likelihood


def test_multinomial_log_likelihood_matches_scipy():
  rng = np.random.default_rng(0)
  model = _small_model()
  logits = rng.normal(size=(5, V)).astype(np.float32) * 2
  x = _counts(rng, 5)
  ll = np.asarray(sv.log_likelihood(model, jnp.asarray(logits), jnp.asarray(x)))
  coef = np.asarray(sv.multinomial_log_coefficient(jnp.asarray(x)))
  p = np.exp(logits.astype(np.float64))
  p /= p.sum(-1, keepdims=True)
  for d in range(5):
    ref = stats.multinomial.logpmf(x[d], int(x[d].sum()), p[d])
    np.testing.assert_allclose(ll[d] + coef[d], ref, rtol=1e-5, atol=1e-3)
    # Without the coefficient it is the probability of one ordering of the words.
    np.testing.assert_allclose(ll[d], np.sum(x[d] * np.log(p[d])), rtol=1e-5, atol=1e-3)


def _numpy_decoder(dec_params, z):
  """float64 forward pass of BernoulliDecoder (tanh MLP) from the flax parameters."""
  mlp = jax.tree_util.tree_map(lambda a: np.asarray(a[0], np.float64), dec_params)
  mlp = mlp["params"]["MLP_0"]
  names = sorted(mlp)
  h = z
  for i, name in enumerate(names):
    h = h @ mlp[name]["kernel"] + mlp[name]["bias"]
    if i < len(names) - 1:
      h = np.tanh(h)
  return h


def test_multinomial_latent_score_matches_finite_differences():
  rng = np.random.default_rng(1)
  model = _small_model()
  _, dec = sv.init_params(jax.random.key(0), model)
  x = _counts(rng, 2)
  z = rng.normal(size=(2, 3, DZ))

  def log_joint64(zz):  # log p(x | z) + log N(z; 0, I), float64
    logits = _numpy_decoder(dec, zz)
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    return np.sum(x[:, None, :] * logp, -1) - 0.5 * np.sum(zz**2, -1)

  eps = 1e-5
  fd = np.zeros_like(z)
  for i in np.ndindex(z.shape):
    dz = np.zeros_like(z)
    dz[i] = eps
    fd[i] = (log_joint64(z + dz) - log_joint64(z - dz))[i[:2]] / (2 * eps)
  score_fn = jax.jit(lambda d, xx, zz: sv.latent_scores(model, d, xx, zz))
  score = np.asarray(score_fn(dec, jnp.asarray(x), jnp.asarray(z, jnp.float32)))
  np.testing.assert_allclose(score, fd, rtol=1e-3, atol=1e-3)
  # The score in the logits is x - N softmax(logits).
  logits = jnp.asarray(rng.normal(size=(V,)), jnp.float32)
  g = jax.grad(lambda l: sv.log_likelihood(model, l, jnp.asarray(x[0])))(logits)
  np.testing.assert_allclose(g, x[0] - x[0].sum() * jax.nn.softmax(logits), atol=1e-5)


def test_multinomial_data_checks():
  model = _small_model()
  sv.check_model(model)
  sv.check_data(model, jnp.asarray(_counts(np.random.default_rng(2), 3)))
  with pytest.raises(ValueError, match="nonnegative word counts"):
    sv.check_data(model, jnp.full((2, V), -1.0))
  with pytest.raises(ValueError, match="integer word counts"):
    sv.check_data(model, jnp.full((2, V), 0.5))
  with pytest.raises(ValueError, match=rf"\[batch, {V}\]"):
    sv.check_data(model, jnp.ones((2, V + 1)))
  with pytest.raises(ValueError, match="likelihood must be one of"):
    sv.check_model(_small_model("poisson"))
  with pytest.raises(ValueError, match="input_transform"):
    enc = vae.GaussianEncoder(DZ, (4,), input_transform="sqrt")
    enc.init(jax.random.key(0), jnp.ones((1, V)), jnp.ones((1, DZ)))


def test_log1p_input_transform():
  x = jnp.asarray(_counts(np.random.default_rng(3), 4))
  xi = jax.random.normal(jax.random.key(1), (4, DZ))
  for cls, kw in ((vae.FlowEncoder, {"num_coupling_layers": 1, "coupling_hidden": 4}), (vae.GaussianEncoder, {})):
    enc_log = cls(DZ, (8,), input_transform="log1p", **kw)
    enc_id = cls(DZ, (8,), **kw)
    p = enc_log.init(jax.random.key(0), x, xi)
    np.testing.assert_allclose(enc_log.apply(p, x, xi), enc_id.apply(p, jnp.log1p(x), xi), atol=1e-6)


def test_perplexity_by_hand_and_errors():
  lp = np.array([-10.0, -4.0])
  n = np.array([3.0, 2.0])
  assert bounds.perplexity(lp, n) == pytest.approx(math.exp(14.0 / 5.0))
  with pytest.raises(ValueError, match="shape"):
    bounds.perplexity(lp, n[:1])
  with pytest.raises(bounds.NonFiniteBoundError):
    bounds.perplexity(np.array([np.nan, 1.0]), n)
  with pytest.raises(ValueError, match="at least one word"):
    bounds.perplexity(lp, np.zeros(2))


# ------------------------------------------------------------------ experiment


def _write_bow(folder, name, x, label=True):
  with open(folder / name, "w") as f:
    for row in x:
      toks = [f"{i + 1}:{c:g}" for i, c in enumerate(row) if c]
      f.write(("1 " if label else "") + " ".join(toks) + "\n")


def _fake_20news(root, rng, train=None, test=None, vocab=V):
  folder = root / "20news"
  folder.mkdir(parents=True)
  train = _counts(rng, 40, vocab) if train is None else train
  test = _counts(rng, 9, vocab) if test is None else test
  _write_bow(folder, "train.feat", train)
  _write_bow(folder, "test.feat", test)
  (folder / "vocab.new").write_text("".join(f"w{i} 0\n" for i in range(vocab)))
  return str(root), train, test


@pytest.fixture
def fake_20news(tmp_path, monkeypatch):
  monkeypatch.setattr(checksums, "KNOWN_CHECKSUMS", {})  # the fake files are not the real ones
  return _fake_20news(tmp_path / "data", np.random.default_rng(4))


def _config(method, data_dir, **kw):
  c = stein_vae_text.get_config("cpu")
  c.data_dir = data_dir
  c.method = method
  c.vocab_size = V
  c.num_steps = 3
  c.eval_every = 3
  c.checkpoint_every = 3
  c.log_every = 1
  c.batch_size = 8
  c.model.latent_dim = DZ
  c.model.hidden = (8,)
  c.model.num_coupling_layers = 1
  c.model.coupling_hidden = 4
  c.svgd.num_particles = 4
  c.svgd.k = 2
  c.eval.samples = 12
  c.eval.batch_size = 5
  c.eval.chunk_size = 5
  config_lib.override(c, kw)  # keys by path: **{"model.text_model": "deep_poisson"}
  return c


def _run(config, workdir):
  return train_and_evaluate(exp.make_experiment(config), config, str(workdir), progress_stream=io.StringIO())


def _check_eval(workdir, test):
  rec = [r for r in read_metrics(str(workdir)) if "test/perplexity_elbo" in r][-1]
  keys = (
    "test/perplexity_elbo",
    "test/perplexity_s_elbo",
    "test/nll_elbo",
    "test/nll_s_elbo",
    "test/perplexity_unigram",
  )
  assert all(math.isfinite(rec[k]) and rec[k] > 0 for k in keys), rec
  # The S-sample bound is tighter; perplexity and per-document NLL are the same numbers.
  assert rec["test/perplexity_s_elbo"] <= rec["test/perplexity_elbo"] * (1 + 1e-5)
  np.testing.assert_allclose(
    math.log(rec["test/perplexity_s_elbo"]), rec["test/nll_s_elbo"] * test.shape[0] / test.sum(), rtol=1e-5
  )


# stein_viwae runs end to end in test_resume_matches_uninterrupted.
@pytest.mark.slow
@pytest.mark.parametrize("method", ["stein_vae", "vae", "iwae"])
def test_text_every_method(tmp_path, fake_20news, method):
  config = _config(method, fake_20news[0])
  _run(config, tmp_path / "run")
  _check_eval(tmp_path / "run", fake_20news[2])


@pytest.mark.slow
@pytest.mark.parametrize("method", ["stein_vae", "vae"])
def test_deep_poisson_text_model_end_to_end(tmp_path, fake_20news, method):
  """model.text_model="deep_poisson" (the gamma DEF, docs/deep_poisson.md) trains and evaluates;
  its reconstruction / KL split adds up to the ELBO."""
  deep_poisson = {"model.text_model": "deep_poisson", "model.def_layers": (3, 2, 2), "model.latent_dim": 7}
  config = _config(method, fake_20news[0], **deep_poisson, **{"svgd.kernel_metric": "diagonal"})
  _run(config, tmp_path / "run")
  _check_eval(tmp_path / "run", fake_20news[2])
  rec = [r for r in read_metrics(str(tmp_path / "run")) if "test/kl" in r][-1]
  assert np.isfinite(rec["test/kl"]) and np.isfinite(rec["test/reconstruction"])


def test_deep_poisson_config_errors(fake_20news):
  with pytest.raises(ConfigError, match="needs latent_dim=7"):
    exp.make_experiment(
      _config("stein_vae", fake_20news[0], **{"model.text_model": "deep_poisson", "model.def_layers": (3, 2, 2)})
    )
  with pytest.raises(ConfigError, match=r"model\.text_model must be one of"):
    exp.make_experiment(_config("stein_vae", fake_20news[0], **{"model.text_model": "lda"}))
  c = stein_vae_text.get_config("cpu,reuters,def")
  assert c.model.text_model == "deep_poisson" and c.model.latent_dim == 450 and c.vocab_size == 2000
  assert stein_vae_text.get_config("cpu_paper").svgd.kernel_metric == "isotropic"
  with pytest.raises(ValueError, match="model one of"):
    stein_vae_text.get_config("cpu,20news,lda")


def _set_known_model(params, log_probs):
  """Encoder at the prior (z = xi exactly) and a decoder with constant logits log_probs."""
  enc = jax.tree_util.tree_map(np.array, params["enc"])
  for head in ("mu_head", "log_sigma_head", "mean_head", "log_var_head"):
    if head in enc["params"]:
      enc["params"][head] = jax.tree_util.tree_map(np.zeros_like, enc["params"][head])
  dec = jax.tree_util.tree_map(np.array, params["dec"])
  mlp = dec["params"]["MLP_0"]
  last = sorted(mlp)[-1]
  mlp[last]["kernel"] = np.zeros_like(mlp[last]["kernel"])
  mlp[last]["bias"] = np.broadcast_to(log_probs, mlp[last]["bias"].shape).astype(np.float32)
  return {"enc": enc, "dec": dec}


def _with_params(state, params):
  """The platform state with the model's parameters {"enc", "dec"} replaced."""
  return state.replace(inner=state.inner._replace(enc_params=params["enc"], dec_params=params["dec"]))


@pytest.mark.parametrize("method", ["stein_viwae", "vae"])
def test_known_perplexities_through_evaluation(tmp_path, fake_20news, method):
  data_dir, train, test = fake_20news
  e = exp.make_experiment(_config(method, data_dir))
  state = e.init_state(jax.random.key(0), e.config)
  # Uniform decoder: every word has probability 1 / V, perplexity V exactly.
  out = e.evaluate(_with_params(state, _set_known_model(state.inner.params, np.zeros(V))), 0, "")
  for key in ("test/perplexity_elbo", "test/perplexity_s_elbo"):
    assert out[key] == pytest.approx(V, rel=1e-5)
  # z-independent decoder equal to the (add-one) training unigram, encoder = prior:
  # log w = log p(x | z) exactly, so both bounds give the unigram perplexity.
  counts = train.sum(0).astype(np.float64) + 1
  logp = np.log(counts / counts.sum())
  ref = math.exp(-np.sum(test @ logp) / test.sum())
  out = e.evaluate(_with_params(state, _set_known_model(state.inner.params, logp)), 0, "")
  for key in ("test/perplexity_elbo", "test/perplexity_s_elbo", "test/perplexity_unigram"):
    assert out[key] == pytest.approx(ref, rel=1e-5)
  # The ELBO's terms: q = p(z) exactly, so KL = 0 and reconstruction = the unigram log-lik.
  assert abs(out["test/kl"]) < 1e-4
  assert out["test/reconstruction"] == pytest.approx(np.mean(test @ logp), rel=1e-5)
  # With a trained-looking encoder the terms still add up to the ELBO (same samples aside).
  params = jax.tree_util.tree_map(lambda a: a * 1.5, state.inner.params)
  rec, kl = e.elbo_terms(params, jnp.asarray(test), num_samples=4000)
  nll = e.evaluate(_with_params(state, params), 0, "")["test/nll_elbo"]
  assert kl > 0
  assert rec - kl == pytest.approx(-nll, abs=0.05 * abs(nll))


@pytest.mark.slow
def test_resume_matches_uninterrupted(tmp_path, fake_20news):
  cfg = lambda n: _config("stein_viwae", fake_20news[0], num_steps=n, eval_every=4, checkpoint_every=2)
  straight = _run(cfg(4), tmp_path / "straight")
  _run(cfg(2), tmp_path / "resumed")
  resumed = _run(cfg(4), tmp_path / "resumed")
  jax.tree_util.tree_map(
    np.testing.assert_allclose, jax.device_get(resumed.inner.params), jax.device_get(straight.inner.params)
  )
  # The same training metrics step by step, and the same final evaluation (the resumed
  # run also evaluated at the end of its first, 2-step leg).
  train = lambda recs: [r for r in recs if any(k.startswith("train/") for k in r)]
  final = lambda recs: {k: v for k, v in recs[-1].items() if "seconds" not in k}
  recs_r = read_metrics(str(tmp_path / "resumed"))
  recs_s = read_metrics(str(tmp_path / "straight"))
  assert train(recs_r) == train(recs_s)
  assert final(recs_r) == final(recs_s)
  _check_eval(tmp_path / "straight", fake_20news[2])


def test_bad_text_input(tmp_path, monkeypatch, fake_20news):
  monkeypatch.setattr(checksums, "KNOWN_CHECKSUMS", {})
  rng = np.random.default_rng(5)
  with pytest.raises(ValueError, match=rf"vocabulary of {V} words.*vocab_size={V}"):
    exp.make_experiment(_config("vae", fake_20news[0], vocab_size=1995))
  bad = _counts(rng, 9)
  bad[2, 3] = 1.5
  root, _, _ = _fake_20news(tmp_path / "frac", rng, test=bad)
  with pytest.raises(ValueError, match="integer word counts"):
    exp.make_experiment(_config("stein_vae", root))
  with pytest.raises(FileNotFoundError, match="20news"):
    exp.make_experiment(_config("vae", str(tmp_path / "nowhere")))
  with pytest.raises(ConfigError, match="encoder with a density"):
    exp.make_experiment(_config("stein_vae", fake_20news[0], **{"model.encoder": "mlp"}))
  with pytest.raises(ValueError, match="setting one of"):
    stein_vae_text.get_config("gpu")
  assert stein_vae_text.get_config("paper,reuters").vocab_size == 2000
  assert stein_vae_text.get_config("").svgd.num_particles == 100


@pytest.mark.skipif(not os.environ.get("STEIN_JAX_DATA_DIR"), reason="real data: set STEIN_JAX_DATA_DIR")
def test_real_20news_vocabulary_matches_config():
  from stein_jax import data as data_lib

  ds = data_lib.load("20news", "test", max_examples=50)
  assert ds.x.shape[1] == stein_vae_text.get_config().vocab_size
  sv.check_data(_small_model()._replace(data_dim=ds.x.shape[1]), jnp.asarray(ds.x))
