"""The semi-supervised experiment's nested configs keep the fingerprints of the flat ones.

``SemiSupervisedExperiment.legacy_key_names`` maps each nested key path (``model``, ``svgd``, ``optimizer``,
``eval``) to the flat name the runs were fingerprinted with (docs/architecture.md, "Nested configs"); the
fingerprints below are those the flat configs had at commit 72da7ee (before this family was nested), for every
setting of configs/semi_supervised_mnist.py and configs/semi_supervised_cifar10.py, so every workdir made before
(the grids of docs/results/semi_supervised_*.md) resumes.
"""

import json
import os

import ml_collections
import pytest

from configs import semi_supervised_cifar10, semi_supervised_mnist
from experiments.semi_supervised import SemiSupervisedExperiment
from stein_jax.train import ConfigError, WorkdirMismatchError
from stein_jax.train import config as config_lib
from stein_jax.train import loop

# config file:setting, fingerprint of the flat config at 72da7ee.
FLAT_FINGERPRINTS = [
  ("mnist:paper", "ab7f4157542a71ee77384cf4ce84cef7d0350cd85023a4e513e296b0e29a8d3b"),
  ("mnist:cpu", "a2c3801f5d28721a2dd6171b3fc87adf7e5a65e643ead1c409e412c956380333"),
  ("mnist:cnn", "340c930181bd13bc7050c3203e5ae492987692ce263ef3163a346ed104657249"),
  ("mnist:cnn_cpu", "99d8e4314dfd46085b5d1ba8b5d7492ab1084da9c9617cc7d7aa79655b82ce9f"),
  ("cifar10:paper", "b324cf723a29a390e0a4808384362f7fddb19cda7dcb74bf454d0e25f7930266"),
  ("cifar10:cpu", "502d7872984f783b0bdce68644bd678c6a20c95df919f70688b6cd70b5884015"),
  ("cifar10:imagenet", "fba39f8e06d10ea96a7cda122c5d6321f3672044d544bec281e5cd9d08ac187e"),
]
MODULES = {"mnist": semi_supervised_mnist, "cifar10": semi_supervised_cifar10}

# run.json's config of an FNN run made before the convolutional and colour keys existed (the flat code's
# fingerprint covers only these keys); configs/semi_supervised_mnist.py:cpu, stein_vae, N_rho = 10, split 0.
OLD_FNN_RECORD = {
  "activation": "softplus",
  "batch_size": 64,
  "binarization": "dynamic",
  "coupling_hidden": 64,
  "dataset": "synthetic",
  "decoder_prior_std": 1.0,
  "encoder": "auto",
  "encoder_steps": 1,
  "hidden": [600, 600],
  "k": 8,
  "label_weight": 1.0,
  "labelled_batch_size": 16,
  "labels_per_class": 10,
  "latent_dim": 50,
  "learning_rate": 0.0002,
  "method": "stein_vae",
  "num_coupling_layers": 4,
  "num_decoder": 1,
  "num_particles": 16,
  "seed": 0,
  "split_seed": 0,
  "step_size": 1.0,
  "synthetic.data_seed": 7,
  "synthetic.dim": 20,
  "synthetic.flip": 0.1,
  "synthetic.num_classes": 3,
  "synthetic.num_test": 60,
  "synthetic.num_train": 300,
  "synthetic.num_valid": 60,
  "vae_encoder_weighting": "batch",
}

# run.json's config of a configs/semi_supervised_mnist.py:cpu run with --config.dataset=synthetic as 72da7ee wrote it.
FLAT_CPU_RECORD = {
  "activation": 'softplus',
  "batch_size": 64,
  "binarization": 'dynamic',
  "conv_features": [32, 64],
  "conv_kernel": 5,
  "coupling_hidden": 64,
  "crop": 224,
  "dataset": 'synthetic',
  "decoder_prior_std": 1.0,
  "encoder": 'auto',
  "encoder_steps": 1,
  "flip": False,
  "hidden": [600, 600],
  "k": 8,
  "label_weight": 1.0,
  "labelled_batch_size": 16,
  "labelled_fraction": None,
  "labels_per_class": 10,
  "latent_dim": 50,
  "learning_rate": 0.0002,
  "likelihood": 'auto',
  "max_train_examples": None,
  "method": 'stein_vae',
  "negative_slope": 0.01,
  "network": 'fnn',
  "noise_channels": 1,
  "noise_std": 0.1,
  "num_coupling_layers": 4,
  "num_decoder": 1,
  "num_particles": 16,
  "resize": 256,
  "resnet_blocks": 1,
  "resnet_stages": [64, 128],
  "resnet_stem": 32,
  "resnet_stem_stride": 1,
  "seed": 0,
  "split_seed": 0,
  "step_size": 1.0,
  "synthetic.data_seed": 7,
  "synthetic.dim": 20,
  "synthetic.flip": 0.1,
  "synthetic.image_shape": None,
  "synthetic.num_classes": 3,
  "synthetic.num_test": 60,
  "synthetic.num_train": 300,
  "synthetic.num_valid": 60,
  "vae_encoder_weighting": 'batch',
  "valid_per_class": 500,
}


def _config(spec):
  name, setting = spec.split(":")
  return MODULES[name].get_config(setting)


def _defining(config):
  cls = SemiSupervisedExperiment
  defining = config_lib.defining_config(config, cls.resumable_keys, cls.legacy_defaults, cls.legacy_key_names)
  # run.json keeps the flat names; keys new since the nesting (their legacy default aside) keep their path.
  assert all("." not in k or k.startswith("synthetic.") or k in cls.legacy_defaults for k in defining)
  return defining


@pytest.mark.parametrize("spec,expected", FLAT_FINGERPRINTS)
def test_every_setting_has_the_fingerprint_of_the_flat_config(spec, expected):
  config = _config(spec)
  # The convolutional settings start the noise image at 0.1 since 2026-12-02; the flat configs' runs ran at
  # flax's 1.0, and resume with --config.model.noise_scale=1.0 (below).
  config.model.noise_scale = 1.0
  assert config_lib.fingerprint(SemiSupervisedExperiment.name, _defining(config)) == expected


@pytest.mark.parametrize("spec,expected", FLAT_FINGERPRINTS)
def test_the_noise_scale_default_of_the_conv_settings_is_in_their_fingerprint(spec, expected):
  config = _config(spec)
  fp = config_lib.fingerprint(SemiSupervisedExperiment.name, _defining(config))
  if config.model.network == "fnn":  # no noise image: the default stays 1.0, the fingerprint the flat one
    assert config.model.noise_scale == 1.0 and fp == expected
  else:
    assert config.model.noise_scale == 0.1 and fp != expected
    assert _defining(config)["model.noise_scale"] == 0.1


def test_the_grid_overrides_and_the_evaluation_group_keep_the_fingerprint():
  base = _config("mnist:cnn_cpu")
  config_lib.override(base, {"method": "vae", "labels_per_class": 100, "split_seed": 2})
  evaluated = _config("mnist:cnn_cpu")
  config_lib.override(evaluated, {"method": "vae", "labels_per_class": 100, "split_seed": 2})
  config_lib.override(evaluated, {"eval.samples": 7, "eval.probe": True, "eval.test_examples": None})
  assert _defining(base) == _defining(evaluated)  # the eval group is resumable
  assert {"method": "vae", "labels_per_class": 100, "split_seed": 2}.items() <= _defining(base).items()


def test_every_grouped_key_is_declared_and_a_missing_or_flat_one_is_named():
  for path in SemiSupervisedExperiment.legacy_key_names:
    config = _config("mnist:cpu")
    config.dataset = "synthetic"
    group, key = path.split(".", 1)
    del config[group][key]
    with pytest.raises(ConfigError, match=f"the config lacks {path}"):
      SemiSupervisedExperiment(config)  # refused before any data is read
  config = _config("mnist:cpu")
  config.dataset = "synthetic"
  config.learning_rate = 1e-3  # the flat name of optimizer.learning_rate: a stale override
  with pytest.raises(ConfigError, match="the key moved: set optimizer.learning_rate instead of learning_rate"):
    SemiSupervisedExperiment(config)
  with pytest.raises(ConfigError, match="the config has no key num_particles"):
    config_lib.override(_config("mnist:cpu"), {"num_particles": 4})


def _workdir(tmp_path, record):
  workdir = str(tmp_path / "run")
  os.makedirs(workdir)
  stored = config_lib.fingerprint(SemiSupervisedExperiment.name, record)
  with open(os.path.join(workdir, "run.json"), "w") as f:
    json.dump({"config": record, "experiment": SemiSupervisedExperiment.name, "fingerprint": stored}, f)
  return workdir, stored


def test_a_flat_run_json_is_accepted_and_a_change_is_named_by_its_path(tmp_path):
  workdir, stored = _workdir(tmp_path, FLAT_CPU_RECORD)
  config = _config("mnist:cpu")
  config.dataset = "synthetic"
  experiment = SemiSupervisedExperiment(config)
  assert loop.check_workdir(workdir, experiment, config)["fingerprint"] == stored
  config.eval.samples, config.eval.probe = 3, True  # the evaluation group may change on resume
  assert loop.check_workdir(workdir, experiment, config)["fingerprint"] == stored
  cfg = SemiSupervisedExperiment.config_from_record(FLAT_CPU_RECORD)
  assert cfg["svgd"]["num_particles"] == 16 and cfg["optimizer"]["learning_rate"] == 0.0002
  assert cfg["model"]["network"] == "fnn" and "num_particles" not in cfg
  assert SemiSupervisedExperiment.unrecorded_keys(FLAT_CPU_RECORD) == ()

  config.svgd.k = 4
  config.optimizer.learning_rate = 1e-3
  with pytest.raises(WorkdirMismatchError) as info:
    loop.check_workdir(workdir, experiment, config)
  msg = str(info.value)
  assert "svgd.k: 8 in the workdir, 4 now" in msg
  assert "optimizer.learning_rate: 0.0002 in the workdir, 0.001 now" in msg


def test_an_old_fnn_run_json_reopens_with_the_values_it_ran_with():
  # The flat code did not resume such a workdir either (its config has keys the record lacks); load_run
  # rebuilds the record's own fingerprint from the nested config, the later keys left out.
  cls = SemiSupervisedExperiment
  cfg = cls.config_from_record(OLD_FNN_RECORD)
  assert cfg["model"]["network"] == "fnn" and cfg["crop"] == 224 and cfg["svgd"]["k"] == 8
  unrecorded = cls.unrecorded_keys(OLD_FNN_RECORD)
  assert "network" in unrecorded and "crop" in unrecorded and "k" not in unrecorded
  extra = {
    "num_steps": 1,
    "eval_every": 1,
    "checkpoint_every": 1,
    "log_every": 1,
    "data_dir": None,
    "eval": {
      "samples": 1,
      "batch_size": 1,
      "valid_examples": None,
      "test_examples": None,
      "probe": False,
      "probe_l2s": (0.1,),
    },
  }
  config = ml_collections.ConfigDict({**cfg, **extra})
  defining = config_lib.defining_config(config, cls.resumable_keys, cls.legacy_defaults, cls.legacy_key_names)
  defining = {k: v for k, v in defining.items() if k not in unrecorded}
  assert config_lib.fingerprint(cls.name, defining) == config_lib.fingerprint(cls.name, OLD_FNN_RECORD)


def test_a_cnn_run_made_at_noise_scale_one_is_named_when_resumed_at_the_new_default(tmp_path):
  config = _config("mnist:cnn_cpu")
  config.dataset = "synthetic"
  config.synthetic.image_shape = (8, 8, 1)
  config.model.noise_scale = 1.0  # how every CNN run before 2026-12-02 ran: out of its run.json
  record = _defining(config)
  assert "model.noise_scale" not in record
  workdir, stored = _workdir(tmp_path, record)
  experiment = SemiSupervisedExperiment(config)
  assert loop.check_workdir(workdir, experiment, config)["fingerprint"] == stored  # resumes at 1.0
  config.model.noise_scale = 0.1  # the default now
  with pytest.raises(WorkdirMismatchError, match=r"model.noise_scale: 1.0 in the workdir \(unrecorded, the value"):
    loop.check_workdir(workdir, SemiSupervisedExperiment(config), config)
