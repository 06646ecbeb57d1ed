"""The Stein VAE experiment main (experiments/stein_vae.py): every method end to end, fast.

A few steps of each method through the platform's ``train_and_evaluate`` on tiny data
(the sec. 5.1 GMM with few points, a fake binarized-MNIST archive of random images),
checking that the evaluation metrics are logged and finite, and that bad inputs give
clear errors.
"""

import json
import math
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import stein_vae_gmm, stein_vae_mnist
from experiments import stein_vae as exp
import stein_jax
from stein_jax import kernels
from stein_jax.data import checksums
from stein_jax.evaluation.bounds import NonFiniteBoundError
from stein_jax.objectives import stein_vae as sv
from stein_jax.train import ConfigError, NonFiniteLossError, read_metrics, train_and_evaluate
from stein_jax.train import config as config_lib
from tests import reference


def _finite(records, key):
  vals = [r[key] for r in records if key in r]
  assert vals, f"{key} was never logged"
  assert all(math.isfinite(v) for v in vals), (key, vals)
  return vals[-1]


def _gmm_config(method, observation, **kw):
  """configs/stein_vae_gmm.py at a test's size; ``kw`` by key path (``**{"svgd.k": 3}``)."""
  c = stein_vae_gmm.get_config()
  c.method = method
  c.observation = observation
  c.num_steps = 4
  c.eval_every = 4
  c.checkpoint_every = 4
  c.log_every = 2
  c.num_train = 64
  c.num_test = 3
  c.batch_size = 8
  c.svgd.num_particles = 10
  c.svgd.k = 5
  c.model.encoder_hidden = (16,)
  c.svgd.bandwidth_anneal_steps = 2
  c.eval.samples = 50
  c.eval.plot = observation == "bimodal"
  return config_lib.override(c, kw)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["stein_vae", "stein_viwae", "vae", "iwae"])
@pytest.mark.parametrize("observation", ["bimodal", "paper"])
def test_gmm_every_method(tmp_path, method, observation):
  config = _gmm_config(method, observation)
  train_and_evaluate(exp.make_experiment(config), config, str(tmp_path))
  recs = read_metrics(str(tmp_path))
  assert _finite(recs, "eval/posterior_mmd") > -0.1
  if observation == "bimodal":
    assert 0 <= _finite(recs, "eval/mode_weight_error") <= 1
    assert (tmp_path / "figures" / "posteriors_step000004.png").exists()
  else:
    assert not any("eval/mode_weight_error" in r for r in recs)
  assert (tmp_path / "gmm_eval.json").exists()


def test_gmm_prior_moments_init_matches_prior():
  config = _gmm_config("stein_vae", "bimodal", **{"model.encoder_hidden": (64,)})
  e = exp.make_experiment(config)
  state = e.init_state(jax.random.key(0), config)
  xi = jax.random.normal(jax.random.key(7), (1, 4000, 2))  # the same xi for both x
  z = np.asarray(sv.encode(e.model, state.inner.params["enc"], e.data.x_test[:2, None, :], xi))
  # No x-dependence at the start, and the prior's moments: mean 0, cov I + 25 [[1,1],[1,1]].
  np.testing.assert_allclose(z[0], z[1], atol=1e-5)
  np.testing.assert_allclose(z[0].mean(0), [0, 0], atol=0.4)
  np.testing.assert_allclose(np.cov(z[0].T), [[26, 25], [25, 26]], rtol=0.1, atol=0.6)


def test_bandwidth_annealing_schedule():
  config = _gmm_config(
    "stein_vae", "bimodal", **{"svgd.bandwidth_anneal_steps": 10, "svgd.bandwidth_anneal_factor": 100.0}
  )
  e = exp.make_experiment(config)
  z = jax.random.normal(jax.random.key(1), (30, 2))
  med = float(kernels.median_bandwidth(z))
  for step, factor in [(0, 100.0), (5, 10.0), (10, 1.0), (50, 1.0)]:
    np.testing.assert_allclose(float(e.bandwidth_schedule()(jnp.int32(step))), factor, rtol=1e-5)
  # The trainer's latent step uses factor x the rule: phi with the schedule's h at step 0.
  sched = e.bandwidth_schedule()
  s = jnp.zeros_like(z)
  np.testing.assert_allclose(
    stein_jax.SteinKernel().direction(z[None], s[None], bandwidth_scale=sched(jnp.int32(0)))[0],
    stein_jax.svgd_direction(z, s, bandwidth=100.0 * med),
    rtol=1e-4,
    atol=1e-6,
  )
  # The schedule scales whichever rule config.svgd.bandwidth names (the trainer's latent kernel).
  config.svgd.bandwidth = "median_log"
  e = exp.make_experiment(config)
  assert sv.latent_step_options(e.config.svgd)[0]["latent_kernel"].bandwidth == "median_log"
  no_anneal = exp.make_experiment(_gmm_config("stein_vae", "bimodal", **{"svgd.bandwidth_anneal_steps": 0}))
  assert no_anneal.bandwidth_schedule() is None


def test_median_bandwidth_matches_numpy():
  # stein_jax.kernels computes the median by bisection on float bits (XLA's CPU sort is slow).
  rng = np.random.default_rng(0)
  for n in (2, 3, 10, 101):
    x = rng.normal(size=(n, 3)).astype(np.float32) * rng.uniform(0.01, 100)
    np.testing.assert_allclose(
      float(kernels.median_sq_distance(jnp.asarray(x))), reference.median_sq_distance(x), rtol=2e-5
    )
  assert math.isnan(float(kernels._median_nonneg(jnp.array([1.0, jnp.nan, 2.0]))))


def _fake_mnist(tmp_path):
  rng = np.random.default_rng(1)
  folder = tmp_path / "data" / "binarized_mnist"
  folder.mkdir(parents=True)
  splits = {
    s: (rng.uniform(size=(n, 784)) < 0.2).astype(np.uint8) for s, n in (("train", 64), ("valid", 8), ("test", 12))
  }
  np.savez(folder / "binarized_mnist_uint8.npz", **splits)
  return str(tmp_path / "data")


@pytest.fixture
def fake_mnist(tmp_path, monkeypatch):
  monkeypatch.setattr(checksums, "KNOWN_CHECKSUMS", {})  # the fake file is not the real one
  return _fake_mnist(tmp_path)


def _mnist_config(method, data_dir, **kw):
  """configs/stein_vae_mnist.py at a test's size; ``kw`` by key path (``**{"eval.subset": "random"}``)."""
  c = stein_vae_mnist.get_config()
  c.data_dir = data_dir
  c.method = method
  c.num_steps = 3
  c.eval_every = 3
  c.checkpoint_every = 3
  c.log_every = 1
  c.batch_size = 8
  c.model.latent_dim = 4
  c.model.hidden = (16, 16)
  c.model.num_coupling_layers = 2
  c.model.coupling_hidden = 8
  c.svgd.num_particles = 6
  c.svgd.k = 3
  c.eval.samples = 20
  c.eval.batch_size = 5
  c.eval.chunk_size = 8
  return config_lib.override(c, kw)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["stein_vae", "stein_viwae", "vae", "iwae"])
def test_mnist_every_method(tmp_path, fake_mnist, method):
  config = _mnist_config(method, fake_mnist, **{"svgd.num_decoder": 2 if method == "stein_vae" else 1})
  workdir = str(tmp_path / "run")
  train_and_evaluate(exp.make_experiment(config), config, workdir)
  recs = read_metrics(workdir)
  nll_elbo = _finite(recs, "test/nll_elbo")
  nll_s = _finite(recs, "test/nll_s_elbo")
  # Positive nats; the S-sample bound is tighter than the ELBO.
  assert 0 < nll_s <= nll_elbo + 1e-3
  assert _finite(recs, "test/seconds_per_image") > 0
  # Early stopping on the validation split: best/* is the test NLL at the lowest valid S-ELBO.
  evals = [r for r in recs if "valid/nll_s_elbo" in r]
  assert evals and all(np.isfinite(r["valid/nll_s_elbo"]) for r in evals)
  best = min(evals, key=lambda r: r["valid/nll_s_elbo"])
  assert evals[-1]["best/step"] == best["step"]
  assert evals[-1]["best/test_nll_s_elbo"] == best["test/nll_s_elbo"]


def test_mnist_validation_off_and_bad_value(fake_mnist):
  assert exp.make_experiment(_mnist_config("vae", fake_mnist, **{"eval.valid_examples": 0})).valid_data is None
  with pytest.raises(ConfigError, match=r"eval\.valid_examples"):
    exp.make_experiment(_mnist_config("vae", fake_mnist, **{"eval.valid_examples": -2}))


def test_early_stopping_record_keeps_the_best_validation_step():
  def ev(step, valid, test):
    return {"step": step, "valid/nll_s_elbo": valid, "test/nll_elbo": test + 5, "test/nll_s_elbo": test}

  records = []
  for step, valid, test in [(10, 100.0, 90.0), (20, 95.0, 88.0), (30, 97.0, 80.0)]:
    cur = ev(step, valid, test)
    cur.update(exp.early_stopping_record(records, step, cur))
    records.append(cur)
  assert records[-1]["best/step"] == 20 and records[-1]["best/test_nll_s_elbo"] == 88.0
  assert records[-1]["best/test_nll_elbo"] == 93.0
  # A new best replaces it; records at or after the current step (a resumed run) are ignored.
  cur = ev(40, 90.0, 85.0)
  assert exp.early_stopping_record(records, 40, cur)["best/step"] == 40
  stale = records + [
    dict(
      ev(50, 1.0, 1.0),
      **{"best/step": 50, "best/valid_nll_s_elbo": 1.0, "best/test_nll_elbo": 6.0, "best/test_nll_s_elbo": 1.0},
    )
  ]
  assert exp.early_stopping_record(stale, 40, cur)["best/step"] == 40


def test_bad_config_values_are_config_errors():
  for kw, needle in [
    ({"method": "bogus"}, "method must be one of"),
    ({"observation": "trimodal"}, "observation must be one of"),
    ({"method": "stein_viwae", "svgd.k": 3}, r"svgd\.k to divide svgd\.num_particles"),
    ({"model.encoder": "resnet"}, r"model\.encoder must be one of"),
    ({"model.encoder_init": "zeros"}, r"model\.encoder_init must be"),
    ({"svgd.bandwidth_anneal_factor": 0.5}, r"svgd\.bandwidth_anneal_factor"),
    ({"svgd.bandwidth": "silverman"}, r"svgd\.bandwidth must be one of"),
    ({"optimizer.lr_decay": "step"}, r"optimizer\.lr_decay must be"),
    ({"optimizer.learning_rate": -1.0}, r"optimizer\.learning_rate must be > 0"),
    ({"svgd.birth_death_rate": -0.5}, r"svgd\.birth_death_rate must be >= 0"),
    ({"method": "vae", "svgd.birth_death_rate": 0.1}, "Stein methods only"),
    ({"method": "stein_viwae", "svgd.latent_k": 3}, r"svgd\.latent_k must be"),
    ({"svgd.repulsion_scale": -1.0}, r"svgd\.repulsion_scale must be"),
    ({"svgd.kernel_normalization": "sum"}, r"svgd\.kernel_normalization must be"),
    ({"svgd.kernel_metric": "full"}, r"svgd\.kernel_metric must be"),
  ]:
    c = config_lib.override(_gmm_config("stein_vae", "bimodal"), kw)
    with pytest.raises(ConfigError, match=needle):
      exp.make_experiment(c)
  c = _gmm_config("stein_vae", "bimodal")
  c.dataset = "cifar"
  with pytest.raises(ConfigError, match="dataset must be"):
    exp.make_experiment(c)


def test_mnist_missing_data_and_bad_images(tmp_path, monkeypatch):
  monkeypatch.setattr(checksums, "KNOWN_CHECKSUMS", {})
  with pytest.raises(FileNotFoundError, match="binarized_mnist"):
    exp.make_experiment(_mnist_config("vae", str(tmp_path / "nowhere")))
  # Images outside [0, 1] for a Bernoulli likelihood.
  folder = tmp_path / "bad" / "binarized_mnist"
  folder.mkdir(parents=True)
  arr = np.full((10, 784), 255, np.uint8)
  np.savez(folder / "binarized_mnist_uint8.npz", train=arr, valid=arr, test=arr)
  with pytest.raises(ValueError, match=r"\[0, 1\]"):
    exp.make_experiment(_mnist_config("vae", str(tmp_path / "bad")))


def test_non_finite_training_is_a_clear_error(tmp_path):
  config = _gmm_config(
    "stein_vae",
    "paper",
    num_steps=6,
    eval_every=6,
    checkpoint_every=6,
    log_every=1,
    **{"optimizer.learning_rate": 1e30, "svgd.bandwidth_anneal_steps": 0},
  )
  with pytest.raises((NonFiniteLossError, NonFiniteBoundError)):
    train_and_evaluate(exp.make_experiment(config), config, str(tmp_path))


def test_latent_k_and_birth_death_reach_the_trainer():
  """Config keys svgd.latent_k (VIWAE) and svgd.birth_death_rate change the training step."""

  def one_step(**kw):
    c = _gmm_config("stein_viwae", "bimodal", **kw)
    e = exp.make_experiment(c)
    state = e.init_state(jax.random.key(0), c)
    new, metrics = jax.jit(e.train_step)(state, e.batch(0))
    return jax.tree_util.tree_leaves(new.inner.params["enc"]), metrics

  base, m_base = one_step()
  for kw, key in [({"svgd.latent_k": 1}, None), ({"svgd.birth_death_rate": 50.0}, "killed_fraction")]:
    leaves, metrics = one_step(**kw)
    assert any(not np.allclose(a, b) for a, b in zip(base, leaves)), kw
    if key:
      assert key in metrics and key not in m_base


def test_random_evaluation_subset_is_fixed_and_spread(fake_mnist):
  five = {"eval.test_examples": 5}
  first = exp.make_experiment(_mnist_config("vae", fake_mnist, **five))
  rand = exp.make_experiment(_mnist_config("vae", fake_mnist, **five, **{"eval.subset": "random"}))
  again = exp.make_experiment(_mnist_config("vae", fake_mnist, **five, **{"eval.subset": "random"}))
  full = exp.make_experiment(_mnist_config("vae", fake_mnist)).test_data.x
  np.testing.assert_array_equal(first.test_data.x, full[:5])
  np.testing.assert_array_equal(rand.test_data.x, again.test_data.x)  # the same images every run
  idx = np.sort(np.random.default_rng(0).permutation(12)[:5])
  np.testing.assert_array_equal(rand.test_data.x, full[idx])
  with pytest.raises(ConfigError, match=r"eval\.subset"):
    exp.make_experiment(_mnist_config("vae", fake_mnist, **{"eval.subset": "middle"}))


@pytest.mark.slow
def test_full_evaluation_and_snr_measurement_of_a_trained_run(tmp_path, fake_mnist):
  from configs import stein_vae_eval as eval_config, viwae_snr as snr_config
  from experiments import stein_vae_eval, viwae_snr

  config = _mnist_config("stein_viwae", fake_mnist, num_steps=4, eval_every=2, checkpoint_every=2)
  run_dir = str(tmp_path / "run")
  train_and_evaluate(exp.make_experiment(config), config, run_dir)
  ec = eval_config.get_config()
  ec.run_dir, ec.data_dir, ec.num_samples, ec.batch_size, ec.chunk_size = run_dir, fake_mnist, 30, 5, 10
  out = stein_vae_eval.run_evaluation(ec, str(tmp_path / "eval"))
  best = min((r for r in read_metrics(run_dir) if "valid/nll_s_elbo" in r), key=lambda r: r["valid/nll_s_elbo"])
  assert out["step"] == best["step"] and out["num_images"] == 12 and out["method"] == "stein_viwae"
  assert 0 < out["nll_s_elbo"] <= out["nll_elbo"] + 1e-3 and out["seconds_per_image"] > 0
  assert os.path.exists(tmp_path / "eval" / f"eval_test_step{out['step']}.json")
  ec.step = "3"
  with pytest.raises(stein_vae_eval.Error, match="no checkpoint at step 3"):
    stein_vae_eval.run_evaluation(ec, str(tmp_path / "eval"))
  sc = snr_config.get_config()
  sc.run_dir, sc.data_dir, sc.batch_size, sc.num_draws, sc.k, sc.latent_ks = (run_dir, fake_mnist, 4, 3, 3, (1, 3))
  res = viwae_snr.run_measurement(sc, str(tmp_path / "snr"))
  assert [(r["update"], r["latent_k"]) for r in res["rows"]] == [("sgd", 1), ("sgd", 3), ("adam", 1), ("adam", 3)]
  assert all(np.isfinite(r["snr_norm"]) and r["snr_norm"] >= 0 for r in res["rows"])
  assert os.path.exists(tmp_path / "snr" / "figures" / "viwae_snr.png")
  sc.latent_ks = (4,)
  with pytest.raises(viwae_snr.Error, match="must divide"):
    viwae_snr.run_measurement(sc, str(tmp_path / "snr"))


CURVES = ("--config=configs/mnist_curves.py",)  # experiments.mnist_curves' config


def test_mnist_curves_figure_and_table(tmp_path):
  from tests import train_testutil as util
  import subprocess, sys

  runs = []
  for name, offset in (("vae", 10.0), ("stein_vae", 0.0)):
    d = tmp_path / name
    d.mkdir()
    with open(d / "metrics.jsonl", "w") as f:
      for step in (2, 4):
        f.write(json.dumps({"step": step, "train/bound": -1.0}) + "\n")
        if name == "vae" or step == 2:  # stein_vae "still running": one evaluation
          f.write(
            json.dumps({"step": step, "test/nll_s_elbo": 100 + offset - step, "test/nll_elbo": 105 + offset - step})
            + "\n"
          )
    runs.append(f"{name}={d}")
  out = tmp_path / "out"
  proc = subprocess.run(
    [sys.executable, "-m", "experiments.mnist_curves", *CURVES, f"--workdir={out}", f"--config.runs={tuple(runs)}"],
    cwd=util.REPO,
    env=util.subprocess_env(),
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert proc.returncode == 0, proc.stderr[-2000:]
  table = (out / "mnist_curves.md").read_text()
  assert "| 2 | 108.00 (113.00) | 98.00 (103.00) |" in table
  assert "| 4 | 106.00 (111.00) | - |" in table
  assert (out / "figures" / "mnist_curves.png").exists()
  bad = subprocess.run(
    [
      sys.executable,
      "-m",
      "experiments.mnist_curves",
      *CURVES,
      f"--workdir={out}",
      f"--config.runs=vae={tmp_path / 'nowhere'}",
    ],
    cwd=util.REPO,
    env=util.subprocess_env(),
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert bad.returncode == 1 and "holds no metrics.jsonl" in bad.stderr


@pytest.mark.slow
def test_a_run_saved_in_the_older_train_state_layout_resumes_exactly(tmp_path):
  """Checkpoints written before the algorithm protocol (a TrainState with params {"enc", "dec"}
  and opt_state (encoder, decoder)) are read in that layout, converted, and continue the run
  exactly as an uninterrupted one."""
  from stein_jax.train import Checkpointer

  full = _gmm_config("stein_vae", "paper", num_steps=4, eval_every=4, checkpoint_every=2, log_every=1)
  train_and_evaluate(exp.make_experiment(full), full, str(tmp_path / "full"))
  half = _gmm_config("stein_vae", "paper", num_steps=2, eval_every=2, checkpoint_every=2, log_every=1)
  resumed = str(tmp_path / "old_layout")
  state = train_and_evaluate(exp.make_experiment(half), half, resumed)
  experiment = exp.make_experiment(full)
  to_legacy, _ = experiment.legacy_state_layout()
  ckpt = Checkpointer(resumed)
  meta = ckpt.restore_latest(jax.eval_shape(lambda: state)).meta
  shutil.rmtree(os.path.join(resumed, "checkpoints"))
  ckpt = Checkpointer(resumed)
  ckpt.save(to_legacy(state), meta)  # the step-2 checkpoint as an older version wrote it
  ckpt.close()
  train_and_evaluate(experiment, full, resumed)
  a = [r for r in read_metrics(str(tmp_path / "full")) if r["step"] > 2]
  b = [r for r in read_metrics(resumed) if r["step"] > 2]
  keys = sorted({k for r in a for k in r if k.startswith("train/")})
  assert keys and [[r.get(k) for k in keys] for r in a] == [[r.get(k) for k in keys] for r in b]


def test_mnist_decoder_particle_sweep_table_and_figure(tmp_path):
  """Fig. 3's form: runs labelled M<count>, NLL and test time against M at one step; a run without an
  evaluation there, or an unlabelled run, is one error line."""
  from tests import train_testutil as util
  import subprocess, sys

  runs = []
  for m, nll in ((1, 150.0), (3, 160.0), (10, 155.0)):
    d = tmp_path / f"m{m}"
    d.mkdir()
    rec = {"step": 2, "test/nll_s_elbo": nll, "test/nll_elbo": nll + 10, "test/seconds_per_image": 0.01 * m}
    (d / "metrics.jsonl").write_text(json.dumps(rec) + "\n")
    runs.append(f"M{m}={d}")

  def run(*args):
    return subprocess.run(
      [sys.executable, "-m", "experiments.mnist_curves", *CURVES, f"--workdir={tmp_path / 'out'}", *args],
      cwd=util.REPO,
      env=util.subprocess_env(),
      capture_output=True,
      text=True,
      timeout=300,
    )

  proc = run(f"--config.runs={tuple(runs)}", "--config.decoder_sweep_step=2")
  assert proc.returncode == 0, proc.stderr[-2000:]
  table = (tmp_path / "out" / "mnist_decoder_particles.md").read_text()
  assert "| 3 | 160.00 | 170.00 | 30.0 |" in table and "| 10 | 155.00 | 165.00 | 100.0 |" in table
  assert (tmp_path / "out" / "figures" / "mnist_decoder_particles.png").exists()
  bad = run(*(f"--config.runs={r}" for r in runs), "--config.decoder_sweep_step=4")
  assert bad.returncode == 1 and "no test evaluation at step 4" in bad.stderr
  bad = run(f"--config.runs=vae={tmp_path / 'm1'}", "--config.decoder_sweep_step=2")
  assert bad.returncode == 1 and "labelled M<count>" in bad.stderr
