"""Config checks and run fingerprints shared by all experiments (the absl entry point: ``main.py``).

Every config (``configs/<experiment>.py`` with ``get_config()``) has the
shared keys below; ``--config.key=value`` overrides are type-checked by
``ml_collections`` (an unknown key or a value of the wrong type is a flags
error before anything runs).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Callable, Iterable, Mapping, NamedTuple, Optional, Sequence

import ml_collections

# Keys every config has, with the check applied to each.
SHARED_KEYS = ("seed", "num_steps", "eval_every", "checkpoint_every", "data_dir")
# Optional shared keys and their defaults.
OPTIONAL_DEFAULTS = {"log_every": 50, "max_to_keep": 3, "divergence_factor": 1e4, "max_train_seconds": None}
# Keys that may change between runs in one workdir without making it another
# run: extending num_steps or changing logging resumes the same run.
RESUMABLE_KEYS = (
  "num_steps",
  "eval_every",
  "checkpoint_every",
  "log_every",
  "max_to_keep",
  "workdir",
  "data_dir",
  "divergence_factor",
  "max_train_seconds",
)


class ConfigError(ValueError):
  """A config is missing a shared key or has a bad value."""


def _is_int(x) -> bool:
  return isinstance(x, int) and not isinstance(x, bool)


def validate_config(config: ml_collections.ConfigDict) -> None:
  """Checks the shared keys; raises :class:`ConfigError` listing every problem.

  Required: ``seed`` (int), ``num_steps``, ``eval_every``,
  ``checkpoint_every`` (ints > 0), ``data_dir`` (str or None). Optional:
  ``log_every``, ``max_to_keep`` (ints > 0).
  """
  problems = []
  for key in SHARED_KEYS:
    if key not in config:
      problems.append(f"missing key {key!r}")

  def positive_int(key):
    if key in config:
      v = config[key]
      if not _is_int(v) or v <= 0:
        problems.append(f"{key} must be an int > 0, got {v!r}")

  for key in ("num_steps", "eval_every", "checkpoint_every", "log_every", "max_to_keep"):
    positive_int(key)
  factor = get_optional(config, "divergence_factor")
  if not (isinstance(factor, (int, float)) and not isinstance(factor, bool) and (factor == 0 or factor > 1)):
    problems.append(f"divergence_factor must be 0 (off) or a number > 1, got {factor!r}")
  if "seed" in config and not _is_int(config.seed):
    problems.append(f"seed must be an int, got {config.seed!r}")
  if "data_dir" in config and not (config.data_dir is None or isinstance(config.data_dir, str)):
    problems.append(f"data_dir must be a str or None, got {config.data_dir!r}")
  limit = get_optional(config, "max_train_seconds")
  if limit is not None and not (isinstance(limit, (int, float)) and not isinstance(limit, bool) and limit > 0):
    problems.append(f"max_train_seconds must be None (no limit) or > 0, got {limit!r}")
  if problems:
    raise ConfigError(
      "invalid config: " + "; ".join(problems) + ". Fix get_config() or the --config.<key>=<value> flag."
    )


class Rule(NamedTuple):
  """A check of one config value: ``ok(value)``, what a good value is, and a hint for the command line."""

  ok: Callable[[Any], bool]
  what: str
  hint: str = ""


def _is_number(x) -> bool:
  return isinstance(x, (int, float)) and not isinstance(x, bool)


POSITIVE_INT = Rule(lambda v: _is_int(v) and v > 0, "an int > 0")
NON_NEGATIVE_INT = Rule(lambda v: _is_int(v) and v >= 0, "an int >= 0")
POSITIVE_NUMBER = Rule(lambda v: _is_number(v) and v > 0, "a number > 0")
BOOL = Rule(lambda v: isinstance(v, bool), "True or False")


def one_of(choices) -> Rule:
  """The value is one of ``choices``."""
  choices = tuple(choices)
  return Rule(lambda v: isinstance(v, type(choices[0])) and v in choices, f"one of {list(choices)}")


def optional(rule: Rule) -> Rule:
  """None (a placeholder left unset) or a value ``rule`` accepts."""
  return Rule(lambda v: v is None or rule.ok(v), f"None or {rule.what}")


def number_in(lo: float, hi: float) -> Rule:
  """A number in the closed interval [lo, hi]."""
  return Rule(lambda v: _is_number(v) and lo <= v <= hi, f"a number in [{lo:g}, {hi:g}]")


def tuple_of(rule: Rule) -> Rule:
  """A non-empty tuple of values ``rule`` accepts (the tuple convention of every list-valued config field)."""
  return Rule(
    lambda v: isinstance(v, tuple) and len(v) > 0 and all(rule.ok(x) for x in v),
    f"a non-empty tuple, each entry {rule.what}",
    "a tuple on the command line: --config.<key>='(a,b)', strings quoted: --config.<key>='(\"a\",\"b\")'",
  )


def check_fields(config: ml_collections.ConfigDict, rules: Mapping[str, Rule]) -> None:
  """Raises :class:`ConfigError` naming every key (dotted for nested ones) whose value fails its rule.

  For the mains whose config is their own (figures, sweeps, tools), checked before any work:
  ``check_fields(config, {"num_steps": POSITIVE_INT, "target": one_of(TARGETS)})``.
  """
  problems = []
  for key, rule in rules.items():
    value = config
    for part in key.split("."):
      value = value[part]
    if not rule.ok(value):
      hint = f" ({rule.hint.replace('<key>', key)})" if rule.hint else ""
      problems.append(f"{key} must be {rule.what}, got {value!r}{hint}")
  if problems:
    raise ConfigError(
      "invalid config: " + "; ".join(problems) + ". Fix get_config() or the --config.<key>=<value> flag."
    )


def override(config: ml_collections.ConfigDict, values: Mapping[str, Any]) -> ml_collections.ConfigDict:
  """Sets each key of ``values`` (a dotted path for a nested one: ``"svgd.k"``) in ``config``, in place; returns it.

  What ``--config.svgd.k=5`` does on the command line, for tests, notebooks and the figure tools: a key
  the config lacks is a :class:`ConfigError` naming it (``ConfigDict.update_from_flattened_dict`` would
  add it silently), and the values are type-checked as ``ml_collections`` does.
  """
  missing = []
  for path, value in values.items():
    node, parts = config, path.split(".")
    for p in parts[:-1]:
      node = node[p] if p in node and isinstance(node[p], ml_collections.ConfigDict) else None
      if node is None:
        break
    if node is None or parts[-1] not in node:
      missing.append(path)
      continue
    node[parts[-1]] = value
  if missing:
    raise ConfigError(f"the config has no key {', '.join(missing)} (a nested key is set by its path, e.g. 'svgd.k').")
  return config


def get_optional(config: ml_collections.ConfigDict, key: str) -> Any:
  """``config[key]`` or its default from ``OPTIONAL_DEFAULTS``."""
  return config[key] if key in config else OPTIONAL_DEFAULTS[key]


def _normalize(value: Any) -> Any:
  # Same representation whether it comes from a ConfigDict or from run.json.
  return json.loads(json.dumps(value, sort_keys=True, default=repr))


def flatten_config(config: ml_collections.ConfigDict | dict) -> dict[str, Any]:
  """``{'model': {'width': 8}}`` -> ``{'model.width': 8}`` (JSON-able values)."""
  d = config.to_dict() if hasattr(config, "to_dict") else dict(config)
  out = {}

  def rec(prefix, node):
    if isinstance(node, dict) and node:
      for k, v in node.items():
        rec(f"{prefix}.{k}" if prefix else str(k), v)
    else:
      out[prefix] = _normalize(node)

  rec("", d)
  return out


def moved_keys(**groups: Sequence[str] | Mapping[str, str]) -> dict[str, str]:
  """The ``legacy_key_names`` of an experiment whose flat keys moved into groups.

  ``moved_keys(svgd=("k", "num_particles"), eval={"samples": "eval_samples"})`` is
  ``{"svgd.k": "k", "svgd.num_particles": "num_particles", "eval.samples": "eval_samples"}``:
  a sequence lists the keys that kept their name in the group, a mapping gives a key's name in
  the group and the flat name it had. Raises :class:`ConfigError` on a flat name used twice.
  """
  names = {}
  for group, keys in groups.items():
    pairs = keys.items() if isinstance(keys, Mapping) else ((k, k) for k in keys)
    for key, flat in pairs:
      names[f"{group}.{key}"] = flat
  check_key_names(names, names)
  return names


def check_key_names(paths: Iterable[str], names: Mapping[str, str]) -> None:
  """Checks a config's key ``paths`` against an experiment's ``legacy_key_names``.

  Raises :class:`ConfigError` naming every problem: a path the names map that the config
  lacks (every key of a nested config is declared in its ``get_config()``); a key below a group
  the names cover (``svgd.*``) that they do not map (an unmapped key: map it to its flat name,
  or to its own path if it is new since the nesting); and two keys that end up with one name
  in the fingerprint (a doubly-mapped name: two paths mapped to one flat name, or a flat name
  that is also a key of the config, such as a top-level ``k`` beside ``svgd.k`` mapped to
  ``"k"``, usually an override still written with the old flat name).
  """
  paths = list(paths)
  present = set(paths)
  groups = {p.split(".", 1)[0] for p in names if "." in p}
  problems = [f"the config lacks {p} (declare it in get_config())" for p in names if p not in present]
  problems += [
    f"{p} has no flat name in the experiment's legacy_key_names (map it to the name its runs were "
    f"fingerprinted with, or to {p!r} itself if it is new since the nesting)"
    for p in paths
    if p.split(".", 1)[0] in groups and "." in p and p not in names
  ]
  # One fingerprint name per key, over the mapped paths (declared) and over the config's keys (present).
  seen = set()
  for candidates in (list(names), paths):
    by_name = {}
    for p in candidates:
      by_name.setdefault(names.get(p, p), []).append(p)
    for flat, ps in sorted(by_name.items()):
      ps = tuple(sorted(ps))
      if len(ps) > 1 and (flat, ps) not in seen:
        seen.add((flat, ps))
        moved = [p for p in ps if p != flat]
        hint = f" (the key moved: set {' and '.join(moved)} instead of {flat})" if flat in ps else ""
        problems.append(f"{' and '.join(ps)} have one name {flat!r} in the fingerprint (doubly mapped){hint}")
  if problems:
    raise ConfigError("invalid config keys: " + "; ".join(problems) + ".")


def shown_name(flat: str, names: Optional[Mapping[str, str]] = None) -> str:
  """A fingerprint key's name in messages: its nested path if ``names`` moved it, else itself."""
  for path, old in (names or {}).items():
    if old == flat:
      return path
  return flat


def defining_config(
  config,
  extra_resumable: tuple[str, ...] = (),
  legacy_defaults: Optional[Mapping[str, Any]] = None,
  legacy_key_names: Optional[Mapping[str, str]] = None,
) -> dict[str, Any]:
  """The flattened config without keys that may change on resume, in its fingerprint's names.

  ``legacy_defaults`` maps keys added to an experiment after runs existed to the value
  that reproduces those runs: a key at that value is left out, so the fingerprint of an
  old run (whose run.json lacks the key) still matches, and a new run at the default is
  the same run; any other value is part of the fingerprint as usual.

  ``legacy_key_names`` maps the key paths of a config that was nested after runs existed to
  the flat names those runs were fingerprinted with (``{"svgd.k": "k"}``, see
  :func:`check_key_names`): the result, and so the fingerprint and run.json, use the flat
  names, so a nested config gives exactly the fingerprint of the flat config it replaces.
  ``extra_resumable`` and ``legacy_defaults`` name keys by their path in ``config``.
  """
  skip = tuple(RESUMABLE_KEYS) + tuple(extra_resumable)
  legacy = dict(legacy_defaults or {})
  names = dict(legacy_key_names or {})
  flat = flatten_config(config)
  if names:
    check_key_names(flat, names)
  return {
    names.get(k, k): v
    for k, v in flat.items()
    if not any(k == s or k.startswith(s + ".") for s in skip) and not (k in legacy and v == legacy[k])
  }


def config_from_record(
  record: Mapping[str, Any],
  legacy_key_names: Optional[Mapping[str, str]] = None,
  legacy_defaults: Optional[Mapping[str, Any]] = None,
  defaults: Optional[Mapping[str, Any]] = None,
) -> dict[str, Any]:
  """The nested config dict of a run.json's ``config`` (flat fingerprint names, see :func:`defining_config`).

  Each name goes back to its path (``"k"`` -> ``svgd.k`` under ``{"svgd.k": "k"}``), lists
  become tuples, a ``legacy_defaults`` key the record leaves out takes its legacy value (the
  value the run had), and ``defaults`` (dotted paths: the resumable keys, which run.json
  leaves out) fill what is still missing. The same for run.json files written before and
  after a config was nested, which are alike.
  """
  path_of = {flat: path for path, flat in (legacy_key_names or {}).items()}
  out: dict[str, Any] = {}

  def put(path, value, overwrite):
    parts = path.split(".")
    node = out
    for p in parts[:-1]:
      node = node.setdefault(p, {})
    if overwrite or parts[-1] not in node:
      node[parts[-1]] = _tuplify(value)

  for key, value in record.items():
    put(path_of.get(key, key), value, True)
  for extra in (legacy_defaults or {}, defaults or {}):
    for path, value in extra.items():
      put(path, value, False)
  return out


def _tuplify(v):
  return tuple(_tuplify(a) for a in v) if isinstance(v, list) else v


def fingerprint(name: str, defining: dict[str, Any]) -> str:
  """sha256 of the experiment name and its defining config values."""
  blob = json.dumps({"experiment": name, "config": defining}, sort_keys=True)
  return hashlib.sha256(blob.encode()).hexdigest()
