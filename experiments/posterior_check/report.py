"""The check's outputs: the summary over test points, DIR/posterior_check.json and the table DIR/table.md."""

from __future__ import annotations

import json
import os

import numpy as np

from stein_jax.train import figures

from experiments.posterior_check.figures import METHOD_LABELS, plot_check


def summarize(points: list[dict]) -> dict:
  """Over the converged points: geometric means of variance ratios, means of the rest."""
  ok = [p for p in points if p["status"] == "ok"]
  out = {"points": len(ok), "not_converged": [p["index"] for p in points if p["status"] != "ok"]}
  for m in METHOD_LABELS:
    if not ok:
      break
    rows = [p[m] for p in ok]
    d = {}
    for key in ("var_ratio", "var_ratio_top"):
      vals = [r[key] for r in rows if r.get(key) is not None]
      d[key] = float(np.exp(np.mean(np.log(vals)))) if vals else None
    for key in ("mean_error", "mmd", "mmd_log_z"):
      vals = [r[key] for r in rows if r.get(key) is not None]
      d[key] = float(np.mean(vals)) if vals else None
    if m != "encoder":
      d["steps_max"] = int(max(r["steps"] for r in rows))
      d["all_converged"] = bool(all(r["converged"] for r in rows))
    out[m] = d
  return out


def _fmt(v, nd=3):
  if v is None:
    return "-"
  if isinstance(v, float):
    return f"{v:.{nd}g}" if abs(v) < 1e-2 else f"{v:.{nd}f}"
  return str(v)


def table_markdown(out: dict) -> str:
  s, large = out["num_particles"], out["large_particles"]
  names = {"encoder": "encoder", "svgd_s": f"free SVGD, S = {s}", "svgd_large": f"free SVGD, {large:,}"}
  has_log = any(p.get("encoder", {}).get("mmd_log_z") is not None for p in out["points"])
  lines = [
    f"Posterior check of `{out['run_dir']}` ({out['experiment']}, method "
    f"{out['method']}, checkpoint step {out['checkpoint_step']}); ground truth: "
    f"{out['reference']}; SVGD bandwidth rule `{out['bandwidth']}`, kernel metric `{out.get('kernel_metric', 'isotropic')}`"
    + (f"; top coordinates: {out['top_coordinates']}" if out["top_coordinates"] else "")
    + ".",
    "",
  ]
  head = (
    ["test point", "approximation", "var ratio", "var ratio (top)", "mean error (sd)", "MMD^2"]
    + (["MMD^2 log z"] if has_log else [])
    + ["SVGD steps"]
  )
  lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  for p in out["points"]:
    if p["status"] != "ok":
      r = p.get("reference", {})
      lines.append(
        f"| {p['index']} | NUTS not converged (max split R-hat "
        f"{_fmt(r.get('rhat_max'))}, {sum(r.get('divergences', []))} divergences) |" + " - |" * (len(head) - 2)
      )
      continue
    for m in METHOD_LABELS:
      r = p[m]
      steps = "-" if m == "encoder" else f"{r['steps']}" + ("" if r["converged"] else " (not converged)")
      row = [
        str(p["index"]),
        names[m],
        _fmt(r["var_ratio"]),
        _fmt(r["var_ratio_top"]),
        _fmt(r["mean_error"]),
        _fmt(r["mmd"]),
      ]
      row += [_fmt(r.get("mmd_log_z"))] if has_log else []
      lines.append("| " + " | ".join(row + [steps]) + " |")
  summ = out["summary"]
  lines += [
    "",
    f"Summary over {summ['points']} test points with a ground truth (variance ratios: "
    "geometric means; the rest: means):",
    "",
  ]
  head2 = ["approximation", "var ratio", "var ratio (top)", "mean error (sd)", "MMD^2"] + (
    ["MMD^2 log z"] if has_log else []
  )
  lines += ["| " + " | ".join(head2) + " |", "|" + "---|" * len(head2)]
  for m in METHOD_LABELS:
    if m in summ:
      d = summ[m]
      row = [names[m], _fmt(d["var_ratio"]), _fmt(d["var_ratio_top"]), _fmt(d["mean_error"]), _fmt(d["mmd"])] + (
        [_fmt(d["mmd_log_z"])] if has_log else []
      )
      lines.append("| " + " | ".join(row) + " |")
  if summ["not_converged"]:
    lines += ["", f"Not converged (no numbers): test points {summ['not_converged']}."]
  return "\n".join(lines) + "\n"


def write_outputs(out: dict, workdir: str, plot: bool = True) -> None:
  os.makedirs(workdir, exist_ok=True)
  tmp = os.path.join(workdir, "posterior_check.json.tmp")
  with open(tmp, "w") as f:
    json.dump(out, f, indent=1)
  os.replace(tmp, os.path.join(workdir, "posterior_check.json"))
  with open(os.path.join(workdir, "table.md"), "w") as f:
    f.write(table_markdown(out))
  if plot:
    figures.save_figure(plot_check(out), workdir, "posterior_check")
