"""DIR/figures/posterior_check.png: per test point, the variance ratio of each approximation to the ground truth."""

from __future__ import annotations

import numpy as np

from stein_jax.train import figures

METHOD_LABELS = {
  "encoder": "encoder (amortised)",
  "svgd_s": "free SVGD, S particles",
  "svgd_large": "free SVGD, many particles",
}
COLORS = {"encoder": "#d7191c", "svgd_s": "#fdae61", "svgd_large": "#2c7bb6"}


def plot_check(out: dict):
  """Per test point: variance ratio of encoder / SVGD-S / SVGD-many against 1 (log axis)."""
  fig = figures.new_figure(figsize=(max(6.5, 1.0 * len(out["points"]) + 4.5), 3.8))
  ax = fig.add_subplot()
  s, large = out["num_particles"], out["large_particles"]
  labels = {
    "encoder": "encoder (amortised)",
    "svgd_s": f"free SVGD, S = {s}",
    "svgd_large": f"free SVGD, {large:,} particles",
  }
  width = 0.26
  xs = np.arange(len(out["points"]))
  for j, m in enumerate(METHOD_LABELS):
    vals = [p[m]["var_ratio"] if p["status"] == "ok" else np.nan for p in out["points"]]
    ax.bar(xs + (j - 1) * width, vals, width, color=COLORS[m], label=labels[m])
  for x, p in zip(xs, out["points"]):
    if p["status"] != "ok":
      ax.text(
        x,
        1.0,
        f"NUTS not\nconverged\nR-hat {p.get('reference', {}).get('rhat_max', 0):.2f}",
        ha="center",
        va="center",
        fontsize=7,
      )
  ax.axhline(1.0, color="k", ls="--", lw=1, label="ground truth (ratio 1)")
  ax.set_yscale("log")
  shown = [p[m]["var_ratio"] for p in out["points"] if p["status"] == "ok" for m in METHOD_LABELS]
  lo = min(shown + [1.0]) / 1.6
  hi = max(shown + [1.0]) * 1.6
  ax.set_ylim(lo, hi)
  ax.set_xticks(xs)
  ax.set_xticklabels([str(p["index"]) for p in out["points"]])
  ax.set_xlabel("test point")
  ax.set_ylabel("variance ratio to ground truth\n(geometric mean over coordinates)", fontsize=8)
  ax.set_title(
    f"{out['experiment']} ({out['method']}, step {out['checkpoint_step']}): "
    f"posterior widths\nground truth: {out['reference']}",
    fontsize=9,
  )
  ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
  fig.tight_layout()
  return fig
