"""The package's import graph: no cycle, and no arrow that runs back up the layers (issue 13).

Layers, lowest first (a module may import its own layer and the ones below):

  core        stein_jax.{kernels, stein, transform, sampler, amortized}: kernels and Stein directions
  targets     stein_jax.targets: densities (2-D targets, latent-variable model, RBM, PFA)
  models      stein_jax.models: Flax modules (architecture only); may use a target's density
  data        stein_jax.data: data sets (independent of everything above but the core)
  objectives  stein_jax.objectives, evaluation  stein_jax.evaluation: siblings over the layers above,
              neither imports the other
  train       stein_jax.train: the experiment platform, independent of the methods

Imports inside functions count too (a lazy import is still a dependency). Read from the source with ``ast``,
so the test needs no import of the package.
"""

import ast
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "stein_jax"
CORE = {"algorithm", "kernels", "stein", "transform", "sampler", "amortized", "__init__"}
ALLOWED = {  # layer -> the layers it may import
  "core": {"core"},
  "targets": {"core", "targets"},
  "models": {"core", "targets", "models"},
  "data": {"core", "targets", "data"},  # synthetic data sets are samples of known densities
  "objectives": {"core", "targets", "models", "data", "objectives"},
  "evaluation": {"core", "targets", "models", "data", "evaluation"},
  "train": {"core", "train"},
}


def _module_name(path: pathlib.Path) -> str:
  rel = path.relative_to(PACKAGE.parent).with_suffix("")
  parts = list(rel.parts)
  if parts[-1] == "__init__":
    parts = parts[:-1]
  return ".".join(parts)


def _layer(module: str) -> str:
  parts = module.split(".")
  if len(parts) == 1:
    return "core"  # the package itself: its __init__ re-exports the core
  if parts[1] in CORE:
    return "core"
  return parts[1]


def _imports(path: pathlib.Path) -> set:
  """stein_jax modules imported anywhere in the file (``from stein_jax.x import y`` may name a module y)."""
  tree = ast.parse(path.read_text())
  out = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      out |= {a.name for a in node.names if a.name.startswith("stein_jax")}
    elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("stein_jax") and node.level == 0:
      for a in node.names:
        candidate = f"{node.module}.{a.name}"
        sub = PACKAGE.parent / pathlib.Path(*candidate.split("."))
        out.add(candidate if sub.with_suffix(".py").exists() or (sub / "__init__.py").exists() else node.module)
  return out


def _graph() -> dict:
  return {_module_name(p): _imports(p) for p in PACKAGE.rglob("*.py")}


def test_no_import_runs_back_up_the_layers():
  bad = []
  for module, deps in sorted(_graph().items()):
    layer = _layer(module)
    if module == "stein_jax":
      continue  # the package __init__ re-exports the core only (checked below)
    for dep in sorted(deps):
      if dep == "stein_jax":
        dep_layer = "core"  # ``from stein_jax import svgd_direction``: the core's re-exports
      else:
        dep_layer = _layer(dep)
      if dep_layer not in ALLOWED[layer]:
        bad.append(f"{module} ({layer}) imports {dep} ({dep_layer})")
  assert not bad, "imports against the layering:\n  " + "\n  ".join(bad)
  assert all(_layer(d) == "core" or d == "stein_jax" for d in _graph()["stein_jax"])


def test_import_graph_has_no_cycle():
  graph = _graph()
  # A package's __init__ re-exporting its submodules, and a submodule naming an enclosing package
  # (``from stein_jax.train import x``), are not cycles of logic; every other edge counts.
  edges = {
    m: {d for d in deps if d in graph and not d.startswith(m + ".") and not m.startswith(d + ".")}
    for m, deps in graph.items()
  }
  state, stack, cycles = {}, [], []

  def visit(m):
    state[m] = 1
    stack.append(m)
    for d in sorted(edges.get(m, ())):
      if state.get(d) == 1:
        cycles.append(" -> ".join(stack[stack.index(d) :] + [d]))
      elif d not in state:
        visit(d)
    stack.pop()
    state[m] = 2

  for m in sorted(edges):
    if m not in state:
      visit(m)
  assert not cycles, "import cycles:\n  " + "\n  ".join(cycles)


def test_moved_modules_keep_their_old_names():
  """stein_jax.targets still offers every public name of the old stein_jax/targets.py (now targets/planar.py),
  and the old homes of the moved densities re-export them."""
  import types  # pylint: disable=g-import-not-at-top
  from stein_jax import targets  # pylint: disable=g-import-not-at-top
  from stein_jax.evaluation import rbm as old_rbm  # pylint: disable=g-import-not-at-top
  from stein_jax.objectives import pfa as old_pfa, stein_vae as old_sv  # pylint: disable=g-import-not-at-top
  from stein_jax.targets import latent, pfa, planar, rbm  # pylint: disable=g-import-not-at-top

  def defined_here(obj):  # constants count; functions and classes only where planar defines them
    if isinstance(obj, types.ModuleType):
      return False
    return not callable(obj) or getattr(obj, "__module__", None) == planar.__name__

  public = [n for n in dir(planar) if not n.startswith("_") and n != "annotations" and defined_here(getattr(planar, n))]
  assert {"MIX_MEANS", "TARGETS", "mixture"} <= set(public)
  assert public and [n for n in public if not hasattr(targets, n)] == []
  assert old_rbm.log_partition is rbm.log_partition and old_sv.log_joint is latent.log_joint
  assert old_pfa.score_u is pfa.score_u
