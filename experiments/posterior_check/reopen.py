"""Reopening the run a posterior check reads: a Stein VAE-family run or a PFA run, rebuilt and restored read-only.

This module imports the experiment packages it checks (``experiments.stein_vae``, ``experiments.pfa``), lazily:
rebuilding a run exactly (its model, data and the checkpoint's state structure) needs their Experiment classes; a
copy of their build code would drift.
"""

from __future__ import annotations

import os
from typing import Optional

from stein_jax.evaluation import posterior_check as pc
from stein_jax.train import runs

STEIN_VAE_EXPERIMENTS = ("stein_vae_gmm", "stein_vae_mnist", "stein_vae_text")
SUPPORTED = STEIN_VAE_EXPERIMENTS + ("pfa",)
Error = pc.PosteriorCheckError
Run = runs.Run


def _resumable_defaults(name: str, run_dir: str, config) -> dict:
  """Values for the keys run.json leaves out (they never change the model or its data)."""
  from experiments import stein_vae  # pylint: disable=g-import-not-at-top

  shared = stein_vae.resumable_defaults(name, config.data_dir)
  if name in stein_vae.EXPERIMENT_NAMES:
    return shared
  shared = {k: v for k, v in shared.items() if not k.startswith("eval.")}
  theta = config.pfa_theta_file or os.path.join(run_dir, "pfa_theta.npz")
  gibbs = config.pfa_gibbs_file or os.path.join(run_dir, "pfa_gibbs_test.npz")
  for what, path, key in (("theta", theta, "pfa_theta_file"), ("Gibbs ground truth", gibbs, "pfa_gibbs_file")):
    if not os.path.exists(path):
      raise Error(
        f"PFA run {run_dir}: its {what} cache {path} does not exist (the check never "
        f"recomputes it); pass --config.{key}=<the file the run used>."
      )
  return {
    **shared,
    "eval.samples": 1000,
    "eval.top_topics": config.top_coordinates,
    "eval.figure_doc": 0,
    "eval.figure_topics": 3,
    "eval.other_samples_file": None,
    "theta.file": theta,
    "gibbs.file": gibbs,
  }


def load_run(run_dir: str, config, step: Optional[int] = None) -> Run:
  """Reopens a Stein VAE-family or PFA run (:func:`stein_jax.train.runs.load_run`) read-only.

  Raises:
    PosteriorCheckError: no such directory, no run.json or checkpoint (no trained
      model), an experiment this check does not support, or a rebuild whose
      fingerprint differs from the run's.
  """
  if not run_dir:
    raise Error(
      "--config.run_dir is required: the --workdir of a trained experiments." "stein_vae or experiments.pfa run."
    )

  def experiment_type(name):
    # pylint: disable=g-import-not-at-top
    if name in STEIN_VAE_EXPERIMENTS:
      from experiments import stein_vae

      return stein_vae.experiment_type(name)
    from experiments import pfa

    return pfa.PFAExperiment

  def build(name, cfg, path):
    # pylint: disable=g-import-not-at-top
    if name in STEIN_VAE_EXPERIMENTS:
      from experiments import stein_vae

      return stein_vae.make_experiment(cfg)
    from experiments import pfa

    return pfa.PFAExperiment(cfg, workdir=path)

  try:
    return runs.load_run(
      run_dir,
      build,
      supported=SUPPORTED,
      step=step,
      defaults=lambda name, path: _resumable_defaults(name, path, config),
      experiment_type=experiment_type,
    )
  except runs.RunLoadError as e:
    raise Error(str(e)) from e
