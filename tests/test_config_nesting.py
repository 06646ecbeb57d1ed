"""The nested configs (``model``, ``svgd``, ``optimizer``, ``eval``, ...) keep the fingerprints of the flat ones.

Each family's experiment declares where its keys were before the nesting (``legacy_key_names``,
docs/architecture.md, "Nested configs"); the fingerprints below are those the flat configs had at
commit a2f3e66 (before the nesting), so every workdir made before it resumes. The configs declare
every key their experiment reads: one missing, or a moved one set by its flat name, is a ConfigError
naming it, before any data is read.
"""

import importlib
import json
import os

import pytest

from experiments import amortized_svgd, pfa, stein_vae, steingan_images, steingan_rbm
from stein_jax.train import ConfigError, WorkdirMismatchError
from stein_jax.train import config as config_lib
from stein_jax.train import loop

# config module, setting, experiment class, fingerprint of the flat config at a2f3e66.
FLAT_FINGERPRINTS = [
  ("stein_vae_gmm", "", stein_vae.GMMExperiment, "130539063183d3436fc28fdb00766b55acbf53dd9ae2d267268c8a974272ace7"),
  (
    "stein_vae_mnist",
    "",
    stein_vae.MNISTExperiment,
    "38a47138d93110977f9dc2f83515cedb08348cea27c4e3e66bbaf06e27988262",
  ),
  (
    "stein_vae_mnist_cpu",
    "",
    stein_vae.MNISTExperiment,
    "38a47138d93110977f9dc2f83515cedb08348cea27c4e3e66bbaf06e27988262",
  ),
  (
    "stein_vae_mnist_cpu",
    "diagonal",
    stein_vae.MNISTExperiment,
    "6840dd925be9337e572f4207a7565781592ed387e729b93e50f5633176d05d22",
  ),
  (
    "stein_vae_text",
    "paper",
    stein_vae.TextExperiment,
    "6595c5cb56e3f046de3c1210b5cfd75caccc5c1db8bb93cd7f56be8d20033181",
  ),
  (
    "stein_vae_text",
    "cpu",
    stein_vae.TextExperiment,
    "e26df000954dda044432672b987d0fda101a5627e53770b1528dc60e834dca99",
  ),
  (
    "stein_vae_text",
    "cpu_paper",
    stein_vae.TextExperiment,
    "af9638a7af263bf301545e19ed2b1e5d205bc0d447793b9589d7dd89902730f3",
  ),
  (
    "stein_vae_text",
    "paper,reuters",
    stein_vae.TextExperiment,
    "11e65ddea9039609cdc20650b22031762bfbef180815fe705d1b024ed6e17d6a",
  ),
  (
    "stein_vae_text",
    "cpu,20news,def",
    stein_vae.TextExperiment,
    "21db3fc53e4d6cbf27671bd3a7ffebb303b2cf03418133ce39b5cf00ba2fb948",
  ),
  (
    "stein_vae_text",
    "cpu_paper,reuters,def",
    stein_vae.TextExperiment,
    "9c43d9a78376cfb4b42b3467a31ae037c88b7876a3820c80be087e52530db934",
  ),
  ("pfa_20news", "paper", pfa.PFAExperiment, "159074ec653060aba7463ef9abb90d38b64cc47e18257ad0f921542a151efce3"),
  ("pfa_20news", "cpu", pfa.PFAExperiment, "8c0a6ba55f5ba658ec92ff558404356384d1c8b97433c348c8f642bd9c3a9eec"),
  (
    "steingan_rbm_mnist",
    "",
    steingan_rbm.SteinGANExperiment,
    "6b4bbb01d6e89eb470351803cfcefd489d52e40596587f234cece98b9c506925",
  ),
  (
    "steingan_rbm_mnist",
    "cpu",
    steingan_rbm.SteinGANExperiment,
    "f08bf1b1dfa89e20fa50d7feb51c7146c4da81a649c4ffc7f24359e62a53f62b",
  ),
  (
    "steingan_rbm_mnist",
    "legacy",
    steingan_rbm.SteinGANExperiment,
    "6ac66a164b4458b9357bc3eb420cd1a1a7c2e3687d89b51a89f1391b82bc676d",
  ),
  (
    "amortized_svgd",
    "",
    amortized_svgd.AmortizedSVGD,
    "2bb87ad78030fbab06ddada0d733476b54aba2cc61857657dd6aa04a24dfd853",
  ),
  *(
    (module, setting, steingan_images.SteinGANImages, expected)
    for module, setting, expected in (
      ("steingan_cifar10", "", "bf710492c064f9f13daf5c643d0e0be2795bf7d1cf95ff518f37faef438beb71"),
      ("steingan_cifar10", "cpu", "4b659ddb2a887a2439da5c0845f55eca86d76ba63ea41d32ec88896a8d5ea0d5"),
      ("steingan_cifar10", "authors", "bb492f331b44d9758d2f6b14bb1814a27bc4b5cd1d4306dc3bd12485449a4e22"),
      ("steingan_cifar10", "cpu_authors", "dac718ab0680dc6d87b27ef2036d460a364c579125f848c34ca32bc9e886ca15"),
      ("steingan_celeba", "", "b2d53e8ec298d661bcc8bde32c6b28411146410aa4251626605cdff578e23e92"),
      ("steingan_lsun", "", "3ba6e8b3e36123b2a7840328d7a93b759291d4a5677fdc89efacf18a2f815d3b"),
    )
  ),
]

# run.json of a flat configs/stein_vae_gmm.py run (the README's main job) as a2f3e66 wrote it.
FLAT_GMM_RECORD = {
  "config": {
    "bandwidth": "median",
    "bandwidth_anneal_factor": 100.0,
    "bandwidth_anneal_steps": 0,
    "batch_size": 100,
    "birth_death_rate": 0.0,
    "birth_death_start": 0,
    "data_seed": 0,
    "dataset": "gmm",
    "decoder_prior_std": 1.0,
    "encoder": "auto",
    "encoder_hidden": [100],
    "encoder_init": "prior_moments",
    "encoder_steps": 1,
    "k": 10,
    "kernel_metric": "isotropic",
    "kernel_normalization": "mean",
    "latent_update": "sgd",
    "learn_decoder": False,
    "learning_rate": 0.001,
    "lr_decay": "constant",
    "method": "stein_vae",
    "num_particles": 100,
    "num_test": 10,
    "num_train": 10000,
    "observation": "bimodal",
    "repulsion_scale": 1.0,
    "seed": 0,
    "step_size": 1.0,
  },
  "experiment": "stein_vae_gmm",
  "fingerprint": "130539063183d3436fc28fdb00766b55acbf53dd9ae2d267268c8a974272ace7",
}


def _config(module, setting):
  get = importlib.import_module(f"configs.{module}").get_config
  return get(setting) if setting else get()


@pytest.mark.parametrize(
  "module,setting,cls,expected", FLAT_FINGERPRINTS, ids=lambda v: v if isinstance(v, str) else ""
)
def test_every_nested_config_has_the_fingerprint_of_the_flat_one(module, setting, cls, expected):
  config = _config(module, setting)
  defining = config_lib.defining_config(config, cls.resumable_keys, cls.legacy_defaults, cls.legacy_key_names)
  assert config_lib.fingerprint(cls.name, defining) == expected
  assert all("." not in k for k in defining)  # run.json keeps the flat names


def test_every_grouped_key_is_declared_and_a_missing_or_flat_one_is_named():
  for module, setting, cls, _ in FLAT_FINGERPRINTS:
    for path in cls.legacy_key_names:
      config = _config(module, setting)
      group, key = path.split(".", 1)
      del config[group][key]
      with pytest.raises(ConfigError, match=f"the config lacks {path}"):
        cls(config)  # refused before any data is read
  config = _config("stein_vae_gmm", "")
  config.num_particles = 10  # the flat name of svgd.num_particles: a stale override
  with pytest.raises(ConfigError, match="the key moved: set svgd.num_particles instead of num_particles"):
    stein_vae.make_experiment(config)


def test_a_flat_run_json_is_accepted_by_the_nested_config_and_a_change_is_named_by_its_path(tmp_path):
  workdir = str(tmp_path / "run")
  os.makedirs(workdir)
  with open(os.path.join(workdir, "run.json"), "w") as f:
    json.dump(FLAT_GMM_RECORD, f)
  config = _config("stein_vae_gmm", "")
  experiment = stein_vae.make_experiment(config)
  assert loop.check_workdir(workdir, experiment, config)["fingerprint"] == FLAT_GMM_RECORD["fingerprint"]
  # load_run's path: the flat record back into the nested config, which gives the stored fingerprint.
  cfg = stein_vae.GMMExperiment.config_from_record(
    FLAT_GMM_RECORD["config"], stein_vae.resumable_defaults("stein_vae_gmm")
  )
  assert cfg["svgd"]["num_particles"] == 100 and cfg["svgd"]["num_decoder"] == 1 and cfg["svgd"]["kernel"] == "rbf"
  assert cfg["model"]["encoder_hidden"] == (100,) and "num_particles" not in cfg
  rebuilt = config_lib.config_from_record(FLAT_GMM_RECORD["config"])  # without the names: the flat keys
  assert "num_particles" in rebuilt

  config.svgd.num_particles = 10
  config.optimizer.learning_rate = 3e-3
  with pytest.raises(WorkdirMismatchError) as info:
    loop.check_workdir(workdir, stein_vae.make_experiment(config), config)
  msg = str(info.value)
  assert "svgd.num_particles: 100 in the workdir, 10 now" in msg
  assert "optimizer.learning_rate: 0.001 in the workdir, 0.003 now" in msg


def test_a_key_new_since_the_nesting_enters_the_fingerprint_only_off_its_legacy_value():
  config = _config("stein_vae_mnist", "")
  cls = stein_vae.MNISTExperiment
  base = config_lib.defining_config(config, cls.resumable_keys, cls.legacy_defaults, cls.legacy_key_names)
  assert "lr_decay" not in base and "birth_death_rate" not in base  # the MNIST config lacked them
  config.optimizer.lr_decay = "cosine"
  changed = config_lib.defining_config(config, cls.resumable_keys, cls.legacy_defaults, cls.legacy_key_names)
  assert changed["lr_decay"] == "cosine"


def test_an_old_flat_override_on_the_command_line_names_the_nested_key(tmp_path):
  import subprocess
  import sys

  from tests import train_testutil as util

  out = subprocess.run(
    [
      sys.executable,
      "-m",
      "experiments.amortized_svgd",
      "--config=configs/amortized_svgd.py",
      f"--workdir={tmp_path}",
      "--config.num_particles=3",
    ],
    cwd=util.REPO,
    env=util.subprocess_env(),
    capture_output=True,
    text=True,
    timeout=120,
  )
  assert out.returncode == 1 and "Traceback" not in out.stderr
  assert "the config has --config.svgd.num_particles (a nested key is set by its path)" in out.stderr


def test_a_run_json_older_than_some_keys_reopens_with_the_values_it_ran_with():
  """A run made before svgd.repulsion_scale / kernel_normalization existed: its run.json lacks them and
  its fingerprint never held them; reopening fills the values the experiment then used (record_defaults)
  and checks the fingerprint without them, as load_run does."""
  cls = stein_vae.GMMExperiment
  old = {k: v for k, v in FLAT_GMM_RECORD["config"].items() if k not in ("repulsion_scale", "kernel_normalization")}
  stored = config_lib.fingerprint("stein_vae_gmm", old)  # what the flat code of the time wrote
  cfg = cls.config_from_record(old, stein_vae.resumable_defaults("stein_vae_gmm"))
  assert cfg["svgd"]["repulsion_scale"] == 1.0 and cfg["svgd"]["kernel_normalization"] == "mean"
  assert sorted(cls.unrecorded_keys(old)) == ["kernel_normalization", "repulsion_scale"]
  assert cls.unrecorded_keys(FLAT_GMM_RECORD["config"]) == ()  # a run of today: every key recorded
  import ml_collections

  defining = config_lib.defining_config(
    ml_collections.ConfigDict(cfg), cls.resumable_keys, cls.legacy_defaults, cls.legacy_key_names
  )
  assert (
    config_lib.fingerprint("stein_vae_gmm", {k: v for k, v in defining.items() if k not in cls.unrecorded_keys(old)})
    == stored
  )
