"""The README's code runs as written (its "library in one screen" block)."""

import os
import re

import numpy as np

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


def _library_block() -> str:
  with open(README) as f:
    text = f.read()
  section = text[text.index("## The library in one screen") :]
  return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_library_in_one_screen_runs_as_written():
  namespace = {}
  exec(compile(_library_block(), "README.md", "exec"), namespace)  # pylint: disable=exec-used
  assert namespace["phi_tree"]["w"].shape == (10, 3, 4)
  assert namespace["phi"].shape == (5_000, 16)
  np.testing.assert_allclose(np.asarray(namespace["state"].particles).mean(0), 3.0, atol=0.1)
  # the amortized generator as an Algorithm: 100 Adam steps (lr 1e-2) move its offset towards 3
  assert namespace["gen_trace"].fit_loss.shape == (100,)
  assert np.all(np.asarray(namespace["gen_state"].params["c"]) > 0.5)
  assert np.isfinite(float(namespace["ksd2"]))
  assert namespace["phi_k"].shape == (500, 2) and np.all(np.isfinite(namespace["phi_k"]))
