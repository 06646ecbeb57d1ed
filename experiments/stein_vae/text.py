"""Sec. 5.2, Table 2: document models with a multinomial (or deep Poisson) decoder."""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from stein_jax import data as data_lib
from stein_jax.evaluation import bounds
from stein_jax.models import deep_poisson
from stein_jax.models import vae as vae_models
from stein_jax.objectives import stein_vae as sv
from experiments.stein_vae import keys
from experiments.stein_vae.base import DatasetExperiment

TEXT_DATASETS = ("20news", "reuters")
ELBO_TERM_SAMPLES = 50
TEXT_MODELS = ("softmax", "deep_poisson")


class TextExperiment(DatasetExperiment):
  """Sec. 5.2, Table 2: document models p(z) p(x | z) with a multinomial decoder.

  z ~ N(0, I_dz), logits = MLP(z) (tanh layers ``config.model.hidden``, V outputs), and
  log p(x | z) = sum_w x_w log softmax(logits)_w (no multinomial coefficient, see
  :func:`stein_jax.objectives.stein_vae.log_likelihood`). Encoders read log(1 + x).
  """

  name = "stein_vae_text"
  default_stein_encoder = "flow"
  resumable_keys = ("eval.samples", "eval.test_examples", "eval.batch_size", "eval.chunk_size")
  legacy_key_names = keys.TEXT_KEY_NAMES
  legacy_defaults = keys.TEXT_LEGACY_DEFAULTS
  record_defaults = keys.TEXT_RECORD_DEFAULTS

  def __init__(self, config):
    super().__init__(config)
    sv.check_data(self.model, jnp.asarray(self.train_data.x))
    sv.check_data(self.model, jnp.asarray(self.test_data.x))
    self.test_x = np.asarray(self.test_data.x, np.float32)
    self.test_lengths = self.test_x.sum(-1)
    # Add-one smoothing: a word absent from the training documents keeps a finite log-prob.
    counts = self.train_data.x.sum(0).astype(np.float64) + 1.0
    self.unigram_log_probs = np.log(counts / counts.sum())

  def load_data(self, config):
    super().load_data(config)
    self.test_data = data_lib.load(config.dataset, "test", config.data_dir, max_examples=config.eval.test_examples)
    v = int(self.train_data.x.shape[1])
    if v != config.vocab_size or self.test_data.x.shape[1] != v:
      raise ValueError(
        f"The '{config.dataset}' data have a vocabulary of {v} words (test: "
        f"{self.test_data.x.shape[1]}) but config.vocab_size is "
        f"{config.vocab_size}; set --config.vocab_size={v} (20news: 1995, "
        "reuters: 2000)."
      )

  def check_specific(self, config):
    problems = []
    model = config.model
    if not (isinstance(model.latent_dim, int) and model.latent_dim >= 1):
      problems.append(f"model.latent_dim must be an int >= 1, got {model.latent_dim!r}")
    if not (isinstance(config.vocab_size, int) and config.vocab_size >= 2):
      problems.append(f"vocab_size must be an int >= 2, got {config.vocab_size!r}")
    if not (isinstance(config.eval.samples, int) and config.eval.samples >= 1):
      problems.append(f"eval.samples must be an int >= 1, got {config.eval.samples!r}")
    if model.encoder == "mlp":
      problems.append(
        "the text experiment needs an encoder with a density for the ELBO "
        "(model.encoder='flow', 'gaussian' or 'auto'), got 'mlp'"
      )
    if model.text_model not in TEXT_MODELS:
      problems.append(f"model.text_model must be one of {TEXT_MODELS}, got {model.text_model!r}")
    elif model.text_model == "deep_poisson":
      layers = tuple(model.def_layers)
      if not (layers and all(isinstance(n, int) and n >= 1 for n in layers)):
        problems.append(f"model.def_layers must be positive ints, got {layers!r}")
      elif model.latent_dim != sum(layers):
        problems.append(
          f"model.text_model='deep_poisson' with def_layers={layers} needs latent_dim="
          f"{sum(layers)} (every layer's log z is a latent), got "
          f"{model.latent_dim}"
        )
      if not model.def_shape > 0:
        problems.append(f"model.def_shape must be > 0, got {model.def_shape!r}")
    return problems

  def build_model(self, config):
    hidden = tuple(config.model.hidden)
    dz = config.model.latent_dim
    if config.model.text_model == "deep_poisson":
      layers = tuple(config.model.def_layers)
      shape = float(config.model.def_shape)
      mean_length = float(self.train_data.x.sum(-1).mean())
      dec = deep_poisson.DeepPoissonDecoder(
        config.vocab_size, layers, shape, log_rate_init=math.log(mean_length / config.vocab_size)
      )
      return sv.LatentModel(
        self._text_encoder(config),
        dec,
        dz,
        config.vocab_size,
        "deep_poisson",
        log_prior=deep_poisson.log_prior_fn(layers, shape),
      )
    dec = vae_models.BernoulliDecoder(config.vocab_size, hidden)  # an MLP giving V logits
    return sv.LatentModel(self._text_encoder(config), dec, dz, config.vocab_size, "multinomial")

  def _text_encoder(self, config):
    hidden = tuple(config.model.hidden)
    dz = config.model.latent_dim
    if self.encoder_kind() == "gaussian":
      enc = vae_models.GaussianEncoder(dz, hidden, input_transform="log1p")
    else:
      enc = vae_models.FlowEncoder(
        dz,
        hidden,
        num_coupling_layers=config.model.num_coupling_layers,
        coupling_hidden=config.model.coupling_hidden,
        input_transform="log1p",
      )
    return enc

  def unigram_perplexity(self):
    """Perplexity of the test documents under the add-one-smoothed training unigram."""
    log_p = self.test_x.astype(np.float64) @ self.unigram_log_probs
    return bounds.perplexity(log_p, self.test_lengths)

  def evaluate(self, state, step, workdir):
    del step, workdir
    cfg = self.config
    res = bounds.evaluate(
      jax.random.key(cfg.seed + 777),
      self.model,
      state.inner.params["enc"],
      state.inner.params["dec"],
      jnp.asarray(self.test_x),
      batch_size=min(cfg.eval.batch_size, self.test_x.shape[0]),
      num_samples=cfg.eval.samples,
      chunk_size=cfg.eval.chunk_size,
      return_per_example=True,
    )
    rec, kl = self.elbo_terms(state.inner.params, jnp.asarray(self.test_x))
    return {
      "test/perplexity_elbo": bounds.perplexity(res["elbo"], self.test_lengths),
      "test/perplexity_s_elbo": bounds.perplexity(res["s_elbo"], self.test_lengths),
      "test/nll_elbo": res["nll_elbo"],
      "test/nll_s_elbo": res["nll_s_elbo"],
      "test/reconstruction": rec,
      "test/kl": kl,
      "test/perplexity_unigram": self.unigram_perplexity(),
      "test/seconds_per_document": res["seconds_per_image"],
    }

  def elbo_terms(self, params, x, num_samples=ELBO_TERM_SAMPLES, batch_size=100):
    """The ELBO's two terms, mean over documents x [D, V] (nats per document).

    reconstruction = E_q log mean_m p(x | z, theta_m) and kl = E_q [log q(z | x) - log p(z)]
    (change-of-variables log q), each by ``num_samples`` encoder samples, so that
    ELBO = reconstruction - kl: it tells a poor decoder from an encoder far from the prior.
    """
    terms = _elbo_terms_fn(self.model, int(num_samples))
    rec, kl = 0.0, 0.0
    key = jax.random.key(self.config.seed + 778)
    for i, start in enumerate(range(0, x.shape[0], batch_size)):
      r, k = terms(jax.random.fold_in(key, i), params, x[start : start + batch_size])
      rec, kl = rec + float(r), kl + float(k)
    bounds.check_finite("ELBO terms", [rec, kl])
    return rec / x.shape[0], kl / x.shape[0]


@functools.lru_cache(maxsize=8)
def _elbo_terms_fn(model, num_samples):
  """Jitted (key, params, x [B, V]) -> (sum_d reconstruction, sum_d KL), one per (model, S)."""

  def terms(key, p, xb):
    xi = jax.random.normal(key, (xb.shape[0], num_samples, model.latent_dim))
    z, log_q = sv.sample_with_log_q(model, p["enc"], xb[:, None, :], xi)
    log_pz = model.log_prior(z)
    if model.likelihood == "deep_poisson":  # the layers below the top belong to the prior
      out = jax.vmap(lambda th: model.decoder.apply(th, z))(p["dec"])
      log_pz = log_pz + jnp.mean(out[..., -1], 0)
    ll = sv.log_joint(model, p["dec"], xb, z, "logmeanexp") - log_pz
    return jnp.sum(jnp.mean(ll, -1)), jnp.sum(jnp.mean(log_q - log_pz, -1))

  return jax.jit(terms)
