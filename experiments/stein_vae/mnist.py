"""Sec. 5.2: binarized MNIST density estimation (Table 1, Fig. 3), with validation-based early stopping."""

from __future__ import annotations


import jax
import jax.numpy as jnp
import numpy as np

from stein_jax import data as data_lib
from stein_jax.evaluation import bounds
from stein_jax.models import vae as vae_models
from stein_jax.objectives import stein_vae as sv
from stein_jax.train import read_metrics
from experiments.stein_vae import keys
from experiments.stein_vae.base import DatasetExperiment


class MNISTExperiment(DatasetExperiment):
  """Sec. 5.2: binarized MNIST density estimation (Table 1, Fig. 3)."""

  name = "stein_vae_mnist"
  default_stein_encoder = "flow"
  resumable_keys = ("eval",)  # every evaluation key: test and valid subsets, samples, batch and chunk sizes
  legacy_key_names = keys.MNIST_KEY_NAMES
  legacy_defaults = keys.MNIST_LEGACY_DEFAULTS
  record_defaults = keys.MNIST_RECORD_DEFAULTS

  def __init__(self, config):
    super().__init__(config)
    sv.check_data(self.model, jnp.asarray(self.batcher.batch(0)["x"]))
    sv.check_data(self.model, jnp.asarray(self.test_data.x))
    if self.valid_data is not None:
      sv.check_data(self.model, jnp.asarray(self.valid_data.x))

  def load_data(self, config):
    super().load_data(config)
    ev = config.eval
    self.test_data = evaluation_subset(
      data_lib.load(config.dataset, "test", config.data_dir), ev.test_examples, ev.subset
    )
    self.valid_data = None
    if ev.valid_examples is None or ev.valid_examples > 0:
      self.valid_data = evaluation_subset(
        data_lib.load(config.dataset, "valid", config.data_dir), ev.valid_examples, ev.subset
      )

  def check_specific(self, config):
    problems = []
    if not config.model.latent_dim >= 1:
      problems.append(f"model.latent_dim must be >= 1, got {config.model.latent_dim!r}")
    valid = config.eval.valid_examples
    if valid is not None and not (isinstance(valid, int) and valid >= 0):
      problems.append(f"eval.valid_examples must be None (all), 0 (no validation) or a positive int, got {valid!r}")
    if config.eval.subset not in EVAL_SUBSETS:
      problems.append(f"eval.subset must be one of {EVAL_SUBSETS}, got {config.eval.subset!r}")
    return problems

  def build_model(self, config):
    hidden = tuple(config.model.hidden)
    dz = config.model.latent_dim
    kind = self.encoder_kind()
    if kind == "gaussian":
      enc = vae_models.GaussianEncoder(dz, hidden)
    elif kind == "flow":
      enc = vae_models.FlowEncoder(
        dz, hidden, num_coupling_layers=config.model.num_coupling_layers, coupling_hidden=config.model.coupling_hidden
      )
    else:
      enc = vae_models.MLPNoiseEncoder(dz, hidden)
    dx = int(np.prod(self.train_data.x.shape[1:]))
    dec = vae_models.BernoulliDecoder(dx, hidden)
    return sv.LatentModel(enc, dec, dz, dx, "bernoulli")

  def _bounds(self, state, data):
    ev = self.config.eval
    return bounds.evaluate(
      jax.random.key(self.config.seed + 777),
      self.model,
      state.inner.params["enc"],
      state.inner.params["dec"],
      jnp.asarray(data.x, jnp.float32),
      batch_size=min(ev.batch_size, data.num_examples),
      num_samples=ev.samples,
      chunk_size=ev.chunk_size,
    )

  def evaluate(self, state, step, workdir):
    res = self._bounds(state, self.test_data)
    out = {
      "test/nll_elbo": res["nll_elbo"],
      "test/nll_s_elbo": res["nll_s_elbo"],
      "test/seconds_per_image": res["seconds_per_image"],
    }
    if self.valid_data is None:
      return out
    val = self._bounds(state, self.valid_data)
    out["valid/nll_elbo"], out["valid/nll_s_elbo"] = val["nll_elbo"], val["nll_s_elbo"]
    out.update(early_stopping_record(read_metrics(workdir), int(step), out))
    return out


EVAL_SUBSETS = ("first", "random")


def evaluation_subset(data, num, subset="first"):
  """``num`` images of a split for evaluation (None or >= its size: all of them).

  "first": the first ``num`` (the source's order; MNIST's first 1,000 test images are denser
  than the whole test set: 17.0 % of pixels on against 13.3 %). "random": a fixed uniform
  sample without replacement (numpy seed 0, sorted), the same images for every run and method,
  representative of the split.
  """
  n = data.x.shape[0]
  if num is None or num >= n:
    return data
  if subset == "first":
    idx = np.arange(num)
  else:
    idx = np.sort(np.random.default_rng(0).permutation(n)[:num])
  return data._replace(x=data.x[idx], y=None if data.y is None else data.y[idx])


def early_stopping_record(records, step, current):
  """Model selection on the validation set (the paper's early stopping, sec. 5).

  ``records``: earlier metric records of the run (metrics.jsonl, truncated to the restored
  checkpoint on resume, so this survives restarts); ``current``: this evaluation's metrics.
  Returns ``best/*``: the step with the lowest ``valid/nll_s_elbo`` so far and the test
  NLLs at that step, i.e. what training stopped at the best validation score would report.
  """
  best = {
    "best/step": float(step),
    "best/valid_nll_s_elbo": current["valid/nll_s_elbo"],
    "best/test_nll_elbo": current["test/nll_elbo"],
    "best/test_nll_s_elbo": current["test/nll_s_elbo"],
  }
  for rec in records:
    if rec.get("step", -1) >= step or "best/valid_nll_s_elbo" not in rec:
      continue
    if rec["best/valid_nll_s_elbo"] < best["best/valid_nll_s_elbo"]:
      best = {k: rec[k] for k in best}
  return best
