"""The posterior check (stein_jax/evaluation/posterior_check.py, experiments/posterior_check/).

Oracles: closed-form Gaussian posteriors (exact samples, a deliberately narrowed sample
with a known variance ratio), NUTS against a known 2-d covariance, free SVGD against the
sec. 5.1 GMM's exact posterior, PFA's score in u against the repository's closed form
(objectives.pfa.score_u), and the bad-input errors of the experiment main.
"""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import posterior_check as pc_config
from configs import stein_vae_gmm
from experiments import posterior_check as pc_main
from experiments import stein_vae
from stein_jax.data import synthetic_gmm as gmm
from stein_jax.evaluation import posterior_check as pc
from stein_jax.objectives import pfa as pfa_obj
from stein_jax.train import train_and_evaluate

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

MEAN = np.array([1.0, -2.0, 0.5])
COV = np.array([[1.0, 0.6, 0.0], [0.6, 2.0, 0.3], [0.0, 0.3, 0.5]])


def _gaussian(n, seed):
  return np.random.default_rng(seed).multivariate_normal(MEAN, COV, n)


# ------------------------------------------------------------------------ metrics


def test_exact_samples_give_ratio_one():
  m = pc.sample_metrics(_gaussian(4000, 0), _gaussian(4000, 1), top=[1], mmd_points=500)
  # log var ratio per coordinate has sd sqrt(2 / 4000 * 2) = 0.032.
  assert abs(np.log(m["var_ratio"])) < 0.06
  assert abs(np.log(m["var_ratio_top"])) < 0.1
  assert m["mean_error"] < 0.06
  assert abs(m["mmd"]) < 0.01


def test_narrowed_sample_gives_known_ratio():
  z = _gaussian(4000, 0)
  narrow = MEAN + 0.5 * (z - MEAN)  # every variance x 0.25, means unchanged
  m = pc.sample_metrics(narrow, _gaussian(4000, 1), top=[0, 2], mmd_points=500)
  assert m["var_ratio"] == pytest.approx(0.25, rel=0.08)
  assert m["var_ratio_top"] == pytest.approx(0.25, rel=0.1)
  np.testing.assert_allclose(m["var_ratio_per_coordinate"], 0.25, rtol=0.12)
  assert m["mmd"] > 0.05
  # Shifted by one sd in every coordinate: mean_error 1.
  shifted = _gaussian(4000, 0) + np.sqrt(np.diag(COV))
  assert pc.sample_metrics(shifted, _gaussian(4000, 1), mmd_points=50)["mean_error"] == pytest.approx(1.0, abs=0.06)


def test_metrics_errors():
  with pytest.raises(pc.PosteriorCheckError, match="coordinates"):
    pc.sample_metrics(np.zeros((5, 2)) + np.arange(5)[:, None], _gaussian(10, 0))
  with pytest.raises(pc.PosteriorCheckError, match="NaN"):
    pc.sample_metrics(np.full((5, 3), np.nan), _gaussian(10, 0))
  with pytest.raises(pc.PosteriorCheckError, match="zero variance"):
    pc.sample_metrics(_gaussian(10, 0), np.ones((10, 3)))


# --------------------------------------------------------------------------- NUTS


def _gauss_logdensity(z, prec):
  return -0.5 * z @ prec @ z


def test_nuts_recovers_2d_gaussian_covariance():
  cov = np.array([[1.0, 0.8], [0.8, 2.0]])
  prec = jnp.asarray(np.linalg.inv(cov), jnp.float32)
  init = 3.0 * jax.random.normal(jax.random.key(1), (4, 2))
  res = pc.nuts_reference(jax.random.key(0), _gauss_logdensity, prec, init, num_warmup=200, num_samples=300)
  assert res.converged, res.reason
  assert res.samples.shape == (4, 300, 2)
  assert res.rhat_max < 1.05
  est = np.cov(pc.require_converged(res).T)
  scale = np.sqrt(np.outer(np.diag(cov), np.diag(cov)))
  assert np.all(np.abs(est - cov) < 0.2 * scale), est


def _two_modes(z, sep):
  return jnp.logaddexp(-0.5 * jnp.sum((z - sep) ** 2), -0.5 * jnp.sum((z + sep) ** 2))


def test_nuts_chains_in_separate_modes_are_not_converged():
  init = jnp.array([[10.0], [10.0], [-10.0], [-10.0]])
  res = pc.nuts_reference(jax.random.key(0), _two_modes, jnp.float32(10.0), init, num_warmup=50, num_samples=50)
  assert not res.converged
  assert res.rhat_max > 1.05 and "R-hat" in res.reason
  with pytest.raises(pc.NUTSNotConvergedError, match=r"R-hat \d"):
    pc.require_converged(res)


# ---------------------------------------------------------------------- free SVGD


@pytest.mark.slow
def test_free_svgd_on_gmm_exact_posterior_paper_setting():
  """Reduced form of the issue target (1,000 particles: docs/results/posterior_check.md).

  The paper setting's posterior is one narrow, correlated Gaussian (sd 0.1 and 0.03);
  SVGD started from a cloud narrowed 0.3 x (variance x 0.09) must spread back to ratio 1.
  """
  data = gmm.make_dataset(jax.random.key(0), "paper", num_train=2, num_test=1)
  post = gmm.exact_posterior(data.x_test, "paper")
  exact = np.asarray(gmm.posterior_sample(jax.random.key(1), post, 2000))[0]
  m = exact[:1000].mean(0)
  start = m + 0.3 * (exact[1000:1300] - m)  # 300 particles, variance x 0.09
  res = pc.free_svgd(pc.gmm_target("paper"), data.x_test[0], start, max_steps=1500)
  assert res.converged
  assert abs(pc.sample_metrics(res.particles, exact[:1000])["var_ratio"] - 1.0) < 0.1
  assert res.ksd < 1.0


@pytest.mark.parametrize("optimizer", ["adam_sgd", "sgd", "adam"])
def test_free_svgd_both_optimizers_reach_a_1d_gaussian(optimizer):
  # N(2, 0.5^2) from a cloud 4 x too narrow; 1-d SVGD with 50 particles keeps ~the variance.
  start = 2.0 + 0.125 * np.random.default_rng(0).normal(size=(50, 1))
  logp = lambda z, s: -0.5 * jnp.sum((z - 2.0) ** 2) / s**2
  res = pc.free_svgd(
    logp,
    jnp.float32(0.5),
    start,
    optimizer=optimizer,
    learning_rate=0.05 if optimizer == "adam" else 0.5,
    max_steps=3000,
  )
  assert res.converged, res
  assert np.var(res.particles, ddof=1) == pytest.approx(0.25, rel=0.1)
  assert res.trace[0] == (0, 0.0) and res.trace[-1][1] == pytest.approx(np.log(16), abs=0.2)


def test_free_svgd_errors():
  with pytest.raises(pc.PosteriorCheckError, match="n >= 2"):
    pc.free_svgd(pc.gmm_target("paper"), jnp.zeros(2), np.zeros((1, 2)))
  with pytest.raises(pc.PosteriorCheckError, match="optimizer"):
    pc.free_svgd(pc.gmm_target("paper"), jnp.zeros(2), np.ones((3, 2)), optimizer="lbfgs")


# ---------------------------------------------------------------------------- PFA


def test_pfa_target_score_matches_closed_form():
  rng = np.random.default_rng(0)
  p, v = 30, 4
  theta = rng.dirichlet(np.full(p, 0.5), v).T.astype(np.float32)
  x = np.zeros(p, np.float32)
  x[[1, 5, 7]] = [3, 1, 2]
  u = jnp.asarray(rng.normal(size=(6, v)), jnp.float32)
  prior = pfa_obj.PFAPrior(0.05, 1.0, 1.0)
  data = pc.pfa_target_data(x, theta, pad_to=5)  # padded words must add nothing
  got = pc.batched_score(pc.pfa_target(prior.r, prior.c))(u, data)
  want = pfa_obj.score_u(jnp.asarray(x)[None], u, jnp.asarray(theta), prior)
  np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-4)
  # Log density differences agree with log p(x, u) of objectives.pfa.
  f = pc.pfa_target(prior.r, prior.c)
  full = pfa_obj.log_joint_u(jnp.asarray(x), u, jnp.asarray(theta), prior)
  mine = jax.vmap(lambda uu: f(uu, data))(u)
  np.testing.assert_allclose(mine - mine[0], full - full[0], rtol=1e-4, atol=1e-3)


# ---------------------------------------------------------------- the experiment


def _check_config(run_dir, **kw):
  c = pc_config.get_config()
  c.run_dir = str(run_dir)
  c.test_indices = (0,)
  c.encoder_samples = 100
  c.large_particles = 40
  c.reference_samples = 200
  c.mmd_points = 100
  c.svgd.check_every = 10
  c.svgd.max_steps = 20
  c.update(kw)
  return c


@pytest.fixture(scope="module")
def gmm_run(tmp_path_factory):
  c = stein_vae_gmm.get_config()
  c.update(num_steps=2, eval_every=2, checkpoint_every=2, log_every=1, num_train=64, num_test=3, batch_size=8)
  c.svgd.num_particles = 10
  c.model.encoder_hidden = (16,)
  c.eval.update(samples=50, mode_samples=100, plot=False)
  workdir = str(tmp_path_factory.mktemp("gmm_run"))
  train_and_evaluate(stein_vae.make_experiment(c), c, workdir)
  return workdir


@pytest.mark.slow
def test_check_end_to_end_on_a_tiny_gmm_run(gmm_run, tmp_path):
  out = pc_main.run_check(_check_config(gmm_run), str(tmp_path))
  assert out["experiment"] == "stein_vae_gmm" and out["num_particles"] == 10
  (point,) = out["points"]
  assert point["status"] == "ok"
  for m in ("encoder", "svgd_s", "svgd_large"):
    assert np.isfinite(point[m]["var_ratio"]) and point[m]["var_ratio"] > 0
  assert point["svgd_large"]["particles"] == 40
  with open(tmp_path / "posterior_check.json") as f:
    assert json.load(f)["points"][0]["index"] == 0
  table = (tmp_path / "table.md").read_text()
  assert "free SVGD, S = 10" in table
  assert (tmp_path / "figures" / "posterior_check.png").exists()


def test_indices_out_of_range(gmm_run, tmp_path):
  with pytest.raises(pc.PosteriorCheckError, match=r"out of range: the run has 3 test points"):
    pc_main.run_check(_check_config(gmm_run, test_indices=(1, 5)), str(tmp_path))


def test_workdir_without_trained_model(tmp_path):
  with pytest.raises(pc.PosteriorCheckError, match="no trained model"):
    pc_main.load_run(str(tmp_path), _check_config(tmp_path))
  (tmp_path / "run.json").write_text(json.dumps({"experiment": "stein_vae_gmm", "config": {}, "fingerprint": "x"}))
  with pytest.raises(pc.PosteriorCheckError, match="no trained model \\(no checkpoint"):
    pc_main.load_run(str(tmp_path), _check_config(tmp_path))


def test_workdir_of_another_experiment(tmp_path):
  (tmp_path / "run.json").write_text(json.dumps({"experiment": "steingan_rbm", "config": {}, "fingerprint": "x"}))
  with pytest.raises(pc.PosteriorCheckError, match="experiment 'steingan_rbm'"):
    pc_main.load_run(str(tmp_path), _check_config(tmp_path))


def test_not_converged_point_reported_with_rhat_not_numbers(tmp_path):
  out = {
    "run_dir": "/r",
    "experiment": "stein_vae_mnist",
    "method": "stein_vae",
    "checkpoint_step": 5,
    "num_particles": 100,
    "large_particles": 1000,
    "bandwidth": "median",
    "reference": "NUTS (BlackJAX)",
    "top_coordinates": None,
    "points": [{"index": 3, "status": "not_converged", "reference": {"rhat_max": 1.31, "divergences": [0, 2, 0, 0]}}],
  }
  out["summary"] = pc_main.summarize(out["points"])
  pc_main.write_outputs(out, str(tmp_path), plot=True)
  table = (tmp_path / "table.md").read_text()
  assert "| 3 | NUTS not converged (max split R-hat 1.310, 2 divergences) |" in table
  assert "Not converged (no numbers): test points [3]" in table
  assert (tmp_path / "figures" / "posterior_check.png").exists()


def test_cli_prints_one_error_line(tmp_path):
  env = dict(os.environ, PYTHONPATH=REPO, JAX_PLATFORMS="cpu")
  proc = subprocess.run(
    [
      sys.executable,
      "-m",
      "experiments.posterior_check",
      "--config=configs/posterior_check.py",
      f"--config.run_dir={tmp_path}",
      f"--workdir={tmp_path / 'out'}",
    ],
    cwd=REPO,
    env=env,
    capture_output=True,
    text=True,
    timeout=120,
  )
  assert proc.returncode == 1
  errors = [l for l in proc.stderr.splitlines() if l.startswith("error:")]
  assert len(errors) == 1 and "no trained model" in errors[0], proc.stderr[-2000:]
  assert "Traceback" not in proc.stderr


def test_free_svgd_diagonal_metric_keeps_a_stiff_coordinate():
  """N(0, diag(v)), d = 30, v from 0.003 to 1, 60 particles from exact samples: with the
  isotropic kernel the stiffest coordinates collapse, with metric="diagonal" they keep their
  width (docs/stein_math.md sec. 13)."""
  v = np.logspace(-2.5, 0, 30)
  start = np.sqrt(v) * np.random.default_rng(1).normal(size=(60, 30))
  logp = lambda z, vv: -0.5 * jnp.sum(z**2 / vv)
  ratio = {}
  for metric in ("isotropic", "diagonal"):
    res = pc.free_svgd(logp, jnp.asarray(v, jnp.float32), start, optimizer="sgd", max_steps=2000, metric=metric)
    ratio[metric] = np.var(res.particles, 0, ddof=1) / v
  assert np.exp(np.mean(np.log(ratio["isotropic"][:5]))) < 0.3
  assert np.exp(np.mean(np.log(ratio["diagonal"][:5]))) > 0.5
  with pytest.raises(pc.PosteriorCheckError, match="metric must be one of"):
    pc.free_svgd(logp, jnp.asarray(v, jnp.float32), start, metric="full")
