"""The scaling benchmark's table, CSV and figure writers (benchmarks/svgd_scaling.py) on made-up timings: no timing."""

import csv

from benchmarks import svgd_scaling


def _results():
  def form(seconds, cpu):
    return {"seconds": seconds, "min_seconds": seconds, "cpu_seconds": cpu, "calls": 3}

  rows = [
    {"d": 16, "n": 1000, "dense": form(2e-3, 4e-3), "two_sided": form(2e-3, 4e-3), "symmetric": form(1e-3, 2e-3)},
    {"d": 16, "n": 100_000, "two_sided": form(16.0, 30.0), "symmetric": form(8.0, 20.0)},  # no dense: too big
  ]
  memory = [
    {
      "form": "symmetric",
      "n": 100_000,
      "d": 16,
      "seconds": 8.0,
      "peak_rss_mib": 300.0,
      "rss_before_call_mib": 250.0,
      "xla_temp_mib": 34.0,
      "xla_temp_value_and_grad_mib": 60.0,
    },
    {"form": "two_sided", "error": "timed out after 1800 s"},
  ]
  machine = {"device": "cpu x1 (cpu)", "matmul_gflops": 100.0, "load_average_start": [1.0, 1.0, 1.0]}
  return {"machine": machine, "rows": rows, "memory": memory}


def test_markdown_table_has_one_row_per_size_with_ratios_and_rates():
  table = svgd_scaling.markdown_table(_results()).splitlines()
  assert len(table) == 2 + 2
  small, large = table[2], table[3]
  assert "| 16 | 1,000 | 2 ms | 2 ms | 1 ms | 2.00x; 2.00x |" in small
  # 6 n^2 d = 9.6e7 flops in 1 ms: 96 GFLOP/s, 96 % of the made-up 100 GFLOP/s matmul.
  assert "96 (96%)" in small
  assert "| 16 | 100,000 | - | 16 s | 8 s | 2.00x; 1.50x |" in large
  assert svgd_scaling.flops(1000, 16) == 6 * 1000**2 * 16


def test_memory_table_lists_errors_instead_of_failing():
  table = svgd_scaling.memory_table(_results())
  assert "300 MiB" in table and "60.0 MiB" in table and "timed out" in table


def test_csv_and_figure_are_written(tmp_path):
  results = _results()
  svgd_scaling.write_csv(results, tmp_path / "t.csv")
  with open(tmp_path / "t.csv") as f:
    rows = list(csv.DictReader(f))
  assert [(r["n"], r["form"]) for r in rows] == [
    ("1000", "dense"),
    ("1000", "two_sided"),
    ("1000", "symmetric"),
    ("100000", "two_sided"),
    ("100000", "symmetric"),
  ]
  assert abs(float(rows[2]["pct_matmul"]) - 96.0) < 1e-9
  svgd_scaling.plot(results, str(tmp_path / "fig.png"))
  assert (tmp_path / "fig.png").stat().st_size > 10_000
