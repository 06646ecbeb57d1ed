"""The tree is formatted by the pinned formatter and passes its checks (pyproject.toml [tool.ruff])."""

import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _ruff():
  exe = pathlib.Path(sys.executable).with_name("ruff")
  if exe.exists():
    return str(exe)
  found = shutil.which("ruff")
  if found is None:
    pytest.skip("ruff is not installed: pip install -e '.[test]' installs the pinned version")
  return found


@pytest.mark.parametrize("args", [["format", "--check"], ["check"]], ids=["format", "lint"])
def test_tree_is_formatted_and_lint_clean(args):
  out = subprocess.run([_ruff(), *args, "."], cwd=ROOT, capture_output=True, text=True)
  assert (
    out.returncode == 0
  ), f"`ruff {' '.join(args)} .` failed; run `ruff format . && ruff check --fix .`:\n{out.stdout}{out.stderr}"
