"""Mappers: engines that choose a mapping for one GEMM by costing candidates with the cost model (Timeloop's
mapper against its model; ZigZag's LOMA/SALSA engines against its cost model). Every engine has one interface,
`Mapper.best(model, problem) -> TilingCost | None` (the chosen `Mapping` with its cost, None when no tile fits),
so a simulator takes any of them. How we map is a choice of the run, not a property of the accelerator: the
simulator is given a mapper (`SystolicSimulator(hw, mapper=..., objective=...)`).

* `SearchMapper(objective)`: the best tiling for `objective` (cycles, ties going to fewer DRAM bytes; energy;
  or EDP, Timeloop's default) over the mapspace: every tiling (tile sizes in units of the array's rows and
  columns, each splitting its dimension into a distinct number of tiles) that fits the scratchpad and
  accumulator (halves of each when double-buffered), under every tile loop order that differs in cost. It
  costs a share of that mapspace and prunes the rest by lower bounds, so its choice is within
  `MAPPER_TOLERANCE` of the optimum (`benchmarks/bench_mapper.py` measures it against `mapspace`).
* `GemminiMapper(objective)`: the tiling Gemmini's software picks (`tiled_matmul_auto`: square-ish output tile
  first, then grow J, I, K in turn), loop order ijk with its loop nest's reuse; a fused GEMM that needs whole
  output rows (which that software cannot tile) is searched over that loop nest for `objective`.
"""
from __future__ import annotations

import functools
import math
from typing import Callable, Iterator, Protocol

from predictors.accelerator.cost import CostModel, TilingCost
from predictors.accelerator.mapping import LOOP_ORDERS, Problem, reuse

# What the search minimises per GEMM, by objective name; ties go to the second term.
OBJECTIVES: dict[str, Callable[[TilingCost], tuple[float, float]]] = {
    "cycles": lambda t: (t.cycles, t.dram_reads + t.dram_writes),
    "energy": lambda t: (t.energy.total, t.cycles),
    "edp": lambda t: (t.edp, t.cycles),
}
# The search's second pass tries every K tile for this many of the best (M tile, N tile) pairs.
REFINED_PAIRS = 2
# Its last pass skips a tiling unless a lower bound on its objective beats the best found by this margin, so the
# result is within this share of the mapspace's optimum.
MAPPER_TOLERANCE = 0.005


class Mapper(Protocol):
    """A mapping engine: `name` and `objective` say what it is (they key the simulator's memo)."""

    name: str
    objective: str

    def best(self, model: CostModel, p: Problem) -> TilingCost | None:
        """The chosen mapping of `p` on `model.hw`, costed; None when not even one tile fits."""
        ...


class SearchMapper:
    """The search mapper (see the module's docstring). `gemmini_loops`: search only Gemmini's loop nest (ijk,
    A reloaded per column tile), the fallback of `GemminiMapper`."""

    name = "search"

    def __init__(self, objective: str = "cycles", gemmini_loops: bool = False):
        if objective not in OBJECTIVES:
            raise ValueError(f"mapper objective {objective!r}: expected one of {', '.join(OBJECTIVES)}")
        self.objective = objective
        self.gemmini_loops = gemmini_loops

    def best(self, model: CostModel, p: Problem) -> TilingCost | None:
        return self.search(model, p)[0]

    def orders(self, model: CostModel, p: Problem, tm: int, tn: int, tk: int) -> list[TilingCost]:
        """One tiling under each loop order that differs in cost (orders with the same reuse cost the same)."""
        if self.gemmini_loops:  # its software has one loop order
            return [model.cost(p, tm, tn, tk, "ijk", keeps_a=False)]
        i0, j0, k0 = math.ceil(p.m / tm), math.ceil(p.n / tn), math.ceil(p.k / tk)
        orders = {}
        for order in LOOP_ORDERS:
            orders.setdefault(reuse(order, i0, j0, k0), order)
        return [model.cost(p, tm, tn, tk, order) for order in orders.values()]

    def mapspace(self, model: CostModel, p: Problem) -> Iterator[TilingCost]:
        """Every mapping the search chooses from: each tiling that fits, under each loop order that differs in
        cost. Exhaustive, for measuring the search (benchmarks/bench_mapper.py)."""
        for tm, tn in output_tiles(model, p):
            for tk in k_tiles(model, p, tm, tn):
                yield from self.orders(model, p, tm, tn, tk)

    def search(self, model: CostModel, p: Problem) -> tuple[TilingCost | None, int]:
        """The best mapping for `objective` and how many mappings were costed to find it.

        First pass: every output tile that fits, with the deepest K tile that then fits (fewest partial-sum
        round trips and fill/drains), under each loop order that differs in cost. Second pass: every K tile for
        the best few output tiles, since a shallower K tile can pay off (it skips more masked tiles under a
        causal mask, or exposes a smaller first load). Last, branch and bound: every other tiling whose lower bound
        (`bound`) beats the best so far by `MAPPER_TOLERANCE` is costed, so the result is within that share
        of the optimum of the whole mapspace.
        """
        objective = OBJECTIVES[self.objective]
        m, n, k, causal_axis = p.m, p.n, p.k, p.causal_axis
        # pruned by compute cycles only where the deepest K tile bounds them (a causal mask along K favours shallow ones)
        by_cycles = self.objective == "cycles" and causal_axis != "k"
        firsts: list[TilingCost] = []
        evaluated = 0
        costed = set()
        fastest = math.inf
        for tm, tn in output_tiles(model, p):
            tks = k_tiles(model, p, tm, tn)
            if tks:
                if by_cycles and model.compute_cycles(p, tm, tn, tks[0]) >= fastest:
                    continue  # no loop order makes it faster than its compute
                costs = self.orders(model, p, tm, tn, tks[0])
                costed.add((tm, tn, tks[0]))
                fastest = min(fastest, min(c.cycles for c in costs))
                evaluated += len(costs)
                firsts.append(min(costs, key=objective))
        if not firsts:
            return None, evaluated
        firsts.sort(key=objective)
        best = firsts[0]
        for first in firsts[:REFINED_PAIRS]:
            tm, tn = first.mapping.tile_m, first.mapping.tile_n
            for tk in k_tiles(model, p, tm, tn)[1:]:
                costed.add((tm, tn, tk))
                costs = self.orders(model, p, tm, tn, tk)
                evaluated += len(costs)
                best = min([best] + costs, key=objective)
        primary = {"cycles": lambda c, e: c, "energy": lambda c, e: e, "edp": lambda c, e: c * e}[self.objective]
        hw = model.hw
        useful = model.useful_macs(m, n, k, causal_axis)
        floor_cycles = useful / hw.peak_macs_per_cycle
        moved_once = (m * k * (p.on_chip != "a") + m * n * (p.on_chip != "c")) * model.in_bytes + k * n * model.b_bytes(p)
        floor_pj = useful * model.mac_pj + moved_once * model.dram_pj_per_byte / 2
        for tm, tn in output_tiles(model, p):
            for tk in k_tiles(model, p, tm, tn):
                if (tm, tn, tk) in costed:
                    continue
                # a coarse bound first (no tile walk): ideal compute plus the first load, MACs plus half the
                # compulsory DRAM energy (a causal mask saves at most half of it)
                cycles = floor_cycles + model.first_load(p, tm, tn, tk)
                if primary(cycles, floor_pj + model.static_pj(cycles)) * (1 + MAPPER_TOLERANCE) >= objective(best)[0]:
                    continue
                if primary(*self.bound(model, p, tm, tn, tk)) * (1 + MAPPER_TOLERANCE) < objective(best)[0]:
                    costs = self.orders(model, p, tm, tn, tk)
                    evaluated += len(costs)
                    best = min([best] + costs, key=objective)
        return best, evaluated

    def bound(self, model: CostModel, p: Problem, tm: int, tn: int, tk: int) -> tuple[float, float]:
        """Lower bounds on a tiling's cycles and energy under any loop order: its compute and its transfers with
        each operand moved once (overlapped when double-buffered, after the exposed first load), and the
        energy of those cycles with the DRAM bytes of its most frugal loop order (0 when cycles are the
        objective)."""
        m, n, k, axis = p.m, p.n, p.k, p.causal_axis
        classes, first_load, live = model.tile_classes(p, tm, tn, tk)
        i0, j0, k0 = math.ceil(m / tm), math.ceil(n / tn), math.ceil(k / tk)
        in_b = model.in_bytes
        a_on, c_on = (0.0 if p.on_chip == "a" else 1.0), (0.0 if p.on_chip == "c" else 1.0)
        a_share = (1.0 if axis == "k" else 1 / live) / j0 * a_on
        b_share, c_share = 1 / live / i0, in_b * (1.0 if axis == "n" else 1 / live) / k0 * c_on
        compute = sum(c[0] * c[1] for c in classes)
        transfer = sum(c[0] * (c[2] * a_share + c[3] * b_share + c[4] * c_share) for c in classes)
        cycles = max(compute, transfer) + first_load if model.hw.double_buffered else compute + transfer
        if self.objective == "cycles":
            return cycles, 0.0
        reuses = {reuse(order, i0, j0, k0) for order in LOOP_ORDERS}
        reads, writes = min((model.dram_bytes(p, loads, live) for loads in reuses), key=sum)
        energy = model.gemm_energy(p, k0, i0, reads, writes, cycles, live)
        return cycles, energy.total


class GemminiMapper:
    """The tiling Gemmini's software picks (see the module's docstring)."""

    name = "gemmini"

    def __init__(self, objective: str = "cycles"):
        self.fallback = SearchMapper(objective, gemmini_loops=True)
        self.objective = objective

    def best(self, model: CostModel, p: Problem) -> TilingCost | None:
        if not p.full_rows:  # its software has no tiling of whole rows
            tiling = gemmini_tiling(model, p.m, p.n, p.k, model.b_bytes(p))
            if tiling is not None:
                return model.cost(p, *tiling, "ijk", keeps_a=False)
        return self.fallback.best(model, p)


MAPPERS: dict[str, type] = {"search": SearchMapper, "gemmini": GemminiMapper}
# The engine a simulator and a run config use when none is named: Gemmini's own software, with which every
# Gemmini preset (and every design extending one) was simulated before the mapper left the hardware.
DEFAULT_MAPPER = "gemmini"


def make_mapper(name: str = DEFAULT_MAPPER, objective: str = "cycles") -> Mapper:
    """The mapping engine `name` (a key of `MAPPERS`) minimising `objective` (a key of `OBJECTIVES`)."""
    if name not in MAPPERS:
        raise ValueError(f"mapper {name!r}: expected one of {', '.join(MAPPERS)}")
    if objective not in OBJECTIVES:
        raise ValueError(f"mapper objective {objective!r}: expected one of {', '.join(OBJECTIVES)}")
    return MAPPERS[name](objective)


def gemmini_tiling(model: CostModel, m: int, n: int, k: int, b_bytes: float) -> tuple[int, int, int] | None:
    """Gemmini's `tiled_matmul_auto` (docs/sources.md section 2), in blocks of the array: start from the
    squarest output tile the accumulator holds and the deepest K the scratchpad then allows, then grow
    J, I and K by one block in turn while everything still fits. None when not even one block fits."""
    hw = model.hw
    r, c = hw.rows, hw.cols
    bounds = (math.ceil(m / r), math.ceil(n / c), math.ceil(k / r))
    acc_blocks = model.acc_usable / (r * c * hw.acc_bytes)
    side = max(1, math.isqrt(int(acc_blocks)))
    ti, tj = min(side, bounds[0]), min(side, bounds[1])
    sp_rows = model.sp_usable / (r * model.in_bytes)
    tk = max(1, min(bounds[2], int(sp_rows / r) // max(ti, 1)))
    tiles = [ti, tj, tk]
    size = lambda t: (min(t[0] * r, m), min(t[1] * c, n), min(t[2] * r, k))  # noqa: E731
    while not model.fits(*size(tiles), b_bytes):  # the starting point may overfill the scratchpad: shrink K, then I/J
        if tiles[2] > 1:
            tiles[2] -= 1
        elif max(tiles[0], tiles[1]) > 1:
            tiles[0 if tiles[0] >= tiles[1] else 1] -= 1
        else:
            return None
    grown = True
    while grown:
        grown = False
        for axis in (1, 0, 2):
            trial = list(tiles)
            trial[axis] += 1
            if trial[axis] <= bounds[axis] and model.fits(*size(trial), b_bytes):
                tiles, grown = trial, True
    return size(tiles)


def output_tiles(model: CostModel, p: Problem) -> Iterator[tuple[int, int]]:
    """(M tile, N tile) pairs whose partial sums fit the accumulator (N whole when `full_rows`)."""
    hw = model.hw
    for tm in tile_candidates(p.m, hw.rows)[::-1]:  # largest first: the likeliest to be fast
        for tn in (p.n,) if p.full_rows else tile_candidates(p.n, hw.cols)[::-1]:
            if tm * tn * hw.acc_bytes <= model.acc_usable:
                yield tm, tn


def k_tiles(model: CostModel, p: Problem, tm: int, tn: int) -> list[int]:
    """K tiles, deepest first, with which an A and a B tile fit the scratchpad."""
    in_b, b_bytes = model.in_bytes, model.b_bytes(p)
    return [tk for tk in tile_candidates(p.k, model.hw.rows)[::-1]
            if tm * tk * in_b + tk * tn * b_bytes <= model.sp_usable]


@functools.lru_cache(maxsize=65_536)
def tile_candidates(size: int, unit: int) -> tuple[int, ...]:
    """Tile sizes (multiples of `unit`, the last one clipped to `size`) that split `size` into q even parts."""
    blocks = math.ceil(size / unit)
    counts = set()
    q = 1
    while q <= blocks:  # ceil(blocks / q) takes O(sqrt(blocks)) distinct values: visit each once
        count = -(-blocks // q)
        counts.add(count)
        q = blocks // (count - 1) + (blocks % (count - 1) > 0) if count > 1 else blocks + 1
        # the smallest q' with ceil(blocks / q') < count is ceil(blocks / (count - 1))
    return tuple(min(b * unit, size) for b in sorted(counts))
