"""Every benchmark can fail: it states its bars through `benchmarks/bars.py` and ends by `exit_if_missed()`, which
exits 1 naming the misses (the speed and accuracy targets are checked by these scripts, not by timed tests)."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.mark.parametrize("script", sorted(p.name for p in BENCHMARKS.glob("bench_*.py")))
def test_every_benchmark_checks_bars_and_exits_on_a_miss(script):
    tree = ast.parse((BENCHMARKS / script).read_text(encoding="utf-8"))
    called = {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    assert {"check", "exit_if_missed"} <= called, f"{script} states no bar or never exits on a missed one"


def test_a_missed_bar_exits_1_naming_it_and_a_met_one_exits_0():
    code = ("from bars import Bar, check, exit_if_missed\n"
            "check('slow', {value}, Bar('<=', 1.0))\n"
            "exit_if_missed()\n")
    missed = subprocess.run([sys.executable, "-c", code.format(value=2.0)], cwd=BENCHMARKS, capture_output=True,
                            text=True)
    assert missed.returncode == 1 and "bars: 1 of 1 checks MISSED: slow" in missed.stdout
    met = subprocess.run([sys.executable, "-c", code.format(value=0.5)], cwd=BENCHMARKS, capture_output=True, text=True)
    assert met.returncode == 0 and "bars: all 1 checks met" in met.stdout
