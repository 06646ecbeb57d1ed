"""SteinGAN with an autoencoder energy on images (Liu & Wang 2017, sec. 5.2) as one :class:`Algorithm`.

The step of :func:`stein_jax.objectives.steingan.update` with what the image experiments put around it: the
discount rule (the paper's switch on the energies before the step, or the authors' switch on the reconstruction
errors after it, carried to the next step), the batch-normalisation statistics (the energy's loss normalises each
batch by its own; the generator's direction uses the generated batch's statistics frozen, or, as the authors' graph,
through them) and input dropout (one draw per batch, in the energy's loss only). These are per-step closures over
the current energy parameters, which is why they live here and not in the experiment.

Key streams of a step's key ``rng``: ``fold_in(rng, 0)`` the generator's noise, ``fold_in(rng, 1)`` the update's
own draws, ``fold_in(rng, 2)`` the dropout masks (``fold_in`` again by 0 for the real batch, 1 for the generated).
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import flax
import jax
import jax.numpy as jnp
import optax

from stein_jax import algorithm as algorithm_lib
from stein_jax.models import autoencoder_energy as ae
from stein_jax.models import dcgan
from stein_jax.objectives import steingan

Array = jax.Array
PyTree = Any

DISCOUNT_RULES = ("paper", "authors_code")
DIRECTIONS = ("paper", "row_sum", "nearest_neighbor")
DIRECTION_NORM_STATS = ("frozen", "batch")


class ImageSteinGANState(flax.struct.PyTreeNode):
  """Energy and generator parameters, their optimiser states, and the discount the next step uses.

  Attributes:
    energy, generator, energy_opt, generator_opt: as :class:`stein_jax.objectives.steingan.SteinGANState`.
    discount: the authors' rule decides gamma after a step for the next one (a float32 scalar); ``None`` under the
      paper's rule, which decides it within the step.
  """

  energy: PyTree
  generator: PyTree
  energy_opt: PyTree
  generator_opt: PyTree
  discount: Optional[Array] = None

  @property
  def params(self) -> dict:
    """``{"energy": theta, "generator": eta}``."""
    return {"energy": self.energy, "generator": self.generator}


def make_trainer(
  energy: ae.AutoencoderEnergy,
  generator: dcgan.DCGANGenerator,
  energy_tx: optax.GradientTransformation,
  generator_tx: optax.GradientTransformation,
  *,
  noise_dim: int,
  bandwidth: Callable,
  discount: float = 0.7,
  discount_boosted: float = 0.9,
  discount_rule: str = "paper",
  direction: str = "paper",
  direction_norm_stats: str = "frozen",
  use_kernel: bool = True,
  step_size: float = 1.0,
) -> algorithm_lib.Algorithm:
  """The image SteinGAN as ``init(rng, batch_size) -> state`` and ``step(rng, state, batch) -> (state, metrics)``.

  Args:
    energy: the autoencoder energy module (its ``num_classes > 0``: the joint model eq. (25), which reads
      ``batch["y"]``; the generator then gets the same labels).
    generator: the DCGAN generator module (same ``num_classes``).
    energy_tx, generator_tx: their optimisers.
    noise_dim: the generator's input, ``xi ~ Uniform([-1, 1]^noise_dim)``.
    bandwidth: the code kernel's bandwidth rule (``ae.default_code_bandwidth(...)`` or ``ae.authors_code_bandwidth``).
    discount, discount_boosted: gamma and its raised value (sec. 5.2).
    discount_rule: "paper" (:func:`~stein_jax.objectives.steingan.adaptive_discount` of this step's energies before
      the update) or "authors_code" (:func:`~stein_jax.objectives.steingan.authors_discount` of the reconstruction
      errors after it, for the next step).
    direction: "paper" (eq. (5)), "row_sum" (the authors' row-normalised kernel) or "nearest_neighbor".
    direction_norm_stats: "frozen" (the generated batch's batch-norm statistics held fixed in the direction, so
      ``f`` and ``E`` are per-image functions) or "batch" (the authors' graph: through the batch's statistics).
    use_kernel: False is the paper's "w/o kernel" ablation.
    step_size: the SVGD step on the generated images.

  Returns:
    The :class:`~stein_jax.algorithm.Algorithm`. ``batch = {"x": uint8 images [m, s, s, C]}`` (plus ``"y"`` int
    labels [m] for the joint model); metrics include ``loss`` (NaN when the step was not finite, so the platform
    stops), ``discount`` and, under the authors' rule, ``reconstruction_pos`` / ``reconstruction_neg``.

  Raises:
    ValueError: an unknown rule, direction or statistics mode.
  """
  for name, value, allowed in (
    ("discount_rule", discount_rule, DISCOUNT_RULES),
    ("direction", direction, DIRECTIONS),
    ("direction_norm_stats", direction_norm_stats, DIRECTION_NORM_STATS),
  ):
    if value not in allowed:
      raise ValueError(f"{name} must be one of {allowed}; got {value!r}.")
  labelled = energy.num_classes > 0

  def init(rng: Array, batch_size: int) -> ImageSteinGANState:
    x = jnp.zeros((batch_size,) + tuple(energy.image_shape), jnp.float32)
    y = jnp.zeros((batch_size,), jnp.int32) if labelled else None
    theta = energy.init(jax.random.fold_in(rng, 1), x, y)
    eta = generator.init(jax.random.fold_in(rng, 2), jnp.zeros((batch_size, noise_dim)), y)
    # The authors' initial balance_weight 0.3 is gamma = 0.7.
    gamma = None if discount_rule == "paper" else jnp.asarray(discount, jnp.float32)
    return ImageSteinGANState(theta, eta, energy_tx.init(theta), generator_tx.init(eta), gamma)

  def step(rng: Array, state: ImageSteinGANState, batch) -> tuple[ImageSteinGANState, dict]:
    x = batch["x"].astype(jnp.float32) / 127.5 - 1.0
    y = batch.get("y") if labelled else None
    xi = dcgan.uniform_noise(jax.random.fold_in(rng, 0), x.shape[0], noise_dim)
    energy_apply = lambda p, images: energy.apply(p, images, y)
    generator_apply = lambda p, noise: generator.apply(p, noise, y)
    theta = state.energy
    generated = jax.lax.stop_gradient(generator_apply(state.generator, xi))  # as inside update (XLA CSE)
    # Generator direction: no dropout, and the generated batch's batch-norm statistics frozen (none without batch
    # norm), so that f and E are per-image functions for the SVGD score and the code kernel's Jacobians.
    stats = ae.capture_norm_stats(energy, theta, generated)
    frozen = lambda p: ae.freeze_norm_stats(p, stats)
    direction_apply = lambda p, images: energy.apply(frozen(p), images, y)
    features = lambda images, p: energy.apply(frozen(p), images, method=ae.AutoencoderEnergy.encode)
    if direction_norm_stats == "batch":
      # The authors' Theano graph: the score is the gradient of sum_i f(x_i) with the batch's own statistics,
      # through them; the neighbour's code is taken in the batch x[nn] (its own statistics). The full code kernel
      # ("paper", "row_sum") keeps the frozen code: its per-particle Jacobian needs a per-image function.
      direction_apply = energy_apply
      if direction == "nearest_neighbor":
        features = lambda images, p: energy.apply(p, images, method=ae.AutoencoderEnergy.encode)
    # Energy loss: each batch (0 real, 1 generated) with its own statistics and its own dropout draw.
    dropout_key = jax.random.fold_in(rng, 2)
    loss_apply = lambda p, images, which: energy.apply(
      p, images, y, train=True, rngs={"dropout": jax.random.fold_in(dropout_key, which)}
    )
    if discount_rule == "paper":
      # Stabilisation switch (sec. 5.2 text), from the energies before this step's update.
      energy_pos = -jnp.mean(energy_apply(theta, x))
      energy_neg = -jnp.mean(energy_apply(theta, generated))
      gamma = steingan.adaptive_discount(energy_pos, energy_neg, discount, discount_boosted)
    else:
      gamma = state.discount
    gamma = jax.lax.stop_gradient(gamma)
    pair = steingan.SteinGANState(theta, state.generator, state.energy_opt, state.generator_opt)
    new, metrics = steingan.update(
      jax.random.fold_in(rng, 1),
      pair,
      x,
      xi,
      energy_apply=energy_apply,
      generator_apply=generator_apply,
      energy_tx=energy_tx,
      generator_tx=generator_tx,
      discount=gamma,
      use_kernel=use_kernel,
      step_size=step_size,
      bandwidth=bandwidth,
      features=features,
      kernel_normalization="row_sum" if direction == "row_sum" else "mean",
      direction="nearest_neighbor" if direction == "nearest_neighbor" else "svgd",
      direction_energy_apply=direction_apply,
      energy_loss_apply=loss_apply,
    )
    next_discount = state.discount
    if discount_rule == "authors_code":
      # Their switch: reconstruction errors (no label term) of this step's real and generated batches under the
      # updated energy, each batch with its own statistics; it sets the next step's gamma.
      rec = lambda images: jnp.mean(
        ae.reconstruction_distance(images, energy.apply(new.energy, images, method=ae.AutoencoderEnergy.reconstruct))
      )
      rec_pos, rec_neg = rec(x), rec(generated)
      next_discount = steingan.authors_discount(rec_pos, rec_neg, discount, discount_boosted)
      metrics.update(reconstruction_pos=rec_pos, reconstruction_neg=rec_neg)
    finite = metrics.pop("finite")
    metrics = {k: v for k, v in metrics.items() if k not in ("generator_fit_loss", "cd_fraction")}
    metrics["loss"] = jnp.where(finite, metrics["loss"], jnp.nan)
    metrics["discount"] = gamma
    new_state = ImageSteinGANState(new.energy, new.generator, new.energy_opt, new.generator_opt, next_discount)
    return new_state, metrics

  return algorithm_lib.Algorithm(init, step)
