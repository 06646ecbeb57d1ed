r"""SteinGAN with deep autoencoder energies on images: Liu & Wang 2017, sec. 5.2 (CIFAR-10, CelebA, LSUN).

    python -m experiments.steingan_images --config=configs/steingan_cifar10.py --workdir=DIR
    python -m experiments.steingan_images --config=configs/steingan_celeba.py --workdir=DIR   # TFDS online
    python -m experiments.steingan_images --config=configs/steingan_lsun.py --workdir=DIR     # TFDS online

Algorithm 2 with the stabilisation of sec. 5.2, one jitted step (``stein_jax.objectives.steingan.update``):

1. a minibatch ``x+`` (and its labels ``y`` where the data set has them and ``config.joint_model``);
2. ``x- = G(xi, y)``, ``xi ~ Uniform([-1, 1]^100)``; the generator's labels are those of the real minibatch, a draw
   from the empirical label frequencies (and positives and negatives then share ``f(., y)``);
3. the generator moves along the SVGD direction toward ``p(x | theta)`` (eq. (21)), kernel on the code ``E(x)`` with
   ``h = 0.5 med / log m`` (``config.use_kernel=False``: the paper's "w/o kernel" ablation);
4. the energy (eq. (24), or the joint eq. (25)) takes the discounted contrastive step with ``gamma = 0.7``, raised to
   ``0.9`` when the real batch's energy exceeds the generated batch's (:func:`stein_jax.objectives.steingan.adaptive_discount`).

The authors' public code differs from the paper's text in several places; each is an option (docs/steingan_images.md
sec. 5): ``discount_rule``, ``bandwidth_rule``, ``direction`` ("paper" eq. (5), "row_sum", "nearest_neighbor"),
``input_dropout``, ``energy_batch_norm``, ``label_every_layer``, ``weight_decay``. With batch normalisation in the
energy, the energy's loss normalises the real and the generated batch each by its own statistics (with input
dropout, one draw per batch), while the generator direction (score, code, kernel) uses the energy without dropout
and with the generated batch's statistics frozen, so that ``f`` and ``E`` are per-image functions there
(``direction_norm_stats="frozen"``), or, as the authors' graph, differentiates the batch's energy through its own
statistics (``"batch"``).

Evaluations log the mean energies of real test images and of generated ones, the classifier score of generated
images (a CNN trained on the data set's training split; the paper's ImageNet Inception network cannot be downloaded
here), and for the joint model the accuracy of the score classifier on the generated images w.r.t. the labels they
were generated with. ``finalize`` writes ``figures/samples.png`` (a class-conditional grid: Fig. 2 upper),
``figures/energies.png``, and ``final.json`` with the train-on-generated test accuracy next to the paper's two
baselines (the real training set, 500 real images duplicated 100 times), all at one classifier budget.
"""

from __future__ import annotations

import functools
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax

from stein_jax import data as data_lib
from stein_jax.evaluation import sample_quality
from stein_jax.models import autoencoder_energy as ae
from stein_jax.models import dcgan
from stein_jax.objectives import steingan
from stein_jax.train import ConfigError, Experiment, TrainState, read_metrics, run_main, save_figure
from stein_jax.train.figures import new_figure

DATASETS = ("cifar10", "celeb_a", "lsun", "synthetic")
DISCOUNT_RULES = ("paper", "authors_code")
BANDWIDTH_RULES = ("paper", "authors_code")
DIRECTIONS = ("paper", "row_sum", "nearest_neighbor")
DIRECTION_NORM_STATS = ("frozen", "batch")
SYNTHETIC_DATA_SEED = 1234  # the synthetic data set does not change with config.seed
SYNTHETIC_TRAIN, SYNTHETIC_TEST = 2000, 500


# ------------------------------------------------------------------------------------------------ stabilisation


# ------------------------------------------------------------------------------------------------ data


def synthetic_images(num: int, image_size: int, num_classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
  """A labelled toy image set: class c is a square of colour ``palette[c]`` in quadrant ``c % 4`` on dark noise.

  Returns:
    ``(uint8 [num, s, s, 3], int32 [num])``, deterministic in ``seed``; the classes are separable by construction.
  """
  if not 1 <= num_classes <= 8:
    raise ConfigError(f"synthetic data have 1 to 8 classes; got config.num_classes={num_classes}.")
  rng = np.random.default_rng(seed)
  palette = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, 0, 1], [0, 1, 1], [1, 1, 1], [1, 0.5, 0]])
  y = rng.integers(0, num_classes, num).astype(np.int32)
  x = 0.15 * rng.random((num, image_size, image_size, 3))
  half = image_size // 2
  for i, c in enumerate(y):
    r, q = divmod(int(c) % 4, 2)
    x[i, r * half : (r + 1) * half, q * half : (q + 1) * half] = 0.3 + 0.6 * palette[c] + 0.1 * rng.random(3)
  return np.round(np.clip(x, 0, 1) * 255).astype(np.uint8), y


class ImageData:
  """uint8 train / test images ``[n, s, s, C]`` and int labels (or None), with the class names."""

  def __init__(self, train_x, train_y, test_x, test_y, class_names):
    self.train_x, self.train_y, self.test_x, self.test_y = train_x, train_y, test_x, test_y
    self.class_names = class_names

  @property
  def image_shape(self):
    return tuple(self.train_x.shape[1:])

  @property
  def num_classes(self) -> int:
    return 0 if self.train_y is None else int(self.train_y.max()) + 1


@functools.lru_cache(maxsize=2)
def load_image_data(dataset: str, data_dir, image_size: int, max_train_examples, synthetic_classes: int = 4):
  """The data of a config (cached per process). Real data through ``stein_jax.data.load``."""
  if dataset == "synthetic":
    train_x, train_y = synthetic_images(SYNTHETIC_TRAIN, image_size, synthetic_classes, SYNTHETIC_DATA_SEED)
    test_x, test_y = synthetic_images(SYNTHETIC_TEST, image_size, synthetic_classes, SYNTHETIC_DATA_SEED + 1)
    return ImageData(train_x, train_y, test_x, test_y, tuple(f"class {c}" for c in range(synthetic_classes)))
  if dataset not in DATASETS:
    raise ConfigError(f"config.dataset must be one of {DATASETS}; got {dataset!r}.")
  kwargs = {} if dataset == "cifar10" else {"image_size": image_size}
  test_split = "test" if dataset in ("cifar10", "celeb_a") else "valid"
  train = data_lib.load(dataset, "train", data_dir, scale=None, max_examples=max_train_examples, **kwargs)
  test = data_lib.load(dataset, test_split, data_dir, scale=None, **kwargs)
  return ImageData(train.x, train.y, test.x, test.y, train.info.get("class_names"))


# ------------------------------------------------------------------------------------------------ experiment


class SteinGANImages(Experiment):
  """SteinGAN with an autoencoder energy and a DCGAN generator (config ``configs/steingan_cifar10.py``).

  State: ``params = {"energy": theta, "generator": eta}``, ``opt_state`` the two Adam states under the same keys.

  Args:
    config: the run's config.
    classifier: optional ``sample_quality.ImageClassifier``-like object (``apply_fn(params, images in [-1, 1]) ->
      logits``, ``params``) for the classifier score, e.g. an Inception network a user has; default: a CNN trained
      on the data set's training split (labelled data sets only), cached.
  """

  name = "steingan_images"
  resumable_keys = (
    "num_eval_samples",
    "num_accuracy_samples",
    "classifier_steps",
    "classifier_width",
    "classifier_cache_dir",
    "grid_columns",
    "eval_batches",
  )

  def __init__(self, config, classifier=None):
    super().__init__(config)
    _validate(config)
    self.data = load_image_data(
      config.dataset, config.data_dir, config.image_size, config.max_train_examples, config.synthetic_classes
    )
    want = (config.image_size, config.image_size, config.channels)
    if self.data.image_shape != want:
      raise ConfigError(
        f"The {config.dataset!r} images have shape {self.data.image_shape} but the model expects "
        f"{want} (config.image_size={config.image_size}, config.channels={config.channels}); set "
        f"--config.image_size={self.data.image_shape[0]} --config.channels={self.data.image_shape[2]}."
      )
    if config.joint_model and self.data.train_y is None:
      raise ConfigError(
        f"config.joint_model=True needs labels, but {config.dataset!r} has none; set " "--config.joint_model=False."
      )
    self.num_classes = self.data.num_classes if config.joint_model else 0
    if config.label_every_layer and not self.num_classes:
      raise ConfigError(
        "config.label_every_layer=True feeds the label to every generator layer, which needs the "
        "label-conditional model; set --config.joint_model=True (a labelled data set) or "
        "--config.label_every_layer=False."
      )
    self.energy = ae.AutoencoderEnergy(
      want,
      code_dim=config.code_dim,
      width=config.energy_width,
      num_classes=self.num_classes,
      margin=config.margin,
      batch_norm=bool(config.energy_batch_norm),
      input_dropout=float(config.input_dropout),
    )
    self.generator = dcgan.DCGANGenerator(
      config.image_size,
      config.channels,
      config.generator_width,
      num_classes=self.num_classes,
      label_every_layer=bool(config.label_every_layer),
    )
    self.energy_tx = _adam(config.energy_learning_rate, config.adam_b1, config.weight_decay)
    self.generator_tx = _adam(config.generator_learning_rate, config.adam_b1, config.weight_decay)
    if config.bandwidth_rule == "paper":
      self.bandwidth = ae.default_code_bandwidth(config.bandwidth_scale)
    else:
      self.bandwidth = ae.authors_code_bandwidth
    arrays = {"x": self.data.train_x} if self.num_classes == 0 else {"x": self.data.train_x, "y": self.data.train_y}
    self.batcher = data_lib.Batcher(arrays, config.batch_size, config.seed)
    self._classifier = classifier
    counts = np.bincount(self.data.train_y, minlength=self.data.num_classes) if self.num_classes else None
    self.label_frequencies = None if counts is None else counts / counts.sum()
    self._sample_jit = jax.jit(self._sample)
    self._energies_jit = jax.jit(self._energies)

  # -- platform interface

  def init_state(self, rng, config):
    m = config.batch_size
    x = jnp.zeros((m,) + self.data.image_shape, jnp.float32)
    y = jnp.zeros((m,), jnp.int32) if self.num_classes else None
    theta = self.energy.init(jax.random.fold_in(rng, 1), x, y)
    eta = self.generator.init(jax.random.fold_in(rng, 2), jnp.zeros((m, config.noise_dim)), y)
    # The authors' discount is decided after a step for the next one: it is carried in the state (their initial
    # balance_weight 0.3 is gamma = 0.7).
    extra = None if config.discount_rule == "paper" else {"discount": jnp.asarray(config.discount, jnp.float32)}
    state = TrainState.create(
      params={"energy": theta, "generator": eta}, tx=optax.identity(), rng=jax.random.fold_in(rng, 3), extra=extra
    )
    return state.replace(opt_state={"energy": self.energy_tx.init(theta), "generator": self.generator_tx.init(eta)})

  def train_step(self, state, batch):
    config = self.config
    x = batch["x"].astype(jnp.float32) / 127.5 - 1.0
    y = batch.get("y") if self.num_classes else None
    m = x.shape[0]
    xi = dcgan.uniform_noise(state.step_rng(0), m, config.noise_dim)
    energy_apply = lambda p, images: self.energy.apply(p, images, y)
    generator_apply = lambda p, noise: self.generator.apply(p, noise, y)
    theta, eta = state.params["energy"], state.params["generator"]
    generated = jax.lax.stop_gradient(generator_apply(eta, xi))  # the same samples as inside update (XLA CSE)
    # Generator direction: no dropout, and the generated batch's batch-norm statistics frozen (none without batch
    # norm), so that f and E are per-image functions for the SVGD score and the code kernel's Jacobians.
    stats = ae.capture_norm_stats(self.energy, theta, generated)
    frozen = lambda p: ae.freeze_norm_stats(p, stats)
    direction_apply = lambda p, images: self.energy.apply(frozen(p), images, y)
    features = lambda images, p: self.energy.apply(frozen(p), images, method=ae.AutoencoderEnergy.encode)
    if config.direction_norm_stats == "batch":
      # The authors' Theano graph: the score is the gradient of sum_i f(x_i) with the batch's own statistics,
      # through them; the neighbour's code is taken in the batch x[nn] (its own statistics). The full code kernel
      # ("paper", "row_sum") keeps the frozen code: its per-particle Jacobian needs a per-image function.
      direction_apply = energy_apply
      if config.direction == "nearest_neighbor":
        features = lambda images, p: self.energy.apply(p, images, method=ae.AutoencoderEnergy.encode)
    # Energy loss: each batch (0 real, 1 generated) with its own statistics and its own dropout draw.
    dropout_key = state.step_rng(2)
    loss_apply = lambda p, images, which: self.energy.apply(
      p, images, y, train=True, rngs={"dropout": jax.random.fold_in(dropout_key, which)}
    )
    if config.discount_rule == "paper":
      # Stabilisation switch (sec. 5.2 text), from the energies before this step's update.
      energy_pos = -jnp.mean(energy_apply(theta, x))
      energy_neg = -jnp.mean(energy_apply(theta, generated))
      gamma = steingan.adaptive_discount(energy_pos, energy_neg, config.discount, config.discount_boosted)
    else:
      gamma = state.extra["discount"]
    gamma = jax.lax.stop_gradient(gamma)
    pair = steingan.SteinGANState(theta, eta, state.opt_state["energy"], state.opt_state["generator"])
    new, metrics = steingan.update(
      state.step_rng(1),
      pair,
      x,
      xi,
      energy_apply=energy_apply,
      generator_apply=generator_apply,
      energy_tx=self.energy_tx,
      generator_tx=self.generator_tx,
      discount=gamma,
      use_kernel=config.use_kernel,
      step_size=config.step_size,
      bandwidth=self.bandwidth,
      features=features,
      kernel_normalization="row_sum" if config.direction == "row_sum" else "mean",
      direction="nearest_neighbor" if config.direction == "nearest_neighbor" else "svgd",
      direction_energy_apply=direction_apply,
      energy_loss_apply=loss_apply,
    )
    extra = state.extra
    if config.discount_rule == "authors_code":
      # Their switch: reconstruction errors (no label term) of this step's real and generated batches under the
      # updated energy, each batch with its own statistics; it sets the next step's gamma.
      rec = lambda images: jnp.mean(
        ae.reconstruction_distance(
          images, self.energy.apply(new.energy, images, method=ae.AutoencoderEnergy.reconstruct)
        )
      )
      rec_pos, rec_neg = rec(x), rec(generated)
      extra = {"discount": steingan.authors_discount(rec_pos, rec_neg, config.discount, config.discount_boosted)}
      metrics.update(reconstruction_pos=rec_pos, reconstruction_neg=rec_neg)
    finite = metrics.pop("finite")
    metrics = {k: v for k, v in metrics.items() if k not in ("generator_fit_loss", "cd_fraction")}
    # A non-finite step turns the logged loss into NaN: the platform stops with its step number.
    metrics["loss"] = jnp.where(finite, metrics["loss"], jnp.nan)
    metrics["discount"] = gamma
    state = state.replace(
      step=state.step + 1,
      params={"energy": new.energy, "generator": new.generator},
      opt_state={"energy": new.energy_opt, "generator": new.generator_opt},
      extra=extra,
    )
    return state, metrics

  def batch(self, step):
    return self.batcher.batch(step)

  def evaluate(self, state, step, workdir):
    config = self.config
    params = jax.device_get(state.params)
    # A fixed random subset of the test split (its files may be sorted by class).
    idx = np.sort(
      np.random.default_rng(0).permutation(len(self.data.test_x))[: config.eval_batches * config.batch_size]
    )
    real_labels = None if not self.num_classes else self.data.test_y[idx]
    fake, labels = self.generate(params, idx.size, seed=1)
    e_real, rec_real = self._energy_stats(params, self.data.test_x[idx], real_labels)
    e_fake, _ = self._energy_stats(params, fake, labels)
    out = {"energy_real": e_real, "energy_generated": e_fake, "reconstruction_real": rec_real}
    classifier = self.classifier()
    if classifier is not None:
      samples, labels = self.generate(params, config.num_eval_samples, seed=2)
      probs = sample_quality.predict_probabilities(classifier.apply_fn, classifier.params, samples)
      out["classifier_score"] = float(sample_quality.score_lib.inception_score(probs))
      # Diversity beside the score: classes holding >= 5 % of the samples, and their spread in [0, 1] pixels.
      out["class_coverage"] = sample_quality.score_lib.class_coverage(probs, 0.05)
      out["mean_pairwise_distance"] = sample_quality.score_lib.mean_pairwise_distance(samples / 255.0)
      if labels is not None:
        out["generated_label_accuracy"] = float(np.mean(np.argmax(probs, -1) == labels))
    return out

  def finalize(self, state, workdir):
    config = self.config
    params = jax.device_get(state.params)
    final = {
      "step": int(jax.device_get(state.step)),
      "dataset": config.dataset,
      "use_kernel": bool(config.use_kernel),
      "energy_parameters": ae.count_parameters(params["energy"]),
      "generator_parameters": ae.count_parameters(params["generator"]),
    }
    records = [r for r in read_metrics(workdir) if "eval/energy_real" in r]
    if records:
      final.update({k[5:]: r[k] for r in records[-1:] for k in r if k.startswith("eval/")})
    classifier = self.classifier()
    if self.num_classes and config.num_accuracy_samples > 0 and classifier is not None:
      settings = self._classifier_settings()
      samples, labels = self.generate(params, config.num_accuracy_samples, seed=3)
      final["train_on_generated_accuracy"] = sample_quality.train_on_samples_accuracy(
        samples, labels, self.data.test_x, self.data.test_y, num_classes=self.data.num_classes, **settings
      )
      final["real_train_accuracy"] = classifier.test_accuracy
      dup_x, dup_y = sample_quality.duplicated_subset(self.data.train_x, self.data.train_y, seed=0)
      duplicate = sample_quality.cached_image_classifier(
        f"{config.dataset}_dup500",
        dup_x,
        dup_y,
        self.data.test_x,
        self.data.test_y,
        num_classes=self.data.num_classes,
        cache_dir=config.classifier_cache_dir,
        **settings,
      )
      final["duplicate500_accuracy"] = duplicate.test_accuracy
      final["num_accuracy_samples"] = int(config.num_accuracy_samples)
      final["classifier"] = dict(settings, architecture="ConvClassifier (DCGAN trunk + 2 dense)")
    if jax.process_index() == 0:
      with open(os.path.join(workdir, "final.json"), "w") as f:
        json.dump(final, f, indent=1)
    self._plot_samples(params, workdir, final["step"])
    self._plot_curves(workdir)

  # -- sampling and evaluation helpers

  def _sample(self, eta, xi, y):
    return self.generator.apply(eta, xi, y)

  def _energies(self, theta, x, y):
    f = self.energy.apply(theta, x, y)
    rec = ae.reconstruction_distance(x, self.energy.apply(theta, x, method=ae.AutoencoderEnergy.reconstruct))
    return f, rec

  def generate(self, params, num: int, seed: int = 0, labels=None):
    """``num`` uint8 images from the generator, in batches of ``batch_size`` (its batch norm uses batch statistics).

    Labels are drawn by the empirical label frequencies unless given. Returns ``(images, labels or None)``.
    """
    config = self.config
    rng = np.random.default_rng([config.seed, seed])
    if self.num_classes and labels is None:
      labels = rng.choice(self.data.num_classes, size=num, p=self.label_frequencies).astype(np.int32)
    m = config.batch_size
    out = []
    for start in range(0, num, m):
      xi = rng.uniform(-1.0, 1.0, (m, config.noise_dim)).astype(np.float32)
      y = None
      if labels is not None:
        y = np.resize(labels[start : start + m], m).astype(np.int32)  # pad the last batch by repetition
      out.append(np.asarray(self._sample_jit(params["generator"], xi, y))[: min(m, num - start)])
    images = np.concatenate(out)
    return np.round((images + 1.0) * 127.5).clip(0, 255).astype(np.uint8), labels

  def _energy_stats(self, params, images, labels):
    """Mean energy and reconstruction error, in batches of ``batch_size`` (batch norm: each batch's statistics)."""
    x = sample_quality.as_centered(images)
    m = self.config.batch_size
    fs, recs = [], []
    for start in range(0, len(x) - m + 1, m):
      y = None if not self.num_classes else jnp.asarray(labels[start : start + m])
      f, rec = self._energies_jit(params["energy"], jnp.asarray(x[start : start + m]), y)
      fs.append(np.asarray(f))
      recs.append(np.asarray(rec))
    return float(-np.mean(np.concatenate(fs))), float(np.mean(np.concatenate(recs)))

  def _classifier_settings(self):
    config = self.config
    return dict(width=config.classifier_width, num_steps=config.classifier_steps, batch_size=64, seed=0)

  def classifier(self):
    """The score classifier (user-supplied, or trained on the training split and cached; None without labels)."""
    if self._classifier is None and self.data.train_y is not None:
      self._classifier = sample_quality.cached_image_classifier(
        self.config.dataset,
        self.data.train_x,
        self.data.train_y,
        self.data.test_x,
        self.data.test_y,
        num_classes=self.data.num_classes,
        cache_dir=self.config.classifier_cache_dir,
        **self._classifier_settings(),
      )
    return self._classifier

  def _plot_samples(self, params, workdir, step):
    config = self.config
    cols = config.grid_columns
    if self.num_classes:
      labels = np.repeat(np.arange(self.data.num_classes, dtype=np.int32), cols)
      images, _ = self.generate(params, labels.size, seed=4, labels=labels)
      rows = self.data.num_classes
    else:
      rows = cols
      images, _ = self.generate(params, rows * cols, seed=4)
    s, c = self.data.image_shape[0], self.data.image_shape[2]
    grid = images.reshape(rows, cols, s, s, c).transpose(0, 2, 1, 3, 4).reshape(rows * s, cols * s, c)
    if self.num_classes:  # the same number of real test images of each class, one class per row
      real = np.concatenate([self.data.test_x[self.data.test_y == k][:cols] for k in range(rows)])
    else:
      real = self.data.test_x[: rows * cols]
    real = real.reshape(rows, cols, s, s, c).transpose(0, 2, 1, 3, 4)
    fig = new_figure(figsize=(2 * 0.35 * cols + 1, 0.35 * rows + 0.8))
    axes = fig.subplots(1, 2)
    axes[0].imshow(grid.squeeze(-1) if c == 1 else grid, cmap="gray" if c == 1 else None)
    kind = "kernel" if config.use_kernel else "w/o kernel"
    axes[0].set_title(
      f"SteinGAN ({kind}), step {step}" + (": one class per row" if self.num_classes else ""), fontsize=8
    )
    real = real.reshape(rows * s, cols * s, c)
    axes[1].imshow(real.squeeze(-1) if c == 1 else real, cmap="gray" if c == 1 else None)
    axes[1].set_title("real test images" + (" (same rows)" if self.num_classes else ""), fontsize=8)
    if self.num_classes and self.data.class_names:
      axes[0].set_yticks([(i + 0.5) * s for i in range(rows)])
      axes[0].set_yticklabels(self.data.class_names, fontsize=6)
      axes[0].set_xticks([])
      axes[1].axis("off")
    else:
      for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    save_figure(fig, workdir, "samples")

  def _plot_curves(self, workdir):
    records = [r for r in read_metrics(workdir) if "eval/energy_real" in r]
    if not records:
      return
    steps = [r["step"] for r in records]
    fig = new_figure(figsize=(9, 3.2))
    ax1, ax2 = fig.subplots(1, 2)
    ax1.plot(steps, [r["eval/energy_real"] for r in records], label="real (test)")
    ax1.plot(steps, [r["eval/energy_generated"] for r in records], label="generated")
    ax1.set_xlabel("iteration")
    ax1.set_ylabel("mean energy -f")
    ax1.legend(fontsize=8)
    if "eval/classifier_score" in records[-1]:
      ax2.plot(steps, [r["eval/classifier_score"] for r in records])
      ax2.set_ylabel("classifier score (CIFAR-trained CNN)")
    ax2.set_xlabel("iteration")
    fig.tight_layout()
    save_figure(fig, workdir, "energies")


def _adam(learning_rate: float, b1: float, weight_decay: float) -> optax.GradientTransformation:
  """Adam; with ``weight_decay > 0`` the L2 term ``weight_decay * theta`` is added to the gradient first (coupled,
  as the authors' ``updates.Regularizer(l2=...)``), not decoupled as in AdamW."""
  adam = optax.adam(learning_rate, b1=b1)
  if weight_decay > 0:
    return optax.chain(optax.add_decayed_weights(weight_decay), adam)
  return adam


def _validate(config) -> None:
  problems = []
  for key, allowed in (
    ("discount_rule", DISCOUNT_RULES),
    ("bandwidth_rule", BANDWIDTH_RULES),
    ("direction", DIRECTIONS),
    ("direction_norm_stats", DIRECTION_NORM_STATS),
  ):
    if config.get(key) not in allowed:
      problems.append(f"config.{key} must be one of {allowed}; got {config.get(key)!r}")
  for key in ("energy_batch_norm", "label_every_layer", "use_kernel", "joint_model"):
    if not isinstance(config.get(key), (bool, np.bool_)):
      problems.append(f"config.{key} must be True or False; got {config.get(key)!r}")
  dropout = config.get("input_dropout")
  if not isinstance(dropout, (int, float)) or isinstance(dropout, bool) or not 0.0 <= dropout < 1.0:
    problems.append(f"config.input_dropout must be a float in [0, 1) (the authors: 0.2); got {dropout!r}")
  decay = config.get("weight_decay")
  if not isinstance(decay, (int, float)) or isinstance(decay, bool) or not decay >= 0.0:
    problems.append(f"config.weight_decay must be a float >= 0 (the authors: 1e-5); got {decay!r}")
  if config.get("energy_batch_norm") is True and int(config.batch_size) < 2:
    problems.append(
      f"config.energy_batch_norm=True normalises by batch statistics and needs config.batch_size >= 2;"
      f" got batch_size={config.batch_size}"
    )
  if config.dataset not in DATASETS:
    problems.append(f"config.dataset must be one of {DATASETS}; got {config.dataset!r}")
  for key in ("discount", "discount_boosted"):
    if not 0.0 <= config[key] < 1.0:
      problems.append(f"config.{key} must be in [0, 1); got {config[key]}")
  for key in (
    "batch_size",
    "code_dim",
    "energy_width",
    "generator_width",
    "noise_dim",
    "eval_batches",
    "num_eval_samples",
    "grid_columns",
    "classifier_steps",
    "classifier_width",
  ):
    if int(config[key]) < (2 if key == "batch_size" else 1):
      problems.append(f"config.{key} must be positive (batch_size >= 2: the kernel needs pairs); got {config[key]}")
  for key in ("energy_learning_rate", "generator_learning_rate", "step_size", "bandwidth_scale"):
    if not config[key] > 0:
      problems.append(f"config.{key} must be > 0; got {config[key]}")
  try:
    dcgan.num_resolution_steps(config.image_size)
  except ValueError as err:
    problems.append(f"config.image_size: {err}")
  if problems:
    raise ConfigError("Invalid SteinGAN config:\n  " + "\n  ".join(problems))


if __name__ == "__main__":
  run_main(SteinGANImages)
