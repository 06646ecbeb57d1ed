r"""Posterior check of a trained run: encoder vs free SVGD (S and 1,000 particles) vs ground truth.

    STEIN_JAX_DATA_DIR=/path/to/data python -m experiments.posterior_check \
        --config=configs/posterior_check.py --config.run_dir=RUN --workdir=DIR

RUN is the workdir of an ``experiments.stein_vae`` run (GMM, MNIST or text; Stein VAE,
VIWAE, VAE or IWAE) or of an ``experiments.pfa`` run. The run's defining config is read
from RUN/run.json (written by :func:`stein_jax.train.loop.check_workdir`), the experiment is
rebuilt (its fingerprint must equal the stored one) and the newest checkpoint restored
read-only. For each of ``config.test_indices`` (test points of the run's test split) the
posterior p(z | x, theta) is checked with :mod:`stein_jax.evaluation.posterior_check`:

  * ground truth: GMM, exact samples (``stein_jax.data.synthetic_gmm``); PFA, the run's
    cached Gibbs draws (RUN/pfa_gibbs_test.npz; compared in z as docs/results/pfa_20news.md,
    with SVGD on u = log z as in training); MNIST / text, NUTS (BlackJAX) on the decoder's
    posterior with ``nuts.num_chains`` chains from prior draws. A NUTS point with split
    R-hat above ``nuts.rhat_threshold`` or too many divergences is reported as not
    converged, with its R-hat, and no numbers.
  * encoder: ``encoder_samples`` samples of the trained q(z | x).
  * free SVGD from encoder samples with the run's S = ``svgd.num_particles`` and with
    ``large_particles``, the run's bandwidth rule, run to its fixed point.

Writes DIR/posterior_check.json (everything, per coordinate too), DIR/table.md and
DIR/figures/posterior_check.png. User errors (no trained model in RUN, a run of another
experiment, test indices out of range, missing PFA caches) print one ``error:`` line and
exit with status 1.

This tool imports the experiment packages it checks (``experiments.stein_vae``,
``experiments.pfa``): rebuilding a run exactly (its model, data and the checkpoint's state
structure) needs their Experiment classes; a copy of their build code would drift.

The tool is a package: ``reopen`` (the run, rebuilt read-only), ``points`` (one test point's
target, encoder and ground truth), ``check`` (the loop over test points), ``report`` (summary,
JSON and table), ``figures`` (the variance-ratio bars) and ``__main__`` (the command line).
"""

from experiments.posterior_check.check import _record, _reference_name, _top_name, _uptime, run_check
from experiments.posterior_check.figures import COLORS, METHOD_LABELS, plot_check
from experiments.posterior_check.points import (
  Point,
  _smallest_variance,
  bandwidth_rule,
  check_indices,
  kernel_metric,
  make_point,
  num_test_points,
)
from experiments.posterior_check.reopen import (
  STEIN_VAE_EXPERIMENTS,
  SUPPORTED,
  Error,
  Run,
  _resumable_defaults,
  load_run,
)
from experiments.posterior_check.report import _fmt, summarize, table_markdown, write_outputs

__all__ = [
  "COLORS",
  "Error",
  "METHOD_LABELS",
  "Point",
  "Run",
  "STEIN_VAE_EXPERIMENTS",
  "SUPPORTED",
  "_fmt",
  "_record",
  "_reference_name",
  "_resumable_defaults",
  "_smallest_variance",
  "_top_name",
  "_uptime",
  "bandwidth_rule",
  "check_indices",
  "kernel_metric",
  "load_run",
  "make_point",
  "num_test_points",
  "plot_check",
  "run_check",
  "summarize",
  "table_markdown",
  "write_outputs",
]
