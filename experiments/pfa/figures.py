"""Fig. 2 of Pu et al. 2017: a test document's posterior over its top topics, Gibbs against the encoders."""

import numpy as np

COLORS = {"gibbs": "#7b3294", "vae": "#d7191c", "stein_vae": "#1a9641"}
LABELS = {"gibbs": "Gibbs (MCMC)", "vae": "VAE", "stein_vae": "Stein VAE"}


def plot_fig2(samples: dict, num_topics: int, title: str):
  """Fig. 2: marginals (diagonal) and pairwise posteriors (below) of the top Gibbs topics.

  Args:
    samples: {"gibbs": [C, V], method: [n, V], ...} for one document.
    num_topics: how many topics (those with the largest Gibbs posterior means).
    title: the figure's title.
  """
  import matplotlib.pyplot as plt

  topics = np.argsort(-samples["gibbs"].mean(0))[:num_topics]
  k = len(topics)
  fig, axes = plt.subplots(k, k, figsize=(2.6 * k, 2.6 * k), squeeze=False)
  order = [m for m in ("gibbs", "vae", "stein_vae") if m in samples]
  for i in range(k):
    for j in range(k):
      ax = axes[i][j]
      if j > i:
        ax.axis("off")
        continue
      for m in order:
        s = np.asarray(samples[m])
        if i == j:
          lo, hi = np.percentile(samples["gibbs"][:, topics[i]], [0.5, 99.5])
          span = hi - lo
          bins = np.linspace(max(lo - 0.5 * span, 0), hi + 0.5 * span, 40)
          ax.hist(s[:, topics[i]], bins=bins, density=True, histtype="step", lw=1.5, color=COLORS[m], label=LABELS[m])
        else:
          ax.scatter(s[:500, topics[j]], s[:500, topics[i]], s=2, alpha=0.4, color=COLORS[m])
      if i == k - 1:
        ax.set_xlabel(f"z[{topics[j]}]", fontsize=8)
      if j == 0 and i > 0:
        ax.set_ylabel(f"z[{topics[i]}]", fontsize=8)
      ax.tick_params(labelsize=7)
  axes[0][0].legend(fontsize=7, loc="upper right")
  fig.suptitle(title, fontsize=9)
  fig.tight_layout()
  return fig
