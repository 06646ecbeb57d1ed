r"""binarized MNIST at a CPU budget (Table 1 at a small, equal budget for every method).

Command (each of the four methods; see docs/results/stein_vae_mnist.md for the numbers):
    STEIN_JAX_DATA_DIR=/path/to/data python -m experiments.stein_vae \
        --config=configs/stein_vae_mnist_cpu.py --config.method=stein_vae --workdir=/tmp/mnist_svae
    ... --config.method=vae | iwae | stein_viwae

Same model and optimiser as configs/stein_vae_mnist.py; differences: 4,000 steps (about
five epochs at batch 64, 15-20 minutes per Stein run on a 2-core CPU), evaluated every
1,000 steps on the first 1,000 validation and the first 1,000 test images with 1,000
samples per image (the paper: all 10,000 test images with 5,000). The results doc's
800-step table ("First results") used the "sgd" particle step; to rerun it add
--config.num_steps=800 --config.eval_every=800 --config.latent_update=sgd.
"""

from configs import stein_vae_mnist


def get_config():
  config = stein_vae_mnist.get_config()
  config.num_steps = 4000
  config.eval_every = 1000
  config.checkpoint_every = 1000
  config.log_every = 200
  config.test_examples = 1000
  config.valid_examples = 1000
  config.eval_samples = 1000
  return config
