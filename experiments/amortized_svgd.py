r"""Amortized SVGD: a generator learns to sample a 2-D target (Liu & Wang 2017, sec. 4).

    python -m experiments.amortized_svgd --config=configs/amortized_svgd.py --workdir=/tmp/asvgd
    python -m experiments.amortized_svgd --config=configs/amortized_svgd.py \
        --config.svgd.repulsion=False --workdir=/tmp/asvgd_norep  # the "kernel off" ablation

Each step draws fresh noise xi, generates x = G(xi; eta), computes the SVGD direction
phi at x for the target's score, and moves eta along (dG/deta)^T phi (eq. (21)) or
regresses G onto x + eps * phi (Pu et al. eq. (7)). Evaluations log eval/ksd,
eval/mmd (to exact target samples) and, for the mixture, eval/mode_mass_error, and
draw the generated samples over the target density.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from stein_jax import amortized, ksd, targets
from stein_jax.evaluation.mmd import mmd
from stein_jax.models.generator import MLPGenerator
from stein_jax.train import AlgorithmExperiment, AlgorithmState, run_main, save_figure
from stein_jax.train import config as config_lib
from stein_jax.train.state import params_opt_state_layout


class AmortizedSVGD(AlgorithmExperiment):
  """Generator trained by amortized SVGD on a 2-D target (``state.inner``: ``amortized.AmortizedState``)."""

  name = "amortized_svgd"
  resumable_keys = ("eval.samples",)
  # Where each key of the nested config was before the nesting (the runs' fingerprint names).
  legacy_key_names = config_lib.moved_keys(
    model=("noise_dim", "hidden"),
    svgd=("num_particles", "step_size", "bandwidth", "repulsion", "num_fit_steps"),
    optimizer=("learning_rate",),
    eval={"samples": "eval_samples"},
  )

  def __init__(self, config):
    super().__init__(config)
    self.target = targets.get_target(config.target)
    if config.method not in amortized.METHODS:
      raise ValueError(f"config.method must be one of {amortized.METHODS}, got {config.method!r}.")
    svgd = config.svgd
    self.model = MLPGenerator(out_dim=2, hidden=tuple(config.model.hidden))
    self.tx = optax.adam(config.optimizer.learning_rate)
    bandwidth = svgd.bandwidth if isinstance(svgd.bandwidth, str) else float(svgd.bandwidth)
    noise_shape = (svgd.num_particles, config.model.noise_dim)
    self.algorithm = amortized.amortized_svgd(
      self._apply,
      self.tx,
      self.target.score,
      lambda rng, _: (jax.random.normal(rng, noise_shape),),
      step_size=svgd.step_size,
      method=config.method,
      num_fit_steps=svgd.num_fit_steps,
      reduction="mean",
      bandwidth=bandwidth,
      repulsion=svgd.repulsion,
    )

  def _apply(self, params, xi):
    return self.model.apply({"params": params}, xi)

  def init_state(self, rng, config):
    params = self.model.init(rng, jnp.zeros((1, config.model.noise_dim)))["params"]
    return AlgorithmState.create(self.algorithm.init(None, params), rng)

  def legacy_state_layout(self):  # runs saved as a TrainState before the algorithm protocol
    return params_opt_state_layout(amortized.AmortizedState)

  def samples(self, params, n, seed=1234):
    xi = jax.random.normal(jax.random.key(seed), (n, self.config.model.noise_dim))
    return self._apply(params, xi)

  def evaluate(self, state, step, workdir):
    n = self.config.eval.samples
    x = self.samples(state.inner.params, n)
    exact = self.target.sample(jax.random.key(4321), n)
    m = min(n, 2000)  # KSD / MMD are O(n^2): a 2000-point subsample is plenty
    out = {"ksd": float(ksd(x[:m], self.target.score(x[:m]))), "mmd": float(mmd(x[:m], exact[:m]))}
    if self.target.assign is not None:
      out["mode_mass_error"] = float(targets.mode_mass_error(self.target, x))
    self._plot(np.asarray(x[:m]), step, workdir)
    return out

  def _plot(self, x, step, workdir):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    lim = 7.0
    g = np.linspace(-lim, lim, 200)
    gx, gy = np.meshgrid(g, g)
    pts = jnp.asarray(np.stack([gx.ravel(), gy.ravel()], 1), jnp.float32)
    logp = np.asarray(jax.vmap(self.target.logdensity)(pts)).reshape(gx.shape)
    ax.contourf(gx, gy, np.exp(logp - logp.max()), levels=20, cmap="Blues")
    ax.scatter(x[:, 0], x[:, 1], s=2, c="crimson", alpha=0.6)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    rep = "with repulsion" if self.config.svgd.repulsion else "no repulsion"
    ax.set_title(f"{self.config.target}, {rep}, step {step}")
    fig.tight_layout()
    save_figure(fig, workdir, f"samples_{self.config.target}_step{step:06d}")


if __name__ == "__main__":
  run_main(AmortizedSVGD)
