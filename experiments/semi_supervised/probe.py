"""A converged linear head on the frozen codes (``eval.probe``): is the trained head or the codes the limit?

At a short budget the jointly trained head softmax(theta~ z + b) may lag codes that already separate the
classes. With ``eval.probe=True`` every evaluation also fits multinomial logistic regression to convergence
(:mod:`stein_jax.evaluation.linear_probe`) on the codes f_eta(x_l, xi_j) of the labelled training images only
(one fixed binarization; the ``eval.samples`` draws of xi the head's evaluation uses, each a training row),
with the penalty chosen from ``eval.probe_l2s`` by validation error, and reports its validation and test error
(``valid/probe_error``, ``test/probe_error``, ``probe/l2``, ``probe/labelled_error``). It sees no label the
model did not, so it is a semi-supervised classifier in its own right; its gap to ``test/error`` is the head's
optimisation deficit, and its own error what the codes allow a linear head (docs/semi_supervised.md sec. 12).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from stein_jax.evaluation import linear_probe
from stein_jax.objectives import stein_vae as sv

from experiments.semi_supervised import data as ss_data


def evaluation_noise(config, latent_dim: int):
  """The ``eval.samples`` draws of xi [S, dz] every evaluation uses (the head's error and the probe alike)."""
  return jax.random.normal(jax.random.key(config.seed + 777), (config.eval.samples, latent_dim))


def labelled_inputs(config, d: ss_data.SemiSupervisedData) -> np.ndarray:
  """The labelled images as the encoder sees them at evaluation: binarized once, or the colour eval transform."""
  if d.colour:
    return ss_data.colour_to_model(config, d.pixel_mean, d.x_labelled, train=False)
  if config.binarization == "dynamic":
    return ss_data.binarize_once(d.x_labelled, ss_data._PROBE_BINARIZE_SEED)  # pylint: disable=protected-access
  return np.asarray(d.x_labelled, np.float32)


class Probe:
  """Fits and scores the probe for one experiment (jitted encoder, fixed xi draws)."""

  def __init__(self, config, model, x_labelled, y_labelled, num_classes: int):
    self.config, self.num_classes = config, num_classes
    self.x_labelled, self.y_labelled = x_labelled, np.asarray(y_labelled)
    base = model.base
    self.xi = evaluation_noise(config, base.latent_dim)
    self._encode = jax.jit(lambda enc, x, xi: sv.encode(base, enc, x[:, None, :], xi[None]))

  def codes(self, enc_params, x) -> np.ndarray:
    """[T, S, dz] codes of x [T, dx] under the S = ``eval.samples`` draws of xi."""
    b = self.config.eval.batch_size
    out = [np.asarray(self._encode(enc_params, jnp.asarray(x[i : i + b]), self.xi)) for i in range(0, len(x), b)]
    c = np.concatenate(out)
    if not np.all(np.isfinite(c)):
      raise FloatingPointError("non-finite latent codes at evaluation; lower the learning rate.")
    return c

  def _error(self, probe, codes, y) -> float:
    p = np.asarray(linear_probe.predict_proba(probe, codes)).mean(1)  # mean over the xi draws, as the head
    return 100.0 * float(np.mean(p.argmax(-1) != y))

  def evaluate(self, enc_params, x_valid, y_valid, x_test, y_test) -> dict:
    c_l = self.codes(enc_params, self.x_labelled)
    s = c_l.shape[1]
    rows, labels = c_l.reshape(-1, c_l.shape[-1]), np.repeat(self.y_labelled, s)
    c_v = self.codes(enc_params, x_valid)
    fits = []
    for l2 in self.config.eval.probe_l2s:
      probe = linear_probe.fit(rows, labels, self.num_classes, l2=float(l2))
      fits.append((self._error(probe, c_v, y_valid), float(l2), probe))
    valid_error, l2, probe = min(fits, key=lambda f: f[0])  # ties: the first (smallest) penalty listed
    return {
      "valid/probe_error": valid_error,
      "test/probe_error": self._error(probe, self.codes(enc_params, x_test), y_test),
      "probe/l2": l2,
      "probe/labelled_error": self._error(probe, c_l, self.y_labelled),
    }
