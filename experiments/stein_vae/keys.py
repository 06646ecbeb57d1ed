"""The Stein VAE family's config keys: where each key of the nested configs was before the nesting.

Runs made before the configs were nested (``model``, ``svgd``, ``optimizer``, ``eval``) were fingerprinted
with the flat names; each experiment's ``legacy_key_names`` is built from these tables so that a nested
config has exactly the fingerprint of the flat one it replaces (docs/architecture.md, "Nested configs").
The ``*_LEGACY_DEFAULTS`` are the keys a family's configs lacked before they declared every key, at the
value the experiment used then (they enter the fingerprint only at another value); the ``*_RECORD_DEFAULTS``
the values the experiment used for keys that run.json files older than the key lack, to reopen those runs.
"""

from stein_jax.train import config as config_lib

SHARED_KEY_NAMES = config_lib.moved_keys(
  model=("encoder", "learn_decoder", "decoder_prior_std"),
  svgd=(
    "num_particles",
    "k",
    "latent_k",
    "num_decoder",
    "step_size",
    "encoder_steps",
    "latent_update",
    "kernel",
    "bandwidth",
    "repulsion_scale",
    "kernel_normalization",
    "kernel_metric",
    "birth_death_rate",
    "birth_death_start",
    "bandwidth_anneal_steps",
    "bandwidth_anneal_factor",
  ),
  optimizer=("learning_rate", "lr_decay"),
)
# svgd.kernel was added after the runs in docs/results existed; "rbf" reproduces them.
SHARED_LEGACY_DEFAULTS = {"svgd.kernel": "rbf"}

GMM_KEY_NAMES = {
  **SHARED_KEY_NAMES,
  **config_lib.moved_keys(
    model=("encoder_hidden", "encoder_init"),
    eval={"samples": "eval_samples", "mode_samples": "mode_samples", "plot": "plot"},
  ),
}
GMM_LEGACY_DEFAULTS = {**SHARED_LEGACY_DEFAULTS, "svgd.latent_k": None, "svgd.num_decoder": 1}

_DENSITY_MODEL = config_lib.moved_keys(model=("latent_dim", "hidden", "num_coupling_layers", "coupling_hidden"))
_DENSITY_EVAL = {
  "test_examples": "test_examples",
  "subset": "eval_subset",
  "samples": "eval_samples",
  "batch_size": "eval_batch_size",
  "chunk_size": "eval_chunk_size",
}
MNIST_KEY_NAMES = {
  **SHARED_KEY_NAMES,
  **_DENSITY_MODEL,
  **config_lib.moved_keys(eval={**_DENSITY_EVAL, "valid_examples": "valid_examples"}),
}
MNIST_LEGACY_DEFAULTS = {
  **SHARED_LEGACY_DEFAULTS,
  "optimizer.lr_decay": "constant",
  "svgd.birth_death_rate": 0.0,
  "svgd.birth_death_start": 0,
}

# The text configs are the MNIST setting without validation images, with the text model's keys.
TEXT_KEY_NAMES = {
  **SHARED_KEY_NAMES,
  **_DENSITY_MODEL,
  **config_lib.moved_keys(model=("text_model", "def_layers", "def_shape"), eval=_DENSITY_EVAL),
}
TEXT_LEGACY_DEFAULTS = {**SHARED_LEGACY_DEFAULTS, "svgd.birth_death_rate": 0.0, "svgd.birth_death_start": 0}


# The defaults the experiments applied to a config without the key before every key was declared (the former
# OPTIONAL_KEYS table and objectives.stein_vae.LATENT_STEP_DEFAULTS): what a run whose run.json lacks the key ran
# with. Each experiment takes those of its keys.
_HISTORIC_DEFAULTS = {
  "model.encoder": "auto",
  "model.learn_decoder": True,
  "model.decoder_prior_std": 1.0,
  "model.text_model": "softmax",
  "model.def_layers": (200, 200, 50),
  "model.def_shape": 1.0,
  "svgd.latent_k": None,
  "svgd.num_decoder": 1,
  "svgd.latent_update": "sgd",
  "svgd.bandwidth": "median",
  "svgd.repulsion_scale": 1.0,
  "svgd.kernel_normalization": "mean",
  "svgd.kernel_metric": "isotropic",
  "svgd.birth_death_rate": 0.0,
  "svgd.birth_death_start": 0,
  "svgd.bandwidth_anneal_steps": 0,
  "svgd.bandwidth_anneal_factor": 1.0,
  "optimizer.lr_decay": "constant",
  "eval.mode_samples": None,
  "eval.subset": "first",
  "eval.valid_examples": 0,
}
GMM_RECORD_DEFAULTS = {p: v for p, v in _HISTORIC_DEFAULTS.items() if p in GMM_KEY_NAMES}
MNIST_RECORD_DEFAULTS = {p: v for p, v in _HISTORIC_DEFAULTS.items() if p in MNIST_KEY_NAMES}
TEXT_RECORD_DEFAULTS = {p: v for p, v in _HISTORIC_DEFAULTS.items() if p in TEXT_KEY_NAMES}
