"""What a mapping is (Timeloop's "mapping"): one GEMM to lay onto the array (`Problem`), and how it is laid
(`Mapping`: tile sizes, the tile loop order, which operand reuse the loop nest keeps), with the reuse that a
loop order implies (`reuse`). No costs here (`cost.py`) and no choosing (`mapper.py`).
"""
from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass
from typing import NamedTuple

# Tile loop orders, outermost loop first: i over row tiles of A and C, j over column tiles of B and C, k over the
# reduction. "ijk" is Gemmini's (K innermost: each C tile accumulates in the accumulator and is written once).
LOOP_ORDERS = tuple("".join(p) for p in itertools.permutations("ijk"))


class Problem(NamedTuple):
    """One GEMM to map: (m x k) @ (k x n), m = output rows, n = output columns, k = reduction. `causal_axis`
    ("n" or "k"): the axis of the keys under a causal mask (see `workload.Gemm`). `on_chip` ("a" or "c"): an
    operand that a fused chain keeps on chip, never read from or written to DRAM. `full_rows`: output tiles
    must span whole rows (a fused LayerNorm reads complete rows). See `predictors.accelerator.fusion`. `b_bits`: the width
    of B in memory (weight-only quantisation, a narrower KV cache); None: the accelerator's input width."""

    m: int
    n: int
    k: int
    causal_axis: str | None = None
    on_chip: str | None = None
    full_rows: bool = False
    b_bits: int | None = None


@dataclass(frozen=True)
class Mapping:
    """The chosen tiling: tile sizes in elements, the tile loop order, and how many tiles that makes.
    `keeps_a`: False for Gemmini's software loop nest (`tiled_matmul_auto`), which reloads A for every column
    tile even when K is one tile; True: every reuse the loop order allows is kept (`reuse`)."""

    dataflow: str
    tile_m: int
    tile_n: int
    tile_k: int
    loop_order: str
    tiles: int
    keeps_a: bool = True


@functools.lru_cache(maxsize=65_536)
def reuse(order: str, i0: int, j0: int, k0: int) -> tuple[int, int, int]:
    """How often each element of A and of B is loaded, and each C tile visited, under a tile loop `order`
    (outermost first) with i0 x j0 x k0 tiles.

    An operand's tile changes whenever one of its own loops steps, so it is reloaded once per iteration of
    every loop out to the innermost of its own that takes more than one step; loops inside that one reuse
    it. An operand of at most two tiles stays in the two double-buffered halves and is loaded once
    (docs/sources.md section 2). A C tile visited more than once spills its partial sums to DRAM in between.
    """
    trips = {"i": i0, "j": j0, "k": k0}
    stepping = [d for d in order if trips[d] > 1]

    def times(dims: str) -> int:
        own = trips[dims[0]] * trips[dims[1]]
        inner = max((stepping.index(d) for d in dims if d in stepping), default=-1)
        if own <= 2 or inner < 0:
            return 1
        return math.prod(trips[d] for d in stepping[:inner + 1]) // own

    return times("ik"), times("kj"), times("ij")
