"""Stage 3 of the PFA experiment: encoder samples against the Gibbs ground truth, per test document."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np

from stein_jax.evaluation.mmd import mmd

from experiments.pfa.gibbs import _theta_digest


def compare_to_gibbs(z, gibbs, top_topics: int) -> dict:
  """Per-document comparison of encoder samples z [D, n, V] with Gibbs samples [D, C, V].

  Returns a dict of [D] arrays: ``mean_error`` (mean over topics of |mean difference| /
  Gibbs sd), ``var_ratio`` and ``var_ratio_top`` (geometric means over all topics, and over
  the ``top_topics`` largest Gibbs posterior means, of var_enc / var_gibbs), ``mmd_z`` and
  ``mmd_log_z`` (unbiased MMD^2 with the pooled-median RBF bandwidth, on an equal number
  of encoder samples as Gibbs samples).
  """
  z = np.asarray(z, np.float64)
  g = np.asarray(gibbs, np.float64)
  m_e, m_g = z.mean(1), g.mean(1)
  v_e, v_g = z.var(1, ddof=1), g.var(1, ddof=1)
  log_ratio = np.log(v_e) - np.log(v_g)
  top = np.argsort(-m_g, 1)[:, :top_topics]
  n = min(z.shape[1], g.shape[1])
  mmd_z = [float(mmd(jnp.asarray(z[d, :n], jnp.float32), jnp.asarray(g[d], jnp.float32))) for d in range(z.shape[0])]
  mmd_log = [
    float(mmd(jnp.log(jnp.asarray(z[d, :n], jnp.float32)), jnp.log(jnp.asarray(g[d], jnp.float32))))
    for d in range(z.shape[0])
  ]
  return {
    "mean_error": np.mean(np.abs(m_e - m_g) / np.sqrt(v_g), 1),
    "var_ratio": np.exp(log_ratio.mean(1)),
    "var_ratio_top": np.exp(np.take_along_axis(log_ratio, top, 1).mean(1)),
    "mmd_z": np.asarray(mmd_z),
    "mmd_log_z": np.asarray(mmd_log),
  }


def summarize(res: dict) -> dict:
  """Over the documents: means of the MMDs and mean errors, geometric means of the variance ratios."""
  return {
    k: float(np.mean(v)) if k.startswith("mmd") or k == "mean_error" else float(np.exp(np.mean(np.log(v))))
    for k, v in res.items()
  }


def write_evaluation(workdir: str, step, method: str, res: dict, summary: dict, z, theta) -> None:
  """WORKDIR/pfa_eval.json (per-document numbers) and WORKDIR/pfa_samples.npz (250 encoder samples per document)."""
  if jax.process_index() != 0:
    return
  os.makedirs(workdir, exist_ok=True)
  details = {
    "step": int(step),
    "method": method,
    **{k: np.asarray(v).tolist() for k, v in res.items()},
    "summary": summary,
  }
  with open(os.path.join(workdir, "pfa_eval.json"), "w") as f:
    json.dump(details, f, indent=1)
  np.savez(
    os.path.join(workdir, "pfa_samples.tmp.npz"),
    samples=z[:, :250],
    method=method,
    theta_sha256=_theta_digest(theta),
  )
  os.replace(os.path.join(workdir, "pfa_samples.tmp.npz"), os.path.join(workdir, "pfa_samples.npz"))


def other_samples(path, theta, num_test_docs: int):
  """``(method, samples [D, n, V])`` the other method's run wrote to ``path`` (its pfa_samples.npz), or None.

  Raises:
    FileNotFoundError: no such file.
    ValueError: made with another theta or fewer test documents.
  """
  if not path:
    return None
  if not os.path.exists(path):
    raise FileNotFoundError(
      f"eval.other_samples_file {path} does not exist; run the other "
      "method first (it writes WORKDIR/pfa_samples.npz)."
    )
  with np.load(path) as f:
    method, samples, digest = str(f["method"]), f["samples"], str(f["theta_sha256"])
  if digest != _theta_digest(theta) or samples.shape[0] < num_test_docs:
    raise ValueError(
      f"eval.other_samples_file {path} was made with another theta or fewer test "
      "documents; share theta.file between the two runs."
    )
  return method, samples
