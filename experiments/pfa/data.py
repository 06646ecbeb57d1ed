"""The PFA experiment's corpora: 20 Newsgroups word counts, or documents drawn from PFA itself."""

import numpy as np

from stein_jax import data as data_lib
from stein_jax.objectives import pfa as pfa_obj
from stein_jax.train import ConfigError


def synthetic_corpus(seed: int, num_docs: int, vocab_size: int, num_topics: int, prior: pfa_obj.PFAPrior):
  """Documents drawn from PFA itself: (counts [num_docs, P], the true theta [P, V]).

  Topics are Dir(0.3) draws (smoother than a0, so every word has mass), codes Gamma(r, c)
  scaled by 20 so documents have tens of words; empty documents are redrawn.
  """
  rng = np.random.default_rng(seed)
  theta = rng.dirichlet(np.full(vocab_size, 0.3), num_topics).T
  z = 20.0 * rng.gamma(prior.r, 1.0 / prior.c, (num_docs, num_topics))
  x = rng.poisson(z @ theta.T)
  empty = x.sum(1) == 0
  x[empty, rng.integers(0, vocab_size, empty.sum())] = 1
  return x.astype(np.float32), theta.astype(np.float32)


def load_corpus(config, prior: pfa_obj.PFAPrior):
  """``(x_train [N, P], x_test [num_test_docs, P], true theta or None)`` as float32 counts, checked.

  Raises:
    ConfigError: the test split has fewer than ``config.num_test_docs`` documents.
  """
  if config.dataset == "synthetic":
    x, true_theta = synthetic_corpus(
      config.seed + 1,
      config.synthetic_docs + config.num_test_docs,
      config.synthetic_vocab,
      config.model.num_topics,
      prior,
    )
    x_train, x_test = x[: config.synthetic_docs], x[config.synthetic_docs :]
  else:
    x_train = data_lib.load(config.dataset, "train", config.data_dir).x
    x_test = data_lib.load(config.dataset, "test", config.data_dir, max_examples=config.num_test_docs).x
    true_theta = None
  x_train = np.asarray(x_train, np.float32)
  x_test = np.asarray(x_test, np.float32)
  if x_test.shape[0] < config.num_test_docs:
    raise ConfigError(
      f"invalid config: num_test_docs={config.num_test_docs} but the test split has {x_test.shape[0]} documents."
    )
  vocab_size = x_train.shape[1]
  pfa_obj.check_counts(x_train, vocab_size)
  pfa_obj.check_counts(x_test, vocab_size)
  return x_train, x_test, true_theta
