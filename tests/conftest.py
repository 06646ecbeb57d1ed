"""pytest configuration shared by every file under tests/.

Deliberately (almost) empty. What belongs here: a fixture or hook that several test files genuinely use, such as
one that more than one file would otherwise define identically. What does not: helpers and oracles, which are
plain modules imported explicitly (``from tests import reference``: the brute-force NumPy references for the SVGD
direction, the KSD, the median bandwidth and the MMD; ``from tests import train_testutil``: the training-loop test
helpers); a fixture only one file uses (it stays in that file, like ``x64`` in test_stein.py); and markers, which
are registered in pyproject.toml (``[tool.pytest.ini_options] markers``, at present only ``slow``).
"""
