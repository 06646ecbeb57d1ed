r"""Semi-supervised classification on MNIST, FNN column of Table 3 (Pu et al. 2017, sec. 5.3).

One run (one method, one N_rho, one labelled split):

    STEIN_JAX_DATA_DIR=/path/to/data python -m experiments.semi_supervised \
        --config=configs/semi_supervised_mnist.py --workdir=/tmp/ssl/stein_vae_n10_s0
    ... --config.method=stein_viwae | vae  --config.labels_per_class=100  --config.split_seed=1

The CPU-budget variant used for docs/results/semi_supervised_mnist.md:

    STEIN_JAX_DATA_DIR=/path/to/data nice -n 5 python -m experiments.semi_supervised \
        --config=configs/semi_supervised_mnist.py:cpu --config.method=stein_vae \
        --config.labels_per_class=10 --config.split_seed=0 --workdir=/tmp/ssl/cpu_svae_10_0

Paper setting (``:paper``, the default): MNIST's 50,000 training images (the first 50,000 of
the 60,000; the last 10,000 are the validation set, the 10,000 test images the test set),
split into ``labels_per_class`` labelled images per class (N_rho = 10, 60, 100, 300; a
balanced random draw selected by ``split_seed``) and the rest unlabelled (disjoint); 50
latent units, encoder and decoder with two hidden layers of 600 softplus units (Kingma et
al. 2014's FNN); p(y | z) = softmax(theta~ z); Adam 2e-4; minibatches of 64 = 16
labelled + 48 unlabelled; M = 100 latent particles and k = 50. Binarization: dynamic for
training (a fresh Bernoulli(pixel) draw per step); the validation and test images are
binarized once with a fixed seed. The paper gives no epoch count; 200 epochs of the
unlabelled set is our GPU-scale choice.

The Stein encoder is the flow encoder of docs/stein_vae.md (softplus trunk 600-600, 4
coupling layers), which has the exact log q(z | x) that Stein VIWAE's weights need; the
VAE uses the Gaussian encoder with the same trunk.

``:cpu``: 16 latent particles, k = 8, 500 steps (half a pass over the unlabelled set),
classification with 20 encoder samples; validation and test sets at full size.

CNN column of Table 3 (sec. 5.3 (ii), ``--config.model.network=cnn`` or the variants below): two
convolutions of 32 and 64 5x5 kernels, stride 2, leaky ReLU, a dense layer to z; the Stein
encoder stacks x with a learned image of xi (``noise_channels``), the VAE's is the same network
with a Gaussian head; the decoder mirrors it (stride-2 sub-pixel upsampling):

    ... --config=configs/semi_supervised_mnist.py:cnn        # paper setting, CNN
    ... --config=configs/semi_supervised_mnist.py:cnn_cpu    # the CPU budget of docs/results

``:cnn_cpu``: 4 latent particles, k = 2, minibatches of 32 = 8 labelled + 24 unlabelled, Adam
1e-3 (at 2e-4 the label head was still at chance, mean log p(y | z) = -2.33, after 250 steps), 250
steps, classification with 4 encoder samples on the first 1,000 validation and 2,000 test images
(a CNN step with S particles costs S encoder and decoder passes per image; at S = 4 a step took
0.2 s (Stein VAE), 3.7 s (Stein VIWAE, whose log q needs a 50 x 50 Jacobian per unlabelled code,
50 passes through the network) and 0.06 s (VAE) on the shared 2-core CPU at load 8-9). The sweep over methods, N_rho and splits:
``python -m experiments.semi_supervised_grid --config=configs/semi_supervised_grid.py --workdir=DIR`` (configs/semi_supervised_grid.py).

Groups (docs/architecture.md, "Nested configs"): ``model`` (the networks, likelihood and label weight), ``svgd``
(M particles, k, the SVGD step), ``optimizer``, ``eval`` (encoder samples, batch, validation / test subsets, the
linear probe; resumable); data, seed, schedule, ``method`` and the minibatch sizes at the top. A key is set by its
path, and the runs keep the fingerprints of the flat config (``SemiSupervisedExperiment.legacy_key_names``):

    ... --config=configs/semi_supervised_mnist.py:cnn_cpu --config.model.label_weight=100.0 \
        --config.svgd.num_particles=16 --config.svgd.k=8 --config.eval.probe=True
"""

import ml_collections


VARIANTS = ("paper", "cpu", "cnn", "cnn_cpu")


def get_config(variant: str = "paper"):
  if variant not in VARIANTS:
    raise ValueError(
      f"variant must be one of {VARIANTS}, got {variant!r} (use --config=configs/semi_supervised_mnist.py:cpu)."
    )
  config = ml_collections.ConfigDict()
  # Shared keys: seed, schedule, data and the method at the top.
  config.seed = 0
  config.num_steps = 200 * 1040  # 200 passes over ~49,900 unlabelled images at 48 a step
  config.eval_every = 10_400
  config.checkpoint_every = 2_080
  config.log_every = 520
  config.data_dir = ml_collections.config_dict.placeholder(str)
  # Data.
  config.dataset = "mnist"  # "mnist" | "fashion_mnist" | "synthetic" (tests)
  config.binarization = "dynamic"  # training images: "dynamic" or "fixed"
  config.labels_per_class = 10  # N_rho
  config.split_seed = 0
  # Synthetic data (dataset="synthetic"): class prototypes with bit flips.
  config.synthetic = ml_collections.ConfigDict(
    dict(data_seed=7, num_classes=3, dim=20, flip=0.1, num_train=300, num_valid=60, num_test=60)
  )
  # (H, W, C) with H * W * C = dim, for the convolutional networks; None: flat vectors
  config.synthetic.image_shape = ml_collections.config_dict.placeholder(tuple)
  config.labelled_fraction = ml_collections.config_dict.placeholder(float)  # None: labels_per_class
  # Colour images (cifar10 / imagenet2012; configs/semi_supervised_cifar10.py).
  config.valid_per_class = 500  # held-out validation images per class of the training split
  config.max_train_examples = ml_collections.config_dict.placeholder(int)
  config.resize = 256  # imagenet2012: images resized to this square ...
  config.crop = 224  # ... and seen as random crops of this side (central crop for evaluation)
  config.flip = False  # cifar10: random horizontal flips of the training images
  # Method and minibatches.
  config.method = "stein_vae"  # "stein_vae" | "stein_viwae" | "vae"
  config.batch_size = 64
  config.labelled_batch_size = 16
  config.vae_encoder_weighting = "batch"  # VAE encoder: "batch" (as the Stein encoder) | "data"

  # Model (sec. 5.3, FNN). Network: "fnn" (sec. 5.3 (i)), "cnn" (sec. 5.3 (ii)), "resnet" (Table 4).
  config.model = ml_collections.ConfigDict()
  config.model.network = "fnn"
  config.model.latent_dim = 50
  config.model.hidden = (600, 600)
  config.model.activation = "softplus"
  config.model.encoder = "auto"  # auto: "flow" for Stein, "gaussian" for VAE
  config.model.num_coupling_layers = 4
  config.model.coupling_hidden = 64
  config.model.conv_features = (32, 64)
  config.model.conv_kernel = 5
  config.model.noise_channels = 1  # channels of the xi image stacked with x (Stein encoders)
  # The initial std of each noise-image pixel of the stacked CNN encoder (1.0: flax's default init; the CNN
  # settings start it at 0.1, below the pixels' own std; docs/semi_supervised.md sec. 9). The FNN has no noise image.
  config.model.noise_scale = 1.0
  config.model.negative_slope = 0.01  # leaky ReLU (Maas et al. 2013, the paper's [16])
  config.model.resnet_stem = 32
  config.model.resnet_stem_stride = 1
  config.model.resnet_stages = (64, 128)
  config.model.resnet_blocks = 1
  config.model.likelihood = "auto"  # auto: bernoulli for binary images, gaussian for colour
  config.model.noise_std = 0.1  # the Gaussian likelihood's standard deviation (pixels in [0, 1] units)
  config.model.label_weight = 1.0  # 1 = the paper's p(x, y | z); see docs/semi_supervised.md
  config.model.decoder_prior_std = 1.0

  # The Stein updates: M latent particles, k of them for Stein VIWAE's bound, the SVGD step.
  config.svgd = ml_collections.ConfigDict()
  config.svgd.num_particles = 100
  config.svgd.k = 50
  config.svgd.num_decoder = 1
  config.svgd.step_size = 1.0
  config.svgd.encoder_steps = 1

  config.optimizer = ml_collections.ConfigDict()
  config.optimizer.learning_rate = 2e-4  # Adam

  # Evaluation (resumable): error of argmax mean_j softmax(theta~ f(x, xi_j)).
  config.eval = ml_collections.ConfigDict()
  config.eval.samples = 100
  config.eval.batch_size = 500
  config.eval.valid_examples = ml_collections.config_dict.placeholder(int)  # None: all 10,000
  config.eval.test_examples = ml_collections.config_dict.placeholder(int)  # None: all 10,000
  # A converged linear head on the frozen codes of the labelled images at every evaluation
  # (experiments/semi_supervised/probe.py): valid/probe_error, test/probe_error; penalty by validation error.
  config.eval.probe = False
  config.eval.probe_l2s = (1e-4, 1e-3, 1e-2, 1e-1)
  if variant in ("cnn", "cnn_cpu"):
    config.model.network = "cnn"
    # At flax's 1.0 the noise image starts at ~3x the pixels' std; 0.1 put Stein VAE below the VAE in every
    # row of Table 3's CNN column (docs/results/semi_supervised_mnist.md). The runs before 2026-12-02 ran at 1.0.
    config.model.noise_scale = 0.1
  if variant == "cnn_cpu":
    config.num_steps = 250
    config.eval_every = 250
    config.checkpoint_every = 125
    config.log_every = 25
    config.optimizer.learning_rate = 1e-3  # 2e-4 left the label head at chance (log p(y|z) = -2.33) after 250 steps
    config.svgd.num_particles = 4
    config.svgd.k = 2
    config.batch_size = 32
    config.labelled_batch_size = 8
    config.eval.samples = 4
    config.eval.valid_examples = 1000
    config.eval.test_examples = 2000
  if variant == "cpu":
    config.num_steps = 500
    config.eval_every = 500
    config.checkpoint_every = 250
    config.log_every = 50
    config.svgd.num_particles = 16
    config.svgd.k = 8
    config.eval.samples = 20
  return config
