r"""Full evaluation of a trained MNIST Stein VAE / VIWAE / VAE / IWAE run (Pu et al. 2017, Table 1's protocol).

Command (RUN: the --workdir of an experiments.stein_vae MNIST run; DIR: where the results go):
    STEIN_JAX_DATA_DIR=/path/to/data python -m experiments.stein_vae_eval \
        --config=configs/stein_vae_eval.py --config.run_dir=RUN --workdir=DIR
Evaluates the checkpoint chosen by ``step`` on every image of ``split`` by the ELBO and the
``num_samples``-sample S-ELBO (streamed in chunks, so 5,000 samples fit in memory) and writes
DIR/eval_<split>_step<N>.json with the cost per image.
"""

import ml_collections


def get_config():
  config = ml_collections.ConfigDict()
  config.run_dir = ml_collections.config_dict.placeholder(str)  # required: the trained run
  config.data_dir = ml_collections.config_dict.placeholder(str)  # default $STEIN_JAX_DATA_DIR
  # "best": the step with the lowest validation S-ELBO in the run's metrics.jsonl (the paper's
  # model selection; its checkpoint must still exist); "last": the newest checkpoint; or a step
  # number as a string (--config.step=20000).
  config.step = "best"
  config.split = "test"  # "test" (10,000 images) | "valid" (10,000) | "train" (50,000)
  config.max_examples = ml_collections.config_dict.placeholder(int)  # None: the whole split
  config.num_samples = 5000  # the paper's S-ELBO samples
  config.batch_size = 100
  config.chunk_size = 250
  config.seed = 0
  return config
