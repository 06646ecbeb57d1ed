r"""SteinGAN and SteinCD-GAN(alpha) on the Gaussian-Bernoulli RBM: Fig. 1(b)-(d) of Liu & Wang 2017 (sec. 4, 5.1).

    python -m experiments.steingan_rbm --config=configs/steingan_rbm_mnist.py --workdir=DIR [--config.alpha=0.25]

An energy model (the 10-hidden-unit RBM of ``experiments/energy.py``, same data and preprocessing) and a generator
``G(xi; eta)`` are trained together by ``stein_jax.objectives.steingan.update`` (Algorithm 2): the generator follows
the SVGD direction toward the RBM, the RBM contrasts the data with the generator's samples, or, with probability
``config.alpha`` per example, with the SteinCD negatives of Algorithm 1.

Evaluations log the exact average log-likelihood of the RBM (``test/loglik``, ``valid/loglik``,
``train_subset/loglik``, nats per image in the preprocessed space, as ``experiments/energy.py``, and the same in
[0, 1]-pixel nats as ``*/loglik_pixels``, the units of the authors' published figures), the classifier
score of ``eval.num_score_samples`` generated images (``eval/classifier_score``, Fig. 1(b)), two diversity measures
(``eval/class_coverage``: how many classes hold >= 5 % of the samples by the classifier; ``eval/mean_pairwise_distance``
of the samples in [0, 1] pixels, beside the same figure for test digits in ``final.json``), the exact mean
log-density of generated images under the RBM (``eval/generator_logp``) and their pixel spread
(``eval/sample_pixel_std``, the mean over pixels of the standard deviation across samples: low when the generator
collapses). ``finalize`` writes ``DIR/figures/samples.png`` (a grid of generator samples: Fig. 1(c), or Fig. 1(d) for
``svgd.use_kernel=False``), ``DIR/figures/curves.png`` and ``DIR/final.json``.

The classifier of the score is trained once on the training images (labels of MNIST; for ``synthetic_rbm`` data
the argmax of a fixed random projection, 4 classes) and cached under ``config.eval.classifier_cache_dir``, else
``$STEIN_JAX_CACHE_DIR``, else ``DIR/cache``.

The family is a package: this module (the experiment), ``checks`` (config and data validation, the optimiser),
``evaluation`` (the score classifier and the measures of the samples), ``figures`` (the sample grid and the
curves) and ``__main__`` (the command line); the data are :mod:`stein_jax.data.energy_data`.
"""

from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import numpy as np

from stein_jax import data as data_lib
from stein_jax.data.energy_data import load_energy_data
from stein_jax.models.energy import GaussianBernoulliRBM
from stein_jax.models.generator import ConvGenerator, MLPGenerator
from stein_jax.objectives import steingan
from stein_jax.train import AlgorithmExperiment, AlgorithmState
from stein_jax.train.state import train_state_layout

from experiments.steingan_rbm import evaluation, figures
from experiments.steingan_rbm.checks import (
  GENERATOR_OUTPUTS,
  GENERATORS,
  KEY_NAMES,
  KERNEL_NORMALIZATIONS,
  NOISES,
  RBM_INITS,
  _adam,
  _bandwidth,
  _check_config,
  _check_data,
)
from experiments.steingan_rbm.evaluation import COVERAGE_THRESHOLD, LABEL_SEED, SYNTHETIC_CLASSES, _mean_loglik

__all__ = [
  "COVERAGE_THRESHOLD",
  "GENERATORS",
  "GENERATOR_OUTPUTS",
  "KERNEL_NORMALIZATIONS",
  "KEY_NAMES",
  "LABEL_SEED",
  "NOISES",
  "RBM_INITS",
  "SYNTHETIC_CLASSES",
  "SteinGANExperiment",
  "_adam",
  "_bandwidth",
  "_check_config",
  "_check_data",
  "_mean_loglik",
]


class SteinGANExperiment(AlgorithmExperiment):
  """RBM + generator trained by SteinCD-GAN(alpha) (config ``configs/steingan_rbm_mnist.py``).

  State: an :class:`AlgorithmState` around ``stein_jax.objectives.steingan.SteinGANState`` (``energy``,
  ``generator`` and one Adam state each); the step is ``steingan.make_trainer``'s.
  """

  name = "steingan_rbm"
  resumable_keys = ("eval.num_score_samples", "eval.num_samples", "eval.classifier_cache_dir", "num_eval_train")
  legacy_key_names = KEY_NAMES  # where each key was before the nesting (the runs' fingerprint names)

  def __init__(self, config):
    super().__init__(config)
    _check_config(config)
    self.bandwidth = _bandwidth(config.svgd.bandwidth)
    self.data = load_energy_data(
      config.dataset,
      config.data_dir,
      config.preprocess,
      config.num_eval_train,
      config.synthetic_dim,
      config.model.num_hidden,
    )
    side = _check_data(config, self.data)
    init = (
      jax.nn.initializers.normal(config.model.init_scale)
      if config.model.rbm_init == "normal"
      else jax.nn.initializers.uniform(2.0 * config.model.init_scale)
    )
    if config.model.rbm_init == "uniform":  # U[-s, s]: flax's uniform(scale) draws from [0, scale)
      init = lambda key, shape, dtype=jnp.float32, _u=init: _u(key, shape, dtype) - config.model.init_scale
    self.energy = GaussianBernoulliRBM(config.model.num_hidden, weight_init=init)
    if config.model.generator == "conv":
      self.generator = ConvGenerator(
        image_shape=(side, side, 1),
        hidden=config.model.generator_hidden,
        channels=config.model.generator_channels,
        flatten=True,
        normalize=config.model.generator_normalization,
        output=config.model.generator_output,
      )
    else:
      self.generator = MLPGenerator(
        self.data.train.shape[1], hidden=(config.model.generator_hidden, config.model.generator_hidden)
      )
    self.energy_tx = _adam(
      config.optimizer.energy_learning_rate, config.optimizer.adam_b1, config.optimizer.weight_decay
    )
    self.generator_tx = _adam(
      config.optimizer.generator_learning_rate, config.optimizer.adam_b1, config.optimizer.weight_decay
    )
    self.algorithm = steingan.make_trainer(
      self.energy.apply,
      self.generator.apply,
      self.energy_tx,
      self.generator_tx,
      self.noise,
      alpha=float(config.alpha),
      discount=float(config.discount),
      use_kernel=bool(config.svgd.use_kernel),
      generator_update=config.svgd.generator_update,
      step_size=float(config.svgd.step_size),
      cd_step_size=float(config.svgd.cd_step_size),
      num_fit_steps=int(config.svgd.num_fit_steps),
      bandwidth=self.bandwidth,
      kernel_normalization=config.svgd.kernel_normalization,
    )
    self.batcher = data_lib.Batcher(self.data.train, config.batch_size, config.seed)
    self._eval_sets = {
      "test": jnp.asarray(self.data.test),
      "valid": jnp.asarray(self.data.valid),
      "train_subset": jnp.asarray(self.data.train_subset),
    }
    self._classifier = None
    self._generate = jax.jit(self.generator.apply)

  # ---------------------------------------------------------------------------------------------- training

  def noise(self, rng, n):
    shape = (n, self.config.model.noise_dim)
    if self.config.model.noise == "uniform":
      return jax.random.uniform(rng, shape, minval=-1.0, maxval=1.0)
    return jax.random.normal(rng, shape)

  def init_state(self, rng, config):
    energy = self.energy.init(jax.random.fold_in(rng, 0), jnp.zeros((1, config.num_visible), jnp.float32))
    generator = self.generator.init(jax.random.fold_in(rng, 1), jnp.zeros((2, config.model.noise_dim), jnp.float32))
    return AlgorithmState.create(self.algorithm.init(None, energy, generator), jax.random.fold_in(rng, 2))

  def legacy_state_layout(self):  # runs saved as a TrainState before the algorithm protocol
    return train_state_layout(
      lambda s: (s.params, {"energy": s.energy_opt, "generator": s.generator_opt}),
      lambda step, p, o: steingan.SteinGANState(p["energy"], p["generator"], o["energy"], o["generator"]),
    )

  def batch(self, step):
    return {"x": self.batcher.batch(step)["x"]}

  # ---------------------------------------------------------------------------------------------- evaluation

  def classifier(self, workdir):
    """The cached classifier of the score (trained on first use)."""
    if self._classifier is None:
      self._classifier = evaluation.score_classifier(self.config, self.data, workdir)
    return self._classifier

  def samples(self, generator_params, n, seed_offset=0):
    """``n`` generator samples ``[n, d]`` in the model's space, from a fixed evaluation noise."""
    rng = jax.random.fold_in(jax.random.key(self.config.seed + 10_000), seed_offset)
    # Whole chunks only: a generator with batch-statistics normalisation needs more than one sample per call.
    chunk = min(1000, max(n, 2))
    out = []
    for i, _ in enumerate(range(0, n, chunk)):
      out.append(np.asarray(self._generate(generator_params, self.noise(jax.random.fold_in(rng, i), chunk))))
    return np.concatenate(out, axis=0)[:n]

  def _generator_metrics(self, params, workdir):
    x = self.samples(params["generator"], self.config.eval.num_score_samples)
    return evaluation.generator_metrics(x, params["energy"], self.classifier(workdir), self.data)

  def logliks(self, energy_params):
    """Exact mean test / valid / train-subset log-likelihoods, in the model's space and in [0, 1]-pixel nats.

    ``x' = (x - mean) / scale`` has Jacobian ``scale^-d``, so ``log p(x) = log p'(x') - d log scale`` in pixels; for
    ``preprocess="unit"`` the two agree (the units of the authors' published -771.2 / -989.6).
    """
    shift = -self.data.train.shape[1] * float(np.log(self.data.scale))
    out = {}
    for name, x in self._eval_sets.items():
      value = float(_mean_loglik(energy_params, x))
      out[f"{name}/loglik"] = value
      out[f"{name}/loglik_pixels"] = value + shift
    return out

  def evaluate(self, state, step, workdir):
    params = jax.device_get(state.inner.params)
    out = self.logliks(params["energy"])
    out.update(self._generator_metrics(params, workdir))
    return out

  def finalize(self, state, workdir):
    config = self.config
    params = jax.device_get(state.inner.params)
    logliks = self.logliks(params["energy"])
    final = {name: logliks[f"{name}/loglik"] for name in self._eval_sets}
    final.update({f"{name}_pixels": logliks[f"{name}/loglik_pixels"] for name in self._eval_sets})
    final.update(self._generator_metrics(params, workdir))
    final.update(evaluation.reference_metrics(self.classifier(workdir), self.data))
    final.update(
      alpha=config.alpha,
      use_kernel=config.svgd.use_kernel,
      generator_update=config.svgd.generator_update,
      discount=config.discount,
      seed=config.seed,
      num_steps=int(jax.device_get(state.step)),
      num_score_samples=config.eval.num_score_samples,
      kernel_normalization=config.svgd.kernel_normalization,
      generator_normalization=config.model.generator_normalization,
      preprocess=config.preprocess,
    )
    if jax.process_index() == 0:
      with open(os.path.join(workdir, "final.json"), "w") as f:
        json.dump(final, f, indent=1)
    figures.plot_samples(self, params, final["num_steps"], workdir)
    figures.plot_curves(config, workdir)
