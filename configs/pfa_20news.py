r"""Poisson factor analysis on 20 Newsgroups: Stein VAE vs VAE against Gibbs (Pu et al. 2017, sec. 5.1, Fig. 2).

The paper's setting (V = 128 topics, recognition MLP with 100 hidden units, Gibbs ground truth with
2,000 burn-in and 2,500 collection sweeps keeping every 10th). Stage 1 learns theta by Gibbs sampling
and caches it (``theta.file``, default WORKDIR/pfa_theta.npz); stage 2 trains the recognition model
with theta fixed; evaluations compare encoder samples with Gibbs samples of each test document.

    STEIN_JAX_DATA_DIR=/path/to/data python -m experiments.pfa --config=configs/pfa_20news.py \
        --workdir=/tmp/pfa_vae --config.method=vae
    STEIN_JAX_DATA_DIR=/path/to/data python -m experiments.pfa --config=configs/pfa_20news.py \
        --workdir=/tmp/pfa_stein --config.theta.file=/tmp/pfa_vae/pfa_theta.npz \
        --config.gibbs.file=/tmp/pfa_vae/pfa_gibbs_test.npz \
        --config.eval.other_samples_file=/tmp/pfa_vae/pfa_samples.npz

The second run reuses the first run's theta and Gibbs samples and draws Fig. 2 with all three
(Gibbs, VAE, Stein VAE). ``get_config("cpu")`` is the CPU budget reported in
docs/results/pfa_20news.md (``--config=configs/pfa_20news.py:cpu``). Groups: ``model``, ``theta`` (stage 1),
``gibbs`` (the ground truth), ``svgd``, ``optimizer``, ``eval``.
"""

import ml_collections


def get_config(budget: str = "paper"):
  if budget not in ("paper", "cpu"):
    raise ValueError(f"budget must be 'paper' or 'cpu', got {budget!r}.")
  config = ml_collections.ConfigDict()
  # Shared keys.
  config.seed = 0
  config.num_steps = 20_000
  config.eval_every = 5_000
  config.checkpoint_every = 5_000
  config.log_every = 200
  config.data_dir = ml_collections.config_dict.placeholder(str)
  # Data: "20news" (stein_jax.data) or "synthetic" (a small PFA corpus drawn from the model).
  config.dataset = "20news"
  config.synthetic_vocab = 30  # synthetic only: P
  config.synthetic_docs = 400  # synthetic only: training documents (plus num_test_docs)
  config.num_test_docs = 100  # test documents: Gibbs ground truth and evaluation
  config.batch_size = 64
  # Stage 2: the recognition model, theta fixed.
  config.method = "stein_vae"  # "stein_vae" | "vae"
  config.vae_samples = 1  # VAE: reparameterised samples per document

  # Model (docs/pfa.md): theta[:, v] ~ Dir(a0), z_v ~ Gamma(r, c), x ~ Pois(theta z); the encoder.
  config.model = ml_collections.ConfigDict()
  config.model.num_topics = 128  # V
  config.model.prior_a0 = 0.05
  config.model.prior_r = 1.0
  config.model.prior_c = 1.0
  config.model.hidden = (100,)  # the recognition MLP

  # Stage 1: Gibbs sampling of theta on the training corpus; point estimate = posterior mean.
  config.theta = ml_collections.ConfigDict()
  config.theta.file = ml_collections.config_dict.placeholder(str)  # default WORKDIR/pfa_theta.npz
  config.theta.train_docs = 0  # 0: all training documents
  config.theta.sweeps = 1000
  config.theta.burnin = 500
  config.theta.chunk_size = 65536
  # Ground truth: Gibbs samples of z | x, theta for the test documents (the paper's protocol).
  config.gibbs = ml_collections.ConfigDict()
  config.gibbs.file = ml_collections.config_dict.placeholder(str)  # default WORKDIR/pfa_gibbs_test.npz
  config.gibbs.burnin = 2000
  config.gibbs.collect = 2500
  config.gibbs.thin = 10

  config.svgd = ml_collections.ConfigDict()
  config.svgd.num_particles = 100  # Stein VAE: S particles per document
  config.svgd.step_size = 1.0  # eps of u + eps * phi
  config.svgd.encoder_steps = 1  # K of eq. (7)
  config.svgd.latent_update = "sgd"  # the particle step: "sgd" (u + eps phi) | "adam" | "rms"
  config.svgd.kernel = "rbf"  # SVGD kernel: "rbf" (eq. 6) | "imq" (inverse multiquadric)
  config.svgd.bandwidth = "median"  # "median" (h = med^2, eq. 6) | "median_log" (h = med^2 / log S)
  config.svgd.repulsion_scale = 1.0  # alpha on the grad-k term (1: eq. 6; the authors' related code: 100)
  config.svgd.kernel_normalization = "mean"  # "mean" (1/S, eq. 6) | "row_sum" (1 / sum_j k_ij)
  config.svgd.kernel_metric = (
    "isotropic"  # "isotropic" (eq. 6) | "diagonal" (per-coordinate whitened, docs/stein_math.md sec. 13)
  )

  config.optimizer = ml_collections.ConfigDict()
  config.optimizer.learning_rate = 1e-3  # Adam

  config.eval = ml_collections.ConfigDict()
  config.eval.samples = 1000  # encoder samples per test document
  config.eval.top_topics = 5  # "active" topics: the largest Gibbs posterior means per document
  config.eval.figure_doc = 0  # test document of Fig. 2
  config.eval.figure_topics = 3  # topics shown in Fig. 2
  config.eval.other_samples_file = ml_collections.config_dict.placeholder(str)  # the other method's samples

  if budget == "cpu":
    config.num_steps = 1500
    config.eval_every = 1500
    config.checkpoint_every = 1500
    config.log_every = 100
    config.theta.train_docs = 3000
    config.theta.sweeps = 150
    config.theta.burnin = 100
    config.num_test_docs = 20
    config.svgd.num_particles = 100  # the paper's M (was 50; docs/results/pfa_20news.md)
    config.batch_size = 32
  return config
