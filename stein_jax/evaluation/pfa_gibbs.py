"""Gibbs sampling for Poisson factor analysis (Zhou et al. 2012; Pu et al. 2017, sec. 5.1).

Model (:mod:`stein_jax.objectives.pfa`): theta[:, v] ~ Dir(a0), z_nv ~ Gamma(r, c),
x_pn ~ Pois(sum_v theta_pv z_nv). Augmenting each count with its split over topics,
x_pn = sum_v x_pnv, x_pnv ~ Pois(theta_pv z_nv), gives the three conditionals
(derived in docs/pfa.md, sec. 4):

  1. (x_pn1, ..., x_pnV) | .  ~ Mult(x_pn; theta_pv z_nv / sum_v' theta_pv' z_nv'),
  2. z_nv | .                 ~ Gamma(r + sum_p x_pnv, c + sum_p theta_pv),
  3. theta[:, v] | .          ~ Dir(a0 + sum_n x_:nv).

Step 1 is drawn token by token (each of a document's sum_p x_pn words is one categorical
draw by inverse CDF: one uniform and a cumulative sum over V per token), so a sweep costs
O(tokens x V) and memory never holds a dense [P, V] matrix per document. Two layouts:

  * :class:`DocTokens` (per document, padded to the longest document of the set): the
    theta-fixed posterior of test documents, ``jax.vmap`` over documents and
    ``lax.scan`` over sweeps (:func:`posterior_z`).
  * :class:`CorpusTokens` (all tokens of a corpus in one flat array with their document
    index): learning theta on a training corpus (:func:`learn_theta`), where per-document
    padding would waste a factor max/mean length (about 50 for 20 Newsgroups); the
    token pass is ``lax.map`` over fixed-size chunks.

Gamma variates come from :func:`log_gamma`, a whole-array Marsaglia-Tsang rejection
sampler (12x faster on a CPU than ``jax.random.gamma``, whose per-element rejection loop
dominated a sweep), in log space: Dirichlet draws are a softmax of log-gamma draws, so the
small concentrations of topic models (a0 = 0.05: direct Gamma(a0) draws are 0 in float32
about 1% of the time) lose no precision before normalising. Entries of a Dir(a0) draw
below float32's range (they exist) still round to 0; that is harmless to the sampler,
since a word in the corpus has a count in some topic in the current split, whose entry is
a Gamma(>= 1 + a0) draw, so every token's weights sum_v theta_pv z_v stay positive; the
point estimate (a posterior mean) is strictly positive.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from stein_jax.targets.pfa import PFAPrior, check_prior

Array = jax.Array


# ------------------------------------------------------------------- token layouts


def _check_dense_counts(x) -> np.ndarray:
  x = np.asarray(x)
  if x.ndim != 2:
    raise ValueError(f"Counts must be a [num_documents, vocab_size] matrix, got shape {x.shape}.")
  if not np.all(np.isfinite(x)) or x.min() < 0 or np.any(x != np.round(x)):
    raise ValueError("Counts must be finite non-negative integers (a bag of words).")
  return x.astype(np.int64)


def sparse_triples(x) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(document, word, count) triples of the non-zero entries of x [N, P], row-major."""
  x = _check_dense_counts(x)
  doc, word = np.nonzero(x)
  return doc.astype(np.int32), word.astype(np.int32), x[doc, word].astype(np.int32)


class DocTokens(NamedTuple):
  """Per-document tokens, padded: words [D, T] (word id of each token), mask [D, T]."""

  words: Array
  mask: Array


class CorpusTokens(NamedTuple):
  """All tokens of a corpus: doc [T], words [T], mask [T] (False on chunk padding)."""

  doc: Array
  words: Array
  mask: Array
  num_docs: int
  vocab_size: int


def doc_tokens(x) -> DocTokens:
  """Tokens of each document of x [D, P] (counts), padded to the longest document.

  Raises:
    ValueError: a document without words (its posterior is the prior; drop it).
  """
  doc, word, count = sparse_triples(x)
  n_docs = np.asarray(x).shape[0]
  lengths = np.bincount(doc, weights=count, minlength=n_docs).astype(np.int64)
  if lengths.min() == 0:
    raise ValueError(f"Document {int(np.argmin(lengths))} has no words; drop empty documents.")
  t = int(lengths.max())
  words = np.zeros((n_docs, t), np.int32)
  mask = np.zeros((n_docs, t), bool)
  tok_doc = np.repeat(doc, count)
  tok_word = np.repeat(word, count)
  starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
  pos = np.arange(tok_doc.size) - starts[tok_doc]
  words[tok_doc, pos] = tok_word
  mask[tok_doc, pos] = True
  return DocTokens(jnp.asarray(words), jnp.asarray(mask))


def corpus_tokens(x, chunk_size: int = 65536) -> CorpusTokens:
  """Flat tokens of x [N, P], padded to a multiple of ``chunk_size`` (mask marks real ones)."""
  if chunk_size < 1:
    raise ValueError(f"chunk_size must be >= 1, got {chunk_size}.")
  doc, word, count = sparse_triples(x)
  tok_doc = np.repeat(doc, count)
  tok_word = np.repeat(word, count)
  n = tok_doc.size
  if n == 0:
    raise ValueError("The corpus has no words.")
  padded = -(-n // chunk_size) * chunk_size
  pad = padded - n
  mask = np.concatenate([np.ones(n, bool), np.zeros(pad, bool)])
  tok_doc = np.concatenate([tok_doc, np.zeros(pad, np.int32)])
  tok_word = np.concatenate([tok_word, np.zeros(pad, np.int32)])
  shape = np.asarray(x).shape
  return CorpusTokens(jnp.asarray(tok_doc), jnp.asarray(tok_word), jnp.asarray(mask), int(shape[0]), int(shape[1]))


# ----------------------------------------------------------------------- conditionals


def log_gamma(key: Array, shape_param: Array) -> Array:
  """log G, G ~ Gamma(shape_param, 1) elementwise (any shape > 0), exactly in distribution.

  Marsaglia & Tsang (2000): for a >= 1, d = a - 1/3, c = 1/sqrt(9 d), x ~ N(0, 1),
  v = (1 + c x)^3, accept d v when v > 0 and log U < x^2/2 + d - d v + d log v. All
  entries propose at once; a ``lax.while_loop`` redraws the rejected ones until none is
  left (acceptance >= 0.95 per proposal, so a few rounds for millions of entries). For
  a < 1, G(a) = G(a + 1) U^(1/a), added in log space (no underflow for tiny a).
  """
  a = jnp.asarray(shape_param, jnp.float32)
  boost = a < 1
  ab = jnp.where(boost, a + 1.0, a)
  d = ab - 1.0 / 3.0
  c = 1.0 / jnp.sqrt(9.0 * d)
  k_boost, k_loop = jax.random.split(key)
  tiny = jnp.finfo(jnp.float32).tiny

  def body(state):
    k, out, done = state
    k, k1, k2 = jax.random.split(k, 3)
    x = jax.random.normal(k1, a.shape)
    v = (1.0 + c * x) ** 3
    log_v = jnp.log(jnp.where(v > 0, v, 1.0))
    log_u = jnp.log(jax.random.uniform(k2, a.shape, minval=tiny))
    ok = (v > 0) & (log_u < 0.5 * x * x + d - d * v + d * log_v)
    out = jnp.where(done | ~ok, out, jnp.log(d) + log_v)
    return k, out, done | ok

  init = (k_loop, jnp.zeros_like(a), jnp.zeros(a.shape, bool))
  _, out, _ = jax.lax.while_loop(lambda s: ~jnp.all(s[2]), body, init)
  log_u = jnp.log(jax.random.uniform(k_boost, a.shape, minval=tiny))
  return out + jnp.where(boost, log_u / a, 0.0)


def sample_topics(key: Array, weights: Array) -> Array:
  """One categorical draw per row of unnormalised weights [..., V] by inverse CDF: [...]."""
  cdf = jnp.cumsum(weights, -1)
  u = jax.random.uniform(key, weights.shape[:-1], weights.dtype) * cdf[..., -1]
  idx = jnp.sum(cdf <= u[..., None], -1)
  return jnp.minimum(idx, weights.shape[-1] - 1)


def split_counts(key: Array, theta_tok: Array, z: Array, mask: Array) -> tuple[Array, Array]:
  """Conditional 1 for one document: its tokens' topics and the topic counts.

  Args:
    key: PRNG key.
    theta_tok: theta's rows at the document's tokens [T, V].
    z: the document's factor scores [V].
    mask: [T], False on padding.

  Returns:
    (topics [T] int, counts n_v = sum_p x_pv [V] float); padding tokens are not counted.
  """
  topics = sample_topics(key, theta_tok * z)
  counts = jnp.zeros(z.shape, z.dtype).at[topics].add(mask.astype(z.dtype))
  return topics, counts


def sample_z(key: Array, topic_counts: Array, theta_colsum: Array, prior: PFAPrior) -> Array:
  """Conditional 2: z_v ~ Gamma(r + n_v, c + sum_p theta_pv), topic_counts [..., V]."""
  return jnp.exp(log_gamma(key, prior.r + topic_counts)) / (prior.c + theta_colsum)


def sample_theta(key: Array, word_topic_counts: Array, prior: PFAPrior) -> Array:
  """Conditional 3: theta[:, v] ~ Dir(a0 + n_:v), word_topic_counts [P, V] -> theta [P, V].

  Normalised log-gamma draws (a softmax over p); entries far below float32's range
  (possible where a0 + n_pv < 1) round to 0, see the module docstring.
  """
  log_g = log_gamma(key, prior.a0 + word_topic_counts)
  return jax.nn.softmax(log_g, axis=0)


# ------------------------------------------------------------- theta-fixed posterior


def _check_sweeps(num_burnin, num_collect, thin):
  if num_burnin < 0 or num_collect < 1 or thin < 1 or num_collect % thin:
    raise ValueError(
      f"Need num_burnin >= 0, num_collect >= 1 and thin >= 1 dividing "
      f"num_collect; got {num_burnin}, {num_collect}, {thin}."
    )


def posterior_z(
  key: Array,
  theta: Array,
  tokens: DocTokens,
  prior: PFAPrior,
  *,
  num_burnin: int = 2000,
  num_collect: int = 2500,
  thin: int = 10,
  z_init: Array | None = None,
) -> Array:
  """Gibbs samples of z_n | x_n, theta for each document (theta fixed), [D, C, V].

  The paper's protocol (sec. 5.1): 2,000 burn-in sweeps, then 2,500 sweeps of which every
  ``thin``-th (10th) is kept, C = num_collect / thin = 250. Each sweep draws the token
  topics given z (conditional 1), then z given the topic counts (conditional 2). The
  chain of each document is independent: ``jax.vmap`` over documents of a ``lax.scan``
  over sweeps.

  Args:
    key: PRNG key.
    theta: topics [P, V].
    tokens: :func:`doc_tokens` of the documents.
    prior: the Gamma(r, c) of z (a0 is unused here).
    num_burnin, num_collect, thin: see above.
    z_init: [D, V] starting scores; default a draw from the prior.

  Returns:
    samples [D, num_collect // thin, V].
  """
  check_prior(prior)
  _check_sweeps(num_burnin, num_collect, thin)
  num_docs = tokens.words.shape[0]
  v = theta.shape[1]
  colsum = jnp.sum(theta, 0)
  k_init, k_run = jax.random.split(key)
  if z_init is None:
    z_init = jnp.exp(log_gamma(k_init, jnp.full((num_docs, v), prior.r))) / prior.c
  keys = jax.random.split(k_run, num_docs)

  def one_doc(k, words, mask, z0):
    theta_tok = theta[words]  # [T, V], fixed across sweeps

    def sweep(z, kk):
      k1, k2 = jax.random.split(kk)
      _, counts = split_counts(k1, theta_tok, z, mask)
      return sample_z(k2, counts, colsum, prior), None

    def run(z, k, n):
      return jax.lax.scan(sweep, z, jax.random.split(k, n))[0]

    kb, kc = jax.random.split(k)
    z = run(z0, kb, num_burnin) if num_burnin else z0

    def collect(z, kk):
      z = run(z, kk, thin)
      return z, z

    _, draws = jax.lax.scan(collect, z, jax.random.split(kc, num_collect // thin))
    return draws

  return jax.jit(jax.vmap(one_doc))(keys, tokens.words, tokens.mask, z_init)


# --------------------------------------------------------------------- learning theta


class ThetaFit(NamedTuple):
  """Result of :func:`learn_theta`.

  Attributes:
    theta: point estimate [P, V]: the Rao-Blackwellised posterior mean, the average over
      the kept sweeps of E[theta | counts] = (a0 + n_pv) / (P a0 + n_v).
    theta_last: the last Gibbs draw of theta [P, V].
    z_last: the last draw of the training documents' scores [N, V].
    log_likelihood: per-sweep training log p(x | theta, z) per token [num_sweeps].
  """

  theta: Array
  theta_last: Array
  z_last: Array
  log_likelihood: Array


def _token_pass(key, theta, z, tokens: CorpusTokens, chunk_size: int):
  """Conditional 1 over a flat corpus: (n_dv [N, V], n_pv [P, V], sum over tokens log lam)."""
  n_chunks = tokens.doc.shape[0] // chunk_size
  shape = (n_chunks, chunk_size)
  keys = jax.random.split(key, n_chunks)

  def chunk(args):
    k, d, w, m = args
    weights = theta[w] * z[d]  # [chunk, V]
    topics = sample_topics(k, weights)
    log_lam = jnp.log(jnp.sum(weights, -1))
    return topics, jnp.sum(jnp.where(m, log_lam, 0.0))

  topics, log_lam = jax.lax.map(
    chunk, (keys, tokens.doc.reshape(shape), tokens.words.reshape(shape), tokens.mask.reshape(shape))
  )
  topics = topics.reshape(-1)
  m = tokens.mask.astype(theta.dtype)
  v = theta.shape[1]
  n_dv = jnp.zeros((tokens.num_docs, v), theta.dtype).at[tokens.doc, topics].add(m)
  n_pv = jnp.zeros((tokens.vocab_size, v), theta.dtype).at[tokens.words, topics].add(m)
  return n_dv, n_pv, jnp.sum(log_lam)


def learn_theta(
  key: Array,
  tokens: CorpusTokens,
  num_topics: int,
  prior: PFAPrior,
  *,
  num_sweeps: int,
  num_burnin: int,
  chunk_size: int = 65536,
  theta_init: Array | None = None,
) -> ThetaFit:
  """Gibbs sampling of (theta, Z) on a training corpus (the paper's MCMC for theta, [4]).

  One sweep: token topics | theta, Z (conditional 1); Z | counts (2); theta | counts (3).
  The point estimate averages E[theta | n_pv] over the sweeps after ``num_burnin``.
  The paper fixes theta "at its MAP value"; with a0 < 1 the Dirichlet mode lies on the
  simplex's boundary (zero probabilities, hence log 0 for test words), so we use the
  posterior mean, which is strictly positive (docs/pfa.md, sec. 5).

  Args:
    key: PRNG key.
    tokens: :func:`corpus_tokens` of the training counts (same ``chunk_size``).
    num_topics: V.
    prior: :class:`PFAPrior`.
    num_sweeps: total sweeps (> num_burnin).
    num_burnin: sweeps before averaging starts.
    chunk_size: tokens per chunk of the token pass (memory chunk_size x V floats).
    theta_init: starting topics [P, V]; default a Dir(1) draw per topic.

  Returns:
    :class:`ThetaFit`.
  """
  check_prior(prior)
  if not (num_sweeps > num_burnin >= 0):
    raise ValueError(f"Need num_sweeps > num_burnin >= 0, got {num_sweeps}, {num_burnin}.")
  if num_topics < 1:
    raise ValueError(f"num_topics must be >= 1, got {num_topics}.")
  if tokens.doc.shape[0] % chunk_size:
    raise ValueError(
      f"The corpus tokens are padded to a multiple of another chunk size; build "
      f"them with corpus_tokens(x, chunk_size={chunk_size})."
    )
  p = tokens.vocab_size
  k_theta, k_z, k_run = jax.random.split(key, 3)
  theta = (
    jax.random.dirichlet(k_theta, jnp.ones(p), (num_topics,)).T
    if theta_init is None
    else jnp.asarray(theta_init, jnp.float32)
  )
  z = jnp.exp(log_gamma(k_z, jnp.full((tokens.num_docs, num_topics), prior.r))) / prior.c
  num_tokens = jnp.sum(tokens.mask)

  def sweep(carry, inputs):
    theta, z, acc = carry
    kk, i = inputs
    k1, k2, k3 = jax.random.split(kk, 3)
    n_dv, n_pv, sum_log_lam = _token_pass(k1, theta, z, tokens, chunk_size)
    # Log-likelihood of the state entering the sweep (up to the constant sum log x!).
    ll = (sum_log_lam - jnp.sum(z * jnp.sum(theta, 0))) / num_tokens
    z = sample_z(k2, n_dv, jnp.sum(theta, 0), prior)
    theta = sample_theta(k3, n_pv, prior)
    mean = (prior.a0 + n_pv) / (p * prior.a0 + jnp.sum(n_pv, 0))
    acc = acc + jnp.where(i >= num_burnin, 1.0, 0.0) * mean
    return (theta, z, acc), ll

  @jax.jit
  def run(theta, z):
    init = (theta, z, jnp.zeros_like(theta))
    xs = (jax.random.split(k_run, num_sweeps), jnp.arange(num_sweeps))
    return jax.lax.scan(sweep, init, xs)

  (theta_last, z_last, acc), ll = run(theta, z)
  return ThetaFit(acc / (num_sweeps - num_burnin), theta_last, z_last, ll)
