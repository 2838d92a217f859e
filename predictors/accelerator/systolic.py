"""How the problem is laid onto the accelerator and what it costs (Timeloop's "mapping", plus the cost model).

`SystolicSimulator(hw).gemm(m, n, k)` maps one GEMM. The mapspace is every tiling (tile sizes in units of the
array's rows and columns, each splitting its dimension into a distinct number of tiles) that fits the
scratchpad and accumulator (halves of each when double-buffered), with every tile loop order that differs in
cost; the search mapper keeps the best for `mapper_objective` (cycles, energy or EDP) without visiting all of
it (see `search_mapping`; `benchmarks/bench_mapper.py` measures it against `mapspace`). Each tile is timed
fold by fold:

* weight-stationary (WS): a fold preloads one rows x cols block of B and streams the tile's rows of A through
  it: `2*rows + cols + t - 2` cycles for `t` streamed rows when folds run back to back (SCALE-Sim v3's count);
  with `fold_overlap` the next block's weights shift in while the current one streams (Gemmini's double
  weight registers), so a fold costs `max(t, rows)` and the fill/drain is paid once per tile.
* output-stationary (OS): a fold keeps one rows x cols block of C in the PEs and streams `t` elements of the
  reduction: `rows + cols + t - 2` cycles back to back; with `fold_overlap` the finished outputs drain while
  the next block streams, so a fold costs `max(t, rows)` plus one fill/drain per tile.

DRAM traffic follows the tile loop order (see `_reuse`), so it never falls below the compulsory A + B + C and
equals it when the operands fit on chip. Transfers
overlap compute tile by tile at `dram_bytes_per_cycle` when double-buffered (the first load and the last
store stay exposed) and add to it when not. Vector ops cost what their placement says (see `hardware.py`).
`simulate` sums a whole model; results are memoised per op shape and per layer, so warm calls are cheap.
"""
from __future__ import annotations

import functools
import itertools
import math
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterable, Iterator, NamedTuple

from predictors.accelerator.area import estimate_area
from predictors.accelerator.attribution import CycleSplit, EnergyParts, Limit, memory_limit
from predictors.accelerator.fusion import FusedGemm, HiddenVector
from predictors.accelerator.fusion import plan as fusion_plan
from predictors.accelerator.hardware import AcceleratorConfig
from predictors.accelerator.vector_ops import VectorKind
from predictors.accelerator.workload import Gemm, Op, Phase, VectorWork, Workload, lower_head_phases, lower_layer_phases
from supernet.space import ArchConfig

# Tile loop orders, outermost loop first: i over row tiles of A and C, j over column tiles of B and C, k over the
# reduction. "ijk" is Gemmini's (K innermost: each C tile accumulates in the accumulator and is written once).
LOOP_ORDERS = tuple("".join(p) for p in itertools.permutations("ijk"))
# The search mapper's second pass tries every K tile for this many of the best (M tile, N tile) pairs.
REFINED_PAIRS = 2
# Its last pass skips a tiling unless a lower bound on its objective beats the best found by this margin, so the
# result is within this share of the mapspace's optimum.
MAPPER_TOLERANCE = 0.005


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
    """The chosen tiling: tile sizes in elements, the tile loop order, and how many tiles that makes."""

    dataflow: str
    tile_m: int
    tile_n: int
    tile_k: int
    loop_order: str
    tiles: int


@dataclass(frozen=True)
class TilingCost:
    """What one candidate tiling of a GEMM costs; the mapper keeps the cheapest."""

    cycles: float
    compute_cycles: float
    transfer_cycles: float  # DMA cycles of all tiles at the sustained rate, whether hidden under compute or not
    bus_transfer_cycles: float  # the same bytes at the bus width alone
    dram_reads: float
    dram_writes: float
    compulsory_bytes: float  # A + B + C once (their unmasked tiles under a causal mask)
    energy: EnergyParts
    mapping: Mapping
    b_reads: float  # the part of dram_reads that fetched B

    @property
    def edp(self) -> float:
        return self.energy.total * self.cycles


# What the search mapper minimises, per `AcceleratorConfig.mapper_objective`; ties go to the second term.
OBJECTIVES: dict[str, Callable[[TilingCost], tuple[float, float]]] = {
    "cycles": lambda t: (t.cycles, t.dram_reads + t.dram_writes),
    "energy": lambda t: (t.energy.total, t.cycles),
    "edp": lambda t: (t.edp, t.cycles),
}


@dataclass(frozen=True)
class GemmReport:
    """One GEMM shape run `count` times; cycles, bytes and energy are totals over the `count` runs. `limit`
    names what bounds it (see `predictors.accelerator.attribution`)."""

    m: int
    n: int
    k: int
    count: int
    cycles: float
    compute_cycles: float
    dram_read_bytes: float
    dram_write_bytes: float
    energy: EnergyParts
    utilization: float
    mapping: Mapping
    limit: Limit
    macs_per_run: int  # the useful ones: under a causal mask, those of the unmasked products only
    b_read_bytes: float  # the part of the reads that fetched B (weights, or the KV cache while decoding)

    @property
    def energy_pj(self) -> float:
        return self.energy.total

    @property
    def stall_cycles(self) -> float:
        return self.cycles - self.compute_cycles

    @property
    def macs(self) -> int:
        return self.macs_per_run * self.count

    @property
    def dram_bytes(self) -> float:
        return self.dram_read_bytes + self.dram_write_bytes

    def times(self, count: int) -> "GemmReport":
        scale = count / self.count
        return GemmReport(self.m, self.n, self.k, count, self.cycles * scale, self.compute_cycles * scale,
                          self.dram_read_bytes * scale, self.dram_write_bytes * scale, self.energy.scaled(scale),
                          self.utilization, self.mapping, self.limit, self.macs_per_run, self.b_read_bytes * scale)


@dataclass(frozen=True)
class OpCost:
    """The simulated cost of one op of the lowered model; `weight_bytes` and `kv_cache_bytes` are the parts of
    `dram_bytes` that read weights and the KV cache."""

    name: str
    group: str  # matmul, or the vector kind
    cycles: float
    compute_cycles: float  # the unit doing the work is busy; the rest of `cycles` it waits for data
    energy: EnergyParts
    dram_bytes: float
    limit: Limit
    macs: int = 0
    elements: int = 0  # of a vector op
    gemm: GemmReport | None = None  # the GEMM's shape, mapping and traffic; None for vector ops
    weight_bytes: float = 0.0
    kv_cache_bytes: float = 0.0

    @property
    def energy_pj(self) -> float:
        return self.energy.total

    @property
    def stall_cycles(self) -> float:
        return self.cycles - self.compute_cycles


BREAKDOWN_GROUPS = ("matmul",) + tuple(kind.value for kind in VectorKind)


@dataclass(frozen=True)
class BlockCost:
    """The summed cost of a list of ops (one transformer block, or the head), with its per-op detail."""

    ops: tuple[OpCost, ...]
    cycles: float
    energy_pj: float
    macs: int
    dram_bytes: float
    breakdown: dict[str, float]
    phase_cycles: dict[Phase, float]  # the prompt (prefill) and the decode steps
    weight_bytes: float
    kv_cache_bytes: float

    @classmethod
    def of(cls, phases: Iterable[tuple[Phase, Iterable[OpCost]]]) -> "BlockCost":
        ops: list[OpCost] = []
        phase_cycles = {}
        for phase, costs in phases:
            costs = list(costs)
            phase_cycles[phase] = sum(c.cycles for c in costs)
            ops += costs
        breakdown = dict.fromkeys(BREAKDOWN_GROUPS, 0.0)
        for c in ops:
            breakdown[c.group] += c.cycles
        return cls(tuple(ops), sum(breakdown.values()), sum(c.energy_pj for c in ops), sum(c.macs for c in ops),
                   sum(c.dram_bytes for c in ops), breakdown, phase_cycles, sum(c.weight_bytes for c in ops),
                   sum(c.kv_cache_bytes for c in ops))


@dataclass(frozen=True)
class GemmSummary:
    """Every run of one GEMM of a model (one name and shape): where it runs and its totals over all runs."""

    name: str
    layers: tuple[int | None, ...]
    report: GemmReport

    def to_dict(self) -> dict:
        g = self.report
        return {"name": self.name, "layers": list(self.layers), "m": g.m, "n": g.n, "k": g.k, "count": g.count,
                "cycles": g.cycles, "compute_cycles": g.compute_cycles, "stall_cycles": g.stall_cycles,
                "limit": g.limit.value, "utilization": g.utilization, "dram_read_bytes": g.dram_read_bytes,
                "dram_write_bytes": g.dram_write_bytes, "dram_bytes_per_cycle": g.dram_bytes / g.cycles,
                "energy_pj": g.energy.to_dict(), "mapping": asdict(g.mapping)}


@dataclass
class SimReport:
    """A whole model on one accelerator under one workload: `blocks[i]` is layer i, then `head`."""

    blocks: list[BlockCost]
    head: BlockCost
    clock_mhz: float
    peak_macs_per_cycle: int
    output_tokens: int = 0  # decode steps per sequence: 1 for phase decode, new_tokens for generate
    cycles: float = field(init=False)
    energy_pj: float = field(init=False)
    macs: int = field(init=False)
    breakdown: dict[str, float] = field(init=False)

    def __post_init__(self) -> None:
        parts = self.blocks + [self.head]
        self.cycles = sum(p.cycles for p in parts)
        self.energy_pj = sum(p.energy_pj for p in parts)
        self.macs = sum(p.macs for p in parts)
        # every breakdown lists BREAKDOWN_GROUPS in order, so the groups' sums are the columns' sums
        self.breakdown = dict(zip(BREAKDOWN_GROUPS, map(sum, zip(*(p.breakdown.values() for p in parts)))))

    @property
    def per_layer(self) -> list[float]:
        return [b.cycles for b in self.blocks]

    @property
    def ops(self) -> list[tuple[int | None, OpCost]]:
        """(layer, cost) for every op; layer None for the head."""
        return [(i, op) for i, b in enumerate(self.blocks) for op in b.ops] + [(None, op) for op in self.head.ops]

    @property
    def seconds(self) -> float:
        return self.cycles / (self.clock_mhz * 1e6)

    @property
    def latency_ms(self) -> float:
        return self.seconds * 1e3

    @property
    def energy_mj(self) -> float:
        return self.energy_pj * 1e-9

    @property
    def edp(self) -> float:
        """Energy-delay product in mJ x ms."""
        return self.energy_mj * self.latency_ms

    @property
    def power_mw(self) -> float:
        """Average power over the workload: energy over latency (mJ / ms = W)."""
        return self.energy_mj / self.latency_ms * 1e3

    @property
    def utilization(self) -> float:
        """Useful MACs over what the array could have done in the whole run (the survey's end-to-end figure)."""
        return self.macs / (self.peak_macs_per_cycle * self.cycles) if self.cycles else 0.0

    @property
    def matmul_utilization(self) -> float:
        """Useful MACs over what the array could have done during the GEMMs alone."""
        matmul = self.breakdown["matmul"]
        return self.macs / (self.peak_macs_per_cycle * matmul) if matmul else 0.0

    @property
    def dram_bytes(self) -> float:
        return sum(b.dram_bytes for b in self.blocks) + self.head.dram_bytes

    @property
    def dram_weight_bytes(self) -> float:
        """DRAM bytes that fetched weights (each weight once per step when decoding, as often as the mapping
        re-reads it otherwise)."""
        return sum(b.weight_bytes for b in self.blocks) + self.head.weight_bytes

    @property
    def dram_kv_cache_bytes(self) -> float:
        """DRAM bytes that read keys and values from the KV cache (decode steps)."""
        return sum(b.kv_cache_bytes for b in self.blocks) + self.head.kv_cache_bytes

    def phase_ms(self, phase: Phase) -> float:
        """Milliseconds spent in one phase: the prompt with its first logits, or all decode steps."""
        cycles = sum(p.phase_cycles.get(phase, 0.0) for p in self.blocks + [self.head])
        return cycles / (self.clock_mhz * 1e3)

    @property
    def time_to_first_token_ms(self) -> float:
        """The prompt's prefill and the head on its last position; with no prompt, the first decode step is
        where the first token comes from and this is 0."""
        return self.phase_ms("prefill")

    @property
    def ms_per_output_token(self) -> float:
        """Decode time over the tokens decoded (0 for a prefill)."""
        return self.phase_ms("decode") / self.output_tokens if self.output_tokens else 0.0

    def shares(self) -> dict[str, float]:
        return {group: cycles / self.cycles for group, cycles in self.breakdown.items()} if self.cycles else {}

    # ---- attribution: computed on demand, so that a warm simulation stays cheap ----------------------------
    @property
    def effective_dram_bytes_per_cycle(self) -> float:
        """DRAM bytes over the whole run's cycles: the bandwidth the workload actually drew."""
        return self.dram_bytes / self.cycles if self.cycles else 0.0

    def cycle_split(self) -> dict[str, CycleSplit]:
        """Compute and stall cycles per op group."""
        split = dict.fromkeys(BREAKDOWN_GROUPS, CycleSplit())
        for _, op in self.ops:
            split[op.group] += CycleSplit(op.compute_cycles, op.stall_cycles)
        return split

    def layer_split(self) -> list[CycleSplit]:
        """Compute and stall cycles per layer (`blocks`, then the head last)."""
        return [sum((CycleSplit(op.compute_cycles, op.stall_cycles) for op in part.ops), CycleSplit())
                for part in self.blocks + [self.head]]

    def limits(self) -> dict[Limit, float]:
        """Cycles per binding limit, over every op."""
        cycles: dict[Limit, float] = {}
        for _, op in self.ops:
            cycles[op.limit] = cycles.get(op.limit, 0.0) + op.cycles
        return dict(sorted(cycles.items(), key=lambda item: -item[1]))

    def energy_parts(self) -> EnergyParts:
        """Energy in pJ by component (MAC, scratchpad, accumulator, DRAM, host, static, vector units)."""
        return sum((op.energy for _, op in self.ops), EnergyParts())

    def gemms(self) -> list[GemmSummary]:
        """Each distinct GEMM (name and shape), in model order, with its mapping, limit and totals."""
        runs: dict[tuple, tuple[list, GemmReport, int]] = {}
        for layer, op in self.ops:
            g = op.gemm
            if g is None:
                continue
            key = (op.name, g.m, g.n, g.k)
            layers, first, count = runs.get(key, ([], g, 0))
            if layer not in layers:
                layers.append(layer)
            runs[key] = (layers, first, count + g.count)
        return [GemmSummary(key[0], tuple(layers), first.times(count)) for key, (layers, first, count) in runs.items()]

    def to_dict(self) -> dict:
        return {
            "cycles": self.cycles,
            "latency_ms": self.latency_ms,
            "energy_mj": self.energy_mj,
            "edp_mj_ms": self.edp,
            "utilization": self.utilization,
            "matmul_utilization": self.matmul_utilization,
            "macs": self.macs,
            "dram_bytes": self.dram_bytes,
            "dram_weight_bytes": self.dram_weight_bytes,
            "dram_kv_cache_bytes": self.dram_kv_cache_bytes,
            "breakdown_cycles": self.breakdown,
            "breakdown_share": self.shares(),
            "per_layer_cycles": self.per_layer,
            "prefill_ms": self.phase_ms("prefill"),
            "decode_ms": self.phase_ms("decode"),
            "time_to_first_token_ms": self.time_to_first_token_ms,
            "ms_per_output_token": self.ms_per_output_token,
            "compute_stall_by_group": {g: split.to_dict() for g, split in self.cycle_split().items()},
            "compute_stall_by_layer": [split.to_dict() for split in self.layer_split()],
            "cycles_by_limit": {limit.value: cycles for limit, cycles in self.limits().items()},
            "effective_dram_bytes_per_cycle": self.effective_dram_bytes_per_cycle,
            "energy_pj_by_component": self.energy_parts().to_dict(),
            "gemms": [g.to_dict() for g in self.gemms()],
        }


class SystolicSimulator:
    """Cycles and energy of GEMMs and whole transformers on one `AcceleratorConfig`.

    Results are memoised on the instance, keyed by op shape (GEMMs) and by layer shape (whole blocks): the
    hardware is fixed per instance, so the cache key is in effect (shape, hardware fingerprint).
    """

    def __init__(self, hw: AcceleratorConfig):
        self.hw = hw
        self._gemms: dict[Problem, GemmReport] = {}
        self._layers: dict[tuple, dict[tuple[int, int], BlockCost]] = {}
        self._tilings: dict[tuple, tuple] = {}
        self._dma_rate = functools.lru_cache(maxsize=None)(hw.dma_bytes_per_cycle)
        self._sp_usable = hw.scratchpad_kib * 1024 / (2 if hw.double_buffered else 1)
        self._acc_usable = hw.accumulator_kib * 1024 / (2 if hw.double_buffered else 1)
        self._acc_elements, self._sp_elements = self._acc_usable / hw.acc_bytes, self._sp_usable / hw.input_bytes
        # what this design's events cost: SRAM energy at its capacities, leakage of its area (or the override)
        e = hw.energy
        self.scratchpad_pj_per_byte = e.sram_pj_per_byte(e.scratchpad_pj_per_byte, hw.scratchpad_kib)
        self.accumulator_pj_per_byte = e.sram_pj_per_byte(e.accumulator_pj_per_byte, hw.accumulator_kib)
        self.static_mw = estimate_area(hw).static_mw if e.static_mw is None else e.static_mw

    @functools.cached_property
    def fingerprint(self) -> str:
        """The hardware's fingerprint, computed when asked (hashing the settings costs as much as mapping a GEMM)."""
        return self.hw.fingerprint()

    # ---- single GEMMs -------------------------------------------------------------------------------------
    def gemm(self, m: int, n: int, k: int, count: int = 1, causal_axis: str | None = None,
             on_chip: str | None = None, full_rows: bool = False, b_bits: int | None = None) -> GemmReport:
        """(m x k) @ (k x n), `count` times; the other arguments as in `Problem`."""
        if min(m, n, k, count) < 1:
            raise ValueError(f"GEMM dimensions must be positive, got m={m} n={n} k={k} count={count}")
        key = Problem(m, n, k, causal_axis, on_chip, full_rows, b_bits)
        report = self._gemms.get(key)
        if report is None:
            report = self._map_gemm(key)
            self._gemms[key] = report
        return report if count == 1 else report.times(count)

    def _map_gemm(self, p: Problem) -> GemmReport:
        hw = self.hw
        m, n, k = p.m, p.n, p.k
        best: TilingCost | None = None
        if hw.mapper == "gemmini" and not p.full_rows:  # its software has no tiling of whole rows
            tiling = self._gemmini_tiling(m, n, k, self._b_bytes(p))
            if tiling is not None:
                best = self._time_tiling(p, *tiling, "ijk")
        if best is None:
            best, _ = self._search(p)
        if best is None:
            raise ValueError(
                f"hardware {hw.name!r}: one {hw.rows}x{hw.cols} tile does not fit the scratchpad "
                f"({hw.scratchpad_kib} KiB) and accumulator ({hw.accumulator_kib} KiB)")
        macs = self._useful_macs(m, n, k, p.causal_axis)
        util = macs / (hw.peak_macs_per_cycle * best.cycles)
        traffic = best.dram_reads + best.dram_writes
        limit = memory_limit(best.compute_cycles, best.transfer_cycles, best.bus_transfer_cycles, traffic,
                             best.compulsory_bytes)
        return GemmReport(m, n, k, 1, best.cycles, best.compute_cycles, best.dram_reads, best.dram_writes,
                          best.energy, util, best.mapping, limit, macs, best.b_reads)

    def _b_bytes(self, p: Problem) -> float:
        """Bytes per element of B in memory: its own width, or the accelerator's input width."""
        return self.hw.input_bytes if p.b_bits is None else p.b_bits / 8

    def _fits(self, tm: int, tn: int, tk: int, b_bytes: float) -> bool:
        return (tm * tn <= self._acc_elements
                and tm * tk * self.hw.input_bytes + tk * tn * b_bytes <= self._sp_usable)

    def _gemmini_tiling(self, m: int, n: int, k: int, b_bytes: float) -> tuple[int, int, int] | None:
        """Gemmini's `tiled_matmul_auto` (docs/sources.md section 2), in blocks of the array: start from the
        squarest output tile the accumulator holds and the deepest K the scratchpad then allows, then grow
        J, I and K by one block in turn while everything still fits. None when not even one block fits."""
        r, c = self.hw.rows, self.hw.cols
        bounds = (math.ceil(m / r), math.ceil(n / c), math.ceil(k / r))
        acc_blocks = self._acc_usable / (r * c * self.hw.acc_bytes)
        side = max(1, math.isqrt(int(acc_blocks)))
        ti, tj = min(side, bounds[0]), min(side, bounds[1])
        sp_rows = self._sp_usable / (r * self.hw.input_bytes)
        tk = max(1, min(bounds[2], int(sp_rows / r) // max(ti, 1)))
        tiles = [ti, tj, tk]
        size = lambda t: (min(t[0] * r, m), min(t[1] * c, n), min(t[2] * r, k))  # noqa: E731
        while not self._fits(*size(tiles), b_bytes):  # the starting point may overfill the scratchpad: shrink K, then I/J
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
                if trial[axis] <= bounds[axis] and self._fits(*size(trial), b_bytes):
                    tiles, grown = trial, True
        return size(tiles)

    def _output_tiles(self, p: Problem) -> Iterator[tuple[int, int]]:
        """(M tile, N tile) pairs whose partial sums fit the accumulator (N whole when `full_rows`)."""
        for tm in _tile_candidates(p.m, self.hw.rows)[::-1]:  # largest first: the likeliest to be fast
            for tn in (p.n,) if p.full_rows else _tile_candidates(p.n, self.hw.cols)[::-1]:
                if tm * tn * self.hw.acc_bytes <= self._acc_usable:
                    yield tm, tn

    def _k_tiles(self, p: Problem, tm: int, tn: int) -> list[int]:
        """K tiles, deepest first, with which an A and a B tile fit the scratchpad."""
        in_b, b_bytes = self.hw.input_bytes, self._b_bytes(p)
        return [tk for tk in _tile_candidates(p.k, self.hw.rows)[::-1]
                if tm * tk * in_b + tk * tn * b_bytes <= self._sp_usable]

    def _orders(self, p: Problem, tm: int, tn: int, tk: int) -> list[TilingCost]:
        """One tiling under each loop order that differs in cost (orders with the same reuse cost the same)."""
        if self.hw.mapper == "gemmini":  # its software has one loop order (a fused GEMM's tiles are searched)
            return [self._time_tiling(p, tm, tn, tk, "ijk")]
        i0, j0, k0 = math.ceil(p.m / tm), math.ceil(p.n / tn), math.ceil(p.k / tk)
        orders = {}
        for order in LOOP_ORDERS:
            orders.setdefault(_reuse(order, i0, j0, k0), order)
        return [self._time_tiling(p, tm, tn, tk, order) for order in orders.values()]

    def mapspace(self, m: int, n: int, k: int, causal_axis: str | None = None, on_chip: str | None = None,
                 full_rows: bool = False) -> Iterator[TilingCost]:
        """Every mapping the search mapper chooses from: each tiling that fits, under each loop order that
        differs in cost. Exhaustive, for measuring the search (benchmarks/bench_mapper.py)."""
        p = Problem(m, n, k, causal_axis, on_chip, full_rows)
        for tm, tn in self._output_tiles(p):
            for tk in self._k_tiles(p, tm, tn):
                yield from self._orders(p, tm, tn, tk)

    def search_mapping(self, m: int, n: int, k: int, causal_axis: str | None = None, on_chip: str | None = None,
                       full_rows: bool = False) -> tuple[TilingCost | None, int]:
        """The search mapper's choice for `mapper_objective` and how many mappings it costed (see `_search`)."""
        return self._search(Problem(m, n, k, causal_axis, on_chip, full_rows))

    def _search(self, p: Problem) -> tuple[TilingCost | None, int]:
        """The best mapping for `mapper_objective` and how many mappings were costed to find it.

        First pass: every output tile that fits, with the deepest K tile that then fits (fewest partial-sum
        round trips and fill/drains), under each loop order that differs in cost. Second pass: every K tile for
        the best few output tiles, since a shallower K tile can pay off (it skips more masked tiles under a
        causal mask, or exposes a smaller first load). Last, branch and bound: every other tiling whose lower bound
        (`_bound`) beats the best so far by `MAPPER_TOLERANCE` is costed, so the result is within that share
        of the optimum of the whole mapspace.
        """
        objective = OBJECTIVES[self.hw.mapper_objective]
        m, n, k, causal_axis = p.m, p.n, p.k, p.causal_axis
        # pruned by compute cycles only where the deepest K tile bounds them (a causal mask along K favours shallow ones)
        by_cycles = self.hw.mapper_objective == "cycles" and causal_axis != "k"
        firsts: list[TilingCost] = []
        evaluated = 0
        costed = set()
        fastest = math.inf
        for tm, tn in self._output_tiles(p):
            tks = self._k_tiles(p, tm, tn)
            if tks:
                if by_cycles and self._compute_cycles(p, tm, tn, tks[0]) >= fastest:
                    continue  # no loop order makes it faster than its compute
                costs = self._orders(p, tm, tn, tks[0])
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
            for tk in self._k_tiles(p, tm, tn)[1:]:
                costed.add((tm, tn, tk))
                costs = self._orders(p, tm, tn, tk)
                evaluated += len(costs)
                best = min([best] + costs, key=objective)
        primary = {"cycles": lambda c, e: c, "energy": lambda c, e: e, "edp": lambda c, e: c * e}[self.hw.mapper_objective]
        e, hw = self.hw.energy, self.hw
        useful = self._useful_macs(m, n, k, causal_axis)
        floor_cycles = useful / hw.peak_macs_per_cycle
        moved_once = (m * k * (p.on_chip != "a") + m * n * (p.on_chip != "c")) * hw.input_bytes + k * n * self._b_bytes(p)
        floor_pj = useful * e.mac_pj + moved_once * e.dram_pj_per_byte / 2
        for tm, tn in self._output_tiles(p):
            for tk in self._k_tiles(p, tm, tn):
                if (tm, tn, tk) in costed:
                    continue
                # a coarse bound first (no tile walk): ideal compute plus the first load, MACs plus half the
                # compulsory DRAM energy (a causal mask saves at most half of it)
                cycles = floor_cycles + self._first_load(p, tm, tn, tk)
                if primary(cycles, floor_pj + self._static_pj(cycles)) * (1 + MAPPER_TOLERANCE) >= objective(best)[0]:
                    continue
                if primary(*self._bound(p, tm, tn, tk)) * (1 + MAPPER_TOLERANCE) < objective(best)[0]:
                    costs = self._orders(p, tm, tn, tk)
                    evaluated += len(costs)
                    best = min([best] + costs, key=objective)
        return best, evaluated

    @staticmethod
    def _useful_macs(m: int, n: int, k: int, axis: str | None) -> int:
        """MACs of the product, less those of masked entries under a causal mask: the m queries are the last m
        of the keys, so query i sees keys - m + i + 1 of them."""
        if axis is None:
            return m * n * k
        keys = n if axis == "n" else k
        return m * n * k // (m * keys) * (m * (keys - m) + m * (m + 1) // 2)

    def _bound(self, p: Problem, tm: int, tn: int, tk: int) -> tuple[float, float]:
        """Lower bounds on a tiling's cycles and energy under any loop order: its compute and its transfers with
        each operand moved once (overlapped when double-buffered, after the exposed first load), and the
        energy of those cycles with the DRAM bytes of its most frugal loop order (0 when cycles are the
        objective)."""
        m, n, k, axis = p.m, p.n, p.k, p.causal_axis
        classes, first_load, live = self._tile_classes(p, tm, tn, tk)
        i0, j0, k0 = math.ceil(m / tm), math.ceil(n / tn), math.ceil(k / tk)
        in_b = self.hw.input_bytes
        a_on, c_on = (0.0 if p.on_chip == "a" else 1.0), (0.0 if p.on_chip == "c" else 1.0)
        a_share = (1.0 if axis == "k" else 1 / live) / j0 * a_on
        b_share, c_share = 1 / live / i0, in_b * (1.0 if axis == "n" else 1 / live) / k0 * c_on
        compute = sum(c[0] * c[1] for c in classes)
        transfer = sum(c[0] * (c[2] * a_share + c[3] * b_share + c[4] * c_share) for c in classes)
        cycles = max(compute, transfer) + first_load if self.hw.double_buffered else compute + transfer
        if self.hw.mapper_objective == "cycles":
            return cycles, 0.0
        reuses = {_reuse(order, i0, j0, k0) for order in LOOP_ORDERS}
        reads, writes = min((self._dram_bytes(p, reuse, live) for reuse in reuses), key=sum)
        energy = self._gemm_energy(p, k0, i0, reads, writes, cycles, live)
        return cycles, energy.total

    def _compute_cycles(self, p: Problem, tm: int, tn: int, tk: int) -> float:
        """The array's cycles under a tiling: a lower bound on its cycles whatever the loop order."""
        return sum(c[0] * c[1] for c in self._tile_classes(p, tm, tn, tk)[0])

    def _fold_cycles(self, tm: int, tn: int, tk: int) -> float:
        """Compute cycles of one tile, fold by fold."""
        r, c = self.hw.rows, self.hw.cols
        if self.hw.dataflow == "ws":
            folds, streamed = math.ceil(tk / r) * math.ceil(tn / c), tm
            if not self.hw.fold_overlap:
                return folds * (2 * r + c + streamed - 2)
        else:
            folds, streamed = math.ceil(tm / r) * math.ceil(tn / c), tk
            if not self.hw.fold_overlap:
                return folds * (r + c + streamed - 2)
        fill_drain = (2 * r + c - 2) if self.hw.dataflow == "ws" else (r + c - 2)
        return folds * max(streamed, r) + fill_drain

    def _time_tiling(self, p: Problem, tm: int, tn: int, tk: int, order: str) -> TilingCost:
        hw = self.hw
        m, n, k, axis = p.m, p.n, p.k, p.causal_axis
        i0, j0, k0 = math.ceil(m / tm), math.ceil(n / tn), math.ceil(k / tk)
        if hw.mapper == "gemmini":  # its software reloads A for every column tile, even when K is one tile
            a_loads, b_loads, c_visits = (1 if i0 * k0 <= 2 else j0), (1 if j0 * k0 <= 2 else i0), 1
        else:
            a_loads, b_loads, c_visits = _reuse(order, i0, j0, k0)
        spilled = (c_visits - 1) * hw.acc_bytes  # per C element, each way: partial sums out and back in
        classes, first_load, live = self._tile_classes(p, tm, tn, tk)
        # Under a causal mask only the live (row tile, key tile) pairs run: a fraction `live` of them. What is
        # loaded per pair shrinks with it (C of QK^T, A of attention x V, and any operand re-read per pair).
        a_live = live if axis == "k" or a_loads > 1 else 1.0
        b_live = live if b_loads > 1 else 1.0
        c_live = live if axis == "n" else 1.0
        in_b = hw.input_bytes
        a_live *= 0.0 if p.on_chip == "a" else 1.0  # a fused chain's operand never crosses to DRAM
        c_live *= 0.0 if p.on_chip == "c" else 1.0
        reads, writes = self._dram_bytes(p, (a_loads, b_loads, c_visits), live)
        b_bytes = self._b_bytes(p)
        compulsory = (m * k * (live if axis == "k" else 1.0) * (p.on_chip != "a") + m * n * c_live) * in_b + k * n * b_bytes
        # per live tile, the cycles of its share of each operand's traffic, as multiples of `classes`' units
        a_share, b_share = a_loads / j0 * a_live / live, b_loads / i0 * b_live / live
        c_share = (in_b * c_live + 2 * spilled * live) / k0 / live
        compute = busy = moved = 0.0
        tiles = 0
        for n_tiles, tile_compute, a_unit, b_unit, c_unit in classes:
            transfer = a_unit * a_share + b_unit * b_share + c_unit * c_share
            tiles += n_tiles
            compute += n_tiles * tile_compute
            moved += n_tiles * transfer
            busy += n_tiles * (max(tile_compute, transfer) if hw.double_buffered else tile_compute + transfer)
        cycles = max(busy + first_load, compute)
        energy = self._gemm_energy(p, k0, i0, reads, writes, cycles, live)
        mapping = Mapping(hw.dataflow, min(tm, m), min(tn, n), min(tk, k), order, tiles)
        return TilingCost(cycles, compute, moved, (reads + writes) / hw.dram_bytes_per_cycle, reads, writes,
                          compulsory, energy, mapping, k * n * b_loads * b_live * b_bytes)

    def _dram_bytes(self, p: Problem, reuse: tuple[int, int, int], live: float) -> tuple[float, float]:
        """DRAM bytes read and written with each element of A and B loaded, and each C tile visited, as often
        as `reuse` says (`_reuse`), when a share `live` of the tiles runs (a causal mask)."""
        m, n, k, axis = p.m, p.n, p.k, p.causal_axis
        a_loads, b_loads, c_visits = reuse
        in_b, spilled = self.hw.input_bytes, (c_visits - 1) * self.hw.acc_bytes
        a = 0.0 if p.on_chip == "a" else m * k * a_loads * (live if axis == "k" or a_loads > 1 else 1.0)
        b = k * n * b_loads * (live if b_loads > 1 else 1.0)
        c = 0.0 if p.on_chip == "c" else m * n * (live if axis == "n" else 1.0)
        return a * in_b + b * self._b_bytes(p) + m * n * spilled * live, c * in_b + m * n * spilled * live

    def _tile_classes(self, p: Problem, tm: int, tn: int, tk: int
                      ) -> tuple[list[tuple[int, float, float, float, float]], float, float]:
        """What a tiling costs whatever its loop order, memoised: per class of tile (full or edge in each
        dimension) how many run, their compute cycles, and the DMA cycles of one whole A tile, one whole B tile
        and one byte per C element; then the exposed first load (double-buffered) and the live share."""
        m, n, k, axis, b_bytes = p.m, p.n, p.k, p.causal_axis, self._b_bytes(p)
        key = (m, n, k, tm, tn, tk, axis, b_bytes)
        found = self._tilings.get(key)
        if found is not None:
            return found
        rate, in_b = self._dma_rate, self.hw.input_bytes
        live_tiles, live = _live_tiles(m, tm, n, tn) if axis == "n" else _live_tiles(m, tm, k, tk) if axis else ({}, 1.0)
        classes = []
        for tm_, ni in _edge_split(m, tm):
            for tn_, nj in _edge_split(n, tn):
                for tk_, nk in _edge_split(k, tk):
                    if axis is None:
                        n_tiles = ni * nj * nk
                    else:
                        n_tiles = live_tiles.get((tm_, tn_), 0) * nk if axis == "n" else live_tiles.get((tm_, tk_), 0) * nj
                    if n_tiles:
                        classes.append((n_tiles, self._fold_cycles(tm_, tn_, tk_), tm_ * tk_ * in_b / rate(tk_ * in_b),
                                        tk_ * tn_ * b_bytes / rate(tn_ * b_bytes), tm_ * tn_ / rate(tn_ * in_b)))
        found = self._tilings[key] = (classes, self._first_load(p, tm, tn, tk), live)
        return found

    def _first_load(self, p: Problem, tm: int, tn: int, tk: int) -> float:
        """The DMA cycles of the first tile, which nothing hides when double-buffered (0 when not: then every
        tile's transfer is counted in full)."""
        if not self.hw.double_buffered:
            return 0.0
        rate, in_b, b_bytes = self._dma_rate, self.hw.input_bytes, self._b_bytes(p)
        tm, tn, tk = min(tm, p.m), min(tn, p.n), min(tk, p.k)
        return (tm * tk * in_b / rate(tk * in_b) + tk * tn * b_bytes / rate(tn * b_bytes)
                + tm * tn * in_b / rate(tn * in_b))

    def _gemm_energy(self, p: Problem, k0: int, i0: int, reads: float, writes: float,
                     cycles: float, live: float = 1.0) -> EnergyParts:
        """Energy of the events; `live` is the share of tiles that run (under a causal mask)."""
        hw, e = self.hw, self.hw.energy
        m, n, k = p.m, p.n, p.k
        r, c = hw.rows, hw.cols
        if hw.dataflow == "ws":
            # every A row streams past each column block of weights; weights are read once per row tile
            a_sp, b_sp = m * k * math.ceil(n / c), k * n * i0
            acc_traffic = 2 * m * n * math.ceil(k / r)  # read-modify-write of partial sums per fold
        else:
            a_sp, b_sp = m * k * math.ceil(n / c), k * n * math.ceil(m / r)
            acc_traffic = 2 * m * n * k0
        # reads from the array, and what DRAM writes into the scratchpad
        sp_bytes = (a_sp * hw.input_bytes + b_sp * self._b_bytes(p)) * live + reads
        return EnergyParts(mac=m * n * k * live * e.mac_pj, scratchpad=sp_bytes * self.scratchpad_pj_per_byte,
                           accumulator=acc_traffic * live * hw.acc_bytes * self.accumulator_pj_per_byte,
                           dram=(reads + writes) * e.dram_pj_per_byte, static=self._static_pj(cycles))

    def _static_pj(self, cycles: float) -> float:
        return self.static_mw * cycles / self.hw.clock_mhz * 1e3

    # ---- vector ops ---------------------------------------------------------------------------------------
    def vector(self, op: VectorWork) -> OpCost:
        hw = self.hw
        unit = hw.unit(op.kind)
        e = hw.energy
        if unit.where == "accelerator":
            dram = op.elements * unit.dram_bytes_per_element
            busy = 0.0 if unit.fused else op.elements * unit.passes / unit.lanes
            limit = Limit.vector_unit
            cycles = busy
            if dram:  # rows of the array's width arrive by DMA while the unit works on earlier rows
                transfer = dram / hw.dma_bytes_per_cycle(hw.cols * unit.dram_bytes_per_element)
                limit = memory_limit(busy, transfer, dram / hw.dram_bytes_per_cycle, dram, dram)
                limit = Limit.vector_unit if limit is Limit.array else limit
                cycles = max(busy, transfer)
            energy = EnergyParts(vector=op.elements * unit.passes * e.vector_pj_per_element,
                                 dram=dram * e.dram_pj_per_byte, static=self._static_pj(cycles))
            return OpCost(op.name, op.kind.value, cycles, busy, energy, dram, limit, elements=op.elements)
        dram = op.elements * (hw.acc_bytes + hw.input_bytes)
        host_cycles = op.elements * unit.host_cycles_per_element
        transfer = dram / hw.dram_bytes_per_cycle
        cycles = host_cycles + transfer
        energy = EnergyParts(host=host_cycles * e.host_pj_per_cycle, dram=dram * e.dram_pj_per_byte,
                             static=self._static_pj(cycles))
        return OpCost(op.name, op.kind.value, cycles, host_cycles, energy, dram,
                      Limit.host if host_cycles >= transfer else Limit.dram_bus, elements=op.elements)

    def op(self, op: Op, role: FusedGemm | None = None) -> OpCost:
        """The cost of one op run alone, or of a GEMM in the fused `role`."""
        if isinstance(op, Gemm):
            role = role or FusedGemm()
            g = self.gemm(op.m, op.n, op.k, op.count, op.causal_axis, role.on_chip, role.full_rows, op.b_bits)
            return OpCost(op.name, "matmul", g.cycles, g.compute_cycles, g.energy, g.dram_bytes, g.limit, g.macs, gemm=g,
                          weight_bytes=g.b_read_bytes if op.b_operand == "weights" else 0.0,
                          kv_cache_bytes=g.b_read_bytes if op.b_operand == "kv_cache" else 0.0)
        return self.vector(op)

    def _hidden(self, op: VectorWork, role: HiddenVector, ops: list[Op], costs: list[OpCost]) -> OpCost:
        """A vector op fused behind GEMMs: it works on one block of rows while the array computes the next, so
        what the GEMMs' cycles do not cover is exposed, plus the last block, which nothing follows. An attention
        softmax whose block of rows of scores does not fit the accumulator is an online softmax: it rescales
        the partial attention x V outputs once per further block of keys, one more pass over them."""
        hw, alone = self.hw, self.vector(op)
        producer = costs[role.producer].gemm
        unit = hw.unit(op.kind)
        extra = 0
        if role.rescaled_by is not None:
            av = ops[role.rescaled_by]
            if producer.mapping.tile_m * producer.n * hw.acc_bytes > self._acc_usable:
                extra = av.count * av.m * av.n * (math.ceil(producer.n / producer.mapping.tile_n) - 1)
        work = alone.compute_cycles + extra / unit.lanes
        blocks = math.ceil(producer.m / producer.mapping.tile_m)
        behind = sum(costs[i].cycles for i in role.behind)
        exposed = min(work, max(work - behind, 0.0) + work / blocks)
        energy = EnergyParts(vector=alone.energy.vector + extra * hw.energy.vector_pj_per_element,
                             dram=alone.energy.dram, static=self._static_pj(exposed))
        return OpCost(op.name, op.kind.value, exposed, exposed, energy, alone.dram_bytes, Limit.vector_unit,
                      elements=op.elements + extra)

    # ---- whole models -------------------------------------------------------------------------------------
    def simulate(self, arch: ArchConfig, workload: Workload) -> SimReport:
        blocks = []
        # blocks memoised per width and workload (hashed once per call), then per layer shape
        known = self._layers.setdefault((arch.family, arch.embed_dim, arch.head_dim, workload), {})
        for layer, spec in enumerate(arch.layers):
            block = known.get(spec)
            if block is None:
                block = known[spec] = self._block(lower_layer_phases(arch, layer, workload))
            blocks.append(block)
        head = self._block(lower_head_phases(arch, workload))
        tokens = {"prefill": 0, "decode": 1, "generate": workload.new_tokens}[workload.phase]
        return SimReport(blocks, head, self.hw.clock_mhz, self.hw.peak_macs_per_cycle, tokens)

    def _block(self, phases: list[tuple[Phase, list[Op]]]) -> BlockCost:
        return BlockCost.of((phase, self._costs(ops)) for phase, ops in phases)

    def _costs(self, ops: list[Op]) -> list[OpCost]:
        """Each op's cost, fused where the hardware fuses (`predictors.accelerator.fusion`)."""
        roles = fusion_plan(ops, self.hw.fusion)
        if not roles:
            return [self.op(op) for op in ops]
        costs = [None if isinstance(roles.get(i), HiddenVector) else self.op(op, roles.get(i))
                 for i, op in enumerate(ops)]
        for i, role in roles.items():
            if isinstance(role, HiddenVector):
                costs[i] = self._hidden(ops[i], role, ops, costs)
        return costs


@functools.lru_cache(maxsize=65_536)
def _tile_candidates(size: int, unit: int) -> tuple[int, ...]:
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


@functools.lru_cache(maxsize=65_536)
def _reuse(order: str, i0: int, j0: int, k0: int) -> tuple[int, int, int]:
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


@functools.lru_cache(maxsize=65_536)
def _live_tiles(rows: int, row_tile: int, keys: int, key_tile: int) -> tuple[dict[tuple[int, int], int], float]:
    """Under a causal mask, the (row tile, key tile) pairs not wholly masked, counted by their sizes, and
    their share of all pairs. The rows are the last `rows` positions of the `keys`; a tile is live when its
    first key is not after its last query."""
    key_tiles, key_edge = math.ceil(keys / key_tile), keys % key_tile
    counts: dict[tuple[int, int], int] = {}
    for start in range(0, rows, row_tile):
        size = min(row_tile, rows - start)
        live = min(key_tiles, (keys - rows + start + size - 1) // key_tile + 1)
        edge = 1 if key_edge and live == key_tiles else 0
        if live > edge:
            counts[(size, key_tile)] = counts.get((size, key_tile), 0) + live - edge
        if edge:
            counts[(size, key_edge)] = counts.get((size, key_edge), 0) + 1
    return counts, sum(counts.values()) / (math.ceil(rows / row_tile) * key_tiles)


def _edge_split(size: int, tile: int) -> list[tuple[int, int]]:
    """[(tile size, how many tiles of it)]: the full tiles and the one smaller edge tile, if any."""
    full, rest = divmod(size, tile)
    parts = [(tile, full)] if full else []
    if rest:
        parts.append((rest, 1))
    return parts
