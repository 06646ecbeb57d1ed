"""The semi-supervised experiment's networks and trainer: FNN (sec. 5.3 (i)), CNN (sec. 5.3 (ii)) or residual net.

The Stein methods' convolutional encoder stacks the noise with the image (``encoder="noise"``), the VAE's is the
same network with a Gaussian head (``encoder="gaussian"``); ``encoder="auto"`` picks by method and network.
"""

from __future__ import annotations

import flax.linen as nn
import numpy as np
import optax

from stein_jax.models import conv as conv_models
from stein_jax.models import vae as vae_models
from stein_jax.objectives import semi_supervised as ss
from stein_jax.objectives import stein_vae as sv

from experiments.semi_supervised.checks import ACTIVATIONS, COLOUR_DATASETS, image_shape


def likelihood(config) -> str:
  """The decoder's likelihood: as configured, or by ``"auto"`` Gaussian for colour images, else Bernoulli."""
  if config.model.likelihood != "auto":
    return config.model.likelihood
  return "gaussian" if config.dataset in COLOUR_DATASETS else "bernoulli"


def encoder_kind(config) -> str:
  """``config.model.encoder``, with ``"auto"`` resolved: the VAE's Gaussian, else the flow (FNN) or the stacked noise."""
  if config.model.encoder == "auto":
    if config.method == "vae":
      return "gaussian"
    return "flow" if config.model.network == "fnn" else "noise"
  return config.model.encoder


def conv_networks(config):
  """(encoder, decoder, flat image size) of ``network="cnn"`` or ``"resnet"``."""
  shape = image_shape(config)
  dz = config.model.latent_dim
  gaussian = encoder_kind(config) == "gaussian"
  out_c = 0
  common = dict(
    noise_channels=config.model.noise_channels,
    noise_scale=config.model.noise_scale,
    negative_slope=config.model.negative_slope,
  )
  if config.model.network == "cnn":
    feats = tuple(config.model.conv_features)
    k = config.model.conv_kernel
    enc = (conv_models.GaussianConvEncoder if gaussian else conv_models.ConvNoiseEncoder)(
      dz, shape, stem_features=feats[0], stem_kernel=k, stem_stride=2, features=feats, kernel_size=k, **common
    )
    dec = conv_models.ConvDecoder(shape, feats, k, out_c, config.model.negative_slope)
  else:
    stages = tuple(config.model.resnet_stages)
    enc = (conv_models.GaussianResidualEncoder if gaussian else conv_models.ResidualConvEncoder)(
      dz,
      shape,
      stem_features=config.model.resnet_stem,
      stem_kernel=3,
      stem_stride=config.model.resnet_stem_stride,
      stage_features=stages,
      blocks_per_stage=config.model.resnet_blocks,
      **common,
    )
    dec = conv_models.ResidualConvDecoder(
      shape,
      stages,
      config.model.resnet_stem,
      config.model.resnet_blocks,
      config.model.resnet_stem_stride,
      out_c,
      config.model.negative_slope,
    )
  return enc, dec, int(np.prod(shape))


def build_model(config, num_classes: int, data_dim: int) -> ss.SemiSupervisedModel:
  """The model of ``config.model.network`` over C = ``num_classes``; ``data_dim`` is the FNN's input size (dx)."""
  hidden = tuple(config.model.hidden)
  act = ACTIVATIONS[config.model.activation]
  dz = config.model.latent_dim
  if config.model.network != "fnn":
    enc, dec, dx = conv_networks(config)
    base = sv.LatentModel(enc, dec, dz, dx, likelihood(config), float(config.model.noise_std))
    return ss.SemiSupervisedModel(base, nn.Dense(num_classes), num_classes, float(config.model.label_weight))
  if encoder_kind(config) == "gaussian":
    enc = vae_models.GaussianEncoder(dz, hidden, act)
  else:
    enc = vae_models.FlowEncoder(
      dz,
      hidden,
      num_coupling_layers=config.model.num_coupling_layers,
      coupling_hidden=config.model.coupling_hidden,
      activation=act,
    )
  dx = data_dim
  dec = vae_models.BernoulliDecoder(dx, hidden, act)
  base = sv.LatentModel(enc, dec, dz, dx, likelihood(config), float(config.model.noise_std))
  return ss.SemiSupervisedModel(base, nn.Dense(num_classes), num_classes, float(config.model.label_weight))


def make_trainer(config, model: ss.SemiSupervisedModel, num_unlabelled: int, num_labelled: int):
  """The algorithm of ``config.method`` (:func:`stein_jax.objectives.semi_supervised.make_trainer`) with Adam."""
  kwargs = {"encoder_weighting": config.vae_encoder_weighting}
  if config.method != "vae":
    kwargs = dict(
      step_size=config.svgd.step_size,
      encoder_steps=config.svgd.encoder_steps,
      decoder_prior_std=config.model.decoder_prior_std,
    )
  return ss.make_trainer(
    config.method,
    model,
    optax.adam(config.optimizer.learning_rate),
    num_unlabelled=num_unlabelled,
    num_labelled=num_labelled,
    num_particles=config.svgd.num_particles,
    k=config.svgd.k,
    num_decoder=config.svgd.num_decoder,
    **kwargs,
  )
