"""Writes the notebooks of this folder from the cell sources below (outputs stripped, fixed cell ids).

    python notebooks/build_notebooks.py          # rewrite notebooks/*.ipynb
    python notebooks/build_notebooks.py --check  # exit 1 if a stored notebook differs from what this script writes

The notebooks are generated rather than edited in Jupyter so that the repository holds them without outputs or
execution counts and a change to a cell is a readable diff here. tests/test_notebooks.py executes each one and checks
that the stored files are what this script writes.

``REPO_URL`` is the one place that names the project's git repository: every notebook's install cell clones it,
and docs/notebooks.md builds the Colab links from the same string (the tests check that they agree).
"""

from __future__ import annotations

import pathlib
import sys
import textwrap

import nbformat

# The project's git repository. The checkout has no git remote and pyproject.toml no [project.urls], so this is a
# placeholder: replace OWNER here and in docs/notebooks.md, then rerun this script.
REPO_URL = "https://github.com/OWNER/stein_jax"
BRANCH = "main"
HERE = pathlib.Path(__file__).resolve().parent


def colab_url(name: str) -> str:
  """The "open in Colab" address of notebooks/<name>.ipynb on BRANCH of REPO_URL."""
  return REPO_URL.replace("https://github.com/", "https://colab.research.google.com/github/") + (
    f"/blob/{BRANCH}/notebooks/{name}.ipynb"
  )


def _src(text: str) -> str:
  return textwrap.dedent(text).strip("\n")


INSTALL = _src(
  f'''
  # Install stein_jax where it is missing (a fresh Colab runtime); a no-op where it is already importable.
  import importlib, importlib.util, os, subprocess, sys

  REPO_URL = "{REPO_URL}"  # the project's git repository (docs/notebooks.md)
  if os.path.basename(os.getcwd()) == "notebooks" and os.path.isdir("../experiments"):
      os.chdir("..")  # opened from notebooks/ in a checkout: work from the repository root
  if os.path.isdir("stein_jax_repo/experiments"):
      os.chdir("stein_jax_repo")  # a restarted runtime: back into the clone made below
  if importlib.util.find_spec("stein_jax") is None:
      if "/OWNER/" in REPO_URL:
          raise RuntimeError("stein_jax is not installed: set REPO_URL in this cell to the project's git repository.")
      subprocess.run(["git", "clone", "--quiet", "--depth=1", REPO_URL, "stein_jax_repo"], check=True)
      subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "./stein_jax_repo"], check=True)
      os.chdir("stein_jax_repo")  # experiments/ and configs/ sit beside the package
      importlib.invalidate_caches()
  if os.getcwd() not in sys.path:
      sys.path.insert(0, os.getcwd())  # experiments/ and configs/ import from here
  import jax, stein_jax
  print(f"stein_jax {{stein_jax.__version__}} ({{os.path.dirname(stein_jax.__file__)}}), devices: {{jax.devices()}}")
  '''
)


def runtime_note(cpu_time: str) -> str:
  """The markdown note on the runtime, shared by every notebook."""
  return _src(
    f"""
    **Runtime.** The first code cell installs stein_jax when it is missing (in a fresh Colab runtime it clones the
    repository and `pip install`s it) and does nothing where stein_jax is already importable. The notebook is sized
    for a CPU: about {cpu_time} of compute on a 2-core CPU, longer when its cores are shared. On Colab a GPU
    runtime (*Runtime → Change runtime type → T4 GPU*) makes the training steps faster; JAX uses it without any
    change here, and the install cell prints the devices it found (`CudaDevice` on a GPU runtime; if it lists only
    `CpuDevice` there, `pip install -U "jax[cuda12]"` and restart the runtime).
    """
  )


def md(*parts: str):
  """A markdown cell of ``parts`` (each dedented on its own), separated by blank lines."""
  return nbformat.v4.new_markdown_cell("\n\n".join(_src(p) for p in parts))


def code(text: str):
  return nbformat.v4.new_code_cell(_src(text))


# --------------------------------------------------------------------------------------------------- quickstart


def quickstart_cells() -> list:
  return [
    md(
      r"""
      # stein_jax quickstart

      Stein variational gradient descent (SVGD) moves a set of particles along the direction

      $$\phi(x_i) = \frac1n \sum_j \big[k(x_j, x_i)\nabla \log p(x_j) + \nabla_{x_j} k(x_j, x_i)\big],$$

      a kernel-smoothed gradient (which pulls particles to high density) plus a repulsion (which keeps them apart).
      This notebook runs on a CPU in well under a minute:

      1. SVGD particles on a 2-D three-component mixture, with the kernel Stein discrepancy (KSD) as a diagnostic;
      2. **amortized SVGD**: a small generator network learns to *produce* samples of the same target
         (Liu & Wang 2017, eq. 21), with and without the repulsive term.
      """,
      runtime_note("30 seconds"),
    ),
    INSTALL,
    r"""
import time
import jax, jax.numpy as jnp, numpy as np, optax
import matplotlib.pyplot as plt
import stein_jax
from stein_jax import sampler, targets, amortized, ksd
from stein_jax.models.generator import MLPGenerator
from stein_jax.evaluation.mmd import mmd

target = targets.get_target("mixture")   # weights 0.5 / 0.3 / 0.2
print(stein_jax.__version__, jax.devices())
""",
    md(
      """
      ## 1. SVGD particles
      `svgd_direction(particles, scores, bandwidth=...)` is a pure function; `sampler.svgd` wraps it with any optax optimizer and `sampler.run` scans it.
      """
    ),
    r"""
t0 = time.time()
smp = sampler.svgd(target.score, optax.sgd(0.5), bandwidth="median")
x0 = 2.0 * jax.random.normal(jax.random.key(0), (300, 2))
state, info = sampler.run(smp, None, smp.init(None, x0), num_steps=1000)  # SVGD is deterministic: no key
x = state.particles
print(f"{time.time() - t0:.1f}s  KSD^2 initial {float(ksd(x0, target.score(x0))):.3f} -> final {float(ksd(x, target.score(x))):.5f}")

g = np.linspace(-7, 7, 200); gx, gy = np.meshgrid(g, g)
pts = jnp.asarray(np.stack([gx.ravel(), gy.ravel()], 1), jnp.float32)
dens = np.exp(np.asarray(jax.vmap(target.logdensity)(pts))).reshape(gx.shape)
def show(ax, pts_, title):
    ax.contourf(gx, gy, dens, levels=20, cmap="Blues"); ax.scatter(*np.asarray(pts_).T, s=3, c="crimson")
    ax.set_title(title); ax.set_aspect("equal"); ax.set_xlabel("$x_1$"); ax.set_ylabel("$x_2$")
fig, axs = plt.subplots(1, 2, figsize=(9, 4.4))
show(axs[0], x, "300 SVGD particles after 1000 steps")
axs[1].semilogy(np.asarray(info.direction_norm)); axs[1].set_title("RMS of the SVGD direction")
axs[1].set_xlabel("step"); axs[1].set_ylabel(r"RMS of $\phi$ over the particles")
fig.suptitle("SVGD on the three-component mixture: particles (red) over the target density (blue)")
fig.tight_layout(); plt.show()
""",
    md(
      r"""
      ## 2. Amortized SVGD: a generator that samples the target
      Each step: draw noise, generate, compute the SVGD direction at the generated points, move the network weights along $(\partial G/\partial\eta)^\top\phi$ with one vector-Jacobian product. Turning the repulsion off turns SVGD into plain gradient ascent, and the generator collapses onto the modes.
      """
    ),
    r"""
def train_generator(repulsion, steps=1000, n=256, noise_dim=4, seed=0):
    model = MLPGenerator(out_dim=2)
    apply = lambda p, xi: model.apply({"params": p}, xi)
    params = model.init(jax.random.key(seed), jnp.zeros((1, noise_dim)))["params"]
    tx = optax.adam(3e-3)
    def step(carry, t):
        params, opt_state = carry
        xi = jax.random.normal(jax.random.fold_in(jax.random.key(seed), t), (n, noise_dim))
        params, opt_state, _ = amortized.amortized_svgd_step(
            apply, params, opt_state, tx, (xi,), target.score, method="chain_rule",
            reduction="mean", repulsion=repulsion)
        return (params, opt_state), None
    (params, _), _ = jax.jit(lambda c: jax.lax.scan(step, c, jnp.arange(steps)))((params, tx.init(params)))
    return apply(params, jax.random.normal(jax.random.key(99), (2000, noise_dim)))

t0 = time.time()
with_rep, without_rep = train_generator(True), train_generator(False)
exact = target.sample(jax.random.key(1), 2000)
print(f"{time.time() - t0:.1f}s")
for name, s in [("with repulsion", with_rep), ("without repulsion", without_rep)]:
    print(f"{name:18s} MMD to exact samples {float(mmd(s, exact)):.4f}   mode-mass error {float(targets.mode_mass_error(target, s)):.3f}")
fig, axs = plt.subplots(1, 2, figsize=(9, 4.4))
show(axs[0], with_rep, "generator, with repulsion"); show(axs[1], without_rep, "generator, kernel off")
fig.suptitle("2000 samples of each trained generator (red) over the target density (blue)")
fig.tight_layout(); plt.show()
""",
    md(
      """
      The experiment platform runs the same thing with checkpoints, metrics and figures:

      ```
      python -m experiments.amortized_svgd --config=configs/amortized_svgd.py --workdir=/tmp/asvgd
      ```
      """
    ),
  ]


# --------------------------------------------------------------------------------------------------- Stein VAE


def stein_vae_cells() -> list:
  return [
    md(
      r"""
      # Stein VAE on a bimodal posterior (Pu et al. 2017, sec. 5.1)

      The model of the paper's first experiment: a latent $z \in \mathbb{R}^2$ with the mixture prior
      $p(z) = \tfrac12 N([5, 5], I) + \tfrac12 N([-5, -5], I)$ and one observation $x = z_1 - z_2 + \epsilon$,
      $\epsilon \sim N(0, 0.1^2)$ (the `bimodal` setting of `configs/stein_vae_gmm.py`). An observation fixes
      $z_1 - z_2$ but not which prior component made it, so every exact posterior $p(z \mid x)$ has **two modes of
      equal weight**, about 14 posterior standard deviations apart. The decoder is fixed at the true $\theta$ (the paper
      studies the encoder), so the exact posterior is known and the encoders can be scored against it.

      * **Stein VAE**: the encoder $z = f_\eta(x, \xi)$ is an MLP on $(x, \xi)$ with no density form; each step moves
        100 particles per data point by SVGD on $\log p(x, z)$ (eq. 6) and pulls the encoder to the moved particles (eq. 7).
      * **Gaussian VAE**: $q(z \mid x) = N(\mu(x), \mathrm{diag}\,\sigma^2(x))$ trained on the ELBO; a Gaussian has
        one mode.

      Part 1 builds both from library imports and scores them (MMD to exact posterior samples, mass on each mode);
      part 2 runs the same comparison through the experiment platform and reads its `metrics.jsonl` and figures back.
      """,
      runtime_note("75 seconds"),
    ),
    INSTALL,
    """
    import glob, json, os, tempfile, time
    import jax, jax.numpy as jnp, numpy as np, optax
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from IPython.display import Image, display
    from stein_jax import algorithm
    from stein_jax.data import synthetic_gmm as gmm
    from stein_jax.evaluation.mmd import mmd
    from stein_jax.models import vae as vae_models
    from stein_jax.objectives import stein_vae as sv
    """,
    md(
      """
      ## 1. The model and its exact posteriors

      `stein_jax.data.synthetic_gmm` draws the paper's 10,000 training and 10 test points and gives each test point's
      exact posterior (a two-component Gaussian mixture) in closed form.
      """
    ),
    """
    OBSERVATION = "bimodal"  # x = z1 - z2 + noise
    data = gmm.make_dataset(jax.random.key(0), OBSERVATION, num_train=10_000, num_test=10)  # data_seed 0, as the config
    post = gmm.exact_posterior(data.x_test, OBSERVATION)  # exact p(z | x) of the 10 test points
    w_exact = np.exp(np.asarray(post.log_weights))  # [10, 2]: the two modes' weights
    print("test observations x:", np.round(np.asarray(data.x_test[:, 0]), 2))
    print("exact mass on mode 1:", np.round(w_exact[:, 0], 3))
    """,
    md(
      """
      ## 2. Two encoders, one fixed decoder

      A `LatentModel` pairs an encoder and a decoder (Flax modules) with the likelihood and the prior;
      `stein_jax.objectives.stein_vae.make_trainer` turns a method name and an optimizer into an algorithm with
      `init(rng)` and `step(rng, state, {"x": x})`. The settings are those of `configs/stein_vae_gmm.py`: Adam 1e-3,
      batches of 100, 100 latent particles per data point, 100 tanh hidden units.
      """
    ),
    """
    theta = jnp.asarray(gmm.observation_matrix(OBSERVATION), jnp.float32)  # [1, 2]: x = theta z + noise
    decoder = vae_models.LinearGaussianDecoder(1, theta_init=lambda *_: theta)  # starts, and stays, at the true theta

    def latent_model(encoder):
        return sv.LatentModel(encoder, decoder, gmm.LATENT_DIM, 1, "gaussian", gmm.NOISE_STD, gmm.log_prior)

    models = {
        "Stein VAE": latent_model(vae_models.MLPNoiseEncoder(gmm.LATENT_DIM, (100,))),  # z = MLP(x, xi)
        "Gaussian VAE": latent_model(vae_models.GaussianEncoder(gmm.LATENT_DIM, (100,))),
    }
    adam = optax.adam(1e-3)
    trainers = {
        "Stein VAE": sv.make_trainer("stein_vae", models["Stein VAE"], adam, num_particles=100,
                                     decoder_optimizer=optax.set_to_zero(), num_data=10_000),
        # the VAE updates (encoder, decoder) with one optimizer: freeze the decoder's half
        "Gaussian VAE": sv.make_trainer("vae", models["Gaussian VAE"],
                                        optax.multi_transform({"enc": adam, "dec": optax.set_to_zero()}, ("enc", "dec"))),
    }
    """,
    md(
      """
      ## 3. Train both for 400 steps

      `stein_jax.algorithm.run` scans any algorithm over a stack of minibatches in one compiled call. SVGD moves no
      mass between modes 14 standard deviations apart, so where the encoder's particle cloud first lands fixes each
      mode's share; the experiment therefore starts the Stein encoder at the prior's mean and covariance for every
      $x$ (`model.encoder_init="prior_moments"`, the config's default, docs/results/stein_vae_gmm.md), and so does this
      notebook, with the experiment package's `prior_moments_init`. The Gaussian encoder starts at N(0, I) for every $x$, centred like the prior.
      """
    ),
    """
    from experiments.stein_vae import prior_moments_init

    NUM_STEPS = 400
    idx = jax.random.randint(jax.random.key(1), (NUM_STEPS, 100), 0, data.x_train.shape[0])
    batches = {"x": data.x_train[idx]}  # [steps, batch 100, 1]
    states = {}
    for name, trainer in trainers.items():
        t0 = time.time()
        state = trainer.init(jax.random.key(0))
        if name == "Stein VAE":
            state = state._replace(enc_params=prior_moments_init(state.enc_params, 1))
        run = jax.jit(lambda s, b, trainer=trainer: algorithm.run(trainer, jax.random.key(2), s, batches=b))
        states[name], _ = jax.block_until_ready(run(state, batches))
        print(f"{name}: {NUM_STEPS} steps in {time.time() - t0:.1f} s")
    """,
    md(
      """
      ## 4. Scores against the exact posterior

      * **MMD²** between 1,000 encoder samples and 1,000 exact posterior samples of each test point (RBF kernel,
        median bandwidth; 0 for a perfect encoder, up to sampling noise), averaged over the 10 test points;
      * **mass on each mode**: the fraction of 100,000 encoder samples on each side of the valley (the exact weights
        are 1/2), and the **mode-weight error**, the largest deviation from the exact weight over the test points.

      These are the experiment's `eval/posterior_mmd` and `eval/mode_weight_error`.
      """
    ),
    """
    encode = jax.jit(sv.encode, static_argnums=0)

    def encoder_samples(name, num, seed):  # [10, num, 2]: num samples of q(z | x) for each test point
        xi = jax.random.normal(jax.random.key(seed), (data.x_test.shape[0], num, gmm.LATENT_DIM))
        return encode(models[name], states[name].enc_params, data.x_test[:, None, :], xi)

    exact = gmm.posterior_sample(jax.random.key(4321), post, 1000)  # [10, 1000, 2]
    mmd_per_point = jax.jit(jax.vmap(mmd))
    samples, scores = {}, {}
    for name in models:
        samples[name] = encoder_samples(name, 1000, seed=1234)
        weights = np.asarray(gmm.mode_weights(post, encoder_samples(name, 100_000, seed=99)))
        scores[name] = {"mmd": np.asarray(mmd_per_point(samples[name], exact)), "weights": weights}
        print(f"{name:12s}  MMD^2 (mean over the test points) {scores[name]['mmd'].mean():.4f}   "
              f"mode-weight error {np.abs(weights - w_exact).max():.3f}")
    print("mass on mode 1 per test point:")
    for name in models:
        print(f"  {name:12s}", np.round(scores[name]["weights"][:, 0], 2))
    print(f"  {'exact':12s}", np.round(w_exact[:, 0], 2))
    """,
    """
    def draw(ax, i, z):
        # the exact posterior's density contours (blue) under 500 encoder samples (red), test point i
        means = np.asarray(post.means[i])
        center, half = means.mean(0), np.abs(means[0] - means[1]).max() / 2 + 3.0
        g = np.linspace(-half, half, 160)
        gx, gy = np.meshgrid(center[0] + g, center[1] + g)
        grid = jnp.asarray(np.stack([gx.ravel(), gy.ravel()], 1), jnp.float32)
        point = gmm.GMMPosterior(post.log_weights[i], post.means[i], post.cov)
        dens = np.exp(np.asarray(gmm.posterior_log_prob(point, grid))).reshape(gx.shape)
        ax.contour(gx, gy, dens / dens.max(), levels=[0.01, 0.1, 0.5, 0.9], colors="tab:blue", linewidths=0.8)
        ax.scatter(*np.asarray(z[:500]).T, s=3, c="crimson", alpha=0.4, linewidths=0)

    fig, axes = plt.subplots(2, 5, figsize=(15, 6.6), sharex="col", sharey="col")
    for row, name in enumerate(models):
        for i in range(5):
            ax = axes[row, i]
            draw(ax, i, samples[name][i])
            w, mmd2 = scores[name]["weights"][i, 0], scores[name]["mmd"][i]
            ax.set_title(f"{name}, x = {float(data.x_test[i, 0]):.2f}\\nmass on mode 1: {w:.2f} (exact {w_exact[i, 0]:.2f})"
                         f", MMD² {mmd2:.3f}", fontsize=8)
            ax.set_xlabel("$z_1$"); ax.set_ylabel("$z_2$")
    handles = [Line2D([], [], color="tab:blue", lw=1, label="exact posterior p(z | x): contours at 1, 10, 50, 90 % of its peak"),
               Line2D([], [], color="crimson", marker="o", ls="", ms=4, label="encoder samples (500 per panel)")]
    fig.legend(handles=handles, loc="lower center", ncol=2, frameon=False)
    fig.suptitle(f"Encoder samples over the exact bimodal posteriors of the first 5 test points, after {NUM_STEPS} steps")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    plt.show()
    """,
    md(
      """
      The Stein encoder puts samples on both modes in about the right proportions (a few still lie in the valley
      between them). The Gaussian encoder has one mode: its samples form one compact cloud, after these few steps
      still between the two modes, and it can never cover both (docs/results/stein_vae_gmm.md: after 8,000 steps each
      test point's cloud sits on one mode, mass 0 or 1, MMD² 0.62).

      ## 5. The same comparison through the experiment platform

      The experiment main `experiments/stein_vae` wraps the same trainer in the platform: config file, checkpoints
      (a rerun resumes), `metrics.jsonl`, TensorBoard events, and evaluation figures. From a shell, for each method:

      ```bash
      python -m experiments.stein_vae --config=configs/stein_vae_gmm.py --config.method=stein_vae \\
          --config.num_steps=200 --config.eval_every=200 --config.checkpoint_every=200 --workdir=/tmp/svae_gmm
      ```

      Here the cell below does what that main does, in this process: `make_experiment(config)` then
      `train_and_evaluate(experiment, config, workdir)`, with the config of `configs/stein_vae_gmm.py` and a shorter
      budget (200 steps instead of 2,000).
      """
    ),
    """
    from configs import stein_vae_gmm
    from experiments.stein_vae import load_run, make_experiment
    from stein_jax.train import read_metrics, train_and_evaluate

    runs_dir = tempfile.mkdtemp(prefix="stein_vae_gmm_runs_")
    workdirs = {}
    for method in ("stein_vae", "vae"):
        config = stein_vae_gmm.get_config()
        config.update(method=method, num_steps=200, eval_every=200, checkpoint_every=200, log_every=50)
        workdirs[method] = os.path.join(runs_dir, method)
        t0 = time.time()
        train_and_evaluate(make_experiment(config), config, workdirs[method])
        print(f"{method}: {time.time() - t0:.1f} s, run directory {workdirs[method]}")
    """,
    md(
      """
      ## 6. Reading the runs back

      Each run directory holds `run.json` (the config and its fingerprint), `metrics.jsonl` (one JSON record per
      log or evaluation step; `stein_jax.train.read_metrics` reads it), `gmm_eval.json` (the per-test-point numbers of
      the last evaluation), `checkpoints/` and `figures/`.
      """
    ),
    """
    for method, workdir in workdirs.items():
        records = read_metrics(workdir)
        final = [r for r in records if "eval/posterior_mmd" in r][-1]
        with open(os.path.join(workdir, "gmm_eval.json")) as f:
            details = json.load(f)
        print(f"{method:9s} step {final['step']}: eval/posterior_mmd {final['eval/posterior_mmd']:.4f}, "
              f"eval/mode_weight_error {final['eval/mode_weight_error']:.3f}  ({len(records)} records in metrics.jsonl)")
        print("          mass on mode 1 per test point:", np.round(np.array(details["mode_weights_encoder"])[:, 0], 2))
    """,
    md(
      """
      The platform's figures: each run's encoder samples over the exact posterior of all 10 test points (written by
      the evaluation) and `training_curves.png` (every metric of `metrics.jsonl` against the step, written at the end
      of every run).
      """
    ),
    """
    for method, workdir in workdirs.items():
        for png in sorted(glob.glob(os.path.join(workdir, "figures", "*.png"))):
            print(os.path.relpath(png, runs_dir))
            display(Image(filename=png, width=900))
    """,
    md(
      """
      `load_run` reopens a finished run read-only: it rebuilds the experiment from `run.json`, checks the fingerprint
      and restores the newest checkpoint, so a trained encoder can be studied without retraining.
      """
    ),
    """
    run = load_run(workdirs["stein_vae"])
    z = run.experiment.encoder_samples(run.state.inner.params, run.experiment.data.x_test, 10_000)
    print(f"{run.name} restored at step {run.step} (method {run.config.method!r})")
    print("mass on mode 1 per test point, from the restored encoder:",
          np.round(np.asarray(gmm.mode_weights(post, z))[:, 0], 2))
    """,
    md(
      """
      ## Going further

      * The README's main job is this experiment at its full budget (2,000 steps, about 70 s on a quiet 2-core CPU):
        `python -m experiments.stein_vae --config=configs/stein_vae_gmm.py --workdir=runs/quickstart`.
      * `python -m experiments.gmm_figure --config=configs/gmm_figure.py --workdir=/tmp/gmm_figure` draws the paper's
        Fig. 1 (10, 50 and 100 particles against the VAE, both observation models).
      * docs/results/stein_vae_gmm.md has the measured numbers, the multi-seed study and the remedies for SVGD's lack
        of mass transport between modes; docs/stein_vae.md derives the method.
      """
    ),
  ]


# ------------------------------------------------------------------------------------------------ energy models


def energy_models_cells() -> list:
  return [
    md(
      r"""
      # Energy models: the Gaussian-Bernoulli RBM, SteinCD against CD-1, and SteinGAN (Liu & Wang 2017, sec. 5.1)

      An energy model $p_\theta(x) \propto \exp f(x; \theta)$ is usually trained without its normaliser $Z$. The
      Gaussian-Bernoulli RBM with few hidden units is the exception the paper uses to score the training rules: with
      $H = 10$ hidden units $\log Z$ is a sum over the $2^{10}$ hidden states, so the exact log-likelihood of test images
      can be computed at every step.

      1. Data: a small slice of MNIST (or a synthetic stand-in when no data directory is set).
      2. Exact $\log Z$ by enumeration, checked two ways.
      3. **SteinCD** (one SVGD step as the negative samples, Algorithm 1) against **CD-1** (one Langevin step) on the
         exact test log-likelihood, with exact maximum likelihood as the ceiling (Fig. 1a of the paper).
      4. **SteinGAN** (Algorithm 2): a generator trained by amortized SVGD to sample the RBM while the RBM learns, with
         and without the kernel (Fig. 1(c)-(d)), with sample grids.
      """,
      runtime_note("50 seconds"),
    ),
    INSTALL,
    """
    import os, time
    import jax, jax.numpy as jnp, numpy as np, optax
    import matplotlib.pyplot as plt
    from stein_jax import algorithm, data as data_lib
    from stein_jax.data.energy_data import EnergyData, load_energy_data
    from stein_jax.evaluation.mmd import mmd
    from stein_jax.models.energy import GaussianBernoulliRBM
    from stein_jax.models.generator import MLPGenerator
    from stein_jax.objectives import energy, steingan
    from stein_jax.targets import rbm
    from stein_jax.train.figures import image_grid
    """,
    md(
      """
      ## 1. Data

      5,000 training and 1,000 test images of MNIST, read from `$STEIN_JAX_DATA_DIR/mnist/` (the four IDX files,
      docs/data.md). Without them the cell says so in one line and continues with a synthetic stand-in: samples of a
      fixed random RBM over 784 "pixels" (squashed into [0, 1]), on which every cell below runs unchanged. Pixels are
      centred by their training mean and divided by one global scale, as in `configs/rbm_mnist.py`
      (`preprocess="center_scale"`), which puts the data on the unit-variance scale of the RBM's visibles.

      To use MNIST on Colab, download the four files of https://storage.googleapis.com/cvdf-datasets/mnist/
      (`train-images-idx3-ubyte.gz`, `train-labels-idx1-ubyte.gz`, `t10k-images-idx3-ubyte.gz`,
      `t10k-labels-idx1-ubyte.gz`) into `/content/data/mnist/` and set
      `os.environ["STEIN_JAX_DATA_DIR"] = "/content/data"` before this cell.
      """
    ),
    """
    NUM_TRAIN, NUM_TEST = 5_000, 1_000
    try:
        load = lambda split, n: data_lib.load("mnist", split, max_examples=n, source="local").x  # [n, 784] in [0, 1]
        pixels, source = (load("train", NUM_TRAIN), load("valid", NUM_TEST), load("test", NUM_TEST)), "MNIST"
    except data_lib.DatasetNotFoundError:
        where = os.environ.get("STEIN_JAX_DATA_DIR") or "$STEIN_JAX_DATA_DIR is unset"
        print(f"No MNIST in the data directory ({where}): continuing with the synthetic stand-in (a random 784-pixel RBM).")
        stand_in = load_energy_data("synthetic_pixels", None, "unit", NUM_TEST, synthetic_dim=784)
        pixels, source = (stand_in.train[:NUM_TRAIN], stand_in.valid, stand_in.test), "synthetic stand-in"
    data = EnergyData(*pixels, num_eval_train=NUM_TEST, preprocess="center_scale")
    train, test = jnp.asarray(data.train), jnp.asarray(data.test)
    print(f"{source}: train {data.train.shape}, test {data.test.shape}; x' = (x - pixel mean) / {data.scale:.4f}")
    """,
    md(
      r"""
      ## 2. Exact log Z

      Summing the Gaussian visibles out for each hidden state $s \in \{-1, 1\}^H$ gives
      $\log Z = \tfrac d2 \log 2\pi + \operatorname{logsumexp}_s \big[\tfrac12\|b + Bs\|^2 + c^\top s\big]$
      (`stein_jax.targets.rbm.log_partition`, docs/rbm.md): one pass over $2^H$ states, whatever the dimension $d$.
      Two independent checks: at $B = 0$ the sum has the closed form $\tfrac d2 \log 2\pi + H \log 2$ (the freshly
      initialised RBM has $B \approx 0$), and for a 2-D RBM a fine grid quadrature of $\int e^{f(x)} dx$ must agree.
      """
    ),
    """
    NUM_HIDDEN = 10
    model = GaussianBernoulliRBM(num_hidden=NUM_HIDDEN)  # B ~ N(0, 0.01^2), b = c = 0
    params = model.init(jax.random.key(0), train[:1])
    dim = train.shape[1]
    print(f"log Z by enumerating the 2^{NUM_HIDDEN} hidden states: {float(rbm.log_partition(params)):.3f}")
    print(f"closed form at B = 0, d/2 log(2 pi) + H log 2:  {dim / 2 * np.log(2 * np.pi) + NUM_HIDDEN * np.log(2):.3f}")

    small = rbm.RBMParams(jax.random.normal(jax.random.key(1), (2, 3)), jnp.array([0.5, -1.0]), jnp.array([0.2, 0.0, -0.3]))
    g = jnp.linspace(-12.0, 12.0, 1201)
    grid = jnp.stack(jnp.meshgrid(g, g), -1).reshape(-1, 2)
    quadrature = jax.nn.logsumexp(rbm.gaussian_bernoulli_negative_energy(*small, grid)) + 2 * jnp.log(g[1] - g[0])
    print(f"2-D RBM with 3 hidden units: enumeration {float(rbm.log_partition(small)):.5f}, "
          f"grid quadrature {float(quadrature):.5f}")

    loglik = jax.jit(rbm.mean_log_likelihood)  # exact mean log p(x') of a set of images, nats per image
    print(f"untrained RBM: exact test log-likelihood {float(loglik(params, test)):.2f} nats per image")
    """,
    md(
      """
      ## 3. SteinCD against CD-1

      Every rule of `stein_jax.objectives.energy` is a loss whose gradient is the rule's update, made into an
      algorithm by `energy.make_trainer(rule, model.apply, optimizer, **hyperparameters)`. The contrastive rules push
      $f$ up at the data and down at negatives made from the data: one SVGD step under the model (SteinCD) or one
      Langevin step (CD-1). Exact MLE differentiates the enumerated $\\log Z$ itself: what the approximate rules
      aim for. Learning rates and step sizes are those chosen on the validation images in `configs/rbm_mnist.py`; all
      three see the same minibatches of 100 for 1,000 steps, with the exact test log-likelihood every 50 steps.
      """
    ),
    """
    def train_with_curve(trainer, state, num_steps, evaluate, every=50, seed=0):
        # `every` steps per compiled lax.scan call, evaluate(state) in between; returns (state, [[step, value], ...])
        run = jax.jit(lambda s, b, start: algorithm.run(trainer, jax.random.key(seed), s, batches=b, start=start))
        curve = [(0, evaluate(state))]
        for start in range(0, num_steps, every):
            idx = jax.random.randint(jax.random.fold_in(jax.random.key(seed + 1), start), (every, 100), 0, train.shape[0])
            state, _ = run(state, {"x": train[idx]}, start)
            curve.append((start + every, evaluate(state)))
        return state, np.array(curve)

    rules = {
        "SteinCD": energy.make_trainer("steincd", model.apply, optax.adam(3e-3), step_size=1.0),
        "CD-1 (Langevin)": energy.make_trainer("cd_langevin", model.apply, optax.adam(1e-2), num_steps=1, step_size=1.0),
        "exact MLE": energy.make_trainer("rbm_exact_mle", model.apply, optax.adam(1e-2)),
    }
    curves = {}
    for name, trainer in rules.items():
        t0 = time.time()
        _, curves[name] = train_with_curve(trainer, trainer.init(None, params), 1000, lambda s: float(loglik(s.params, test)))
        last = curves[name][-5:, 1]
        print(f"{name:16s} test log-likelihood at step 1000: {curves[name][-1, 1]:8.2f}, "
              f"mean of the last 5 evaluations {last.mean():8.2f}  ({time.time() - t0:.1f} s)")
    """,
    """
    fig, ax = plt.subplots(figsize=(8, 4.5))
    styles = {"SteinCD": "-", "CD-1 (Langevin)": "--", "exact MLE": ":"}
    for name, c in curves.items():
        ax.plot(c[:, 0], c[:, 1], styles[name], label=name, lw=1.8)
    ax.set_ylim(min(c[2:, 1].min() for c in curves.values()) - 10, max(c[:, 1].max() for c in curves.values()) + 5)
    ax.set_xlabel("training step (minibatches of 100 images)")
    ax.set_ylabel("exact test log-likelihood (nats per image)")
    ax.set_title(f"Gaussian-Bernoulli RBM (H = {NUM_HIDDEN}) on {source}: exact log-likelihood of {len(test)} test images\\n"
                 f"(the untrained RBM scores {curves['SteinCD'][0, 1]:.0f}, below the axis)")
    ax.legend(title="training rule")
    ax.grid(alpha=0.3)
    plt.show()
    """,
    md(
      """
      On MNIST SteinCD stays above CD-1 for most of these 1,000 steps (by about 8 nats in the mean of the last five
      evaluations), and both stay tens of nats below exact MLE; single evaluations move by several nats from one to
      the next, since the approximate rules do not settle at a point. docs/results/rbm_mnist.md has Fig. 1a on all
      50,000 images over 10,000 steps and 3 seeds: SteinCD leads CD-1 by 4-6 nats in windowed means through most of
      the run, and the two end level.

      ## 4. SteinGAN with and without the kernel

      SteinGAN trains the RBM and a generator $x = G(\\xi; \\eta)$ together (`stein_jax.objectives.steingan`): the
      generator follows the SVGD direction toward the current RBM (eq. 21) and the RBM contrasts the data with the
      generator's samples (eq. 23). Without the kernel the SVGD direction is the plain score $\\nabla_x f$: every
      sample climbs to a mode of the RBM independently, and nothing keeps the samples apart.

      The kernel is the authors' (as in `configs/steingan_rbm_mnist.py`): RBF with $h = \\mathrm{med}^2 / \\log(m + 1)$,
      the direction divided by the kernel's row sum. For a CPU budget the generator is a small MLP (100 uniform noise
      inputs, two tanh layers of 256; `--config.model.generator=mlp`) in place of the paper's convolutional one, trained in
      the centred-and-scaled pixel space of section 3 with Adam 1e-3 (β₁ = 0.5) for both networks, for 1,500 steps.
      Both runs start from the same untrained RBM and generator.
      """
    ),
    """
    generator = MLPGenerator(out_dim=dim, hidden=(256, 256))
    noise = lambda rng, n: jax.random.uniform(rng, (n, 100), minval=-1.0, maxval=1.0)
    gan = {}
    for use_kernel in (True, False):
        t0 = time.time()
        trainer = steingan.make_trainer(model.apply, generator.apply, optax.adam(1e-3, b1=0.5), optax.adam(1e-3, b1=0.5),
                                        noise, use_kernel=use_kernel, bandwidth="median_log1p", kernel_normalization="row_sum")
        state = trainer.init(None, params, generator.init(jax.random.key(1), jnp.zeros((2, 100))))
        gan[use_kernel] = train_with_curve(trainer, state, 1500, lambda s: float(loglik(s.energy, test)), every=100)
        print(f"SteinGAN {'with' if use_kernel else 'without'} kernel: 1500 steps in {time.time() - t0:.1f} s")
    """,
    md(
      """
      Three ways to see how the generators differ, on 500 samples each: the spread of the samples (the pixel
      standard deviation across samples, in [0, 1] pixels, and the MMD² to 500 test images), and how many of the
      RBM's $2^{10}$ hidden states they reach (each sample's most probable hidden state is
      $\\operatorname{sign}(B^\\top x + c)$).
      """
    ),
    """
    test_px = data.to_pixels(data.test[:500])
    print(f"{'':24s} {'RBM test log-lik':>16s} {'pixel std':>10s} {'MMD^2 to test':>14s} {'hidden states':>14s}")
    print(f"{'test images':24s} {'':>16s} {test_px.std(0).mean():10.3f} {'':>14s}")
    generated = {}
    for use_kernel, (state, curve) in gan.items():
        x = generator.apply(state.generator, noise(jax.random.key(5), 500))
        p = rbm.rbm_params(state.energy)
        states_hit = len({tuple(s) for s in np.asarray(jnp.sign(x @ p.weights + p.hidden_bias))})
        generated[use_kernel] = data.to_pixels(x)
        name = f"SteinGAN, {'with' if use_kernel else 'without'} kernel"
        print(f"{name:24s} {curve[-1, 1]:16.2f} {generated[use_kernel].std(0).mean():10.3f} "
              f"{float(mmd(x, test[:500])):14.4f} {states_hit:14d}")
    """,
    """
    fig, axes = plt.subplots(1, 3, figsize=(15, 5.6))
    panels = [(test_px[:64], f"{source} test images"),
              (generated[True][:64], "SteinGAN generator, with the kernel"),
              (generated[False][:64], "SteinGAN generator, without the kernel")]
    for ax, (images, title) in zip(axes, panels):
        ax.imshow(image_grid(images, 28), cmap="gray", vmin=0, vmax=1)
        ax.set_title(title)
        ax.axis("off")
    fig.suptitle("64 images each, in [0, 1] pixels; the generators after 1,500 SteinGAN steps")
    fig.tight_layout()
    plt.show()

    fig, ax = plt.subplots(figsize=(8, 4))
    for use_kernel, (_, curve) in gan.items():
        ax.plot(curve[:, 0], curve[:, 1], "-" if use_kernel else "--", label="with the kernel" if use_kernel else "without the kernel")
    ax.set_xlabel("training step (minibatches of 100 images)")
    ax.set_ylabel("exact test log-likelihood (nats per image)")
    ax.set_title("The RBM trained by SteinGAN: exact test log-likelihood")
    ax.legend(title="SteinGAN generator")
    ax.grid(alpha=0.3)
    plt.show()
    """,
    md(
      """
      With the kernel the generator's samples vary more from one to the next, reach more of the RBM's hidden states
      and are closer to the test images (lower MMD²); without it every sample climbs toward a mode of the current RBM
      and the generator repeats a few smooth shapes. On MNIST, over three seeds of this cell (docs/notebooks.md), the
      run with the kernel reached 31-36 hidden states against 5-21 without it, with the lower MMD² each time. Neither
      draws convincing digits at 1,500 steps; the two RBMs' likelihoods cross back and forth, as the adversarial game
      moves the energy.

      ## Going further

      * Fig. 1a at full size (all 50,000 training images, 10,000 steps, five rules, three seeds):
        `python -m experiments.rbm_figure --config=configs/rbm_figure.py --workdir=/tmp/rbm_fig1a`; one run:
        `python -m experiments.energy --config=configs/rbm_mnist.py:steincd --workdir=/tmp/rbm/steincd`.
      * SteinGAN as the authors ran it (convolutional generator, [0, 1] pixels, 10,000 steps, about 8.5 minutes on a
        quiet 2-core CPU): `python -m experiments.steingan_rbm --config=configs/steingan_rbm_mnist.py:cpu --workdir=/tmp/steingan`,
        and `--config.svgd.use_kernel=False` for Fig. 1(d). docs/results/steingan_rbm_mnist.md: with the kernel the
        generator draws digits of 9-10 classes, without it far fewer.
      * docs/rbm.md and docs/steingan.md derive the rules.
      """
    ),
  ]


NOTEBOOKS = {"quickstart": quickstart_cells, "stein_vae": stein_vae_cells, "energy_models": energy_models_cells}


def build(name: str) -> nbformat.NotebookNode:
  """The notebook ``name`` (a key of NOTEBOOKS), without outputs, with cell ids ``<name>-<index>``."""
  cells = []
  for i, cell in enumerate(NOTEBOOKS[name]()):
    cell = code(cell) if isinstance(cell, str) else cell
    cell.id = f"{name}-{i:02d}"
    cells.append(cell)
  nb = nbformat.v4.new_notebook(cells=cells)
  nb.metadata = {
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
    "language_info": {"name": "python"},
  }
  nbformat.validate(nb)
  return nb


def render(name: str) -> str:
  return nbformat.writes(build(name)) + "\n"


def main(argv: list[str]) -> int:
  check = "--check" in argv[1:]
  stale = []
  for name in NOTEBOOKS:
    path = HERE / f"{name}.ipynb"
    text = render(name)
    if check:
      if not path.exists() or path.read_text() != text:
        stale.append(path.name)
    else:
      path.write_text(text)
      print(f"wrote {path}")
  if stale:
    print(f"stale: {', '.join(stale)}; run `python notebooks/build_notebooks.py`", file=sys.stderr)
    return 1
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv))
