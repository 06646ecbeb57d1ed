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
softmax(theta~ f_eta(x, xi_j)) over ``eval_samples`` encoder samples); the last
evaluation is written to ``WORKDIR/final.json``.

Data sets: ``mnist`` and ``fashion_mnist`` through :func:`stein_jax.data.load`
("train" = the first 50,000 training images, "valid" the last 10,000, "test"), and
``synthetic`` (binary class prototypes with bit flips, for tests). Images are
binarized: dynamically per step for training (``binarization="dynamic"``) or once
(``"fixed"``); validation and test images always once, with a fixed seed. The
registry's ``imagenet32`` is not accepted: its colour images have no Bernoulli
likelihood, its 1.28M images no CPU budget, and Table 4's residual CNN is not built.
"""

from __future__ import annotations

import json
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from stein_jax import data as data_lib
from stein_jax.models import vae as vae_models
from stein_jax.objectives import semi_supervised as ss
from stein_jax.objectives import stein_vae as sv
from stein_jax.train import AlgorithmExperiment, ConfigError, run_main
from stein_jax.train.state import train_state_layout

DATASETS = ("mnist", "fashion_mnist", "synthetic")
ENCODERS = ("auto", "gaussian", "flow")
ACTIVATIONS = {"softplus": nn.softplus, "tanh": nn.tanh, "relu": nn.relu}
# Seeds of the one-off binarizations (independent of the run's seed, so that every run
# sees the same validation and test images).
_EVAL_BINARIZE_SEED = 20170
_TRAIN_BINARIZE_SEED = 20171
_LABELLED_STREAM = 1_000_003  # labelled batcher seed offset: its own shuffle and binarization


def balanced_split(y: np.ndarray, labels_per_class: int, seed: int, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
  """Indices of a class-balanced labelled subset and of the rest (unlabelled).

  For each class c, ``labels_per_class`` of its examples are drawn without replacement by
  ``np.random.default_rng([seed, c])``; the unlabelled set is every other example.

  Args:
    y: int labels [N] in [0, num_classes).
    labels_per_class: N_rho >= 1.
    seed: the split seed (non-negative int).
    num_classes: C.

  Returns:
    (labelled [C * N_rho], unlabelled [N - C * N_rho]) sorted int64 indices, disjoint.

  Raises:
    ValueError: a class has no more than ``labels_per_class`` examples (none would be
      left unlabelled), or bad arguments.
  """
  y = np.asarray(y)
  if y.ndim != 1:
    raise ValueError(f"y must be a 1-d array of labels, got shape {y.shape}.")
  if not (isinstance(labels_per_class, (int, np.integer)) and labels_per_class >= 1):
    raise ValueError(f"labels_per_class must be an int >= 1, got {labels_per_class!r}.")
  if not (isinstance(seed, (int, np.integer)) and seed >= 0):
    raise ValueError(f"split_seed must be a non-negative int, got {seed!r}.")
  counts = np.bincount(y, minlength=num_classes)
  if counts.size > num_classes:
    raise ValueError(f"labels reach {y.max()} but num_classes is {num_classes}.")
  if labels_per_class >= counts.min():
    raise ValueError(
      f"labels_per_class={labels_per_class} is too large: the smallest class "
      f"has {counts.min()} training examples (class {counts.argmin()}); use at "
      f"most {counts.min() - 1} so that each class keeps unlabelled examples."
    )
  chosen = []
  for c in range(num_classes):
    idx = np.flatnonzero(y == c)
    rng = np.random.default_rng([int(seed), c])
    chosen.append(rng.choice(idx, labels_per_class, replace=False))
  labelled = np.sort(np.concatenate(chosen))
  mask = np.ones(y.shape[0], bool)
  mask[labelled] = False
  return labelled, np.flatnonzero(mask)


def synthetic_classes(
  seed: int, num_examples: int, num_classes: int, dim: int, flip: float, split: str
) -> tuple[np.ndarray, np.ndarray]:
  """Easily separable binary data: x = prototype[y] with each bit flipped w.p. ``flip``.

  Prototypes depend on ``seed`` only; examples on (seed, split). Returns (x float32
  [N, dim] in {0, 1}, y int32 [N]) with classes cycling 0, 1, ..., C - 1.
  """
  protos = np.random.default_rng([seed, 0]).random((num_classes, dim)) < 0.5
  rng = np.random.default_rng([seed, 1 + ("train", "valid", "test").index(split)])
  y = (np.arange(num_examples) % num_classes).astype(np.int32)
  x = protos[y] ^ (rng.random((num_examples, dim)) < flip)
  return x.astype(np.float32), y


def _binarize_once(x: np.ndarray, seed: int) -> np.ndarray:
  return (np.random.default_rng(seed).random(x.shape, dtype=np.float32) < x).astype(np.float32)


class SemiSupervisedExperiment(AlgorithmExperiment):
  """Table 3 (FNN): one method, one N_rho, one labelled split.

  The state is an :class:`AlgorithmState` around the trainer's ``SteinVAEState``:
  ``state.inner.params = {"enc", "dec": {"x", "y"}}`` (decoder leaves stacked [M, ...]).
  """

  name = "semi_supervised"
  resumable_keys = ("eval_samples", "eval_batch_size", "valid_examples", "test_examples")

  def __init__(self, config):
    super().__init__(config)
    self._check_config(config)
    self._load_data(config)
    self.model = self._build_model(config)
    self.trainer = self.algorithm = self._make_trainer()
    self._predict = jax.jit(lambda enc, dec, x, xi: ss.predict_proba(self.model, enc, dec, x, xi))
    self._last_eval = None

  # -------------------------------------------------------------- configuration

  def _check_config(self, config):
    problems = []
    if config.method not in ss.METHODS:
      problems.append(f"method must be one of {ss.METHODS}, got {config.method!r}")
    if config.dataset not in DATASETS:
      problems.append(
        f"dataset must be one of {DATASETS}, got {config.dataset!r}"
        + (
          " (imagenet32 is not supported: see experiments/semi_supervised.py)"
          if "imagenet" in str(config.dataset)
          else ""
        )
      )
    if config.binarization not in ("dynamic", "fixed"):
      problems.append(f"binarization must be 'dynamic' or 'fixed', got {config.binarization!r}")
    if config.vae_encoder_weighting not in ("batch", "data"):
      problems.append(f"vae_encoder_weighting must be 'batch' or 'data', got " f"{config.vae_encoder_weighting!r}")
    if config.encoder not in ENCODERS:
      problems.append(f"encoder must be one of {ENCODERS}, got {config.encoder!r}")
    if config.activation not in ACTIVATIONS:
      problems.append(f"activation must be one of {sorted(ACTIVATIONS)}, got " f"{config.activation!r}")
    for key in (
      "labels_per_class",
      "num_particles",
      "k",
      "num_decoder",
      "latent_dim",
      "eval_samples",
      "eval_batch_size",
      "encoder_steps",
      "labelled_batch_size",
    ):
      v = config[key]
      if not (isinstance(v, int) and v >= 1):
        problems.append(f"{key} must be an int >= 1, got {v!r}")
    if not (isinstance(config.split_seed, int) and config.split_seed >= 0):
      problems.append(f"split_seed must be a non-negative int, got {config.split_seed!r}")
    if isinstance(config.labelled_batch_size, int) and not 1 <= config.labelled_batch_size < config.batch_size:
      problems.append(
        f"labelled_batch_size must be in [1, batch_size - 1] = [1, "
        f"{config.batch_size - 1}], got {config.labelled_batch_size}"
      )
    if (
      config.method == "stein_viwae" and isinstance(config.k, int) and config.k >= 1 and config.num_particles % config.k
    ):
      problems.append(
        f"stein_viwae needs k to divide num_particles; got k={config.k}, " f"num_particles={config.num_particles}"
      )
    if not config.learning_rate > 0:
      problems.append(f"learning_rate must be > 0, got {config.learning_rate!r}")
    if not config.label_weight >= 0:
      problems.append(f"label_weight must be >= 0, got {config.label_weight!r}")
    if problems:
      raise ConfigError("invalid config: " + "; ".join(problems) + ".")

  def _load_data(self, config):
    if config.dataset == "synthetic":
      syn = config.synthetic
      parts = {
        s: synthetic_classes(syn.data_seed, n, syn.num_classes, syn.dim, syn.flip, s)
        for s, n in (("train", syn.num_train), ("valid", syn.num_valid), ("test", syn.num_test))
      }
      self.num_classes = syn.num_classes
    else:
      parts = {}
      for split, limit in (("train", None), ("valid", config.valid_examples), ("test", config.test_examples)):
        ds = data_lib.load(config.dataset, split, config.data_dir, max_examples=limit)
        if ds.y is None:
          raise ConfigError(f"invalid config: data set {config.dataset!r} has no labels.")
        parts[split] = (np.asarray(ds.x, np.float32).reshape(ds.x.shape[0], -1), ds.y)
      self.num_classes = int(parts["train"][1].max()) + 1
    x_tr, y_tr = parts["train"]
    counts = np.bincount(y_tr, minlength=self.num_classes)
    if config.labels_per_class >= counts.min():
      raise ConfigError(
        f"invalid config: labels_per_class={config.labels_per_class} is too large for "
        f"{config.dataset!r}, whose smallest class has {counts.min()} training images; use "
        f"at most {counts.min() - 1}."
      )
    lab, unl = balanced_split(y_tr, config.labels_per_class, config.split_seed, self.num_classes)
    if config.labelled_batch_size > lab.size:
      raise ConfigError(
        f"invalid config: labelled_batch_size={config.labelled_batch_size} "
        f"exceeds the {lab.size} labelled images; lower it."
      )
    if config.batch_size - config.labelled_batch_size > unl.size:
      raise ConfigError("invalid config: the unlabelled batch exceeds the unlabelled set.")
    if config.binarization == "fixed":
      x_tr = _binarize_once(x_tr, _TRAIN_BINARIZE_SEED)
    self.labelled_index, self.unlabelled_index = lab, unl
    self.x_valid = _binarize_once(parts["valid"][0], _EVAL_BINARIZE_SEED)
    self.y_valid = parts["valid"][1]
    self.x_test = _binarize_once(parts["test"][0], _EVAL_BINARIZE_SEED + 1)
    self.y_test = parts["test"][1]
    binarize = "dynamic" if config.binarization == "dynamic" else None
    self.unlabelled = data_lib.Batcher(
      {"x": x_tr[unl]}, config.batch_size - config.labelled_batch_size, config.seed, binarize=binarize
    )
    self.labelled = data_lib.Batcher(
      {"x": x_tr[lab], "y": y_tr[lab]}, config.labelled_batch_size, config.seed + _LABELLED_STREAM, binarize=binarize
    )

  def encoder_kind(self) -> str:
    if self.config.encoder == "auto":
      return "gaussian" if self.config.method == "vae" else "flow"
    return self.config.encoder

  def _build_model(self, config) -> ss.SemiSupervisedModel:
    hidden = tuple(config.hidden)
    act = ACTIVATIONS[config.activation]
    dz = config.latent_dim
    if self.encoder_kind() == "gaussian":
      enc = vae_models.GaussianEncoder(dz, hidden, act)
    else:
      enc = vae_models.FlowEncoder(
        dz,
        hidden,
        num_coupling_layers=config.num_coupling_layers,
        coupling_hidden=config.coupling_hidden,
        activation=act,
      )
    dx = self.x_valid.shape[1]
    dec = vae_models.BernoulliDecoder(dx, hidden, act)
    base = sv.LatentModel(enc, dec, dz, dx, "bernoulli")
    return ss.SemiSupervisedModel(base, nn.Dense(self.num_classes), self.num_classes, float(config.label_weight))

  def _make_trainer(self):
    cfg = self.config
    kwargs = {"encoder_weighting": cfg.vae_encoder_weighting}
    if cfg.method != "vae":
      kwargs = dict(step_size=cfg.step_size, encoder_steps=cfg.encoder_steps, decoder_prior_std=cfg.decoder_prior_std)
    return ss.make_trainer(
      cfg.method,
      self.model,
      optax.adam(cfg.learning_rate),
      num_unlabelled=int(self.unlabelled_index.size),
      num_labelled=int(self.labelled_index.size),
      num_particles=cfg.num_particles,
      k=cfg.k,
      num_decoder=cfg.num_decoder,
      **kwargs,
    )

  # ------------------------------------------------------------------ the state

  def legacy_state_layout(self):  # runs saved as a TrainState before the algorithm protocol
    return train_state_layout(sv.split_state, sv.join_state)

  def batch(self, step):
    u = self.unlabelled.batch(step)
    l = self.labelled.batch(step)
    return {"x_u": u["x"].astype(np.float32), "x_l": l["x"].astype(np.float32), "y_l": l["y"].astype(np.int32)}

  # ------------------------------------------------------------------ evaluation

  def error(self, params, x, y) -> float:
    """Classification error (%) on x [T, dx] with ``eval_samples`` shared encoder samples."""
    cfg = self.config
    xi = jax.random.normal(jax.random.key(cfg.seed + 777), (cfg.eval_samples, self.model.base.latent_dim))
    wrong = 0
    for i in range(0, x.shape[0], cfg.eval_batch_size):
      p = self._predict(params["enc"], params["dec"], jnp.asarray(x[i : i + cfg.eval_batch_size]), xi)
      p = np.asarray(p)
      if not np.all(np.isfinite(p)):
        raise FloatingPointError("non-finite class probabilities at evaluation; lower the " "learning rate.")
      wrong += int(np.sum(p.argmax(-1) != y[i : i + cfg.eval_batch_size]))
    return 100.0 * wrong / x.shape[0]

  def evaluate(self, state, step, workdir):
    del workdir
    out = {
      "valid/error": self.error(state.inner.params, self.x_valid, self.y_valid),
      "test/error": self.error(state.inner.params, self.x_test, self.y_test),
    }
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
      "labels_per_class": cfg.labels_per_class,
      "split_seed": cfg.split_seed,
      "seed": cfg.seed,
      "num_labelled": int(self.labelled_index.size),
      "num_unlabelled": int(self.unlabelled_index.size),
      "num_particles": cfg.num_particles,
      "k": cfg.k,
      "eval_samples": cfg.eval_samples,
      **res,
    }
    if jax.process_index() == 0:
      os.makedirs(workdir, exist_ok=True)
      with open(os.path.join(workdir, "final.json"), "w") as f:
        json.dump(record, f, indent=1)


if __name__ == "__main__":
  run_main(SemiSupervisedExperiment)
