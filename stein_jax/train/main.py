"""The absl entry point shared by all experiment mains and analysis tools: flags, help, clean errors.

``run_main(ExperimentFactory)`` is a whole experiment main (``--config=FILE[:setting]``, ``--workdir``,
``--config.key=value`` overrides); ``run_tool(run, user_errors, report)`` is the same command line for an
analysis that reads a finished run (posterior checks, evaluations). Above :mod:`stein_jax.train.loop` and
:mod:`stein_jax.train.config`, which do not import it.
"""

from __future__ import annotations

import sys
from typing import Any, Callable

import ml_collections

from stein_jax.train.config import ConfigError, flatten_config


class _QuietOrbaxInfo:
  """logging filter: drops orbax's records below WARNING and JAX's probe of absent accelerators."""

  def filter(self, record) -> bool:
    if "orbax" in record.pathname and (record.levelno < 30 or str(record.msg).startswith("Failed to json parse")):
      # The second: a damaged checkpoint's metadata, read by orbax's worker
      # threads; Checkpointer.restore_latest reports it in one line itself.
      return False
    # "Unable to initialize backend 'tpu'" at every start on a machine without one: not a problem.
    return not (record.levelno < 40 and "Unable to initialize backend" in str(record.msg))


def _config_path(args: list[str]) -> str | None:
  """The value of ``--config=FILE[:setting]`` (or ``--config FILE``) in ``args``."""
  for i, a in enumerate(args):
    if a.startswith("--config="):
      return a.split("=", 1)[1]
    if a == "--config" and i + 1 < len(args):
      return args[i + 1]
  return None


def load_config_file(spec: str) -> ml_collections.ConfigDict:
  """``get_config(setting)`` of ``FILE[:setting]``, with errors a user can act on (ConfigError)."""
  import importlib.util  # pylint: disable=g-import-not-at-top
  import os  # pylint: disable=g-import-not-at-top

  path, _, setting = spec.partition(":")
  if not os.path.isfile(path):
    raise ConfigError(
      f"--config={spec}: no such file {path!r} (relative paths are taken from "
      f"{os.getcwd()}; the configs live in the repository's configs/ folder)."
    )
  module_spec = importlib.util.spec_from_file_location("_stein_jax_help_config", path)
  module = importlib.util.module_from_spec(module_spec)
  try:
    module_spec.loader.exec_module(module)
    return module.get_config(setting) if setting else module.get_config()
  except Exception as e:  # a config file is user code: report whatever it raised, in one line
    raise ConfigError(f"--config={spec}: get_config() raised {type(e).__name__}: {e}") from e


def _field_comments(path: str) -> dict[str, str]:
  """``config.<key> = ...  # comment`` lines of a config file: key -> comment."""
  import re  # pylint: disable=g-import-not-at-top

  out = {}
  try:
    with open(path) as f:
      for line in f:
        m = re.match(r"\s*config\.([\w.]+)\s*=.*?#\s*(.+)$", line)
        if m and m.group(1) not in out:
          out[m.group(1)] = m.group(2).strip()
  except OSError:
    pass
  return out


def help_text(main_doc: str | None, config_spec: str | None) -> str:
  """``--help``: what the main does, its two flags, and the chosen config's fields with values and comments."""
  lines = []
  if main_doc:
    lines += [main_doc.strip().split("\n\n")[0], ""]
  lines += [
    "flags:",
    "  --config=FILE[:setting]  config file (configs/<experiment>.py), required; override any field with "
    "--config.<key>=<value>",
    "  --workdir=DIR            run directory (checkpoints, metrics.jsonl, figures); required; the same "
    "command again resumes",
    "",
  ]
  if config_spec is None:
    lines.append("Pass --config=FILE with --help to list that config's fields.")
  else:
    config = load_config_file(config_spec)
    comments = _field_comments(config_spec.partition(":")[0])
    flat = flatten_config(config)
    width = max((len(k) for k in flat), default=0)
    lines.append(f"fields of --config={config_spec} (--config.<key>=<value>):")
    for k, v in flat.items():
      note = comments.get(k, "")
      lines.append(f"  {k.ljust(width)} = {v!r}" + (f"   # {note}" if note else ""))
  lines += ["", "Try --helpfull for every absl flag."]
  return "\n".join(lines)


def run_main(experiment_factory: Callable[[ml_collections.ConfigDict], Any], argv: list[str] | None = None) -> None:
  """absl entry point: ``--config=configs/x.py [--config.k=v] --workdir=DIR``.

  Builds the experiment with ``experiment_factory(config)`` and calls
  :func:`stein_jax.train.loop.train_and_evaluate`. Errors a user can cause
  (workdir of another run, non-finite loss, bad config, missing data file,
  unreadable checkpoints, batch size vs devices) print one ``error:`` line
  and exit with status 1, without a stack trace.

  Args:
    experiment_factory: e.g. the experiment class.
    argv: for tests; defaults to ``sys.argv``.
  """
  # pylint: disable=g-import-not-at-top
  from absl import app
  from absl import flags
  from absl import logging
  from ml_collections import config_flags

  from stein_jax.train import figures
  from stein_jax.train import loop

  flag_values = flags.FLAGS
  if "config" not in flag_values:
    config_flags.DEFINE_config_file(
      "config",
      None,
      "Config file, e.g. configs/<experiment>.py; override " "fields with --config.<key>=<value>.",
      lock_config=True,
    )
  if "workdir" not in flag_values:
    flags.DEFINE_string(
      "workdir", None, "Directory for checkpoints, metrics " "and figures. Running the same command again resumes."
    )
  flags.mark_flags_as_required(["config", "workdir"])

  user_errors = _training_user_errors()

  def fail(e):
    logging.flush()
    sys.stdout.flush()
    print(f"error: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
    sys.exit(1)

  def main(args):
    # orbax logs a dozen INFO lines per checkpoint; keep its warnings only.
    logging.get_absl_handler().addFilter(_QuietOrbaxInfo())
    figures.use_headless_backend()
    if len(args) > 1:
      raise app.UsageError(f"unexpected arguments: {' '.join(args[1:])}")
    config = flag_values.config
    try:
      experiment = experiment_factory(config)
      loop.train_and_evaluate(experiment, config, flag_values.workdir)
    except loop.TrainingInterrupted as e:
      _exit_interrupted(e)
    except user_errors as e:
      fail(e)

  app.run(main, argv=argv, flags_parser=lambda args: _parse_flags(flag_values, args))


def _training_user_errors() -> tuple:
  """Errors a user can cause in a training run (and so in a tool that trains runs): one ``error:`` line each."""
  # pylint: disable=g-import-not-at-top
  from stein_jax.train import checkpoint
  from stein_jax.train import loop
  from stein_jax.train import sharding

  return (
    ConfigError,
    loop.WorkdirMismatchError,
    loop.NonFiniteLossError,
    checkpoint.CheckpointRestoreError,
    checkpoint.CheckpointSaveError,
    sharding.BatchShardingError,
    FileNotFoundError,
  )


def _exit_interrupted(e) -> None:
  """SIGINT / SIGTERM stopped a training loop after a checkpoint: its message, exit status 128 + signal."""
  from absl import logging  # pylint: disable=g-import-not-at-top

  logging.flush()
  sys.stdout.flush()
  print(str(e), file=sys.stderr, flush=True)
  sys.exit(128 + e.signum)


def _parse_flags(flag_values, args):
  """absl flags parser of every main: --help lists the config; config-file and --config.<key> errors in one line."""
  from absl import flags  # pylint: disable=g-import-not-at-top

  # --help: this main's doc, --config / --workdir and the config's fields,
  # not absl's 125 lines of library flags (still behind --helpfull).
  if any(a in ("--help", "-h", "--helpshort", "-?") for a in args[1:]):
    doc = getattr(sys.modules.get("__main__"), "__doc__", None)
    try:
      print(help_text(doc, _config_path(args[1:])))
    except ConfigError as e:
      print(f"error: ConfigError: {e}", file=sys.stderr)
      sys.exit(1)
    sys.exit(0)
  # ml_collections defers a config file that is missing or raises to the
  # first attribute access, as a double traceback: load it once here first.
  spec = _config_path(args[1:])
  if spec is not None:
    try:
      load_config_file(spec)
    except ConfigError as e:
      print(f"error: ConfigError: {e}", file=sys.stderr)
      sys.exit(1)
  # absl reports flags.Error cleanly, but an unknown --config.<key> surfaces
  # from ml_collections as KeyError/AttributeError with a stack trace.
  try:
    return flag_values(args)
  except flags.Error as e:
    message = str(e)
  except (KeyError, AttributeError) as e:
    cause = e
    while isinstance(cause, BaseException) and cause.args:
      cause = cause.args[0]
    message = (
      f"no such config field {str(cause).replace(chr(10), ' ')} "
      "(check the spelling of --config.<key>=<value>; "
      "get_config() lists the fields)" + _moved_key_hint(spec, args[1:])
    )
  print(
    f"FATAL Flags parsing error: {message}\nPass --helpshort or " "--helpfull to see help on flags.", file=sys.stderr
  )
  sys.exit(1)


def _moved_key_hint(spec: str | None, args: list[str]) -> str:
  """For ``--config.k=...`` where the config has ``svgd.k`` (a flat key of before the nesting): where it is now."""
  if spec is None:
    return ""
  try:
    paths = list(flatten_config(load_config_file(spec)))
  except ConfigError:
    return ""
  hints = []
  for a in args:
    if a.startswith("--config.") and "=" in a:
      key = a[len("--config.") : a.index("=")]
      if key not in paths:
        hints += [f"--config.{p}" for p in paths if p.endswith("." + key.rsplit(".", 1)[-1])]
  return f"; the config has {', '.join(hints)} (a nested key is set by its path)" if hints else ""


def run_tool(
  run: Callable[[ml_collections.ConfigDict, str], Any],
  user_errors: tuple = (),
  report: Callable[[Any], None] | None = None,
  argv: list[str] | None = None,
) -> None:
  """absl entry point of an analysis tool (a check or evaluation of a trained run): ``--config --workdir``.

  ``report(run(config, workdir))`` with the flag handling of :func:`run_main` (``--help`` lists the
  config's fields; a bad config file or field is one line); ``user_errors``, and those of a training run
  (:class:`ConfigError`, a workdir of another run, a non-finite loss, unreadable checkpoints,
  FileNotFoundError: a figure main that trains its runs is a tool too), print one ``error:`` line and
  exit with status 1; SIGINT / SIGTERM during a run's training exits as :func:`run_main` does.
  """
  # pylint: disable=g-import-not-at-top
  from absl import app
  from absl import flags
  from absl import logging
  from ml_collections import config_flags

  from stein_jax.train import figures
  from stein_jax.train import loop

  flag_values = flags.FLAGS
  if "config" not in flag_values:
    config_flags.DEFINE_config_file(
      "config", None, "Config file; override fields with " "--config.<key>=<value>.", lock_config=True
    )
  if "workdir" not in flag_values:
    flags.DEFINE_string("workdir", None, "Output directory.")
  flags.mark_flags_as_required(["config", "workdir"])
  errors = tuple(user_errors) + _training_user_errors()

  def main(args):
    if len(args) > 1:
      raise app.UsageError(f"unexpected arguments: {' '.join(args[1:])}")
    figures.use_headless_backend()
    # orbax logs a dozen INFO lines per restore; keep its warnings only.
    logging.get_absl_handler().addFilter(_QuietOrbaxInfo())
    try:
      out = run(flag_values.config, flag_values.workdir)
    except loop.TrainingInterrupted as e:
      _exit_interrupted(e)
    except errors as e:
      logging.flush()
      sys.stdout.flush()
      print(f"error: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
      sys.exit(1)
    if report is not None:
      report(out)

  app.run(main, argv=argv, flags_parser=lambda args: _parse_flags(flag_values, args))
