"""The Stein VAE family's shared experiment: config checks, the model and trainer (the algorithm), the state."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import optax

from stein_jax.objectives import stein_vae as sv
from stein_jax.train import AlgorithmExperiment, AlgorithmState, ConfigError
from stein_jax.train import config as config_lib
from stein_jax.train.state import train_state_layout

ENCODERS = ("auto", "gaussian", "mlp", "flow")


# The keys a config of this family may leave out, with the value each then takes: one table
# instead of a default at every use (the GMM, MNIST and text configs declare different subsets,
# and a run.json written before a key existed lacks it). Filled into the experiment's copy of
# the config, so they never change a run's fingerprint.
OPTIONAL_KEYS = {
  "encoder": "auto",
  "lr_decay": "constant",
  "latent_k": None,
  "birth_death_rate": 0.0,
  "birth_death_start": 0,
  "bandwidth_anneal_steps": 0,
  "bandwidth_anneal_factor": 1.0,
  "learn_decoder": True,
  "decoder_prior_std": 1.0,
  "num_decoder": 1,
  "bandwidth": "median",
  "mode_samples": None,
  "eval_subset": "first",
  "valid_examples": 0,
  "text_model": "softmax",
  "def_layers": (200, 200, 50),
  "def_shape": 1.0,
}


def complete_config(config):
  """A copy of ``config`` with :data:`OPTIONAL_KEYS` filled in where missing."""
  return config_lib.with_defaults(config, OPTIONAL_KEYS)


class SteinVAEExperiment(AlgorithmExperiment):
  """Shared part: model, trainer (the algorithm), config checks.

  The state is an :class:`AlgorithmState` whose ``inner`` is the trainer's
  :class:`stein_jax.objectives.stein_vae.SteinVAEState` (decoder leaves stacked
  [M, ...]); ``state.inner.params`` is ``{"enc", "dec"}``.
  """

  name = "stein_vae"
  # ``kernel`` was added after the runs in docs/results existed; "rbf" reproduces them.
  legacy_defaults = {"kernel": "rbf"}

  def __init__(self, config):
    config = complete_config(config)
    super().__init__(config)
    self._check_config(config)
    self.model = self.build_model(config)
    self.trainer = self.algorithm = self._make_trainer()

  # -------------------------------------------------------------- configuration

  def _check_config(self, config):
    problems = []
    if config.method not in sv.METHODS:
      problems.append(f"method must be one of {sv.METHODS}, got {config.method!r}")
    if not (isinstance(config.num_particles, int) and config.num_particles >= 1):
      problems.append(f"num_particles must be an int >= 1, got {config.num_particles!r}")
    k = config.k
    if not (isinstance(k, int) and k >= 1):
      problems.append(f"k must be an int >= 1, got {k!r}")
    elif config.method == "stein_viwae" and config.num_particles % k:
      problems.append(
        f"stein_viwae needs k to divide num_particles; got k={k}, " f"num_particles={config.num_particles}"
      )
    if config.encoder not in ENCODERS:
      problems.append(f"encoder must be one of {ENCODERS}, got {config.encoder!r}")
    if not config.batch_size >= 1:
      problems.append(f"batch_size must be >= 1, got {config.batch_size!r}")
    if not config.learning_rate > 0:
      problems.append(f"learning_rate must be > 0, got {config.learning_rate!r}")
    if config.lr_decay not in ("constant", "cosine"):
      problems.append(f"lr_decay must be 'constant' or 'cosine', got {config.lr_decay!r}")
    problems += sv.latent_step_options(config)[1]
    latent_k = config.latent_k
    if latent_k is not None and not (
      isinstance(latent_k, int) and latent_k >= 1 and config.num_particles % latent_k == 0
    ):
      problems.append(f"latent_k must be an int >= 1 dividing num_particles, got {latent_k!r}")
    if not config.birth_death_rate >= 0:
      problems.append(f"birth_death_rate must be >= 0, got {config.birth_death_rate!r}")
    if config.birth_death_rate > 0 and config.method not in ("stein_vae", "stein_viwae"):
      problems.append("birth_death_rate applies to the Stein methods only (method=" f"{config.method!r})")
    if config.bandwidth_anneal_steps < 0:
      problems.append("bandwidth_anneal_steps must be >= 0")
    if config.bandwidth_anneal_factor < 1.0:
      problems.append("bandwidth_anneal_factor must be >= 1 (a kernel at least as wide " "as the median rule)")
    problems += self.check_specific(config)
    if problems:
      raise ConfigError("invalid config: " + "; ".join(problems) + ".")

  def check_specific(self, config) -> list:
    del config
    return []

  def build_model(self, config) -> sv.LatentModel:
    raise NotImplementedError

  def encoder_kind(self) -> str:
    kind = self.config.encoder
    if kind == "auto":
      return "gaussian" if self.config.method in ("vae", "iwae") else self.default_stein_encoder
    return kind

  @property
  def num_data(self) -> int:
    raise NotImplementedError

  def _make_trainer(self):
    cfg = self.config
    tx = optax.adam(self.learning_rate_schedule())
    dec_tx = tx if cfg.learn_decoder else optax.set_to_zero()
    kwargs = {}
    if cfg.method in ("stein_vae", "stein_viwae"):
      kwargs = dict(
        decoder_optimizer=dec_tx,
        step_size=cfg.step_size,
        encoder_steps=cfg.encoder_steps,
        num_data=self.num_data,
        decoder_prior_std=cfg.decoder_prior_std,
        latent_bandwidth_schedule=self.bandwidth_schedule(),
        birth_death_rate=float(cfg.birth_death_rate),
        birth_death_start=int(cfg.birth_death_start),
      )
      kwargs.update(sv.latent_step_options(cfg)[0])
      if cfg.method == "stein_viwae" and cfg.latent_k is not None:
        kwargs["latent_group_size"] = int(cfg.latent_k)
    elif not cfg.learn_decoder:
      # VAE/IWAE update both with one optimizer: freeze the decoder's part.
      tx = optax.multi_transform(
        {"enc": tx, "dec": optax.set_to_zero()},
        lambda p: (jax.tree_util.tree_map(lambda _: "enc", p[0]), jax.tree_util.tree_map(lambda _: "dec", p[1])),
      )
    return sv.make_trainer(
      cfg.method, self.model, tx, num_particles=cfg.num_particles, k=cfg.k, num_decoder=cfg.num_decoder, **kwargs
    )

  def learning_rate_schedule(self):
    """Adam's learning rate: ``config.learning_rate``, constant or (``lr_decay="cosine"``)
    cosine-decayed to 0 over ``num_steps`` (a decayed rate freezes the encoder's final state
    instead of leaving it jittering with the last minibatches)."""
    cfg = self.config
    if cfg.lr_decay == "cosine":
      return optax.cosine_decay_schedule(cfg.learning_rate, max(int(cfg.num_steps), 1))
    return cfg.learning_rate

  @property
  def bandwidth_rule(self) -> str:
    """``config.bandwidth``: "median" (h = med^2, default) or "median_log" (h = med^2 / log n)."""
    return self.config.bandwidth

  def bandwidth_schedule(self):
    """``step -> factor`` of the latent kernel's bandwidth, or None (no annealing).

    factor = F^(1 - step / T) for step < T (F = ``bandwidth_anneal_factor``, T =
    ``bandwidth_anneal_steps``), then 1: a kernel that starts nearly constant over the
    particle cloud (SVGD then matches the cloud's low moments to the posterior's) and
    shrinks geometrically to the median rule.
    """
    steps = self.config.bandwidth_anneal_steps
    factor0 = float(self.config.bandwidth_anneal_factor)
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


# ------------------------------------------------------------------------ GMM
