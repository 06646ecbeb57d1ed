r"""SteinGAN with deep autoencoder energies on images: Liu & Wang 2017, sec. 5.2 (CIFAR-10, CelebA, LSUN).

    python -m experiments.steingan_images --config=configs/steingan_cifar10.py --workdir=DIR
    python -m experiments.steingan_images --config=configs/steingan_celeba.py --workdir=DIR   # TFDS online
    python -m experiments.steingan_images --config=configs/steingan_lsun.py --workdir=DIR     # TFDS online

Algorithm 2 with the stabilisation of sec. 5.2, one jitted step: the algorithm
``stein_jax.objectives.autoencoder_steingan.make_trainer`` (around ``stein_jax.objectives.steingan.update``):

1. a minibatch ``x+`` (and its labels ``y`` where the data set has them and ``config.joint_model``);
2. ``x- = G(xi, y)``, ``xi ~ Uniform([-1, 1]^100)``; the generator's labels are those of the real minibatch, a draw
   from the empirical label frequencies (and positives and negatives then share ``f(., y)``);
3. the generator moves along the SVGD direction toward ``p(x | theta)`` (eq. (21)), kernel on the code ``E(x)`` with
   ``h = 0.5 med / log m`` (``config.svgd.use_kernel=False``: the paper's "w/o kernel" ablation);
4. the energy (eq. (24), or the joint eq. (25)) takes the discounted contrastive step with ``gamma = 0.7``, raised to
   ``0.9`` when the real batch's energy exceeds the generated batch's (:func:`stein_jax.objectives.steingan.adaptive_discount`).

The authors' public code differs from the paper's text in several places; each is an option (docs/steingan_images.md
sec. 5): ``discount_rule``, ``svgd.bandwidth_rule``, ``svgd.direction`` ("paper" eq. (5), "row_sum",
"nearest_neighbor"), ``model.input_dropout``, ``model.energy_batch_norm``, ``model.label_every_layer``,
``optimizer.weight_decay``. With batch normalisation in the
energy, the energy's loss normalises the real and the generated batch each by its own statistics (with input
dropout, one draw per batch), while the generator direction (score, code, kernel) uses the energy without dropout
and with the generated batch's statistics frozen, so that ``f`` and ``E`` are per-image functions there
(``svgd.direction_norm_stats="frozen"``), or, as the authors' graph, differentiates the batch's energy through its own
statistics (``"batch"``).

Evaluations log the mean energies of real test images and of generated ones, the classifier score of generated
images (a CNN trained on the data set's training split; the paper's ImageNet Inception network cannot be downloaded
here), and for the joint model the accuracy of the score classifier on the generated images w.r.t. the labels they
were generated with. ``finalize`` writes ``figures/samples.png`` (a class-conditional grid: Fig. 2 upper),
``figures/energies.png``, and ``final.json`` with the train-on-generated test accuracy next to the paper's two
baselines (the real training set, 500 real images duplicated 100 times), all at one classifier budget.

The config is nested (``model``, ``svgd``, ``optimizer``, ``eval``; configs/steingan_cifar10.py) and declares every
key; runs keep the fingerprints of the flat config it replaced (``checks.KEY_NAMES``, docs/architecture.md).

The family is a package: this module (the experiment, its state and its generator), ``evaluation`` (the energies,
the classifier score and the train-on-generated accuracy), ``figures`` (the sample grid and the curves), ``checks``
(the config's keys and their validation, the optimiser) and ``__main__`` (the command line); the data sets are
:mod:`stein_jax.data.images`.
"""

from __future__ import annotations

import json
import os

import jax
import numpy as np

from stein_jax.data import Batcher
from stein_jax.data.images import ImageData, load_image_data, synthetic_images
from stein_jax.models import autoencoder_energy as ae
from stein_jax.models import dcgan
from stein_jax.objectives import autoencoder_steingan
from stein_jax.train import AlgorithmExperiment, AlgorithmState, ConfigError, read_metrics
from stein_jax.train.state import train_state_layout

from experiments.steingan_images import evaluation, figures
from experiments.steingan_images.checks import BANDWIDTH_RULES, KEY_NAMES, _adam, _validate

__all__ = [
  "BANDWIDTH_RULES",
  "ImageData",
  "KEY_NAMES",
  "SteinGANImages",
  "_adam",
  "_validate",
  "load_image_data",
  "synthetic_images",
]


class SteinGANImages(AlgorithmExperiment):
  """SteinGAN with an autoencoder energy and a DCGAN generator (config ``configs/steingan_cifar10.py``).

  State: an :class:`AlgorithmState` around the algorithm's
  :class:`~stein_jax.objectives.autoencoder_steingan.ImageSteinGANState` (``state.inner.params`` is
  ``{"energy": theta, "generator": eta}``).

  Args:
    config: the run's config.
    classifier: optional ``sample_quality.ImageClassifier``-like object (``apply_fn(params, images in [-1, 1]) ->
      logits``, ``params``) for the classifier score, e.g. an Inception network a user has; default: a CNN trained
      on the data set's training split (labelled data sets only), cached.
  """

  name = "steingan_images"
  resumable_keys = ("eval",)  # every evaluation key (sample sizes, classifier budget, grid, cache) may change
  legacy_key_names = KEY_NAMES  # where each key was before the nesting (the runs' fingerprint names)

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
    if config.model.label_every_layer and not self.num_classes:
      raise ConfigError(
        "config.model.label_every_layer=True feeds the label to every generator layer, which needs the "
        "label-conditional model; set --config.joint_model=True (a labelled data set) or "
        "--config.model.label_every_layer=False."
      )
    self.energy = ae.AutoencoderEnergy(
      want,
      code_dim=config.model.code_dim,
      width=config.model.energy_width,
      num_classes=self.num_classes,
      margin=config.model.margin,
      batch_norm=bool(config.model.energy_batch_norm),
      input_dropout=float(config.model.input_dropout),
    )
    self.generator = dcgan.DCGANGenerator(
      config.image_size,
      config.channels,
      config.model.generator_width,
      num_classes=self.num_classes,
      label_every_layer=bool(config.model.label_every_layer),
    )
    opt = config.optimizer
    self.energy_tx = _adam(opt.energy_learning_rate, opt.adam_b1, opt.weight_decay)
    self.generator_tx = _adam(opt.generator_learning_rate, opt.adam_b1, opt.weight_decay)
    bandwidth = ae.default_code_bandwidth(config.svgd.bandwidth_scale)
    if config.svgd.bandwidth_rule != "paper":
      bandwidth = ae.authors_code_bandwidth
    self.algorithm = autoencoder_steingan.make_trainer(
      self.energy,
      self.generator,
      _adam(opt.energy_learning_rate, opt.adam_b1, opt.weight_decay),
      _adam(opt.generator_learning_rate, opt.adam_b1, opt.weight_decay),
      noise_dim=config.model.noise_dim,
      bandwidth=bandwidth,
      discount=config.discount,
      discount_boosted=config.discount_boosted,
      discount_rule=config.discount_rule,
      direction=config.svgd.direction,
      direction_norm_stats=config.svgd.direction_norm_stats,
      use_kernel=config.svgd.use_kernel,
      step_size=config.svgd.step_size,
    )
    arrays = {"x": self.data.train_x} if self.num_classes == 0 else {"x": self.data.train_x, "y": self.data.train_y}
    self.batcher = Batcher(arrays, config.batch_size, config.seed)
    self._classifier = classifier
    counts = np.bincount(self.data.train_y, minlength=self.data.num_classes) if self.num_classes else None
    self.label_frequencies = None if counts is None else counts / counts.sum()
    self._sample_jit = jax.jit(self._sample)
    self._energies_jit = jax.jit(self._energies)

  # -- platform interface

  def init_state(self, rng, config):
    # The key streams of the runs saved before the algorithm protocol: parameters from rng, steps from fold_in(rng, 3).
    return AlgorithmState.create(self.algorithm.init(rng, config.batch_size), jax.random.fold_in(rng, 3))

  def legacy_state_layout(self):  # runs saved as a TrainState (params / opt_state / extra dicts) before
    return train_state_layout(
      lambda s: (s.params, {"energy": s.energy_opt, "generator": s.generator_opt}, _discount_extra(s.discount)),
      lambda step, p, o, extra: autoencoder_steingan.ImageSteinGANState(
        p["energy"], p["generator"], o["energy"], o["generator"], None if extra is None else extra["discount"]
      ),
      extra=True,
    )

  def batch(self, step):
    return self.batcher.batch(step)

  def evaluate(self, state, step, workdir):
    return evaluation.eval_metrics(self, jax.device_get(state.inner.params))

  def finalize(self, state, workdir):
    config = self.config
    params = jax.device_get(state.inner.params)
    final = {
      "step": int(jax.device_get(state.step)),
      "dataset": config.dataset,
      "use_kernel": bool(config.svgd.use_kernel),
      "energy_parameters": ae.count_parameters(params["energy"]),
      "generator_parameters": ae.count_parameters(params["generator"]),
    }
    records = [r for r in read_metrics(workdir) if "eval/energy_real" in r]
    if records:
      final.update({k[5:]: r[k] for r in records[-1:] for k in r if k.startswith("eval/")})
    classifier = self.classifier()
    if self.num_classes and config.eval.num_accuracy_samples > 0 and classifier is not None:
      final.update(evaluation.accuracy_record(self, params, classifier))
    if jax.process_index() == 0:
      with open(os.path.join(workdir, "final.json"), "w") as f:
        json.dump(final, f, indent=1)
    figures.plot_samples(self, params, workdir, final["step"])
    figures.plot_curves(workdir)

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
      xi = rng.uniform(-1.0, 1.0, (m, config.model.noise_dim)).astype(np.float32)
      y = None
      if labels is not None:
        y = np.resize(labels[start : start + m], m).astype(np.int32)  # pad the last batch by repetition
      out.append(np.asarray(self._sample_jit(params["generator"], xi, y))[: min(m, num - start)])
    images = np.concatenate(out)
    return np.round((images + 1.0) * 127.5).clip(0, 255).astype(np.uint8), labels

  def classifier(self):
    """The score classifier (user-supplied, or trained on the training split and cached; None without labels)."""
    if self._classifier is None and self.data.train_y is not None:
      self._classifier = evaluation.score_classifier(self.config, self.data)
    return self._classifier


def _discount_extra(discount):
  return None if discount is None else {"discount": discount}
