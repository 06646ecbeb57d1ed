"""The SteinGAN-RBM experiment's figures: generator samples beside test digits (Fig. 1(c)/(d)) and the curves."""

from stein_jax.train import read_metrics, save_figure
from stein_jax.train import figures as figures_lib
from stein_jax.train.figures import new_figure

from experiments.steingan_rbm.evaluation import COVERAGE_THRESHOLD


def title(config) -> str:
  """ "SteinGAN", "SteinCD" or "SteinCD-GAN(alpha)", and "without kernel" for ``use_kernel=False``."""
  name = f"SteinCD-GAN({config.alpha:g})" if 0 < config.alpha < 1 else ("SteinCD" if config.alpha == 1 else "SteinGAN")
  return name + ("" if config.svgd.use_kernel else " without kernel")


def plot_samples(experiment, params, step, workdir):
  """WORKDIR/figures/samples.png: ``num_samples`` generator samples and as many test images, in pixels."""
  config = experiment.config
  side = int(round(config.num_visible**0.5))
  x = experiment.samples(params["generator"], config.eval.num_samples, seed_offset=1)
  fig = new_figure(figsize=(9, 4.8))
  axes = fig.subplots(1, 2)
  for ax, (name, v) in zip(
    axes, [(f"generator samples, {title(config)}", x), ("data (test)", experiment.data.test[: config.eval.num_samples])]
  ):
    ax.imshow(figures_lib.image_grid(experiment.data.to_pixels(v), side), cmap="gray", vmin=0, vmax=1)
    ax.set_title(name, fontsize=9)
    ax.axis("off")
  space = (
    "pixels in [0, 1], the model's space"
    if config.preprocess == "unit"
    else "pixels = x' * scale + mean, clipped to [0, 1]"
  )
  fig.suptitle(f"seed {config.seed}, step {step}, {config.eval.num_samples} samples: {space}", fontsize=9)
  save_figure(fig, workdir, "samples")


def plot_curves(config, workdir):
  """WORKDIR/figures/curves.png: test log-likelihood, classifier score and class coverage against the iteration."""
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
  fig.suptitle(f"{title(config)}, seed {config.seed}", fontsize=10)
  fig.tight_layout()
  save_figure(fig, workdir, "curves")
