"""The bars the benchmarks state, checked in one place: measured against bar on one line per check, and a non-zero
exit once every check is printed, if any missed.

    from bars import Bar, check, exit_if_missed

    MAX_STEP_RATIO = Bar("<=", 1.3, ".3f")   # at the top of the benchmark: the bar, stated once, and why
    ...
    check("training step supernet / plain PyTorch", s / p, MAX_STEP_RATIO)
    # check: training step supernet / plain PyTorch 1.016 <= bar 1.300: ok
    ...
    exit_if_missed()   # last: "all 3 checks met", or the misses named and exit status 1

A benchmark is run as `python benchmarks/bench_x.py`, so this folder is on its path (and on its spawned workers').
"""
from __future__ import annotations

import math
import operator
import sys
from dataclasses import dataclass

OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt, "==": operator.eq}


@dataclass(frozen=True)
class Bar:
    """`measured <op> value` must hold; `spec` formats both sides (a format spec: ".3f", ".1%", ",.0f")."""

    op: str
    value: float
    spec: str = ".4g"

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise ValueError(f"Bar op: expected one of {', '.join(OPS)}; got {self.op!r}")

    def met(self, measured: float) -> bool:
        return not (isinstance(measured, float) and math.isnan(measured)) and bool(OPS[self.op](measured, self.value))

    def against(self, value: float) -> Bar:
        """The same comparison against another value (a bar stated relative to a peer measured in the run)."""
        return Bar(self.op, value, self.spec)


_checks: list[tuple[str, bool]] = []


def check(name: str, measured: float, bar: Bar, note: str = "") -> bool:
    """Print `check: NAME MEASURED OP bar BAR: ok|MISSED` (and the note) and remember the outcome."""
    ok = bar.met(measured)
    _checks.append((name, ok))
    suffix = f" ({note})" if note else ""
    outcome = "ok" if ok else "MISSED"
    print(f"check: {name} {measured:{bar.spec}} {bar.op} bar {bar.value:{bar.spec}}: {outcome}{suffix}", flush=True)
    return ok


def skip(name: str, why: str) -> None:
    """A check that could not be made in this run (a peer not installed): printed, not counted as a miss."""
    print(f"check: {name}: skipped ({why})", flush=True)


def goal(name: str, measured: float, target: Bar) -> None:
    """Where the project wants to be, beside where it is: printed, never a miss (the bar that fails the run is the
    floor checked with `check`; a goal that is not yet met is an open issue, not a regression)."""
    state = "met" if target.met(measured) else "not yet met"
    print(f"goal: {name} {measured:{target.spec}} {target.op} goal {target.value:{target.spec}}: {state}", flush=True)


def exit_if_missed() -> None:
    """After every check is printed: exit 1 naming the misses, or say that all were met."""
    missed = [name for name, ok in _checks if not ok]
    if missed:
        print(f"bars: {len(missed)} of {len(_checks)} checks MISSED: {'; '.join(missed)}", flush=True)
        sys.exit(1)
    print(f"bars: all {len(_checks)} checks met", flush=True)
