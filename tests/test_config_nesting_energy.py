"""The energy experiment's nested config (configs/rbm_mnist.py) keeps the fingerprints of the flat one.

``EnergyExperiment.legacy_key_names`` maps each nested key path to the flat name the runs were fingerprinted
with (docs/architecture.md, "Nested configs"); the fingerprints below are those the flat configs had at
commit ef87736 (before this family was nested), for every setting of configs/rbm_mnist.py and for every run of
``experiments/rbm_figure/`` (the figure's seeds and the sweep grid), so every workdir made before resumes.
"""

import json
import os

import pytest

from configs import rbm_mnist
from experiments import rbm_figure
from experiments.energy import EnergyExperiment
from experiments.rbm_figure import report
from stein_jax.train import ConfigError, WorkdirMismatchError
from stein_jax.train import config as config_lib
from stein_jax.train import loop

# setting of configs/rbm_mnist.py, fingerprint of the flat config at ef87736.
FLAT_FINGERPRINTS = [
  ("", "26f1bd71ccb395e23630ed7ef019e52e9a8ddbcb49ce54ad510a4dc4d223465f"),
  ("cd1", "81257d492c4605139847b2c216cf4a534f06b2263b464ec0d990003288229ac2"),
  ("cd10", "efb96d826cb3ed165c65a12ddbd0747d9a747d1543c05a493c16849b253f8783"),
  ("mle", "8d36088f3ad702e5aa717a46b8d76e395ac76c2c0354f8677bf47a96e2036c8f"),
  ("stein_sm", "7a1c0fac6cf502f7199d067baac76188fdab81a90fd5ddb68bc107c8419ebe97"),
  ("steincd", "26f1bd71ccb395e23630ed7ef019e52e9a8ddbcb49ce54ad510a4dc4d223465f"),
]

# rbm_figure.run_config's runs on MNIST (figure: seeds 1 and 2 at 10,000 steps; sweep: seed 0, every grid point),
# as the flat code fingerprinted them at ef87736. Seed 0 of the figure is the setting's own fingerprint above.
FLAT_RUN_FINGERPRINTS = {
  "figure:cd10:seed1": "59b85dd799c12d171828d6bf773b0e40bb6f2f2993ce72f06f61a818f8b293a8",
  "figure:cd10:seed2": "e39b792fb3f49dd9efdc0e3ebc7e7cb99393a1cf57ce553e492b418e83b60dfd",
  "figure:cd1:seed1": "345700002abef0d70fd9fb235ef5e529bca0bfb529914fccdae9c5cf7978bf01",
  "figure:cd1:seed2": "3136eb480b80bd7288d9d6d031edd445ca52f569464a061f8a5259d964b9752c",
  "figure:mle:seed1": "c3685a06142f7c1c45e297339e9431b1e8d743ce2299e60045cd70b10160cdb5",
  "figure:mle:seed2": "027d942e89bf0c876ee0276c083966b5324e91cd2e23452c5e1fe449f22d1746",
  "figure:stein_sm:seed1": "4b16756f431b516c8bdeac08ab0788c2481c939a72224ddc0600c9c038673803",
  "figure:stein_sm:seed2": "2935e57594d34c47416958734c21f63f889c41e6d8ff3b8688eb151bf1fefda1",
  "figure:steincd:seed1": "055579ae412d241fd0c385b8ae9953bac577dc3abae1c30143a9f2a4ef228687",
  "figure:steincd:seed2": "b03d04fbe0c32e05980f6c5ee33dd223f859b6712ef7ef507b98b53e031a7727",
  "sweep:cd10:lr0.001_eps0.01": "c83cde186760b75fb86e53e9cfd326f65e6a9b0cebb513e752f2def4236cae8b",
  "sweep:cd10:lr0.001_eps0.1": "5612265e0a95a0766b6e63b5e2a2ea020043f13e51cba500d7bc099d9a093e63",
  "sweep:cd10:lr0.001_eps1": "b230cbc736bde2c45c2c92b7bc2fdb77f92a9aa55431f330e4d9dd2cb337795c",
  "sweep:cd10:lr0.003_eps0.01": "15c7c799d23926c552561029f9564240eab519396fe3f573bba8aa0cc25abea9",
  "sweep:cd10:lr0.003_eps0.1": "f127d11217e8ef0b39cd2b4810c61709f0b84bd2e9a6e773df27c13127aea12f",
  "sweep:cd10:lr0.003_eps1": "de42964cd5ef94c528573b8a71808a1f9c5a0b4ae982d00e08cfceed6eef0b77",
  "sweep:cd10:lr0.01_eps0.01": "8e1c14017581fd0dbe9ca8a0c88a1b8b7a0f8fd58706f28e425950a4e8929bab",
  "sweep:cd10:lr0.01_eps0.1": "97ea30ba9393532b496a7fe0f4f4c31d674713441bc03dd718353294cb4d470d",
  "sweep:cd10:lr0.01_eps1": "efb96d826cb3ed165c65a12ddbd0747d9a747d1543c05a493c16849b253f8783",
  "sweep:cd1:lr0.001_eps0.01": "8aef7c9a927f3f81a16c68b346b2f72c606eb13904219eef30e3b62f072d50c4",
  "sweep:cd1:lr0.001_eps0.1": "0658d4216b7b92150eb0ea6fb4d65d57b806ccb026423bd3135046c84b08556a",
  "sweep:cd1:lr0.001_eps1": "c7ded2beeab3909a88199d0ba0060ec320c93e0e29ba3cc684a5d7e4479edef3",
  "sweep:cd1:lr0.003_eps0.01": "9c09dca9bad4db078688260251f3bd3f7d41fcaaa95f937893b97fe5128490b0",
  "sweep:cd1:lr0.003_eps0.1": "4e1d7644a70e6fa3381e82ca4622a61d5a5806cfec6241b5af9f6c54297de14a",
  "sweep:cd1:lr0.003_eps1": "cef4bf8dd5dba348fbf3f5ba4f5c881a666ee1f0e8843a7c65f87671f654a757",
  "sweep:cd1:lr0.01_eps0.01": "2e5d160ecb0699695f53846b58504a9183389639d7f93d19537b836a0f1adfc2",
  "sweep:cd1:lr0.01_eps0.1": "cc9514f0029bae9993713c8b7ab98d7481f764464b5e92b493e899aece076e0b",
  "sweep:cd1:lr0.01_eps1": "81257d492c4605139847b2c216cf4a534f06b2263b464ec0d990003288229ac2",
  "sweep:mle:lr0.001": "cf78eb4e92f9385c18008aace1dd92594030dd37c7b994666ad8a657133445fc",
  "sweep:mle:lr0.003": "7b90f1cbe8c0ad5787e53d26a5dc9a9e8e6c63454bdcaea3c3ee947c9e5938f6",
  "sweep:mle:lr0.01": "8d36088f3ad702e5aa717a46b8d76e395ac76c2c0354f8677bf47a96e2036c8f",
  "sweep:stein_sm:lr0.001": "7bb97a79fb9144e1910ad7bf6dd8f9ad20f40da1790ea0612044e2a49a892c7d",
  "sweep:stein_sm:lr0.003": "7a1c0fac6cf502f7199d067baac76188fdab81a90fd5ddb68bc107c8419ebe97",
  "sweep:stein_sm:lr0.01": "59c5460afeebedf8113ccf177e55298eb72dfc0b13cf69298643fc0ccc4ab42d",
  "sweep:steincd:lr0.001_eps1": "0bc435b42081694ee5715b37bbbaf8e16b5eabd83a97cff3e2855fce77bbf93c",
  "sweep:steincd:lr0.001_eps10": "d70ce438f4f31e4429de5c77fc27da3fff54ad669907e98be20dd4c3088de039",
  "sweep:steincd:lr0.001_eps100": "0da7b3805ea28514a70062bf31b1680d7a7faecb368107a8b01cf8b4f9292d60",
  "sweep:steincd:lr0.003_eps1": "26f1bd71ccb395e23630ed7ef019e52e9a8ddbcb49ce54ad510a4dc4d223465f",
  "sweep:steincd:lr0.003_eps10": "7604c0803df4e0c4b0936299960d1784e331b898d17ee1e4f3f303862c84d8c8",
  "sweep:steincd:lr0.003_eps100": "5033e9cdf3acad6179a3ff3b35deb3358ace251d5b51e4cc47b990b8a6e2504d",
  "sweep:steincd:lr0.01_eps1": "d9f8a005557be1410d32d9dffc2079285021186b0b5403966e8f8356499fc3e4",
  "sweep:steincd:lr0.01_eps10": "0ca7c90ea793749be660f66654b47685e7e37c5a5185602d9e7fbdd9d7f653f8",
  "sweep:steincd:lr0.01_eps100": "756835182d0a795cc0b406557d09274d29f8ee8ed61c2eec5a1c4ea0c3cf3480",
}

# run.json's config of a flat configs/rbm_mnist.py:cd1 run as ef87736 wrote it.
FLAT_CD1_RECORD = {
  "batch_size": 100,
  "dataset": "mnist",
  "init_scale": 0.01,
  "langevin_step_size": 1.0,
  "learning_rate": 0.01,
  "method": "cd1",
  "num_hidden": 10,
  "num_visible": 784,
  "preprocess": "center_scale",
  "seed": 0,
  "svgd_step_size": 1.0,
  "synthetic_dim": 16,
}


def _fingerprint(config):
  cls = EnergyExperiment
  defining = config_lib.defining_config(config, cls.resumable_keys, cls.legacy_defaults, cls.legacy_key_names)
  assert all("." not in k for k in defining)  # run.json keeps the flat names
  return config_lib.fingerprint(cls.name, defining)


@pytest.mark.parametrize("setting,expected", FLAT_FINGERPRINTS)
def test_every_setting_has_the_fingerprint_of_the_flat_config(setting, expected):
  config = rbm_mnist.get_config(*([setting] if setting else []))
  assert _fingerprint(config) == expected


def test_every_figure_and_sweep_run_has_the_fingerprint_of_the_flat_one():
  got = {}
  for method in rbm_mnist.METHODS:
    for seed in (1, 2):
      got[f"figure:{method}:seed{seed}"] = _fingerprint(rbm_figure.run_config(method, seed, 10_000, 100, None))
    key, step_sizes = rbm_figure.SWEEP_STEP_SIZES.get(method, (None, (None,)))
    for lr in rbm_figure.SWEEP_LEARNING_RATES:
      for eps in step_sizes:
        overrides = {"optimizer.learning_rate": lr} | ({key: eps} if key else {})
        name = f"sweep:{method}:lr{lr:g}" + (f"_eps{eps:g}" if key else "")
        got[name] = _fingerprint(rbm_figure.run_config(method, 0, 1000, 250, None, **overrides))
  assert got == FLAT_RUN_FINGERPRINTS


def test_every_grouped_key_is_declared_and_a_missing_or_flat_one_is_named():
  for path in EnergyExperiment.legacy_key_names:
    config = rbm_mnist.get_config("cd1")
    group, key = path.split(".", 1)
    del config[group][key]
    with pytest.raises(ConfigError, match=f"the config lacks {path}"):
      EnergyExperiment(config)  # refused before any data is read
  config = rbm_mnist.get_config("cd1")
  config.langevin_step_size = 0.1  # the flat name of langevin.step_size: a stale override
  with pytest.raises(ConfigError, match="the key moved: set langevin.step_size instead of langevin_step_size"):
    EnergyExperiment(config)
  with pytest.raises(ConfigError, match="the config has no key learning_rate"):
    rbm_figure.run_config("cd1", 0, 10, 10, None, learning_rate=1e-3)  # the figure's overrides go by path


def test_a_flat_run_json_is_accepted_and_a_change_is_named_by_its_path(tmp_path):
  workdir = str(tmp_path / "run")
  os.makedirs(workdir)
  stored = config_lib.fingerprint(EnergyExperiment.name, FLAT_CD1_RECORD)
  with open(os.path.join(workdir, "run.json"), "w") as f:
    json.dump({"config": FLAT_CD1_RECORD, "experiment": EnergyExperiment.name, "fingerprint": stored}, f)
  config = rbm_mnist.get_config("cd1")
  config.update(dataset="synthetic_rbm", num_visible=16)  # no MNIST needed to build it
  experiment = EnergyExperiment(config)
  config.update(dataset="mnist", num_visible=784)
  assert loop.check_workdir(workdir, experiment, config)["fingerprint"] == stored
  # load_run's path: the flat record back into the nested config.
  cfg = EnergyExperiment.config_from_record(FLAT_CD1_RECORD)
  assert cfg["langevin"]["step_size"] == 1.0 and cfg["optimizer"]["learning_rate"] == 0.01
  assert cfg["model"] == {"num_hidden": 10, "init_scale": 0.01} and "learning_rate" not in cfg
  assert EnergyExperiment.unrecorded_keys(FLAT_CD1_RECORD) == ()

  config.langevin.step_size = 0.1
  config.optimizer.learning_rate = 3e-3
  with pytest.raises(WorkdirMismatchError) as info:
    loop.check_workdir(workdir, experiment, config)
  msg = str(info.value)
  assert "langevin.step_size: 1.0 in the workdir, 0.1 now" in msg
  assert "optimizer.learning_rate: 0.01 in the workdir, 0.003 now" in msg


def test_the_figure_table_names_the_tuned_keys_as_before(tmp_path):
  records = [[{"step": s, "test/loglik": -1.0, "train_subset/loglik": -2.0} for s in (10, 20)]]
  results = {m: records for m in rbm_mnist.METHODS}
  report.write_table(str(tmp_path), results, {m: [1.0] for m in results}, (0,), 20)
  table = (tmp_path / "rbm_mnist.md").read_text()
  assert "| SteinCD | learning_rate=0.003, svgd_step_size=1 |" in table
  assert "| CD-10 (Langevin) | learning_rate=0.01, langevin_step_size=1 |" in table
  assert "| exact MLE | learning_rate=0.01 |" in table
