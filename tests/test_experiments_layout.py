"""Every experiment main reads a config file (``--config=configs/<name>.py``, ``--config.key=value``), not raw flags.

Read from the source with ``ast`` (no import of the mains): a module under experiments/ may define the ``config``
flag (``config_flags.DEFINE_config_file``) and a ``workdir`` string flag, nothing else; and a module that is a
program (an ``if __name__ == "__main__":`` block or a package's ``__main__.py``) goes through the platform's entry
points, :func:`stein_jax.train.run_main` (an experiment) or :func:`stein_jax.train.run_tool` (a figure, sweep or
analysis of runs), which define exactly those two.
"""

import ast
import pathlib

EXPERIMENTS = pathlib.Path(__file__).resolve().parents[1] / "experiments"
ENTRY_POINTS = {"run_main", "run_tool"}


def _called_name(call: ast.Call) -> str:
  f = call.func
  return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""


def _first_arg(call: ast.Call):
  if call.args and isinstance(call.args[0], ast.Constant):
    return call.args[0].value
  for kw in call.keywords:
    if kw.arg == "name" and isinstance(kw.value, ast.Constant):
      return kw.value.value
  return None


def _is_main_block(node) -> bool:
  t = node.test if isinstance(node, ast.If) else None
  return (
    isinstance(t, ast.Compare)
    and isinstance(t.left, ast.Name)
    and t.left.id == "__name__"
    and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in t.comparators)
  )


def _problems(path: pathlib.Path) -> list[str]:
  tree = ast.parse(path.read_text())
  calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
  rel = f"{path.parent.name}/{path.name}"
  out = []
  for call in calls:
    name = _called_name(call)
    if not name.startswith("DEFINE"):
      continue
    flag = _first_arg(call)
    if name.startswith("DEFINE_config_") and flag == "config":
      continue
    if name == "DEFINE_string" and flag == "workdir":
      continue
    out.append(f"{rel}:{call.lineno}: {name}({flag!r}): a raw flag; make it a field of configs/<name>.py")
  is_program = path.name == "__main__.py" or any(_is_main_block(n) for n in tree.body)
  entry = {_called_name(c) for c in calls} & (ENTRY_POINTS | {"DEFINE_config_file"})
  if is_program and not entry:
    out.append(f"{rel}: a main that calls neither run_main nor run_tool (read a config file through them)")
  return out


def test_every_experiment_main_reads_a_config_file():
  files = sorted(EXPERIMENTS.rglob("*.py"))
  assert len(files) > 10
  problems = [p for f in files for p in _problems(f)]
  assert not problems, "experiment mains that parse raw flags:\n  " + "\n  ".join(problems)


def test_the_check_sees_a_raw_flag_and_a_main_without_a_config(tmp_path):
  """The check above is not vacuous: the old form of a figure main fails it, the new form passes."""
  old = tmp_path / "old.py"
  old.write_text(
    "from absl import app, flags\n"
    'flags.DEFINE_string("workdir", None, "out")\n'
    'flags.DEFINE_list("particles", ["10"], "counts")\n'
    "def main(argv):\n  pass\n"
    'if __name__ == "__main__":\n  app.run(main)\n'
  )
  new = tmp_path / "new.py"
  new.write_text(
    "from stein_jax.train import main as main_lib\n"
    "def run_from_config(config, workdir):\n  pass\n"
    'if __name__ == "__main__":\n  main_lib.run_tool(run_from_config)\n'
  )
  bad, good = _problems(old), _problems(new)
  assert len(bad) == 2 and "DEFINE_list('particles')" in bad[0] and "neither run_main nor run_tool" in bad[1]
  assert good == []
