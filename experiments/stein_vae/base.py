"""The Stein VAE family's shared experiment: config checks, the model and trainer (the algorithm), the state."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax

from stein_jax import data as data_lib
from stein_jax.data.checksums import array_fingerprint
from stein_jax.objectives import stein_vae as sv
from stein_jax.train import AlgorithmExperiment, AlgorithmState, ConfigError
from stein_jax.train.state import train_state_layout

from experiments.stein_vae import keys

ENCODERS = ("auto", "gaussian", "mlp", "flow")


class SteinVAEExperiment(AlgorithmExperiment):
  """Shared part: model, trainer (the algorithm), config checks.

  The state is an :class:`AlgorithmState` whose ``inner`` is the trainer's
  :class:`stein_jax.objectives.stein_vae.SteinVAEState` (decoder leaves stacked
  [M, ...]); ``state.inner.params`` is ``{"enc", "dec"}``.
  """

  name = "stein_vae"
  # Where the keys were before the nesting, and the keys added since (experiments.stein_vae.keys).
  legacy_defaults = keys.SHARED_LEGACY_DEFAULTS
  legacy_key_names = keys.SHARED_KEY_NAMES

  def __init__(self, config):
    super().__init__(config)  # refuses a config that lacks a key or sets a moved one by its flat name
    self._check_config(config)
    self.load_data(config)
    self.model = self.build_model(config)
    self.trainer = self.algorithm = self._make_trainer()

  def load_data(self, config) -> None:
    """Reads or makes the data (after the config's checks, before the model is built)."""
    del config

  # -------------------------------------------------------------- configuration

  def _check_config(self, config):
    problems = []
    svgd, opt = config.svgd, config.optimizer
    if config.method not in sv.METHODS:
      problems.append(f"method must be one of {sv.METHODS}, got {config.method!r}")
    if not (isinstance(svgd.num_particles, int) and svgd.num_particles >= 1):
      problems.append(f"svgd.num_particles must be an int >= 1, got {svgd.num_particles!r}")
    k = svgd.k
    if not (isinstance(k, int) and k >= 1):
      problems.append(f"svgd.k must be an int >= 1, got {k!r}")
    elif config.method == "stein_viwae" and svgd.num_particles % k:
      problems.append(
        f"stein_viwae needs svgd.k to divide svgd.num_particles; got k={k}, num_particles={svgd.num_particles}"
      )
    if config.model.encoder not in ENCODERS:
      problems.append(f"model.encoder must be one of {ENCODERS}, got {config.model.encoder!r}")
    if not config.batch_size >= 1:
      problems.append(f"batch_size must be >= 1, got {config.batch_size!r}")
    if not opt.learning_rate > 0:
      problems.append(f"optimizer.learning_rate must be > 0, got {opt.learning_rate!r}")
    if opt.lr_decay not in ("constant", "cosine"):
      problems.append(f"optimizer.lr_decay must be 'constant' or 'cosine', got {opt.lr_decay!r}")
    problems += sv.latent_step_options(svgd, "svgd.")[1]
    latent_k = svgd.latent_k
    if latent_k is not None and not (
      isinstance(latent_k, int) and latent_k >= 1 and svgd.num_particles % latent_k == 0
    ):
      problems.append(f"svgd.latent_k must be an int >= 1 dividing svgd.num_particles, got {latent_k!r}")
    if not svgd.birth_death_rate >= 0:
      problems.append(f"svgd.birth_death_rate must be >= 0, got {svgd.birth_death_rate!r}")
    if svgd.birth_death_rate > 0 and config.method not in ("stein_vae", "stein_viwae"):
      problems.append(f"svgd.birth_death_rate applies to the Stein methods only (method={config.method!r})")
    if svgd.bandwidth_anneal_steps < 0:
      problems.append("svgd.bandwidth_anneal_steps must be >= 0")
    if svgd.bandwidth_anneal_factor < 1.0:
      problems.append("svgd.bandwidth_anneal_factor must be >= 1 (a kernel at least as wide as the median rule)")
    problems += self.check_specific(config)
    if problems:
      raise ConfigError("invalid config: " + "; ".join(problems) + ".")

  def check_specific(self, config) -> list:
    del config
    return []

  def build_model(self, config) -> sv.LatentModel:
    raise NotImplementedError

  def encoder_kind(self) -> str:
    kind = self.config.model.encoder
    if kind == "auto":
      return "gaussian" if self.config.method in ("vae", "iwae") else self.default_stein_encoder
    return kind

  @property
  def num_data(self) -> int:
    raise NotImplementedError

  def _make_trainer(self):
    cfg, svgd = self.config, self.config.svgd
    tx = optax.adam(self.learning_rate_schedule())
    dec_tx = tx if cfg.model.learn_decoder else optax.set_to_zero()
    kwargs = {}
    if cfg.method in ("stein_vae", "stein_viwae"):
      kwargs = dict(
        decoder_optimizer=dec_tx,
        step_size=svgd.step_size,
        encoder_steps=svgd.encoder_steps,
        num_data=self.num_data,
        decoder_prior_std=cfg.model.decoder_prior_std,
        latent_bandwidth_schedule=self.bandwidth_schedule(),
        birth_death_rate=float(svgd.birth_death_rate),
        birth_death_start=int(svgd.birth_death_start),
      )
      kwargs.update(sv.latent_step_options(svgd)[0])
      if cfg.method == "stein_viwae" and svgd.latent_k is not None:
        kwargs["latent_group_size"] = int(svgd.latent_k)
    elif not cfg.model.learn_decoder:
      # VAE/IWAE update both with one optimizer: freeze the decoder's part.
      tx = optax.multi_transform(
        {"enc": tx, "dec": optax.set_to_zero()},
        lambda p: (jax.tree_util.tree_map(lambda _: "enc", p[0]), jax.tree_util.tree_map(lambda _: "dec", p[1])),
      )
    return sv.make_trainer(
      cfg.method, self.model, tx, num_particles=svgd.num_particles, k=svgd.k, num_decoder=svgd.num_decoder, **kwargs
    )

  def learning_rate_schedule(self):
    """Adam's learning rate: ``optimizer.learning_rate``, constant or (``optimizer.lr_decay="cosine"``)
    cosine-decayed to 0 over ``num_steps`` (a decayed rate freezes the encoder's final state
    instead of leaving it jittering with the last minibatches)."""
    opt = self.config.optimizer
    if opt.lr_decay == "cosine":
      return optax.cosine_decay_schedule(opt.learning_rate, max(int(self.config.num_steps), 1))
    return opt.learning_rate

  @property
  def bandwidth_rule(self) -> str:
    """``svgd.bandwidth``: "median" (h = med^2) or "median_log" (h = med^2 / log n)."""
    return self.config.svgd.bandwidth

  def bandwidth_schedule(self):
    """``step -> factor`` of the latent kernel's bandwidth, or None (no annealing).

    factor = F^(1 - step / T) for step < T (F = ``bandwidth_anneal_factor``, T =
    ``bandwidth_anneal_steps``, both in ``config.svgd``), then 1: a kernel that starts nearly
    constant over the particle cloud (SVGD then matches the cloud's low moments to the
    posterior's) and shrinks geometrically to the median rule.
    """
    steps = self.config.svgd.bandwidth_anneal_steps
    factor0 = float(self.config.svgd.bandwidth_anneal_factor)
    if steps <= 0 or factor0 == 1.0:
      return None

    def schedule(step):
      frac = jnp.clip(1.0 - step.astype(jnp.float32) / steps, 0.0, 1.0)
      return jnp.exp(frac * math.log(factor0))

    return schedule

  # ------------------------------------------------------------------ the state

  def adjust_init(self, enc_params, dec_params):
    return enc_params, dec_params

  def init_state(self, rng, config):
    s = self.trainer.init(rng)
    enc, dec = self.adjust_init(s.enc_params, s.dec_params)
    s = s._replace(enc_params=enc, dec_params=dec)  # Adam's zero moments do not change
    return AlgorithmState.create(s, rng)

  def legacy_state_layout(self):  # runs saved as a TrainState before the algorithm protocol
    return train_state_layout(sv.split_state, sv.join_state)

  def encoder_samples(self, params, x, num, seed=1234):
    """num encoder samples for each x [T, dx]: [T, num, dz] (xi independent per x)."""
    xi = jax.random.normal(jax.random.key(seed), (x.shape[0], num, self.model.latent_dim))
    return sv.encode(self.model, params["enc"], x[:, None, :], xi)


class DatasetExperiment(SteinVAEExperiment):
  """A Stein VAE experiment on a data set read from files (MNIST, text): its training split, batches and checksum."""

  def load_data(self, config):
    self.train_data = data_lib.load(config.dataset, "train", config.data_dir, max_examples=config.max_train_examples)
    self.batcher = data_lib.Batcher(self.train_data, config.batch_size, config.seed)

  @property
  def num_data(self):
    return self.train_data.num_examples

  def data_fingerprint(self):
    return array_fingerprint(self.train_data.x)

  def batch(self, step):
    return {"x": self.batcher.batch(step)["x"].astype(np.float32)}
