r"""binarized MNIST at a CPU budget (Table 1 at a small, equal budget for every method).

Command (each of the four methods; see docs/results/stein_vae_mnist.md for the numbers):
    STEIN_JAX_DATA_DIR=/path/to/data python -m experiments.stein_vae \
        --config=configs/stein_vae_mnist_cpu.py --config.method=stein_vae --workdir=/tmp/mnist_svae
    ... --config.method=vae | iwae | stein_viwae

Same model and optimiser as configs/stein_vae_mnist.py; differences: 800 steps (about
one epoch at batch 64) and the test NLL on the first 1,000 test images with 1,000
samples per image (the paper: all 10,000 with 5,000).
"""

from configs import stein_vae_mnist


def get_config():
  config = stein_vae_mnist.get_config()
  config.num_steps = 800
  config.eval_every = 800
  config.checkpoint_every = 400
  config.log_every = 100
  config.test_examples = 1000
  config.valid_examples = 1000
  config.eval_samples = 1000
  return config
