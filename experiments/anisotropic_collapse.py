r"""Where the Stein encoders lose their width: an anisotropic Gaussian posterior, free vs amortised particles.

    python -m experiments.anisotropic_collapse --config=configs/anisotropic_collapse.py \
        --workdir=/tmp/anisotropic_collapse
    python -m experiments.anisotropic_collapse --config=configs/anisotropic_collapse.py --workdir=DIR \
        --config.particles='(20,100)' --config.dim=50

A posterior that the data pin down in some coordinates and leave prior-like in others: N(0, diag(v))
in d dimensions with v log-spaced from ``config.min_var`` (0.01) to 1. On it, per particle count S:

* free SVGD: S particles moved by plain, Jacobi-preconditioned steps z + eps v phi (same fixed
  points as z + eps phi) from exact samples, to (near) their fixed point;
* amortised SVGD as the Stein VAE runs it (Pu et al. eq. (7)) with the most expressive encoder
  there is for one posterior: z = mu + exp(log_sigma) xi, fresh xi ~ N(0, I) every step, one Adam
  step on the regression onto the moved particles (``latent_update`` "sgd" or "adam"), started
  at the prior N(0.3, I);

each with the paper's isotropic median-bandwidth RBF, the diagonal metric
(``svgd_direction(metric="diagonal")``, docs/stein_math.md sec. 13) and, amortised, the authors'
related code's alpha = 100 with row-sum normalisation (sec. 12). Reported: the variance ratio to
the truth per coordinate, as geometric means over the 10 narrowest, the 10 widest and all
coordinates. Writes DIR/anisotropic_collapse.json, DIR/table.md, DIR/figures/anisotropic_collapse.png.
From a notebook: ``run_all(target_variances(d, min_var), particle_counts, free_steps, amortised_steps)``
returns the rows; ``free_svgd`` and ``amortised_svgd`` are the two arms.
"""

from __future__ import annotations

import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from stein_jax import svgd_direction
from stein_jax.objectives.stein_vae import move_particles
from stein_jax.train import config as config_lib
from stein_jax.train import main as main_lib
from stein_jax.train import save_figure
from stein_jax.train.figures import new_figure


def target_variances(d: int, min_var: float) -> np.ndarray:
  return np.logspace(np.log10(min_var), 0.0, d)


def free_svgd(v, n, metric="isotropic", steps=3000, step_size=0.3, seed=0):
  """Per-coordinate variance ratio of n free SVGD particles on N(0, diag(v)), from exact samples."""
  v = jnp.asarray(v)
  z = jnp.sqrt(v) * jax.random.normal(jax.random.key(seed), (n, v.shape[0]))
  step = jax.jit(lambda z: z + step_size * v * svgd_direction(z, -z / v, metric=metric))
  for _ in range(steps):
    z = step(z)
  return np.asarray(jnp.var(z, 0, ddof=1) / v)


def amortised_svgd(
  v, n, latent_update="sgd", metric="isotropic", repulsion=1.0, normalization="mean", steps=4000, lr=1e-2, seed=0
):
  """Variance ratio exp(2 log_sigma) / v of a location-scale 'encoder' trained by eq. (7).

  Step size eps of the moved particles: 1 for "adam" (each coordinate moves by ~1; Adam on
  the encoder is invariant to it), 0.005 for "sgd" (a small explicit step; with K = 1 and
  Adam on the encoder only the direction of J^T phi matters, so eps is immaterial as well).
  """
  v = jnp.asarray(v)
  d = v.shape[0]
  params = {"mu": jnp.full((d,), 0.3), "log_sigma": jnp.zeros(d)}
  tx = optax.adam(lr)
  opt_state = tx.init(params)
  eps = 1.0 if latent_update == "adam" else 0.005

  def update(params, opt_state, key):
    xi = jax.random.normal(key, (n, d))
    f = lambda p: p["mu"] + jnp.exp(p["log_sigma"]) * xi
    z = f(params)
    phi = svgd_direction(z, -z / v, metric=metric, repulsion=repulsion, normalization=normalization)
    targets = move_particles(z, phi, eps, latent_update)
    grads = jax.grad(lambda p: 0.5 * jnp.mean(jnp.sum((f(p) - targets) ** 2, -1)))(params)
    upd, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, upd), opt_state

  update = jax.jit(update)
  key = jax.random.key(seed + 1)
  for t in range(steps):
    params, opt_state = update(params, opt_state, jax.random.fold_in(key, t))
  return np.asarray(jnp.exp(2 * params["log_sigma"]) / v)


def summarise(ratio) -> dict:
  r = np.asarray(ratio, np.float64)
  gm = lambda a: float(np.exp(np.mean(np.log(np.maximum(a, 1e-30)))))
  return {
    "all": gm(r),
    "narrow10": gm(r[:10]),
    "wide10": gm(r[-10:]),
    "min": float(r.min()),
    "max": float(r.max()),
    "per_coordinate": r.tolist(),
  }


VARIANTS = (
  # (name, kind, kwargs)
  ("free, isotropic", "free", {"metric": "isotropic"}),
  ("free, diagonal", "free", {"metric": "diagonal"}),
  ("amortised sgd, isotropic", "amortised", {"latent_update": "sgd"}),
  ("amortised adam, isotropic", "amortised", {"latent_update": "adam"}),
  (
    "amortised sgd, alpha=100 row_sum",
    "amortised",
    {"latent_update": "sgd", "repulsion": 100.0, "normalization": "row_sum"},
  ),
  ("amortised sgd, diagonal", "amortised", {"latent_update": "sgd", "metric": "diagonal"}),
  ("amortised adam, diagonal", "amortised", {"latent_update": "adam", "metric": "diagonal"}),
)


def run_all(v, particle_counts, free_steps, amortised_steps, seed=0):
  rows = []
  for n in particle_counts:
    for name, kind, kw in VARIANTS:
      t0 = time.time()
      if kind == "free":
        r = free_svgd(v, n, steps=free_steps, seed=seed, **kw)
      else:
        r = amortised_svgd(v, n, steps=amortised_steps, seed=seed, **kw)
      rows.append({"S": n, "variant": name, **summarise(r), "seconds": time.time() - t0})
  return rows


def table(rows) -> str:
  lines = [
    "| S | variant | narrowest 10 | widest 10 | all (geo. mean) | min | max |",
    "|---:|---|---:|---:|---:|---:|---:|",
  ]
  for r in rows:
    lines.append(
      f"| {r['S']} | {r['variant']} | {r['narrow10']:.3f} | {r['wide10']:.3f} | "
      f"{r['all']:.3f} | {r['min']:.3f} | {r['max']:.3f} |"
    )
  return "\n".join(lines) + "\n"


def plot(rows, v):
  counts = list(dict.fromkeys(r["S"] for r in rows))
  fig = new_figure(figsize=(5.2 * len(counts), 4.0))
  axes = fig.subplots(1, len(counts), squeeze=False)[0]
  for ax, n in zip(axes, counts):
    for r in rows:
      if r["S"] != n:
        continue
      ls = "-" if r["variant"].startswith("free") else "--"
      ax.plot(v, r["per_coordinate"], ls, label=r["variant"], lw=1.4)
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(1e-3, 2e2)
    ax.set_xlabel("true posterior variance of the coordinate")
    ax.set_ylabel("variance ratio (particles or encoder / truth)")
    ax.set_title(f"S = {n} particles, d = {len(v)}")
    ax.legend(fontsize=7, loc="upper left")
  fig.tight_layout()
  return fig


def check(config) -> None:
  """Raises ConfigError naming every bad key of configs/anisotropic_collapse.py's config."""
  c = config_lib
  c.check_fields(
    config,
    {
      # ddof=1 variances: at least two particles.
      "particles": c.tuple_of(c.Rule(lambda n: c.POSITIVE_INT.ok(n) and n >= 2, "an int >= 2")),
      "dim": c.POSITIVE_INT,
      "min_var": c.Rule(lambda v: c.POSITIVE_NUMBER.ok(v) and v <= 1, "a number in (0, 1]"),
      "free_steps": c.POSITIVE_INT,
      "amortised_steps": c.POSITIVE_INT,
    },
  )


def run_from_config(config, workdir: str) -> list[dict]:
  """:func:`run_all` as ``config`` says; writes the json, table.md and the figure to ``workdir``."""
  check(config)
  os.makedirs(workdir, exist_ok=True)
  v = target_variances(config.dim, config.min_var)
  rows = run_all(v, list(config.particles), config.free_steps, config.amortised_steps, config.seed)
  with open(os.path.join(workdir, "anisotropic_collapse.json"), "w") as f:
    json.dump({"variances": v.tolist(), "rows": rows, "config": config.to_dict()}, f, indent=1)
  md = table(rows)
  with open(os.path.join(workdir, "table.md"), "w") as f:
    f.write(md)
  print(md)
  path = save_figure(plot(rows, v), workdir, "anisotropic_collapse")
  print(f"Wrote {path}")
  return rows


if __name__ == "__main__":
  main_lib.run_tool(run_from_config)
