"""Helpers the benchmarks share: a process's peak memory, and one case run in a fresh process."""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys


def peak_rss_mib() -> float:
  """This process's peak resident memory in MiB: VmHWM of /proc/self/status where there is one (Linux).

  ``getrusage``'s ru_maxrss would do, but Linux carries it across exec from the forking parent, so a child of a
  benchmark that has grown to a GiB would report a GiB before doing anything; VmHWM belongs to this image alone.
  """
  try:
    with open("/proc/self/status") as f:
      for line in f:
        if line.startswith("VmHWM:"):
          return int(line.split()[1]) / 1024
  except OSError:
    pass
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_case(module: str, args: list, timeout: float, max_error_chars: int = 300) -> dict:
  """``python -m module *args`` in a fresh process; its last stdout line as JSON, or ``{"error": ...}``."""
  try:
    proc = subprocess.run(
      [sys.executable, "-m", module, *args], capture_output=True, text=True, env=os.environ.copy(), timeout=timeout
    )
  except subprocess.TimeoutExpired:
    return {"error": f"timed out after {timeout} s"}
  if proc.returncode != 0:
    return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1][:max_error_chars]}
  return json.loads(proc.stdout.strip().splitlines()[-1])


def machine(load_key: str = "load_average") -> dict:
  """The machine a benchmark ran on (JAX's devices, CPUs, platform, versions and the load average under ``load_key``)."""
  import jax  # pylint: disable=import-outside-toplevel  (callers choose the platform before JAX starts)

  return {
    "device": f"{jax.devices()[0].device_kind} x{jax.device_count()} ({jax.default_backend()})",
    "backend": jax.default_backend(),
    "devices": [str(dv) for dv in jax.devices()],
    "cpus": os.cpu_count(),
    "platform": platform.platform(),
    "jax": jax.__version__,
    load_key: list(os.getloadavg()),
  }
