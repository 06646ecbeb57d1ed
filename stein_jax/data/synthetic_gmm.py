"""The Gaussian-mixture latent model of Pu et al. (2017), sec. 5.1, with exact posteriors.

Model (sec. 5.1):

    z ~ 1/2 N(mu_1, I) + 1/2 N(mu_2, I),   mu_1 = [5, 5], mu_2 = [-5, -5],
    x | z ~ N(A z, s^2 I),                 s = 0.1.

Two observation matrices A:

  * ``"paper"``: A = theta = [[2, -1], [1, -2]] (the paper's setting, x 2-d).
  * ``"bimodal"``: A = [[1, -1]] (x = z_1 - z_2 + noise, 1-d), our addition: the
    posterior then has two far-apart modes of equal weight for every x.

Exact posterior (derivation in docs/stein_vae.md). For each component c the product
N(z; mu_c, I) N(x; A z, s^2 I) factorises as

    N(x; A mu_c, C) * N(z; m_c(x), S),
    S = (I + A^T A / s^2)^-1,     m_c(x) = S (mu_c + A^T x / s^2),
    C = s^2 I + A A^T,

so p(z | x) = sum_c w_c(x) N(z; m_c(x), S), a two-component Gaussian mixture with
a shared covariance S and weights w_c(x) proportional to pi_c N(x; A mu_c, C).

  * paper: the Mahalanobis distance between A mu_1 and A mu_2 under C is about
    ||mu_1 - mu_2||^2 = 200, so log(w_1 / w_2) is about +-100 for data drawn from
    either component: one weight underflows even in float64-safe arithmetic unless
    kept as a log weight (we keep log weights). S has eigenvalues 1/101 (along
    [1, 1]) and 1/901 (along [1, -1]), and the component means differ by only
    S (mu_1 - mu_2) = [10, 10] / 101, so p(z | x) is one narrow, strongly correlated
    Gaussian (correlation 0.8); the minor component is negligible and overlapping.
  * bimodal: A mu_1 = A mu_2 = 0, so w_1 = w_2 = 1/2 exactly for every x. S has
    eigenvalue 1 along [1, 1] and 1/201 along [1, -1]; the means are
    m_c = mu_c + x [1, -1] / 2.01, 14.1 prior standard deviations apart.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array

PRIOR_MEANS = np.array([[5.0, 5.0], [-5.0, -5.0]])
PRIOR_LOG_WEIGHTS = np.log(np.array([0.5, 0.5]))
NOISE_STD = 0.1
OBSERVATION_MATRICES = {
  "paper": np.array([[2.0, -1.0], [1.0, -2.0]]),
  "bimodal": np.array([[1.0, -1.0]]),
}
LATENT_DIM = 2


def observation_matrix(observation: str) -> np.ndarray:
  """The matrix A [dx, 2] of x = A z + noise for ``"paper"`` or ``"bimodal"``."""
  if observation not in OBSERVATION_MATRICES:
    raise ValueError(
      f"Unknown observation {observation!r}: use one of "
      f"{sorted(OBSERVATION_MATRICES)} ('paper' is x = theta z of sec. 5.1, "
      "'bimodal' is x = z_1 - z_2)."
    )
  return OBSERVATION_MATRICES[observation]


def _gauss_logpdf_full(x: Array, mean: Array, cov: Array) -> Array:
  """log N(x; mean, cov) for x, mean [..., d] and one cov [d, d]."""
  d = cov.shape[-1]
  chol = jnp.linalg.cholesky(cov)
  diff = x - mean
  sol = jax.scipy.linalg.solve_triangular(chol, diff[..., None], lower=True)[..., 0]
  return -0.5 * jnp.sum(sol**2, -1) - jnp.sum(jnp.log(jnp.diag(chol))) - 0.5 * d * jnp.log(2 * jnp.pi)


def log_prior(z: Array) -> Array:
  """log p(z) of the mixture prior, z [..., 2] -> [...]."""
  comp = -0.5 * jnp.sum((z[..., None, :] - PRIOR_MEANS) ** 2, -1) - jnp.log(2 * jnp.pi)
  return jax.nn.logsumexp(comp + PRIOR_LOG_WEIGHTS, axis=-1)


def log_likelihood(x: Array, z: Array, observation: str = "paper", noise_std: float = NOISE_STD) -> Array:
  """log N(x; A z, s^2 I), x [..., dx], z [..., 2] (broadcast) -> [...]."""
  a = jnp.asarray(observation_matrix(observation))
  mean = z @ a.T
  dx = a.shape[0]
  return -0.5 * jnp.sum((x - mean) ** 2, -1) / noise_std**2 - dx * (jnp.log(noise_std) + 0.5 * jnp.log(2 * jnp.pi))


def log_marginal(x: Array, observation: str = "paper", noise_std: float = NOISE_STD) -> Array:
  """Closed-form log p(x) = log sum_c pi_c N(x; A mu_c, s^2 I + A A^T), x [..., dx]."""
  a = jnp.asarray(observation_matrix(observation))
  cov = noise_std**2 * jnp.eye(a.shape[0]) + a @ a.T
  comp = jnp.stack([_gauss_logpdf_full(x, jnp.asarray(PRIOR_MEANS[c] @ a.T), cov) for c in range(2)], -1)
  return jax.nn.logsumexp(comp + PRIOR_LOG_WEIGHTS, axis=-1)


class GMMData(NamedTuple):
  """Training and test sets of the sec. 5.1 model (x and the latent z that made it)."""

  x_train: Array  # [num_train, dx]
  z_train: Array  # [num_train, 2]
  x_test: Array  # [num_test, dx]
  z_test: Array  # [num_test, 2]


@functools.partial(jax.jit, static_argnames=("num", "observation", "noise_std"))
def sample_joint(key: Array, num: int, observation: str = "paper", noise_std: float = NOISE_STD) -> tuple[Array, Array]:
  """Draws (x [num, dx], z [num, 2]) from the joint p(z) p(x | z)."""
  a = jnp.asarray(observation_matrix(observation))
  k_c, k_z, k_x = jax.random.split(key, 3)
  comp = jax.random.bernoulli(k_c, 0.5, (num,)).astype(jnp.int32)
  z = jnp.asarray(PRIOR_MEANS)[comp] + jax.random.normal(k_z, (num, LATENT_DIM))
  x = z @ a.T + noise_std * jax.random.normal(k_x, (num, a.shape[0]))
  return x, z


def make_dataset(
  key: Array, observation: str = "paper", num_train: int = 10_000, num_test: int = 10, noise_std: float = NOISE_STD
) -> GMMData:
  """The sec. 5.1 data: 10,000 training and 10 test points by default."""
  k_train, k_test = jax.random.split(key)
  x_tr, z_tr = sample_joint(k_train, num_train, observation, noise_std)
  x_te, z_te = sample_joint(k_test, num_test, observation, noise_std)
  return GMMData(x_tr, z_tr, x_te, z_te)


class GMMPosterior(NamedTuple):
  """Exact p(z | x) = sum_c exp(log_weights[c]) N(z; means[c], cov), batched over x.

  Attributes:
    log_weights: [..., 2], normalised (logsumexp = 0); kept in log space because in
      the "paper" setting one weight is about exp(-100).
    means: [..., 2, 2] (component, coordinate).
    cov: [2, 2], shared by both components and all x.
  """

  log_weights: Array
  means: Array
  cov: Array


def exact_posterior(x: Array, observation: str = "paper", noise_std: float = NOISE_STD) -> GMMPosterior:
  """The exact posterior p(z | x) for x [..., dx] (Pu et al. 2017, sec. 5.1; module doc)."""
  a = jnp.asarray(observation_matrix(observation))
  x = jnp.asarray(x)
  if x.shape[-1] != a.shape[0]:
    raise ValueError(
      f"x has last dimension {x.shape[-1]} but observation {observation!r} " f"has {a.shape[0]}-d observations."
    )
  precision = jnp.eye(LATENT_DIM) + a.T @ a / noise_std**2
  cov = jnp.linalg.inv(precision)
  cov = 0.5 * (cov + cov.T)
  mus = jnp.asarray(PRIOR_MEANS)
  data_term = x @ a / noise_std**2  # [..., 2] = A^T x / s^2
  means = (mus + data_term[..., None, :]) @ cov.T  # [..., 2, 2]
  marg_cov = noise_std**2 * jnp.eye(a.shape[0]) + a @ a.T
  log_w = jnp.stack([_gauss_logpdf_full(x, mus[c] @ a.T, marg_cov) for c in range(2)], -1)
  log_w = log_w + PRIOR_LOG_WEIGHTS
  log_w = log_w - jax.nn.logsumexp(log_w, axis=-1, keepdims=True)
  return GMMPosterior(log_w, means, cov)


def posterior_log_prob(post: GMMPosterior, z: Array) -> Array:
  """log p(z | x): post batched over [...], z [..., m, 2] -> [..., m]."""
  comp = _gauss_logpdf_full(z[..., None, :], post.means[..., None, :, :], post.cov)
  return jax.nn.logsumexp(comp + post.log_weights[..., None, :], axis=-1)


def posterior_sample(key: Array, post: GMMPosterior, num: int) -> Array:
  """Draws num exact posterior samples per x: returns [..., num, 2]."""
  batch = post.log_weights.shape[:-1]
  k_c, k_e = jax.random.split(key)
  comp = jax.random.categorical(k_c, post.log_weights[..., None, :], axis=-1, shape=batch + (num,))
  means = jnp.take_along_axis(post.means, comp[..., None], axis=-2)  # [..., num, 2]
  chol = jnp.linalg.cholesky(post.cov)
  eps = jax.random.normal(k_e, batch + (num, LATENT_DIM))
  return means + eps @ chol.T


def assign_mode(post: GMMPosterior, z: Array) -> Array:
  """Index (0 or 1) of the posterior component each z [..., m, 2] belongs to.

  The component with the larger responsibility w_c N(z; means[c], cov). In the bimodal
  setting (w_1 = w_2) that is the nearer mode in the shared Mahalanobis metric, i.e.
  the side of the line z_1 + z_2 = 0 a sample lies on. In the paper setting the two
  components sit only about 0.14 apart (m_1 - m_2 = S (mu_1 - mu_2)) with one weight
  about exp(-100), so essentially every sample belongs to the dominant component.
  """
  comp = _gauss_logpdf_full(z[..., None, :], post.means[..., None, :, :], post.cov)
  return jnp.argmax(comp + post.log_weights[..., None, :], axis=-1)


def mode_weights(post: GMMPosterior, z: Array) -> Array:
  """Fraction of the samples z [..., m, 2] in each mode: [..., 2]."""
  idx = assign_mode(post, z)
  return jnp.stack([jnp.mean(idx == c, axis=-1) for c in range(2)], -1)
