"""The Stein VAE family's config keys: where each key of the nested configs was before the nesting.

Runs made before the configs were nested (``model``, ``svgd``, ``optimizer``, ``eval``) were fingerprinted
with the flat names; each experiment's ``legacy_key_names`` is built from these tables so that a nested
config has exactly the fingerprint of the flat one it replaces (docs/architecture.md, "Nested configs").
The ``*_LEGACY_DEFAULTS`` are the keys a family's configs lacked before they declared every key, at the
value the experiment used then (they enter the fingerprint only at another value).
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
