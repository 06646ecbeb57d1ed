r"""Energy models on the platform: the Gaussian-Bernoulli RBM of Fig. 1a of Liu & Wang 2017 (sec. 5.1).

    python -m experiments.energy --config=configs/rbm_mnist.py:steincd --workdir=DIR [--config.data_dir=...]
    python -m experiments.energy --config=configs/rbm_mnist.py:cd10 --config.langevin.step_size=0.1 --workdir=DIR

The config is nested (``model``, ``svgd``, ``langevin``, ``optimizer``, ``eval``; docs/architecture.md, "Nested
configs"); its runs keep the fingerprints of the flat config it replaced (``legacy_key_names``).

``config.method`` picks the training rule of ``stein_jax.objectives.energy``:

=========== ===================================================================================
steincd     Stein contrastive divergence, Algorithm 1 (one SVGD step on the minibatch, eq. (13))
stein_sm    Stein score matching, eq. (15) (half the squared kernel Stein discrepancy)
cd1, cd10   CD-k with Langevin dynamics from the data, k = 1 and 10 (the paper's baselines)
mle         exact maximum likelihood, gradient of the exact log Z (the ceiling)
=========== ===================================================================================

Evaluations log the exact average log-likelihood (nats per image, in the preprocessed space of
``configs/rbm_mnist.py``) as ``test/loglik``, ``valid/loglik`` and ``train_subset/loglik``. ``finalize`` writes
``DIR/figures/samples.png`` (exact samples and long Langevin chains from noise, mapped back to pixels),
``DIR/figures/loglik.png`` (the run's curves) and ``DIR/final.json``.

A chain that diverges (NaN / inf negatives) turns the step's loss into NaN, so the platform stops the run with
``NonFiniteLossError`` naming the step.
"""

from __future__ import annotations

import functools
import json
import os

import jax
import jax.numpy as jnp
import optax

from stein_jax import data as data_lib
from stein_jax.targets import rbm as rbm_eval
from stein_jax.models.energy import GaussianBernoulliRBM, energy_and_score
from stein_jax.objectives import energy as energy_objectives
from stein_jax.train import AlgorithmExperiment, AlgorithmState, read_metrics, run_main, save_figure
from stein_jax.train import config as config_lib
from stein_jax.train.state import params_opt_state_layout
from stein_jax.data.energy_data import load_energy_data
from stein_jax.train import figures as figures_lib
from stein_jax.train.figures import new_figure

METHODS = ("steincd", "stein_sm", "cd1", "cd10", "mle")


# ------------------------------------------------------------------------------------------------ data


# ------------------------------------------------------------------------------------------------ rules


def rule_and_hyperparameters(config):
  """``(rule, hyper-parameters)`` of ``config.method``, a function of ``stein_jax.objectives.energy``."""
  method = config.method
  if method == "steincd":
    return energy_objectives.get_energy_objective("steincd"), {"step_size": config.svgd.step_size}
  if method == "stein_sm":
    return energy_objectives.get_energy_objective("stein_score_matching"), {}
  if method in ("cd1", "cd10"):
    return energy_objectives.get_energy_objective("cd_langevin"), {
      "num_steps": 1 if method == "cd1" else 10,
      "step_size": config.langevin.step_size,
    }
  if method == "mle":
    return energy_objectives.get_energy_objective("rbm_exact_mle"), {}
  raise ValueError(f"config.method must be one of {METHODS}; got {method!r}.")


@functools.partial(jax.jit, static_argnames=("num_steps",))
def langevin_chains(rng, variables, x0, *, num_steps: int, step_size: float):
  """``num_steps`` of unadjusted Langevin dynamics on the RBM from ``x0 [n, d]`` (for sample figures)."""
  apply_fn = GaussianBernoulliRBM(variables["params"]["c"].shape[0]).apply

  def step(t, y):
    _, score = energy_and_score(apply_fn, variables, y)
    return y + 0.5 * step_size * score + jnp.sqrt(step_size) * jax.random.normal(jax.random.fold_in(rng, t), y.shape)

  return jax.lax.fori_loop(0, num_steps, step, x0)


@jax.jit
def _mean_loglik(variables, x):
  return rbm_eval.mean_log_likelihood(variables, x)


# ------------------------------------------------------------------------------------------------ experiment


class EnergyExperiment(AlgorithmExperiment):
  """Gaussian-Bernoulli RBM trained by one rule of ``stein_jax.objectives.energy`` (config ``configs/rbm_mnist.py``).

  State: an :class:`AlgorithmState` around the rule's ``EnergyTrainState``; ``state.inner.params`` are the module's
  variables ``{"params": {"B" [d, H], "b" [d], "c" [H]}}``; Adam.
  """

  name = "energy_rbm"
  resumable_keys = ("eval", "num_eval_train")  # the sample figures and the evaluated train subset
  # Where each key of the nested config was before the nesting (the runs' fingerprint names). Every run.json of
  # the flat configs holds all of the defining keys, so no legacy_defaults / record_defaults are needed.
  legacy_key_names = config_lib.moved_keys(
    model=("num_hidden", "init_scale"),
    svgd={"step_size": "svgd_step_size"},
    langevin={"step_size": "langevin_step_size"},
    optimizer=("learning_rate",),
    eval=("num_samples", "langevin_chain_steps", "langevin_chain_step_size"),
  )

  def __init__(self, config):
    super().__init__(config)
    if config.method not in METHODS:
      raise ValueError(f"config.method must be one of {METHODS}; got {config.method!r}.")
    if config.model.num_hidden > rbm_eval.MAX_EXACT_HIDDEN:
      raise ValueError(
        f"config.model.num_hidden={config.model.num_hidden} exceeds MAX_EXACT_HIDDEN={rbm_eval.MAX_EXACT_HIDDEN}: the exact "
        "log-likelihood (and the 'mle' rule) enumerate all 2**num_hidden hidden states. Use at most "
        f"{rbm_eval.MAX_EXACT_HIDDEN} hidden units."
      )
    self.rule, self.hyperparameters = rule_and_hyperparameters(config)
    self.data = load_energy_data(
      config.dataset,
      config.data_dir,
      config.preprocess,
      config.num_eval_train,
      config.synthetic_dim,
      config.model.num_hidden,
    )
    dim = self.data.train.shape[1]
    if dim != config.num_visible:
      raise ValueError(
        f"The {config.dataset!r} data have dimension {dim} but the model has config.num_visible="
        f"{config.num_visible} visible units; set --config.num_visible={dim} or use data of dimension "
        f"{config.num_visible}."
      )
    self.model = GaussianBernoulliRBM(
      config.model.num_hidden, weight_init=jax.nn.initializers.normal(config.model.init_scale)
    )
    self.tx = optax.adam(config.optimizer.learning_rate)
    self.algorithm = energy_objectives.make_trainer(self.rule, self.model.apply, self.tx, **self.hyperparameters)
    self.batcher = data_lib.Batcher(self.data.train, config.batch_size, config.seed)
    self._eval_sets = {
      "test": jnp.asarray(self.data.test),
      "valid": jnp.asarray(self.data.valid),
      "train_subset": jnp.asarray(self.data.train_subset),
    }

  def init_state(self, rng, config):
    variables = self.model.init(rng, jnp.zeros((1, config.num_visible), jnp.float32))
    return AlgorithmState.create(self.algorithm.init(None, variables), jax.random.fold_in(rng, 1))

  def legacy_state_layout(self):  # runs saved as a TrainState before the algorithm protocol
    return params_opt_state_layout(energy_objectives.EnergyTrainState)

  def batch(self, step):
    return {"x": self.batcher.batch(step)["x"]}

  def evaluate(self, state, step, workdir):
    variables = jax.device_get(state.inner.params)
    return {f"{name}/loglik": float(_mean_loglik(variables, x)) for name, x in self._eval_sets.items()}

  def finalize(self, state, workdir):
    config = self.config
    variables = jax.device_get(state.inner.params)
    final = {name: float(_mean_loglik(variables, x)) for name, x in self._eval_sets.items()}
    final.update(method=config.method, seed=config.seed, num_steps=int(jax.device_get(state.step)))
    if jax.process_index() == 0:
      with open(os.path.join(workdir, "final.json"), "w") as f:
        json.dump(final, f, indent=1)
    self._plot_samples(variables, workdir)
    self._plot_curves(workdir)

  def _plot_samples(self, variables, workdir):
    config = self.config
    rng = jax.random.fold_in(jax.random.key(config.seed), 7)
    n = config.eval.num_samples
    exact, _ = rbm_eval.sample(rng, variables, n)
    x0 = jax.random.normal(jax.random.fold_in(rng, 1), (n, config.num_visible))
    chains = langevin_chains(
      jax.random.fold_in(rng, 2),
      variables,
      x0,
      num_steps=config.eval.langevin_chain_steps,
      step_size=config.eval.langevin_chain_step_size,
    )
    mean = rbm_eval.rbm_mean(variables)
    panels = [
      ("exact samples", exact),
      (f"Langevin, {config.eval.langevin_chain_steps} steps from N(0, I)", chains),
      ("data (test)", self.data.test[:n]),
    ]
    side = int(round(config.num_visible**0.5))
    fig = new_figure(figsize=(4 * len(panels) + 2, 4.4))
    axes = fig.subplots(1, len(panels) + 1)
    for ax, (title, x) in zip(axes, panels):
      ax.imshow(figures_lib.image_grid(self.data.to_pixels(x), side), cmap="gray", vmin=0, vmax=1)
      ax.set_title(title, fontsize=9)
    axes[-1].imshow(figures_lib.image_grid(self.data.to_pixels(mean[None]), side), cmap="gray", vmin=0, vmax=1)
    axes[-1].set_title("model mean E[x]", fontsize=9)
    for ax in axes:
      ax.axis("off")
    fig.suptitle(
      f"RBM ({config.method}, seed {config.seed}), pixels = x' * scale + mean, clipped to [0, 1]", fontsize=10
    )
    save_figure(fig, workdir, "samples")

  def _plot_curves(self, workdir):
    records = [r for r in read_metrics(workdir) if "test/loglik" in r]
    if not records:
      return
    fig = new_figure(figsize=(5, 3.5))
    ax = fig.add_subplot()
    for name in ("test", "train_subset"):
      ax.plot([r["step"] for r in records], [float(r[f"{name}/loglik"]) for r in records], label=name)
    ax.set_xlabel("iteration")
    ax.set_ylabel("log-likelihood (nats / image)")
    ax.set_title(f"{self.config.method}, seed {self.config.seed}")
    ax.legend()
    fig.tight_layout()
    save_figure(fig, workdir, "loglik")


if __name__ == "__main__":
  run_main(EnergyExperiment)
