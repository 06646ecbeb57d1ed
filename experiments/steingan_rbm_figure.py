r"""Fig. 1(b)-(d) of Liu & Wang (2017): SteinCD-GAN(alpha) on the Gaussian-Bernoulli RBM, and the kernel ablation.

    STEIN_JAX_DATA_DIR=/path/to/data python -m experiments.steingan_rbm_figure \
        --config=configs/steingan_rbm_figure.py --workdir=/tmp/steingan_fig1 \
        [--config.setting=cpu] [--config.alphas='(0,0.1,0.25,0.5,1)'] [--config.seeds='(0,)'] \
        [--config.num_score_samples=50000] [--config.train=False]

Trains (through the platform, ``configs/steingan_rbm_mnist.py:<setting>``, one workdir per run) SteinCD-GAN(alpha)
for every alpha and SteinGAN without the kernel, each as ``WORKDIR/alpha<a>`` / ``WORKDIR/nokernel`` (seed 0) or
``WORKDIR/alpha<a>_seed<s>`` / ``WORKDIR/nokernel_seed<s>``. Finished runs are not retrained, so the command can be
repeated after an interruption or pointed at the workdirs of runs started by hand with the same names. Then, from
each run's last checkpoint, it scores ``num_score_samples`` generator samples (the paper: 50,000) and writes

  * ``WORKDIR/fig1b.png``: exact test log-likelihood ([0, 1]-pixel nats) and classifier score against alpha, with
    the kernel-free run and real test digits as reference lines (Fig. 1(b));
  * ``WORKDIR/fig1cd.png``: samples of SteinGAN with and without the kernel (Fig. 1(c), (d));
  * ``WORKDIR/results.json`` and ``WORKDIR/table.md``: the numbers per run (mean +- sd over seeds in the table).

From a notebook: ``run_from_config(configs.steingan_rbm_figure.get_config(), workdir)``;
``evaluate_run(experiment, workdir, num_samples)`` scores one trained run.
"""

from __future__ import annotations

import json
import os

import jax
import numpy as np

from configs import steingan_rbm_mnist
from experiments import steingan_rbm
from stein_jax.evaluation import classifier_score as score_lib
from stein_jax.train import config as config_lib
from stein_jax.train import figures, train_and_evaluate
from stein_jax.train import main as main_lib
from stein_jax.train.checkpoint import Checkpointer


def run_name(alpha, use_kernel: bool, seed: int) -> str:
  base = f"alpha{float(alpha):g}" if use_kernel else "nokernel"
  return base if seed == 0 else f"{base}_seed{seed}"


def run_config(setting: str, alpha, use_kernel: bool, seed: int):
  """The configs/steingan_rbm_mnist.py:<setting> config of one run of the figure."""
  config = steingan_rbm_mnist.get_config(setting)
  config.update(alpha=float(alpha), seed=seed)
  config.svgd.use_kernel = use_kernel
  return config


def evaluate_run(experiment, workdir: str, num_samples: int) -> dict:
  """Final metrics of one run from its latest checkpoint and ``final.json``."""
  abstract = experiment.init_state(jax.random.key(0), experiment.config)
  restored = Checkpointer(workdir).restore_latest(abstract, experiment.legacy_state_layout())
  if restored is None:
    raise FileNotFoundError(f"No checkpoint in {workdir}; train it first (drop --config.train=False).")
  params = jax.device_get(restored.state.inner.params)
  with open(os.path.join(workdir, "final.json")) as f:
    final = json.load(f)
  pixels = experiment.data.to_pixels(experiment.samples(params["generator"], num_samples, seed_offset=2))
  clf = experiment.classifier(workdir)
  probs = score_lib.class_probabilities(clf.apply_fn, clf.params, pixels.astype(np.float32))
  return {
    "step": restored.step,
    "test_loglik_pixels": final["test_pixels"],
    "classifier_score": float(score_lib.inception_score(probs)),
    "class_coverage": score_lib.class_coverage(probs, steingan_rbm.COVERAGE_THRESHOLD),
    "mean_pairwise_distance": score_lib.mean_pairwise_distance(pixels),
    "num_score_samples": num_samples,
    "real": {
      k: final[k]
      for k in ("classifier_score_test_data", "class_coverage_test_data", "mean_pairwise_distance_test_data")
    },
  }


def _mean_sd(values):
  values = np.asarray(values, np.float64)
  return (values.mean(), values.std(ddof=1) if values.size > 1 else 0.0)


def check(config) -> None:
  """Raises ConfigError naming every bad key of configs/steingan_rbm_figure.py's config."""
  c = config_lib
  c.check_fields(
    config,
    {
      "setting": c.one_of(steingan_rbm_mnist.SETTINGS),
      "alphas": c.tuple_of(c.number_in(0.0, 1.0)),
      "seeds": c.tuple_of(c.NON_NEGATIVE_INT),
      "num_score_samples": c.POSITIVE_INT,
      "train": c.BOOL,
    },
  )


def run_from_config(config, workdir: str) -> dict:
  """Trains the missing runs (``config.train``), scores every run, writes the table and figures to ``workdir``."""
  check(config)
  root = workdir
  os.makedirs(root, exist_ok=True)
  seeds = [int(s) for s in config.seeds]
  runs = [(float(a), True) for a in config.alphas] + [(0.0, False)]
  results = {}
  for alpha, use_kernel in runs:
    for seed in seeds:
      name = run_name(alpha, use_kernel, seed)
      run_dir = os.path.join(root, name)
      run = run_config(config.setting, alpha, use_kernel, seed)
      experiment = steingan_rbm.SteinGANExperiment(run)
      if config.train:
        train_and_evaluate(experiment, run, run_dir)
      elif not os.path.exists(os.path.join(run_dir, "final.json")):
        print(f"skipping {name}: not trained")
        continue
      results[name] = dict(
        evaluate_run(experiment, run_dir, config.num_score_samples), alpha=alpha, use_kernel=use_kernel, seed=seed
      )
      print(name, {k: v for k, v in results[name].items() if k != "real"})
  with open(os.path.join(root, "results.json"), "w") as f:
    json.dump(results, f, indent=1)

  def group(alpha, use_kernel, key):
    return [results[run_name(alpha, use_kernel, s)][key] for s in seeds if run_name(alpha, use_kernel, s) in results]

  lines = [
    f"| run | test log-lik ([0, 1] pixel nats) | classifier score ({config.num_score_samples} samples) | "
    "classes >= 5 % | mean pairwise distance | seeds |",
    "|---|---|---|---|---|---|",
  ]
  for alpha, use_kernel in runs:
    ll = group(alpha, use_kernel, "test_loglik_pixels")
    if not ll:
      continue
    label = (
      "SteinGAN without kernel"
      if not use_kernel
      else {0.0: "SteinGAN", 1.0: "SteinCD"}.get(alpha, f"SteinCD-GAN({alpha:g})")
    )
    cells = [
      _mean_sd(group(alpha, use_kernel, k))
      for k in ("test_loglik_pixels", "classifier_score", "class_coverage", "mean_pairwise_distance")
    ]
    lines.append(
      f"| {label} | "
      + " | ".join(f"{m:.2f} +- {s:.2f}" if len(ll) > 1 else f"{m:.2f}" for m, s in cells)
      + f" | {len(ll)} |"
    )
  real = next(iter(results.values()))["real"] if results else None
  if real:
    lines.append(
      f"| real test digits | | {real['classifier_score_test_data']:.2f} | "
      f"{real['class_coverage_test_data']} | {real['mean_pairwise_distance_test_data']:.2f} | |"
    )
  with open(os.path.join(root, "table.md"), "w") as f:
    f.write("\n".join(lines) + "\n")
  print("\n".join(lines))
  untrained = None
  if results:  # the exact test log-likelihood of the RBM at its initialisation, a reference line
    experiment = steingan_rbm.SteinGANExperiment(run_config(config.setting, 0.0, True, seeds[0]))
    state = experiment.init_state(jax.random.key(seeds[0]), experiment.config)
    untrained = experiment.logliks(jax.device_get(state.inner.params["energy"]))["test/loglik_pixels"]
    with open(os.path.join(root, "table.md"), "a") as f:
      f.write(f"\nUntrained RBM (its initialisation, seed {seeds[0]}): test log-likelihood {untrained:.2f}.\n")
  _plot(root, runs, group, real, untrained, title=f"setting '{config.setting}', seeds {seeds}")
  return results


def _plot(root, runs, group, real, untrained=None, title=""):
  alphas = [a for a, k in runs if k and group(a, True, "test_loglik_pixels")]
  if not alphas:
    return
  fig = figures.new_figure(figsize=(10, 3.8))
  ax1, ax2 = fig.subplots(1, 2)
  for ax, key, label in (
    (ax1, "test_loglik_pixels", "exact test log-likelihood\n(nats / image, [0, 1] pixels)"),
    (ax2, "classifier_score", "classifier score of samples"),
  ):
    stats = [_mean_sd(group(a, True, key)) for a in alphas]
    ax.errorbar(
      alphas, [m for m, _ in stats], yerr=[s for _, s in stats], marker="o", capsize=3, label="SteinCD-GAN(alpha)"
    )
    nokernel = group(0.0, False, key)
    if nokernel:
      ax.axhline(np.mean(nokernel), color="tab:red", ls="--", label="SteinGAN without kernel")
    if key == "classifier_score" and real:
      ax.axhline(real["classifier_score_test_data"], color="k", ls=":", label="real test digits")
    if key == "test_loglik_pixels" and untrained is not None:
      ax.axhline(untrained, color="gray", ls=":", label="untrained RBM (step 0)")
    ax.set_xlabel("alpha: fraction of SteinCD negatives (0 SteinGAN, 1 SteinCD)", fontsize=9)
    ax.set_ylabel(label)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
  fig.suptitle(f"Fig. 1(b): SteinCD-GAN(alpha) on the RBM ({title})", fontsize=10)
  fig.tight_layout()
  fig.savefig(os.path.join(root, "fig1b.png"), dpi=110)
  # Fig. 1(c), (d): the sample grids the runs already wrote, side by side.
  import matplotlib.image as mpimg

  panels = [
    (os.path.join(root, "alpha0", "figures", "samples.png"), "(c) SteinGAN"),
    (os.path.join(root, "nokernel", "figures", "samples.png"), "(d) SteinGAN without kernel"),
  ]
  panels = [(p, t) for p, t in panels if os.path.exists(p)]
  if panels:
    fig = figures.new_figure(figsize=(9 * len(panels), 5))
    for i, (path, title) in enumerate(panels):
      ax = fig.add_subplot(1, len(panels), i + 1)
      ax.imshow(mpimg.imread(path))
      ax.set_title(title)
      ax.axis("off")
    fig.tight_layout()
    fig.savefig(os.path.join(root, "fig1cd.png"), dpi=90)


if __name__ == "__main__":
  main_lib.run_tool(run_from_config)
