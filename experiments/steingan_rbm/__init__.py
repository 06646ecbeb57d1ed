r"""SteinGAN and SteinCD-GAN(alpha) on the Gaussian-Bernoulli RBM: Fig. 1(b)-(d) of Liu & Wang 2017 (sec. 4, 5.1).

    python -m experiments.steingan_rbm --config=configs/steingan_rbm_mnist.py --workdir=DIR [--config.alpha=0.25]

An energy model (the 10-hidden-unit RBM of ``experiments/energy.py``, same data and preprocessing) and a generator
``G(xi; eta)`` are trained together by ``stein_jax.objectives.steingan.update`` (Algorithm 2): the generator follows
the SVGD direction toward the RBM, the RBM contrasts the data with the generator's samples, or, with probability
``config.alpha`` per example, with the SteinCD negatives of Algorithm 1.

Evaluations log the exact average log-likelihood of the RBM (``test/loglik``, ``valid/loglik``,
``train_subset/loglik``, nats per image in the preprocessed space, as ``experiments/energy.py``, and the same in
[0, 1]-pixel nats as ``*/loglik_pixels``, the units of the authors' published figures), the classifier
score of ``num_score_samples`` generated images (``eval/classifier_score``, Fig. 1(b)), two diversity measures
(``eval/class_coverage``: how many classes hold >= 5 % of the samples by the classifier; ``eval/mean_pairwise_distance``
of the samples in [0, 1] pixels, beside the same figure for test digits in ``final.json``), the exact mean
log-density of generated images under the RBM (``eval/generator_logp``) and their pixel spread
(``eval/sample_pixel_std``, the mean over pixels of the standard deviation across samples: low when the generator
collapses). ``finalize`` writes ``DIR/figures/samples.png`` (a grid of generator samples: Fig. 1(c), or Fig. 1(d) for
``use_kernel=False``), ``DIR/figures/curves.png`` and ``DIR/final.json``.

The classifier of the score is trained once on the training images (labels of MNIST; for ``synthetic_rbm`` data
the argmax of a fixed random projection, 4 classes) and cached under ``config.classifier_cache_dir``, else
``$STEIN_JAX_CACHE_DIR``, else ``DIR/cache``.
"""

from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax

from stein_jax import data as data_lib
from stein_jax.data.energy_data import load_energy_data
from stein_jax import kernels
from stein_jax.evaluation import classifier_score as score_lib
from stein_jax.targets import rbm as rbm_eval
from stein_jax.models.energy import GaussianBernoulliRBM
from stein_jax.models.generator import ConvGenerator, MLPGenerator
from stein_jax.objectives import steingan
from stein_jax.train import AlgorithmExperiment, AlgorithmState, read_metrics, run_main, save_figure
from stein_jax.train import figures as figures_lib
from stein_jax.train.state import train_state_layout
from stein_jax.train.figures import new_figure

GENERATORS = ("conv", "mlp")
NOISES = ("uniform", "normal")
RBM_INITS = ("normal", "uniform")
GENERATOR_OUTPUTS = ("linear", "sigmoid")
KERNEL_NORMALIZATIONS = ("mean", "row_sum")
COVERAGE_THRESHOLD = 0.05
SYNTHETIC_CLASSES = 4
LABEL_SEED = 4321


def _check_config(config) -> None:
  def need(ok, message):
    if not ok:
      raise ValueError(message)

  need(
    isinstance(config.alpha, (int, float)) and 0.0 <= config.alpha <= 1.0,
    f"config.alpha must lie in [0, 1] (0: SteinGAN, 1: SteinCD); got {config.alpha!r}.",
  )
  need(isinstance(config.use_kernel, bool), f"config.use_kernel must be True or False; got {config.use_kernel!r}.")
  need(
    config.generator_update in steingan.GENERATOR_UPDATES,
    f"config.generator_update must be one of {steingan.GENERATOR_UPDATES}; got {config.generator_update!r}.",
  )
  need(
    isinstance(config.discount, (int, float)) and 0.0 <= config.discount < 1.0,
    f"config.discount (gamma) must lie in [0, 1); got {config.discount!r}.",
  )
  need(config.generator in GENERATORS, f"config.generator must be one of {GENERATORS}; got {config.generator!r}.")
  need(config.noise in NOISES, f"config.noise must be one of {NOISES}; got {config.noise!r}.")
  need(config.rbm_init in RBM_INITS, f"config.rbm_init must be one of {RBM_INITS}; got {config.rbm_init!r}.")
  need(
    config.generator_output in GENERATOR_OUTPUTS,
    f"config.generator_output must be one of {GENERATOR_OUTPUTS}; got {config.generator_output!r}.",
  )
  need(
    config.kernel_normalization in KERNEL_NORMALIZATIONS,
    f"config.kernel_normalization must be one of {KERNEL_NORMALIZATIONS} ('mean': the paper's 1/m, 'row_sum': "
    f"the authors' code); got {config.kernel_normalization!r}.",
  )
  need(
    isinstance(config.generator_normalization, bool),
    f"config.generator_normalization must be True or False; got {config.generator_normalization!r}.",
  )
  need(
    not (config.generator_normalization and config.batch_size < 2),
    f"config.generator_normalization=True normalises with batch statistics and needs config.batch_size >= 2; "
    f"got batch_size={config.batch_size}.",
  )
  need(
    not (config.generator_normalization and config.generator != "conv"),
    "config.generator_normalization=True is implemented for config.generator='conv' (the paper's generator).",
  )
  need(
    config.generator_output == "linear" or config.preprocess == "unit",
    f"config.generator_output='sigmoid' makes pixels in [0, 1], but config.preprocess={config.preprocess!r} maps "
    "the data elsewhere; use --config.preprocess=unit (the authors' [0, 1] pixels) or "
    "--config.generator_output=linear.",
  )
  need(
    config.generator_output == "linear" or config.generator == "conv",
    "config.generator_output='sigmoid' is implemented for config.generator='conv'.",
  )
  need(
    isinstance(config.weight_decay, (int, float)) and config.weight_decay >= 0,
    f"config.weight_decay must be >= 0; got {config.weight_decay!r}.",
  )
  need(config.init_scale > 0, f"config.init_scale must be positive; got {config.init_scale!r}.")
  for key in ("step_size", "cd_step_size", "energy_learning_rate", "generator_learning_rate"):
    need(config[key] > 0, f"config.{key} must be positive; got {config[key]!r}.")
  for key in (
    "noise_dim",
    "num_fit_steps",
    "num_score_samples",
    "num_samples",
    "batch_size",
    "generator_hidden",
    "generator_channels",
  ):
    need(
      isinstance(config[key], int) and config[key] >= 1, f"config.{key} must be a positive int; got {config[key]!r}."
    )
  need(0.0 <= config.adam_b1 < 1.0, f"config.adam_b1 must lie in [0, 1); got {config.adam_b1!r}.")
  need(
    config.num_hidden <= rbm_eval.MAX_EXACT_HIDDEN,
    f"config.num_hidden={config.num_hidden} exceeds MAX_EXACT_HIDDEN={rbm_eval.MAX_EXACT_HIDDEN}: the exact "
    "log-likelihood enumerates all 2**num_hidden hidden states.",
  )


def _bandwidth(value):
  if isinstance(value, str) and value not in kernels.BANDWIDTH_RULES:
    try:
      value = float(value)
    except ValueError:
      raise ValueError(
        f"config.bandwidth must be one of {sorted(kernels.BANDWIDTH_RULES)} or a positive number; " f"got {value!r}."
      ) from None
  kernels.check_bandwidth(value)
  return value


def _adam(learning_rate, b1, weight_decay):
  """Adam, with the L2 penalty ``weight_decay * theta`` added to the gradient first when > 0 (the authors' code)."""
  adam = optax.adam(learning_rate, b1=b1)
  return optax.chain(optax.add_decayed_weights(weight_decay), adam) if weight_decay > 0 else adam


@jax.jit
def _mean_loglik(variables, x):
  return rbm_eval.mean_log_likelihood(variables, x)


class SteinGANExperiment(AlgorithmExperiment):
  """RBM + generator trained by SteinCD-GAN(alpha) (config ``configs/steingan_rbm_mnist.py``).

  State: an :class:`AlgorithmState` around ``stein_jax.objectives.steingan.SteinGANState`` (``energy``,
  ``generator`` and one Adam state each); the step is ``steingan.make_trainer``'s.
  """

  name = "steingan_rbm"
  resumable_keys = ("num_score_samples", "num_samples", "classifier_cache_dir", "num_eval_train")

  def __init__(self, config):
    super().__init__(config)
    _check_config(config)
    self.bandwidth = _bandwidth(config.bandwidth)
    self.data = load_energy_data(
      config.dataset, config.data_dir, config.preprocess, config.num_eval_train, config.synthetic_dim, config.num_hidden
    )
    dim = self.data.train.shape[1]
    if dim != config.num_visible:
      raise ValueError(
        f"The {config.dataset!r} data have dimension {dim} but config.num_visible={config.num_visible}; set "
        f"--config.num_visible={dim}."
      )
    side = int(round(dim**0.5))
    if config.generator == "conv" and (side * side != dim or side % 4):
      raise ValueError(
        f"config.generator='conv' makes square images with sides divisible by 4, but the data "
        f"dimension is {dim}; use --config.generator=mlp."
      )
    if config.generator_output == "sigmoid" and (self.data.train.min() < 0 or self.data.train.max() > 1):
      raise ValueError(
        f"config.generator_output='sigmoid' makes pixels in [0, 1], but the {config.dataset!r} data "
        f"span [{self.data.train.min():.3g}, {self.data.train.max():.3g}]; use "
        "--config.generator_output=linear."
      )
    init = (
      jax.nn.initializers.normal(config.init_scale)
      if config.rbm_init == "normal"
      else jax.nn.initializers.uniform(2.0 * config.init_scale)
    )
    if config.rbm_init == "uniform":  # U[-s, s]: flax's uniform(scale) draws from [0, scale)
      init = lambda key, shape, dtype=jnp.float32, _u=init: _u(key, shape, dtype) - config.init_scale
    self.energy = GaussianBernoulliRBM(config.num_hidden, weight_init=init)
    if config.generator == "conv":
      self.generator = ConvGenerator(
        image_shape=(side, side, 1),
        hidden=config.generator_hidden,
        channels=config.generator_channels,
        flatten=True,
        normalize=config.generator_normalization,
        output=config.generator_output,
      )
    else:
      self.generator = MLPGenerator(dim, hidden=(config.generator_hidden, config.generator_hidden))
    self.energy_tx = _adam(config.energy_learning_rate, config.adam_b1, config.weight_decay)
    self.generator_tx = _adam(config.generator_learning_rate, config.adam_b1, config.weight_decay)
    self.algorithm = steingan.make_trainer(
      self.energy.apply,
      self.generator.apply,
      self.energy_tx,
      self.generator_tx,
      self.noise,
      alpha=float(config.alpha),
      discount=float(config.discount),
      use_kernel=bool(config.use_kernel),
      generator_update=config.generator_update,
      step_size=float(config.step_size),
      cd_step_size=float(config.cd_step_size),
      num_fit_steps=int(config.num_fit_steps),
      bandwidth=self.bandwidth,
      kernel_normalization=config.kernel_normalization,
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
    shape = (n, self.config.noise_dim)
    if self.config.noise == "uniform":
      return jax.random.uniform(rng, shape, minval=-1.0, maxval=1.0)
    return jax.random.normal(rng, shape)

  def init_state(self, rng, config):
    energy = self.energy.init(jax.random.fold_in(rng, 0), jnp.zeros((1, config.num_visible), jnp.float32))
    generator = self.generator.init(jax.random.fold_in(rng, 1), jnp.zeros((2, config.noise_dim), jnp.float32))
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
      config = self.config
      cache = config.classifier_cache_dir or os.environ.get(data_lib.ENV_CACHE_DIR) or os.path.join(workdir, "cache")
      if config.dataset == "mnist":
        self._classifier = score_lib.mnist_classifier(config.data_dir, cache, num_epochs=config.classifier_epochs)
      else:
        x_train, x_test = self.data.to_pixels(self.data.train), self.data.to_pixels(self.data.test)
        proj = np.random.default_rng(LABEL_SEED).normal(size=(x_train.shape[1], SYNTHETIC_CLASSES))
        label = lambda x: np.argmax((x - x_train.mean(0)) @ proj, axis=1)
        self._classifier = score_lib.cached_classifier(
          f"{config.dataset}{x_train.shape[1]}",
          x_train.astype(np.float32),
          label(x_train),
          x_test.astype(np.float32),
          label(x_test),
          num_classes=SYNTHETIC_CLASSES,
          cache_dir=cache,
          hidden=(64,),
          num_epochs=config.classifier_epochs,
          batch_size=min(128, x_train.shape[0]),
        )
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
    x = self.samples(params["generator"], self.config.num_score_samples)
    clf = self.classifier(workdir)
    pixels = self.data.to_pixels(x).astype(np.float32)
    probs = score_lib.class_probabilities(clf.apply_fn, clf.params, pixels)
    return {
      "classifier_score": float(score_lib.inception_score(probs)),
      "class_coverage": score_lib.class_coverage(probs, COVERAGE_THRESHOLD),
      "mean_pairwise_distance": score_lib.mean_pairwise_distance(pixels),
      "generator_logp": float(_mean_loglik(params["energy"], jnp.asarray(x[:5000]))),
      "sample_pixel_std": float(pixels.std(0).mean()),
    }

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
    clf = self.classifier(workdir)
    final["classifier_test_accuracy"] = clf.test_accuracy
    test_pixels = self.data.to_pixels(self.data.test).astype(np.float32)
    test_probs = score_lib.class_probabilities(clf.apply_fn, clf.params, test_pixels)
    final["classifier_score_test_data"] = float(score_lib.inception_score(test_probs))
    final["class_coverage_test_data"] = score_lib.class_coverage(test_probs, COVERAGE_THRESHOLD)
    final["mean_pairwise_distance_test_data"] = score_lib.mean_pairwise_distance(test_pixels)
    final.update(
      alpha=config.alpha,
      use_kernel=config.use_kernel,
      generator_update=config.generator_update,
      discount=config.discount,
      seed=config.seed,
      num_steps=int(jax.device_get(state.step)),
      num_score_samples=config.num_score_samples,
      kernel_normalization=config.kernel_normalization,
      generator_normalization=config.generator_normalization,
      preprocess=config.preprocess,
    )
    if jax.process_index() == 0:
      with open(os.path.join(workdir, "final.json"), "w") as f:
        json.dump(final, f, indent=1)
    self._plot_samples(params, final["num_steps"], workdir)
    self._plot_curves(workdir)

  def _title(self):
    config = self.config
    name = (
      f"SteinCD-GAN({config.alpha:g})" if 0 < config.alpha < 1 else ("SteinCD" if config.alpha == 1 else "SteinGAN")
    )
    return name + ("" if config.use_kernel else " without kernel")

  def _plot_samples(self, params, step, workdir):
    config = self.config
    side = int(round(config.num_visible**0.5))
    x = self.samples(params["generator"], config.num_samples, seed_offset=1)
    fig = new_figure(figsize=(9, 4.8))
    axes = fig.subplots(1, 2)
    for ax, (title, v) in zip(
      axes, [(f"generator samples, {self._title()}", x), ("data (test)", self.data.test[: config.num_samples])]
    ):
      ax.imshow(figures_lib.image_grid(self.data.to_pixels(v), side), cmap="gray", vmin=0, vmax=1)
      ax.set_title(title, fontsize=9)
      ax.axis("off")
    space = (
      "pixels in [0, 1], the model's space"
      if config.preprocess == "unit"
      else "pixels = x' * scale + mean, clipped to [0, 1]"
    )
    fig.suptitle(f"seed {config.seed}, step {step}, {config.num_samples} samples: {space}", fontsize=9)
    save_figure(fig, workdir, "samples")

  def _plot_curves(self, workdir):
    records = [r for r in read_metrics(workdir) if "test/loglik" in r]
    if not records:
      return
    fig = new_figure(figsize=(12, 3.5))
    axes = fig.subplots(1, 3)
    steps = [r["step"] for r in records]
    key = "test/loglik_pixels" if "test/loglik_pixels" in records[-1] else "test/loglik"
    panels = [
      (key, "exact test log-likelihood\n(nats / image, [0, 1] pixels)"),
      ("eval/classifier_score", "classifier score of samples\n(1: one class; real digits ~9)"),
      ("eval/class_coverage", f"classes holding >= {COVERAGE_THRESHOLD:.0%}\nof the samples"),
    ]
    for ax, (name, label) in zip(axes, panels):
      if name in records[-1]:
        ax.plot(steps, [float(r[name]) for r in records], marker="o", markersize=3)
      ax.set_ylabel(label, fontsize=9)
      ax.set_xlabel("iteration")
      ax.grid(alpha=0.3)
    fig.suptitle(f"{self._title()}, seed {self.config.seed}", fontsize=10)
    fig.tight_layout()
    save_figure(fig, workdir, "curves")


if __name__ == "__main__":
  run_main(SteinGANExperiment)
