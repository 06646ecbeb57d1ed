"""The encoder-update SNR of a Stein VAE / VIWAE step (docs/stein_viwae.md sec. 5): a diagnostic of the objective.

The encoder of a Stein VAE is pulled towards moved particles: its gradient is
g(xi) = grad_eta 1/2 mean ||f_eta(x, xi) - (z + step(phi))||^2 with z = f_eta(x, xi) and phi the
(importance-weighted) SVGD direction. The update's *signal* is E_xi[g], its noise the spread of g
over draws of the noise xi. For importance-weighted objectives the signal shrinks with the number
of samples k per weight group faster than the noise (Rainforth et al. 2018, "Tighter variational
bounds are not necessarily better", for the IWAE encoder; docs/stein_viwae.md sec. 5 for the
Stein VIWAE latent step), so a per-coordinate normalised step (Adam) turns noise into full-size
steps. This module measures that at a trained model.

``encoder_update_draws`` computes g for ``num_draws`` independent draws of xi (one Stein step each,
nothing updated) with the cloud's relative expansion per step; ``snr`` reduces them.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from stein_jax.objectives import stein_vae as sv
from stein_jax.stein import SteinKernel

Array = jax.Array


class UpdateDraws(NamedTuple):
  """``num_draws`` independent evaluations of the encoder's update at fixed parameters.

  Attributes:
    grads: the encoder gradients, flattened: [R, P].
    expansion: the particle cloud's relative expansion per step, [R]: mean over images of
      sum_j (target_j - z_j) . (z_j - zbar) / sum_j |z_j - zbar|^2 (> 0: the step spreads the
      encoder's samples; < 0: it contracts them).
    ess_fraction: mean effective sample size / k of the latent step's weight groups, [R]
      (1 without weights).
  """

  grads: np.ndarray
  expansion: np.ndarray
  ess_fraction: np.ndarray


def encoder_update_draws(
  key: Array,
  model: sv.LatentModel,
  enc_params,
  dec_params,
  x: Array,
  *,
  num_particles: int,
  num_draws: int,
  num_data: int,
  group_size: Optional[int] = None,
  latent_group_size: Optional[int] = None,
  latent_update: str = "adam",
  step_size: float = 1.0,
  latent_kernel: SteinKernel = SteinKernel(),
) -> UpdateDraws:
  """The encoder gradient of one Stein VAE (``group_size=None``) / VIWAE step, ``num_draws`` times.

  Each draw takes fresh xi [S, dz] (shared across the batch x [B, dx], as in training), the
  particles z = f_eta(x, xi), the direction phi of :func:`stein_jax.objectives.stein_vae.
  stein_gradients` with the given group sizes and ``latent_kernel``, the targets of
  :func:`~stein_jax.objectives.stein_vae.move_particles` and the gradient of eq. (7)'s fit
  (mean over the B x S particles, as the trainer's ``fit_to_targets``). The parameters are not
  changed, so the draws are i.i.d. given (eta, theta, x).
  """
  flat_dim = sum(int(np.prod(leaf.shape)) for leaf in jax.tree_util.tree_leaves(enc_params))
  xb = x[:, None, :]

  def one(k):
    xi = jax.random.normal(k, (num_particles, model.latent_dim))
    xib = xi[None]
    if group_size is not None:
      z, log_q = sv.sample_with_log_q(model, enc_params, xb, xib)
      log_q = jax.lax.stop_gradient(log_q)
    else:
      z, log_q = sv.encode(model, enc_params, xb, xib), None
    z = jax.lax.stop_gradient(z)
    phi, _, aux = sv.stein_gradients(
      model,
      dec_params,
      x,
      z,
      num_data=num_data,
      log_q=log_q,
      group_size=group_size,
      latent_kernel=latent_kernel,
      latent_group_size=latent_group_size,
    )
    targets = jax.lax.stop_gradient(sv.move_particles(z, phi, step_size, latent_update))
    fit = lambda p: 0.5 * jnp.mean(jnp.sum((sv.encode(model, p, xb, xib) - targets) ** 2, -1))
    g = jax.grad(fit)(enc_params)
    g = jnp.concatenate([leaf.reshape(-1) for leaf in jax.tree_util.tree_leaves(g)])
    centred = z - jnp.mean(z, -2, keepdims=True)
    expansion = jnp.mean(jnp.sum((targets - z) * centred, (-2, -1)) / jnp.sum(centred**2, (-2, -1)))
    ess = jnp.ones(())
    if group_size is not None:
      kz = group_size if latent_group_size is None else latent_group_size
      log_w = sv.log_joint(model, dec_params, x, z, "logmeanexp") - log_q
      w = jax.nn.softmax(log_w.reshape(log_w.shape[:-1] + (num_particles // kz, kz)), -1)
      ess = jnp.mean(1.0 / jnp.sum(w**2, -1)) / kz
    return g, expansion, ess

  keys = jax.random.split(key, num_draws)
  grads, expansion, ess = jax.lax.map(jax.jit(one), keys)
  assert grads.shape == (num_draws, flat_dim)
  return UpdateDraws(np.asarray(grads), np.asarray(expansion), np.asarray(ess))


def snr(grads: np.ndarray) -> dict:
  """Signal-to-noise ratios of R gradient draws [R, P] (R >= 2), de-biased for the finite R.

  The mean of R draws carries noise of its own: E|mean g|^2 = |E g|^2 + tr Cov g / R. The
  signal is therefore estimated as |E g|^2 ~ |mean g|^2 - tr Cov_hat / R (clipped at 0), so that
  pure noise gives SNR ~ 0 for any R. ``snr_norm``: |E g| / sqrt(tr Cov g), the whole update's
  signal against its noise; ``snr_median``: the median over parameters of |E g_p| / sd g_p, the
  per-parameter ratio Rainforth et al. (2018) report, with the same correction (parameters with
  sd 0 are left out). Cov_hat uses ddof = 1.
  """
  grads = np.asarray(grads, np.float64)
  if grads.ndim != 2 or grads.shape[0] < 2:
    raise ValueError(f"grads must be [R >= 2, P], got shape {grads.shape}.")
  r = grads.shape[0]
  mean = grads.mean(0)
  var = grads.var(0, ddof=1)
  signal2 = max(float(np.sum(mean**2) - np.sum(var) / r), 0.0)
  keep = var > 0
  per_param = np.sqrt(np.clip(mean[keep] ** 2 - var[keep] / r, 0.0, None) / var[keep])
  return {
    "snr_norm": float(np.sqrt(signal2 / np.sum(var))),
    "snr_median": float(np.median(per_param)) if per_param.size else float("nan"),
  }
