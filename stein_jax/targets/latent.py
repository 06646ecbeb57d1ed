"""The latent-variable model of Pu et al. 2017 as a density: p(z) p(x | z, theta) and the encoder's q.

Shapes:

  x        [B, dx]            a minibatch of data
  xi       [S, dz]            encoder noise (shared across the batch in sec. 5), or [B, S, dz]
  z        [B, S, dz]         latent particles z_jn = f_eta(x_n, xi_j)
  dec      pytree, leaves [M, ...]: M decoder-parameter particles theta_m (M = 1 is the point
           estimate); the decoder is ``jax.vmap``-ed over them.

Everything the Stein VAE / VIWAE objectives (``stein_jax.objectives.stein_vae``), the bounds
(``stein_jax.evaluation.bounds``) and the posterior checks need to evaluate: the likelihoods, the log
joint over decoder particles and its latent score, and the encoder's samples with their exact
log-density by the change of variables (for the Gaussian encoder: the usual density). The encoder
must be a module of :mod:`stein_jax.models.vae` (``apply(params, x, xi)`` returns z; a
``forward_and_log_det`` method gives the exact log-det, otherwise it is taken with ``jax.jacfwd``).
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array
PyTree = Any

_LOG_2PI = math.log(2 * math.pi)


# ----------------------------------------------------------------------------- model


def standard_normal_log_prob(z: Array) -> Array:
  """log N(z; 0, I), z [..., d] -> [...]."""
  return -0.5 * jnp.sum(z**2, -1) - 0.5 * z.shape[-1] * _LOG_2PI


class LatentModel(NamedTuple):
  """A latent-variable model p(z) p(x | z, theta) with a noise encoder f_eta(x, xi).

  Attributes:
    encoder: a noise-encoder module (``stein_jax.models.vae``).
    decoder: a module mapping z [..., dz] to logits (Bernoulli) or a mean (Gaussian).
    latent_dim: dz = dim xi.
    data_dim: dx.
    likelihood: "bernoulli" (x in [0, 1]), "gaussian" (x ~ N(mean, noise_std^2 I)) or
      "multinomial" (x nonnegative integer word counts [.., V]; the decoder gives logits,
      x | z ~ Multinomial(sum_w x_w, softmax(logits)); see :func:`log_likelihood`) or
      "deep_poisson" (the gamma DEF of :mod:`stein_jax.models.deep_poisson`: the decoder
      gives [..., V + 1], V Poisson log rates and the hidden layers' log density).
    noise_std: the Gaussian likelihood's standard deviation.
    log_prior: log p(z), z [..., dz] -> [...] (the standard normal by default; the
      sec. 5.1 mixture is ``stein_jax.data.synthetic_gmm.log_prior``).
  """

  encoder: nn.Module
  decoder: nn.Module
  latent_dim: int
  data_dim: int
  likelihood: str = "bernoulli"
  noise_std: float = 1.0
  log_prior: Callable[[Array], Array] = standard_normal_log_prob


LIKELIHOODS = ("bernoulli", "gaussian", "multinomial", "deep_poisson")


def check_model(model: LatentModel) -> None:
  """Raises ValueError for an unknown likelihood or a latent size the encoder does not have."""
  if model.likelihood not in LIKELIHOODS:
    raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {model.likelihood!r}.")
  enc_dim = getattr(model.encoder, "latent_dim", model.latent_dim)
  if enc_dim != model.latent_dim:
    raise ValueError(
      f"The encoder's latent_dim is {enc_dim} but the model's latent_dim "
      f"(the size of xi) is {model.latent_dim}; they must be equal."
    )
  if model.likelihood == "gaussian" and not model.noise_std > 0:
    raise ValueError(f"noise_std must be positive, got {model.noise_std}.")


def check_data(model: LatentModel, x: Array) -> None:
  """Raises ValueError for data of the wrong shape, values outside [0, 1] for a Bernoulli,
  or counts that are negative or not integers for a multinomial.

  Shape is checked always (shapes are static under jit); values only for concrete arrays.
  """
  if x.ndim != 2 or x.shape[-1] != model.data_dim:
    raise ValueError(
      f"Data must have shape [batch, {model.data_dim}] (flattened), got "
      f"{tuple(x.shape)}. For MNIST flatten 28x28 images to 784."
    )
  if isinstance(x, jax.core.Tracer):
    return
  xn = np.asarray(x)
  if not np.all(np.isfinite(xn)):
    raise ValueError("Data contains NaN or inf values.")
  if model.likelihood == "bernoulli" and (xn.min() < 0 or xn.max() > 1):
    raise ValueError(
      f"A Bernoulli likelihood needs data in [0, 1]; got values in "
      f"[{xn.min():.3g}, {xn.max():.3g}]. Scale images by 1/255 (and binarize)."
    )
  if model.likelihood in ("multinomial", "deep_poisson"):
    if xn.min() < 0:
      raise ValueError(
        f"A multinomial likelihood needs nonnegative word counts; got a minimum "
        f"of {xn.min():.3g}. Pass raw bag-of-words counts, not centred or "
        "tf-idf features."
      )
    if not np.all(xn == np.round(xn)):
      bad = xn[xn != np.round(xn)].ravel()[0]
      raise ValueError(
        f"A multinomial likelihood needs integer word counts; got {bad:.4g}. "
        "Pass raw bag-of-words counts, not normalised or tf-idf features."
      )


@jax.custom_jvp
def softplus(a: Array) -> Array:
  """log(1 + exp(a)) as max(a, 0) + log1p(exp(-|a|)): the values of ``jax.nn.softplus`` bit for bit (it is
  ``logaddexp(a, 0)``, the same formula with checks for infinities), and its derivative sigmoid(a) from the same
  exp(-|a|): about 4x faster to differentiate on a CPU (XLA fuses it with the Bernoulli likelihood;
  docs/results/stein_vae_step.md).
  """
  return jnp.maximum(a, 0) + jnp.log1p(jnp.exp(-jnp.abs(a)))


@softplus.defjvp
def _softplus_jvp(primals, tangents):
  (a,), (t,) = primals, tangents
  e = jnp.exp(-jnp.abs(a))
  sigmoid = jnp.where(a >= 0, 1.0, e) / (1.0 + e)
  return jnp.maximum(a, 0) + jnp.log1p(e), sigmoid * t


def log_likelihood(model: LatentModel, decoder_out: Array, x: Array) -> Array:
  """log p(x | z) from the decoder's output [..., dx] and x (broadcast) -> [...].

  Multinomial: sum_w x_w log softmax(decoder_out)_w, the document's words given its
  length N = sum_w x_w, WITHOUT the multinomial coefficient log N! / prod_w x_w!
  (:func:`multinomial_log_coefficient`): it does not depend on z or theta, and the
  perplexity convention (NVDM, Miao et al. 2016) scores the word sequence, not the bag.

  Deep Poisson (decoder_out = [log lambda, h], h = sum_{l<L} log p(u_l | z_{l+1})): the
  Poisson log pmf minus the same multinomial coefficient, sum_w (x_w log lambda_w -
  lambda_w) - log N!, which is the log probability of the word sequence *and its length*
  (docs/deep_poisson.md), plus h, so that log_likelihood + log_prior(u_top) is the log
  joint of x and every layer.
  """
  if model.likelihood == "deep_poisson":
    log_rate, hidden = decoder_out[..., :-1], decoder_out[..., -1]
    n = jnp.sum(x, -1)
    return jnp.sum(x * log_rate - jnp.exp(log_rate), -1) - jax.scipy.special.gammaln(n + 1) + hidden
  if model.likelihood == "bernoulli":
    return jnp.sum(x * decoder_out - softplus(decoder_out), -1)
  if model.likelihood == "multinomial":
    return jnp.sum(x * jax.nn.log_softmax(decoder_out, -1), -1)
  s = model.noise_std
  return -0.5 * jnp.sum((x - decoder_out) ** 2, -1) / s**2 - x.shape[-1] * (math.log(s) + 0.5 * _LOG_2PI)


def multinomial_log_coefficient(x: Array) -> Array:
  """log N! - sum_w log x_w! for counts x [..., V] -> [...], N = sum_w x_w.

  Adding it to the multinomial :func:`log_likelihood` gives the probability of the bag of
  words (scipy.stats.multinomial.logpmf) instead of that of one ordering of its words.
  """
  return jax.scipy.special.gammaln(jnp.sum(x, -1) + 1) - jnp.sum(jax.scipy.special.gammaln(x + 1), -1)


def num_decoder_particles(dec_params: PyTree) -> int:
  """M, the leading axis shared by every leaf of the stacked decoder parameters."""
  sizes = {leaf.shape[0] for leaf in jax.tree_util.tree_leaves(dec_params)}
  if len(sizes) != 1:
    raise ValueError(
      f"Decoder parameters must be stacked with one leading particle axis "
      f"(M copies); found leading sizes {sorted(sizes)}."
    )
  return sizes.pop()


def init_params(key: Array, model: LatentModel, num_decoder: int = 1) -> tuple[PyTree, PyTree]:
  """(encoder params, decoder params stacked [M, ...]) from independent initialisations."""
  check_model(model)
  k_enc, k_dec = jax.random.split(key)
  x0 = jnp.zeros((1, model.data_dim))
  xi0 = jnp.zeros((1, model.latent_dim))
  enc_params = model.encoder.init(k_enc, x0, xi0)
  dec_keys = jax.random.split(k_dec, num_decoder)
  dec_params = jax.vmap(lambda k: model.decoder.init(k, xi0))(dec_keys)
  return enc_params, dec_params


# --------------------------------------------------------------------------- encoder


def encode(model: LatentModel, enc_params: PyTree, x: Array, xi: Array, with_log_det: bool = False):
  """z = f_eta(x, xi) for x [..., dx], xi [..., dz] (broadcast); optionally log|det dz/dxi|.

  The log-det is the module's exact ``forward_and_log_det`` where it has one, else
  ``slogdet(jax.jacfwd)`` per (x, xi) pair (valid only where xi -> z is a bijection).
  """
  if xi.shape[-1] != model.latent_dim:
    raise ValueError(f"xi has size {xi.shape[-1]} but the latent size is {model.latent_dim}.")
  enc = model.encoder
  if hasattr(enc, "forward_and_log_det"):
    z, log_det = enc.apply(enc_params, x, xi, method=enc.forward_and_log_det)
    return (z, log_det) if with_log_det else z
  z = enc.apply(enc_params, x, xi)
  if not with_log_det:
    return z
  shape = z.shape[:-1]
  xb = jnp.broadcast_to(x, shape + x.shape[-1:]).reshape(-1, x.shape[-1])
  xib = jnp.broadcast_to(xi, shape + xi.shape[-1:]).reshape(-1, xi.shape[-1])
  jac = jax.vmap(jax.jacfwd(lambda xx, ee: enc.apply(enc_params, xx, ee), argnums=1))(xb, xib)
  log_det = jnp.linalg.slogdet(jac)[1].reshape(shape)
  return z, log_det


def sample_with_log_q(model: LatentModel, enc_params: PyTree, x: Array, xi: Array):
  """(z, log q(z | x)) by the change of variables log q0(xi) - log|det dz/dxi| (sec. 5.2)."""
  z, log_det = encode(model, enc_params, x, xi, with_log_det=True)
  log_q = standard_normal_log_prob(jnp.broadcast_to(xi, z.shape)) - log_det
  return z, log_q


# ------------------------------------------------------------------------ likelihood


def log_joint_per_decoder(model: LatentModel, dec_params: PyTree, x: Array, z: Array) -> Array:
  """log p(x_n | z_nj, theta_m) + log p(z_nj): x [B, dx], z [B, S, dz] -> [M, B, S]."""
  out = jax.vmap(lambda p: model.decoder.apply(p, z))(dec_params)  # [M, B, S, dx]
  return log_likelihood(model, out, x[:, None, :]) + model.log_prior(z)


def log_joint(model: LatentModel, dec_params: PyTree, x: Array, z: Array, reduce: str = "mean") -> Array:
  """log p(x, z) over decoder particles: [B, S].

  reduce="mean" gives mean_m log p(x, z | theta_m) (the log p~ of eq. 6), "logmeanexp"
  the model-averaged log mean_m p(x, z | theta_m) (sec. 5.2's p(x*, z*)).
  """
  lj = log_joint_per_decoder(model, dec_params, x, z)
  if reduce == "mean":
    return jnp.mean(lj, 0)
  if reduce == "logmeanexp":
    return jax.nn.logsumexp(lj, 0) - math.log(lj.shape[0])
  raise ValueError(f"reduce must be 'mean' or 'logmeanexp', got {reduce!r}.")


def latent_scores(model: LatentModel, dec_params: PyTree, x: Array, z: Array) -> Array:
  """grad_z [mean_m log p(x_n | z, theta_m) + log p(z)] at z [B, S, dz] (eq. 6)."""
  return jax.grad(lambda zz: jnp.sum(log_joint(model, dec_params, x, zz)))(z)
