r"""Semi-supervised Stein VAE / Stein VIWAE and the VAE baseline (Pu et al. 2017, sec. 4, 5.3).

    STEIN_JAX_DATA_DIR=/path/to/data python -m experiments.semi_supervised \
        --config=configs/semi_supervised_mnist.py --workdir=/tmp/ssl
    ... --config=configs/semi_supervised_mnist.py:cpu --config.method=vae \
        --config.labels_per_class=100 --config.split_seed=1

The training set is split by :func:`balanced_split` into ``labels_per_class`` labelled
images per class (deterministic in ``split_seed``) and the rest, unlabelled and disjoint.
Each step sees ``labelled_batch_size`` labelled and ``batch_size - labelled_batch_size``
unlabelled images and takes one step of
:mod:`stein_jax.objectives.semi_supervised` (``config.method``). Evaluations log
``valid/error`` and ``test/error`` (classification error, %, of argmax mean_j
softmax(theta~ f_eta(x, xi_j)) over ``eval.samples`` encoder samples); with
``eval.probe`` also the error of a converged linear head on the frozen codes (``probe``);
the last evaluation is written to ``WORKDIR/final.json``.

Data sets: ``mnist`` and ``fashion_mnist`` through :func:`stein_jax.data.load`
("train" = the first 50,000 training images, "valid" the last 10,000, "test"), and
``synthetic`` (binary class prototypes with bit flips, for tests; flat, or images of
``synthetic.image_shape`` for the convolutional networks). Images are binarized:
dynamically per step for training (``binarization="dynamic"``) or once (``"fixed"``);
validation and test images always once, with a fixed seed.

Colour images (Table 4): ``cifar10`` (the scaled stand-in for ImageNet that we have:
``valid_per_class`` images of each class of its 50,000 training images are held out for
validation, the 10,000 test images are the test set) and ``imagenet2012`` through TFDS
(resized to ``resize`` pixels, random ``crop`` x ``crop`` crops with horizontal flips
for training, the central crop for evaluation, as sec. 5.3). Pixels are in [0, 1] minus
the training set's per-channel mean, and the likelihood is Gaussian (``noise_std``; see
docs/semi_supervised.md for why not a discretised logistic). ``labelled_fraction`` (for
example 0.01) labels that fraction of every class instead of ``labels_per_class`` images.

Networks (``network``): ``fnn`` (sec. 5.3 (i)), ``cnn`` (sec. 5.3 (ii), Table 3's CNN
column: :mod:`stein_jax.models.conv`) and ``resnet`` (Table 4's all-convolutional
residual net). The Stein methods' convolutional encoder stacks the noise with the image
(``encoder="noise"``); the VAE's is the same network with a Gaussian head
(``encoder="gaussian"``), chosen by ``encoder="auto"``.

The family is a package: this module (the experiment: state, batches, evaluation, ``final.json``), ``checks``
(config validation and the choices a config may name), ``splits`` (the labelled / unlabelled splits and the synthetic
data), ``probe`` (the linear probe on frozen codes), ``data`` (loading, binarization, colour preprocessing, the batchers), ``model`` (the networks and the trainer)
and ``__main__`` (the command line).
"""

from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import numpy as np

from stein_jax import data as data_lib  # a module attribute here: tests put a fake loader into data_lib.load
from stein_jax.objectives import semi_supervised as ss
from stein_jax.objectives import stein_vae as sv
from stein_jax.train import AlgorithmExperiment
from stein_jax.train.state import train_state_layout

from experiments.semi_supervised import checks
from experiments.semi_supervised import model as model_lib
from experiments.semi_supervised import probe as probe_lib
from experiments.semi_supervised.checks import (
  ACTIVATIONS,
  COLOUR_DATASETS,
  DATASETS,
  ENCODERS,
  IMAGE_SHAPES,
  LIKELIHOODS,
  NETWORKS,
  check_config,
)
from experiments.semi_supervised.data import _LABELLED_STREAM, SemiSupervisedData, colour_to_model, load_data
from experiments.semi_supervised.splits import balanced_counts_split, balanced_split, fraction_counts, synthetic_classes

__all__ = [
  "ACTIVATIONS",
  "COLOUR_DATASETS",
  "DATASETS",
  "ENCODERS",
  "IMAGE_SHAPES",
  "LIKELIHOODS",
  "NETWORKS",
  "SemiSupervisedData",
  "SemiSupervisedExperiment",
  "balanced_counts_split",
  "balanced_split",
  "check_config",
  "data_lib",
  "fraction_counts",
  "load_data",
  "synthetic_classes",
]


class SemiSupervisedExperiment(AlgorithmExperiment):
  """Table 3 (FNN or CNN) or Table 4's model: one method, one N_rho (or labelled fraction), one labelled split.

  The state is an :class:`AlgorithmState` around the trainer's ``SteinVAEState``:
  ``state.inner.params = {"enc", "dec": {"x", "y"}}`` (decoder leaves stacked [M, ...]).
  """

  name = "semi_supervised"
  resumable_keys = ("eval",)  # the evaluation group: error samples, batch, subsets and the probe
  # Where each key of the nested config was before the nesting (the runs' fingerprint names), and the values the
  # runs older than the convolutional and colour keys ran with (checks.py).
  legacy_key_names = checks.KEY_NAMES
  record_defaults = checks.RECORD_DEFAULTS
  legacy_defaults = checks.LEGACY_DEFAULTS  # keys new since the nesting, at the value the older runs used

  def __init__(self, config):
    super().__init__(config)
    check_config(config)
    d = load_data(config)
    self.colour, self.num_classes, self.pixel_mean = d.colour, d.num_classes, d.pixel_mean
    self.labelled_index, self.unlabelled_index = d.labelled_index, d.unlabelled_index
    self.labelled, self.unlabelled = d.labelled, d.unlabelled
    self.x_valid, self.y_valid, self.x_test, self.y_test = d.x_valid, d.y_valid, d.x_test, d.y_test
    self.model = model_lib.build_model(config, self.num_classes, self.x_valid.shape[1])
    self.trainer = self.algorithm = model_lib.make_trainer(
      config, self.model, int(self.unlabelled_index.size), int(self.labelled_index.size)
    )
    self._predict = jax.jit(lambda enc, dec, x, xi: ss.predict_proba(self.model, enc, dec, x, xi))
    self._last_eval = None
    self.probe = None
    if config.eval.probe:
      x_l = probe_lib.labelled_inputs(config, d)
      self.probe = probe_lib.Probe(config, self.model, x_l, d.y_labelled, self.num_classes)

  image_shape = staticmethod(checks.image_shape)
  num_strided = staticmethod(checks.num_strided)

  def likelihood(self) -> str:
    return model_lib.likelihood(self.config)

  def encoder_kind(self) -> str:
    return model_lib.encoder_kind(self.config)

  # ------------------------------------------------------------------ the state

  def legacy_state_layout(self):  # runs saved as a TrainState before the algorithm protocol
    return train_state_layout(sv.split_state, sv.join_state)

  def batch(self, step):
    u = self.unlabelled.batch(step)
    l = self.labelled.batch(step)
    if self.colour:
      x_u = colour_to_model(self.config, self.pixel_mean, u["x"], train=True, step=step)
      x_l = colour_to_model(self.config, self.pixel_mean, l["x"], train=True, step=step + _LABELLED_STREAM)
      return {"x_u": x_u, "x_l": x_l, "y_l": l["y"].astype(np.int32)}
    return {"x_u": u["x"].astype(np.float32), "x_l": l["x"].astype(np.float32), "y_l": l["y"].astype(np.int32)}

  # ------------------------------------------------------------------ evaluation

  def error(self, params, x, y) -> float:
    """Classification error (%) on x [T, dx] with ``eval_samples`` shared encoder samples."""
    cfg = self.config
    xi = probe_lib.evaluation_noise(cfg, self.model.base.latent_dim)
    wrong = 0
    for i in range(0, x.shape[0], cfg.eval.batch_size):
      p = self._predict(params["enc"], params["dec"], jnp.asarray(x[i : i + cfg.eval.batch_size]), xi)
      p = np.asarray(p)
      if not np.all(np.isfinite(p)):
        raise FloatingPointError("non-finite class probabilities at evaluation; lower the " "learning rate.")
      wrong += int(np.sum(p.argmax(-1) != y[i : i + cfg.eval.batch_size]))
    return 100.0 * wrong / x.shape[0]

  def evaluate(self, state, step, workdir):
    del workdir
    out = {
      "valid/error": self.error(state.inner.params, self.x_valid, self.y_valid),
      "test/error": self.error(state.inner.params, self.x_test, self.y_test),
    }
    if self.probe is not None:
      enc = state.inner.params["enc"]
      out.update(self.probe.evaluate(enc, self.x_valid, self.y_valid, self.x_test, self.y_test))
    self._last_eval = (int(step), out)
    return out

  def finalize(self, state, workdir):
    step = int(jax.device_get(state.step))
    if self._last_eval is not None and self._last_eval[0] == step:
      res = self._last_eval[1]
    else:
      res = self.evaluate(state, step, workdir)
    cfg = self.config
    record = {
      "step": step,
      "method": cfg.method,
      "dataset": cfg.dataset,
      "network": cfg.model.network,
      "labels_per_class": cfg.labels_per_class,
      "labelled_fraction": cfg.labelled_fraction,
      "split_seed": cfg.split_seed,
      "seed": cfg.seed,
      "num_labelled": int(self.labelled_index.size),
      "num_unlabelled": int(self.unlabelled_index.size),
      "num_particles": cfg.svgd.num_particles,
      "k": cfg.svgd.k,
      "eval_samples": cfg.eval.samples,
      **res,
    }
    if jax.process_index() == 0:
      os.makedirs(workdir, exist_ok=True)
      with open(os.path.join(workdir, "final.json"), "w") as f:
        json.dump(record, f, indent=1)
