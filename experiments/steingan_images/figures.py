"""The image SteinGAN's figures: the sample grid (Fig. 2 upper) and the energy / score curves."""

import numpy as np

from stein_jax.train import read_metrics, save_figure
from stein_jax.train.figures import new_figure


def plot_samples(experiment, params, workdir, step):
  """``figures/samples.png``: generated images beside real test images (one class per row for the joint model)."""
  config = experiment.config
  cols = config.eval.grid_columns
  if experiment.num_classes:
    labels = np.repeat(np.arange(experiment.data.num_classes, dtype=np.int32), cols)
    images, _ = experiment.generate(params, labels.size, seed=4, labels=labels)
    rows = experiment.data.num_classes
  else:
    rows = cols
    images, _ = experiment.generate(params, rows * cols, seed=4)
  s, c = experiment.data.image_shape[0], experiment.data.image_shape[2]
  grid = images.reshape(rows, cols, s, s, c).transpose(0, 2, 1, 3, 4).reshape(rows * s, cols * s, c)
  if experiment.num_classes:  # the same number of real test images of each class, one class per row
    real = np.concatenate([experiment.data.test_x[experiment.data.test_y == k][:cols] for k in range(rows)])
  else:
    real = experiment.data.test_x[: rows * cols]
  real = real.reshape(rows, cols, s, s, c).transpose(0, 2, 1, 3, 4)
  fig = new_figure(figsize=(2 * 0.35 * cols + 1, 0.35 * rows + 0.8))
  axes = fig.subplots(1, 2)
  axes[0].imshow(grid.squeeze(-1) if c == 1 else grid, cmap="gray" if c == 1 else None)
  kind = "kernel" if config.svgd.use_kernel else "w/o kernel"
  axes[0].set_title(
    f"SteinGAN ({kind}), step {step}" + (": one class per row" if experiment.num_classes else ""), fontsize=8
  )
  real = real.reshape(rows * s, cols * s, c)
  axes[1].imshow(real.squeeze(-1) if c == 1 else real, cmap="gray" if c == 1 else None)
  axes[1].set_title("real test images" + (" (same rows)" if experiment.num_classes else ""), fontsize=8)
  if experiment.num_classes and experiment.data.class_names:
    axes[0].set_yticks([(i + 0.5) * s for i in range(rows)])
    axes[0].set_yticklabels(experiment.data.class_names, fontsize=6)
    axes[0].set_xticks([])
    axes[1].axis("off")
  else:
    for ax in axes:
      ax.axis("off")
  fig.tight_layout()
  save_figure(fig, workdir, "samples")


def plot_curves(workdir):
  """``figures/energies.png``: mean energies of real and generated images, and the classifier score."""
  records = [r for r in read_metrics(workdir) if "eval/energy_real" in r]
  if not records:
    return
  steps = [r["step"] for r in records]
  fig = new_figure(figsize=(9, 3.2))
  ax1, ax2 = fig.subplots(1, 2)
  ax1.plot(steps, [r["eval/energy_real"] for r in records], label="real (test)")
  ax1.plot(steps, [r["eval/energy_generated"] for r in records], label="generated")
  ax1.set_xlabel("iteration")
  ax1.set_ylabel("mean energy -f")
  ax1.legend(fontsize=8)
  if "eval/classifier_score" in records[-1]:
    ax2.plot(steps, [r["eval/classifier_score"] for r in records])
    ax2.set_ylabel("classifier score (CIFAR-trained CNN)")
  ax2.set_xlabel("iteration")
  fig.tight_layout()
  save_figure(fig, workdir, "energies")
