"""What a given mapping costs (the cost model; Timeloop's "model", ZigZag's cost model): `cost_mapping(hw,
problem, mapping)` gives the cycles, DRAM bytes and energy of one GEMM laid onto the array as `mapping` says.
The mappers (`mapper.py`) choose mappings by calling the same model (`CostModel.cost`); nothing here chooses.

Each tile is timed fold by fold:

* weight-stationary (WS): a fold preloads one rows x cols block of B and streams the tile's rows of A through
  it: `2*rows + cols + t - 2` cycles for `t` streamed rows when folds run back to back (SCALE-Sim v3's count);
  with `fold_overlap` the next block's weights shift in while the current one streams (Gemmini's double
  weight registers), so a fold costs `max(t, rows)` and the fill/drain is paid once per tile.
* output-stationary (OS): a fold keeps one rows x cols block of C in the PEs and streams `t` elements of the
  reduction: `rows + cols + t - 2` cycles back to back; with `fold_overlap` the finished outputs drain while
  the next block streams, so a fold costs `max(t, rows)` plus one fill/drain per tile.

DRAM traffic follows the tile loop order (`mapping.reuse`), so it never falls below the compulsory A + B + C and
equals it when the operands fit on chip. Transfers overlap compute tile by tile at `dram_bytes_per_cycle` when
double-buffered (the first load and the last store stay exposed) and add to it when not.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from predictors.accelerator.area import estimate_area
from predictors.accelerator.attribution import EnergyParts, Limit, memory_limit
from predictors.accelerator.hardware import AcceleratorConfig
from predictors.accelerator.mapping import LOOP_ORDERS, Mapping, Problem, reuse
from predictors.accelerator.node import energy_scale
from predictors.accelerator.precision import INT8_MAC_PJ


@dataclass(frozen=True)
class TilingCost:
    """What one mapping of a GEMM costs; the mappers keep the cheapest."""

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


def cost_mapping(hw: AcceleratorConfig, problem: Problem, mapping: Mapping) -> GemmReport:
    """The cycles, DRAM bytes and energy of one run of `problem` on `hw` laid on as `mapping` says (its tile
    sizes, loop order and `keeps_a`; its `dataflow` and `tiles` are what the model itself gives). Refuses a
    mapping whose tiles do not fit the scratchpad and accumulator."""
    model = CostModel(hw)
    tm, tn, tk = mapping.tile_m, mapping.tile_n, mapping.tile_k
    if min(tm, tn, tk) < 1 or mapping.loop_order not in LOOP_ORDERS:
        raise ValueError(f"mapping: tiles must be positive and the loop order one of {', '.join(LOOP_ORDERS)}")
    if not (tm * tn * hw.acc_bytes <= model.acc_usable
            and tm * tk * model.in_bytes + tk * tn * model.b_bytes(problem) <= model.sp_usable):
        raise ValueError(f"mapping: a {tm}x{tn}x{tk} tile does not fit the scratchpad and accumulator of {hw.name!r}")
    if problem.full_rows and tn < problem.n:
        raise ValueError("mapping: a full_rows problem needs output tiles spanning all of its columns")
    return model.report(problem, model.cost(problem, tm, tn, tk, mapping.loop_order, mapping.keeps_a))


class CostModel:
    """The cost model of one accelerator computing in one operand format (`precision`, a name in the hardware's
    `datapath`; None for its native format): its derived figures (usable SRAM, the bytes of an operand, every
    energy per event at the accelerator's node, static power of its area and memory system) and a memo of each
    tiling's per-tile costs, shared by every mapping a mapper costs on it. Energies are derived here and
    nowhere else, so that the GEMMs, the vector ops and the mappers' bounds price an event alike."""

    def __init__(self, hw: AcceleratorConfig, precision: str | None = None):
        self.hw = hw
        self.format = hw.operand_format(precision)
        self.in_bytes = self.format.bits / 8
        self._tilings: dict[tuple, tuple] = {}
        self.dma_rate = functools.lru_cache(maxsize=None)(hw.dma_bytes_per_cycle)
        self.sp_usable = hw.scratchpad_kib * 1024 / (2 if hw.double_buffered else 1)
        self.acc_usable = hw.accumulator_kib * 1024 / (2 if hw.double_buffered else 1)
        self.acc_elements = self.acc_usable / hw.acc_bytes
        # what this design's events cost: SRAM energy at its capacities, leakage of its area (or the override)
        e = hw.energy
        node = energy_scale(e.figures_node_nm, hw.node_nm)
        self.mac_pj = e.mac_pj * self.format.mac_pj(hw.acc_bits) / INT8_MAC_PJ * node
        self.scratchpad_pj_per_byte = e.sram_pj_per_byte(e.scratchpad_pj_per_byte, hw.scratchpad_kib) * node
        self.accumulator_pj_per_byte = e.sram_pj_per_byte(e.accumulator_pj_per_byte, hw.accumulator_kib) * node
        self.vector_pj_per_element = e.vector_pj_per_element * node
        self.host_pj_per_cycle = e.host_pj_per_cycle * node
        self.dram_pj_per_byte = e.dram_pj_per_byte  # the memory device's: it does not shrink with our node
        self.static_mw = estimate_area(hw).static_mw if e.static_mw is None else e.static_mw

    def b_bytes(self, p: Problem) -> float:
        """Bytes per element of B in memory: its own width, or the operand format's."""
        return self.in_bytes if p.b_bits is None else p.b_bits / 8

    def fits(self, tm: int, tn: int, tk: int, b_bytes: float) -> bool:
        return (tm * tn <= self.acc_elements
                and tm * tk * self.in_bytes + tk * tn * b_bytes <= self.sp_usable)

    def static_pj(self, cycles: float) -> float:
        return self.static_mw * cycles / self.hw.clock_mhz * 1e3

    @staticmethod
    def useful_macs(m: int, n: int, k: int, axis: str | None) -> int:
        """MACs of the product, less those of masked entries under a causal mask: the m queries are the last m
        of the keys, so query i sees keys - m + i + 1 of them."""
        if axis is None:
            return m * n * k
        keys = n if axis == "n" else k
        return m * n * k // (m * keys) * (m * (keys - m) + m * (m + 1) // 2)

    def report(self, p: Problem, best: TilingCost) -> GemmReport:
        """One run of `p` under the costed mapping `best`, with its utilisation and binding limit."""
        m, n, k = p.m, p.n, p.k
        macs = self.useful_macs(m, n, k, p.causal_axis)
        util = macs / (self.hw.peak_macs_per_cycle * best.cycles)
        traffic = best.dram_reads + best.dram_writes
        limit = memory_limit(best.compute_cycles, best.transfer_cycles, best.bus_transfer_cycles, traffic,
                             best.compulsory_bytes)
        return GemmReport(m, n, k, 1, best.cycles, best.compute_cycles, best.dram_reads, best.dram_writes,
                          best.energy, util, best.mapping, limit, macs, best.b_reads)

    def cost(self, p: Problem, tm: int, tn: int, tk: int, order: str, keeps_a: bool = True) -> TilingCost:
        """One mapping: tiles of tm x tn x tk under the loop `order` (`Mapping.keeps_a` for `keeps_a`)."""
        hw = self.hw
        m, n, k, axis = p.m, p.n, p.k, p.causal_axis
        i0, j0, k0 = math.ceil(m / tm), math.ceil(n / tn), math.ceil(k / tk)
        if not keeps_a:  # Gemmini's software reloads A for every column tile, even when K is one tile
            a_loads, b_loads, c_visits = (1 if i0 * k0 <= 2 else j0), (1 if j0 * k0 <= 2 else i0), 1
        else:
            a_loads, b_loads, c_visits = reuse(order, i0, j0, k0)
        spilled = (c_visits - 1) * hw.acc_bytes  # per C element, each way: partial sums out and back in
        classes, first_load, live = self.tile_classes(p, tm, tn, tk)
        # Under a causal mask only the live (row tile, key tile) pairs run: a fraction `live` of them. What is
        # loaded per pair shrinks with it (C of QK^T, A of attention x V, and any operand re-read per pair).
        a_live = live if axis == "k" or a_loads > 1 else 1.0
        b_live = live if b_loads > 1 else 1.0
        c_live = live if axis == "n" else 1.0
        in_b = self.in_bytes
        a_live *= 0.0 if p.on_chip == "a" else 1.0  # a fused chain's operand never crosses to DRAM
        c_live *= 0.0 if p.on_chip == "c" else 1.0
        reads, writes = self.dram_bytes(p, (a_loads, b_loads, c_visits), live)
        b_bytes = self.b_bytes(p)
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
        energy = self.gemm_energy(p, k0, i0, reads, writes, cycles, live)
        mapping = Mapping(hw.dataflow, min(tm, m), min(tn, n), min(tk, k), order, tiles, keeps_a)
        return TilingCost(cycles, compute, moved, (reads + writes) / hw.dram_bytes_per_cycle, reads, writes,
                          compulsory, energy, mapping, k * n * b_loads * b_live * b_bytes)

    def dram_bytes(self, p: Problem, loads: tuple[int, int, int], live: float) -> tuple[float, float]:
        """DRAM bytes read and written with each element of A and B loaded, and each C tile visited, as often
        as `loads` says (`mapping.reuse`), when a share `live` of the tiles runs (a causal mask)."""
        m, n, k, axis = p.m, p.n, p.k, p.causal_axis
        a_loads, b_loads, c_visits = loads
        in_b, spilled = self.in_bytes, (c_visits - 1) * self.hw.acc_bytes
        a = 0.0 if p.on_chip == "a" else m * k * a_loads * (live if axis == "k" or a_loads > 1 else 1.0)
        b = k * n * b_loads * (live if b_loads > 1 else 1.0)
        c = 0.0 if p.on_chip == "c" else m * n * (live if axis == "n" else 1.0)
        return a * in_b + b * self.b_bytes(p) + m * n * spilled * live, c * in_b + m * n * spilled * live

    def tile_classes(self, p: Problem, tm: int, tn: int, tk: int
                     ) -> tuple[list[tuple[int, float, float, float, float]], float, float]:
        """What a tiling costs whatever its loop order, memoised: per class of tile (full or edge in each
        dimension) how many run, their compute cycles, and the DMA cycles of one whole A tile, one whole B tile
        and one byte per C element; then the exposed first load (double-buffered) and the live share."""
        m, n, k, axis, b_bytes = p.m, p.n, p.k, p.causal_axis, self.b_bytes(p)
        key = (m, n, k, tm, tn, tk, axis, b_bytes)
        found = self._tilings.get(key)
        if found is not None:
            return found
        rate, in_b = self.dma_rate, self.in_bytes
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
                        classes.append((n_tiles, self.fold_cycles(tm_, tn_, tk_), tm_ * tk_ * in_b / rate(tk_ * in_b),
                                        tk_ * tn_ * b_bytes / rate(tn_ * b_bytes), tm_ * tn_ / rate(tn_ * in_b)))
        found = self._tilings[key] = (classes, self.first_load(p, tm, tn, tk), live)
        return found

    def first_load(self, p: Problem, tm: int, tn: int, tk: int) -> float:
        """The DMA cycles of the first tile, which nothing hides when double-buffered (0 when not: then every
        tile's transfer is counted in full)."""
        if not self.hw.double_buffered:
            return 0.0
        rate, in_b, b_bytes = self.dma_rate, self.in_bytes, self.b_bytes(p)
        tm, tn, tk = min(tm, p.m), min(tn, p.n), min(tk, p.k)
        return (tm * tk * in_b / rate(tk * in_b) + tk * tn * b_bytes / rate(tn * b_bytes)
                + tm * tn * in_b / rate(tn * in_b))

    def compute_cycles(self, p: Problem, tm: int, tn: int, tk: int) -> float:
        """The array's cycles under a tiling: a lower bound on its cycles whatever the loop order."""
        return sum(c[0] * c[1] for c in self.tile_classes(p, tm, tn, tk)[0])

    def fold_cycles(self, tm: int, tn: int, tk: int) -> float:
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

    def gemm_energy(self, p: Problem, k0: int, i0: int, reads: float, writes: float,
                    cycles: float, live: float = 1.0) -> EnergyParts:
        """Energy of the events; `live` is the share of tiles that run (under a causal mask)."""
        hw = self.hw
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
        sp_bytes = (a_sp * self.in_bytes + b_sp * self.b_bytes(p)) * live + reads
        return EnergyParts(mac=m * n * k * live * self.mac_pj, scratchpad=sp_bytes * self.scratchpad_pj_per_byte,
                           accumulator=acc_traffic * live * hw.acc_bytes * self.accumulator_pj_per_byte,
                           dram=(reads + writes) * self.dram_pj_per_byte, static=self.static_pj(cycles))


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
