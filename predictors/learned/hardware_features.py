"""Features of accelerators, and of (architecture, accelerator) pairs, for a predictor conditioned on hardware.

A predictor that must answer for accelerators it never saw cannot learn latency from raw field values alone:
latency is a sum over ops of *work divided by the rate the accelerator offers for it*, a product of the two sides
that a model over their concatenation would have to rediscover from a few thousand samples. So beside the
architecture's features (`supernet.features`) and the accelerator's own (`hardware_features`), a pair gets cross
features that are those quotients, over the ops the workload lowers the architecture to (`workload.lower_layer`):

* Vector ops: for each kind, its elements times what one element costs where the accelerator runs it. That cost is
  asked of the simulator itself (`SystolicSimulator.vector` on one element), so the placement rules (host round
  trip, lanes and passes, fusion, DMA-bound residual adds) live in one place; and since it is linear in elements,
  these features are the vector ops' cycles and energy exactly.
* GEMMs, per op group: a roofline of each GEMM, the larger of its compute cycles (array passes per dataflow, with
  the padding of dimensions that are not multiples of the array, plus a fill/drain per tile) and its DRAM traffic
  over the sustained DMA throughput (`AcceleratorConfig.dma_bytes_per_cycle`), with operand re-reads estimated
  from the output tile the accumulator holds; the two sides separately; and the energy terms (MACs, scratchpad and
  accumulator traffic, DRAM bytes, static power over the roofline's cycles).

`LinearTimesCorrection`'s least-squares line over these captures most of the latency and energy of any design, and
its learned correction only what the estimates miss (the mapper's exact tiling, per-tile overlap). Everything is
vectorised over the pairs; the per-accelerator part is computed once per distinct accelerator object of a batch,
the lowering once per distinct layer shape.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np

from predictors.accelerator.hardware import AcceleratorConfig
from predictors.accelerator.systolic import SystolicSimulator
from predictors.accelerator.vector_ops import SHARES_UNIT_OF, UNIT_KINDS
from predictors.accelerator.workload import Gemm, VectorWork, Workload, lower_head, lower_layer
from supernet.features import arch_features, feature_names
from supernet.space import ArchConfig, LayerConfig

KINDS = UNIT_KINDS  # an op that shares a unit (`SHARES_UNIT_OF`) is counted, and costed, as that unit's
HARDWARE_FEATURES = (
    "rows", "cols", "pes", "os", "input_bytes", "acc_bytes", "scratchpad_kib", "accumulator_kib",
    "dram_bytes_per_cycle", "dma_rate",
    "dram_latency_cycles", "dma_inflight_requests", "dma_request_bytes", "clock_mhz", "double_buffered",
    "fold_overlap", "mapper_gemmini", "fill_drain", "mac_pj", "scratchpad_pj_per_byte", "accumulator_pj_per_byte",
    "dram_pj_per_byte", "static_pj_per_cycle",
    *(f"{kind.value}_{what}" for kind in KINDS for what in ("on_accelerator", "fused", "lanes", "cycles", "pj")),
)
GEMM_GROUPS = ("mha_projections", "attention_matmuls", "ffn", "head")
GEMM_TERMS = ("roofline", "compute", "dram_cycles", "balanced", "first_load", "ideal", "fill_drain", "mac_pj",
              "scratchpad_pj",
              "accumulator_pj", "dram_pj", "static_pj")
CROSS_FEATURES = (
    *(f"{group}_{term}" for group in GEMM_GROUPS for term in GEMM_TERMS),
    *(f"{kind.value}_{unit}" for kind in KINDS for unit in ("cycles", "pj")),
    "total_roofline",
)
_HW = {name: i for i, name in enumerate(HARDWARE_FEATURES)}


def pair_feature_names(max_depth: int) -> list[str]:
    """The fixed layout of `pair_features`: the architecture's, the accelerator's, then the cross features."""
    return feature_names(max_depth) + [f"hw_{n}" for n in HARDWARE_FEATURES] + [f"x_{n}" for n in CROSS_FEATURES]


def pair_features(archs: Sequence[ArchConfig], hws: Sequence[AcceleratorConfig], workload: Workload,
                  max_depth: int) -> np.ndarray:
    """An (len(archs), len(pair_feature_names(max_depth))) array; `hws[i]` is the accelerator of `archs[i]`."""
    if len(archs) != len(hws):
        raise ValueError(f"{len(archs)} architectures but {len(hws)} accelerators")
    table, index = _distinct_hardware(hws)
    return np.hstack([arch_features(archs, max_depth), table[index], cross_features(archs, table, index, workload)])


def hardware_features(hws: Sequence[AcceleratorConfig]) -> np.ndarray:
    """An (len(hws), len(HARDWARE_FEATURES)) array."""
    table, index = _distinct_hardware(hws)
    return table[index]


def _distinct_hardware(hws: Sequence[AcceleratorConfig]) -> tuple[np.ndarray, np.ndarray]:
    """The features of each distinct accelerator object in `hws` (described once however often it recurs), and
    which of them each entry of `hws` is."""
    rows: dict[int, int] = {}
    table, index = [], np.empty(len(hws), dtype=np.int64)
    for i, hw in enumerate(hws):
        row = rows.get(id(hw))
        if row is None:
            row = rows[id(hw)] = len(table)
            table.append(_describe(hw))
        index[i] = row
    return np.array(table, dtype=float).reshape(-1, len(HARDWARE_FEATURES)), index


def _describe(hw: AcceleratorConfig) -> list[float]:
    sim = SystolicSimulator(hw)
    ws = hw.dataflow == "ws"
    values = [hw.rows, hw.cols, hw.rows * hw.cols, float(not ws), sim.cost.in_bytes, hw.acc_bytes, hw.scratchpad_kib,
              hw.accumulator_kib,
              hw.dram_bytes_per_cycle, hw.dma_bytes_per_cycle(hw.dma_request_bytes), hw.dram_latency_cycles,
              hw.dma_inflight_requests, hw.dma_request_bytes, hw.clock_mhz, hw.double_buffered, hw.fold_overlap,
              sim.mapper.name == "gemmini", (2 * hw.rows if ws else hw.rows) + hw.cols - 2, sim.cost.mac_pj,
              sim.cost.scratchpad_pj_per_byte, sim.cost.accumulator_pj_per_byte, sim.cost.dram_pj_per_byte,
              sim.cost.static_mw / hw.clock_mhz * 1e3]
    for kind in KINDS:
        unit = hw.vector_units[kind]
        one = sim.vector(VectorWork("probe", kind, 1, None))  # exact: a vector op's cost is linear in elements
        values += [unit.where == "accelerator", unit.fused, unit.lanes, one.cycles, one.energy_pj]
    return values


def cross_features(archs: Sequence[ArchConfig], table: np.ndarray, index: np.ndarray,
                   workload: Workload) -> np.ndarray:
    """Work over rate for each (architecture, accelerator) pair: `table` holds the distinct accelerators'
    `hardware_features`, `index[i]` says which is that of `archs[i]`. A GEMM shape is estimated once per
    accelerator, however many layers and architectures of the batch have it (every term is linear in `count`)."""
    shape, count, group, pair, elements = _lowered(archs, workload)
    key = shape * len(table) + index[pair]
    unique, inverse = np.unique(key, return_inverse=True)
    m, n, k = _lowering(workload).shape_table()[unique // len(table)].T
    hw = table[unique % len(table)]
    terms = _gemm_terms(m, n, k, {name: hw[:, _HW[name]] for name in _GEMM_INPUTS})
    rows, groups = len(archs), len(GEMM_GROUPS)
    where = pair * groups + group
    out = [np.bincount(where, weights=value[inverse] * count, minlength=rows * groups).reshape(rows, groups)
           for value in terms.values()]
    out = [per_group[:, g] for g in range(groups) for per_group in out]
    per_pair = table[index]
    for i, kind in enumerate(KINDS):
        out += [elements[:, i] * per_pair[:, _HW[f"{kind.value}_cycles"]],
                elements[:, i] * per_pair[:, _HW[f"{kind.value}_pj"]]]
    out.append(np.bincount(pair, weights=terms["roofline"][inverse] * count, minlength=rows))
    return np.column_stack(out)


_GEMM_INPUTS = ("rows", "cols", "os", "scratchpad_kib", "accumulator_kib", "double_buffered", "input_bytes",
                "acc_bytes", "fill_drain", "dma_rate", "dram_bytes_per_cycle", "dram_latency_cycles",
                "dma_inflight_requests", "dma_request_bytes", "mac_pj", "scratchpad_pj_per_byte",
                "accumulator_pj_per_byte", "dram_pj_per_byte", "static_pj_per_cycle")


def _gemm_terms(m, n, k, col: dict) -> dict[str, np.ndarray]:
    """Estimated cycles and energy terms of one run of each GEMM (arrays, one entry per GEMM and accelerator)."""
    r, c, os_, in_b, acc_b = col["rows"], col["cols"], col["os"], col["input_bytes"], col["acc_bytes"]
    macs = m * n * k
    # array passes per dataflow (`CostModel.fold_cycles` in predictors/accelerator/cost.py, with fold overlap): WS streams the rows of A
    # past each rows x cols block of weights, OS streams the reduction past each block of outputs
    passes = np.where(os_ > 0, np.ceil(m / r) * np.ceil(n / c) * np.maximum(k, r),
                      np.ceil(k / r) * np.ceil(n / c) * np.maximum(m, r))
    share = np.where(col["double_buffered"] > 0, 2, 1)
    tile_m, tile_n, tile_k = _tiles(m, n, k, r, c, col["accumulator_kib"] * 1024 / share / acc_b,
                                    col["scratchpad_kib"] * 1024 / share / in_b)
    i0, j0, k0 = np.ceil(m / tile_m), np.ceil(n / tile_n), np.ceil(k / tile_k)
    # A is re-read for every column of tiles and B for every row of tiles unless the operand fits in two tiles
    a_bytes = m * k * np.where(i0 * k0 <= 2, 1, j0) * in_b
    b_bytes = k * n * np.where(j0 * k0 <= 2, 1, i0) * in_b
    c_bytes = m * n * in_b
    fill = i0 * j0 * k0 * col["fill_drain"]
    compute = passes + fill
    # one DMA request per tile row (A rows are tile_k elements, B and C rows tile_n): short rows idle the bus
    dram_cycles = a_bytes / _dma_rate(col, tile_k * in_b) + (b_bytes + c_bytes) / _dma_rate(col, tile_n * in_b)
    roofline = np.maximum(compute, dram_cycles)
    # scratchpad and accumulator traffic as `CostModel.gemm_energy` (predictors/accelerator/cost.py) counts it
    sp_reads = m * k * np.ceil(n / c) + k * n * np.where(os_ > 0, np.ceil(m / r), i0)
    acc_traffic = 2 * m * n * np.where(os_ > 0, k0, np.ceil(k / r))
    return {
        "roofline": roofline, "compute": compute, "dram_cycles": dram_cycles,
        # largest where compute and traffic are even, where tile-by-tile overlap loses most against the roofline
        "balanced": compute * dram_cycles / (compute + dram_cycles),
        # the first tile's operands load before anything overlaps them
        "first_load": (tile_m * tile_k + tile_k * tile_n) * in_b / col["dma_rate"],
        "ideal": macs / (r * c), "fill_drain": fill, "mac_pj": macs * col["mac_pj"],
        "scratchpad_pj": (sp_reads * in_b + a_bytes + b_bytes) * col["scratchpad_pj_per_byte"],
        "accumulator_pj": acc_traffic * acc_b * col["accumulator_pj_per_byte"],
        "dram_pj": (a_bytes + b_bytes + c_bytes) * col["dram_pj_per_byte"],
        "static_pj": roofline * col["static_pj_per_cycle"],
    }


def _tiles(m, n, k, r, c, acc_elems, sp_elems) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The tile (in elements) Gemmini's `tiled_matmul_auto` picks, as `gemmini_tiling` (predictors/accelerator/mapper.py) walks
    it, for arrays of GEMMs: start from the squarest output tile the accumulator holds and the deepest K the
    scratchpad then allows (shrinking K until it fits), then grow J, I and K by one block in turn while the tile
    fits. Growth is monotone (a blocked axis stays blocked), so instead of walking block by block, each phase
    jumps by bisection to the last round in which every still-growing axis grows, then plays one round."""
    bounds = np.stack([np.ceil(m / r), np.ceil(n / c), np.ceil(k / r)])  # blocks along I, J, K
    unit = np.stack([r, c, r])
    full = np.stack([m, n, k])

    def fits(t):
        tm, tn, tk = np.minimum(t * unit, full)
        return (tm * tn <= acc_elems) & ((tm + tn) * tk <= sp_elems)

    side = np.maximum(1, np.floor(np.sqrt(acc_elems / (r * c))))
    t = np.stack([np.minimum(side, bounds[0]), np.minimum(side, bounds[1]), bounds[2]])
    tm, tn = np.minimum(t[0] * r, m), np.minimum(t[1] * c, n)
    deepest = np.floor(sp_elems / (tm + tn) / r)  # K blocks that fit beside this output tile
    t[2] = np.clip(np.minimum(np.floor(sp_elems / r / r / t[0]), deepest), 1, bounds[2])
    stuck = ~fits(t)  # not even one K block fits beside the square output tile: one block of each
    t[:, stuck] = 1
    active = np.ones_like(t, dtype=bool)
    for _ in range(4):  # each phase stops at least one axis for good
        lo, hi = np.zeros(t.shape[1]), np.max(np.where(active, bounds - t, 0), axis=0)
        while np.any(lo < hi):  # the most rounds in which every active axis still grows
            mid = np.ceil((lo + hi) / 2)
            trial = t + active * mid
            ok = fits(trial) & np.all(trial <= bounds, axis=0)
            lo, hi = np.where(ok, mid, lo), np.where(ok, hi, mid - 1)
        t = t + active * lo
        for axis in (1, 0, 2):  # the round in which some axis stops, played in Gemmini's order: J, I, K
            trial = t.copy()
            trial[axis] += 1
            ok = active[axis] & (trial[axis] <= bounds[axis]) & fits(trial)
            t[axis] += ok
            active[axis] &= ok
        if not active.any():
            break
    return tuple(np.minimum(t * unit, full))


def _dma_rate(col: dict, row_bytes: np.ndarray) -> np.ndarray:
    """`AcceleratorConfig.dma_bytes_per_cycle` over arrays of rows (Little's law over the requests in flight)."""
    per_request = row_bytes / np.ceil(row_bytes / col["dma_request_bytes"])
    latency = col["dram_latency_cycles"]
    limited = col["dma_inflight_requests"] * per_request / np.where(latency > 0, latency, 1)
    return np.where(latency > 0, np.minimum(col["dram_bytes_per_cycle"], limited), col["dram_bytes_per_cycle"])


def _lowered(archs: Sequence[ArchConfig], workload: Workload) -> tuple[np.ndarray, ...]:
    """Every GEMM of every architecture: its shape id (`_Lowering.shape_table`), count, group index, and the pair
    it belongs to; and the vector-op elements per kind of each architecture."""
    lowering = _lowering(workload)
    blocks, lengths = [], np.empty(len(archs), dtype=np.int64)
    for i, arch in enumerate(archs):
        embed, head_dim = arch.embed_dim, arch.head_dim
        blocks.extend(lowering.block(arch.family, embed, head_dim, layer) for layer in arch.layers)
        blocks.append(lowering.block(arch.family, embed, head_dim, None))  # the output head, if the workload has one
        lengths[i] = arch.depth + 1
    blocks = np.array(blocks, dtype=np.int64)
    owner = np.repeat(np.arange(len(archs)), lengths)
    gemms, per_block_elements = lowering.tables()
    elements = np.column_stack([np.bincount(owner, weights=per_block_elements[blocks, i], minlength=len(archs))
                                for i in range(len(KINDS))]) if len(archs) else np.zeros((0, len(KINDS)))
    rows = gemms[blocks].reshape(-1, 3)  # (shape id, count, group), padded with count 0
    pair = np.repeat(owner, gemms.shape[1])
    real = rows[:, 1] > 0
    return rows[real, 0], rows[real, 1].astype(float), rows[real, 2], pair[real], elements


class _Lowering:
    """What `workload.lower_layer` and `lower_head` make of each block shape under one workload, as integer
    tables that grow as new shapes appear: a batch then needs one dictionary lookup per layer, not a lowering."""

    def __init__(self, workload: Workload):
        self.workload = workload
        self.shapes: dict[tuple[int, int, int], int] = {}
        self.blocks: dict[tuple, int] = {}
        self.block_gemms: list[list[tuple[int, int, int]]] = []
        self.block_elements: list[np.ndarray] = []
        self._tables: tuple[np.ndarray, np.ndarray] | None = None

    def block(self, family: str | None, embed: int, head_dim: int, layer: LayerConfig | None) -> int:
        """The id of a block shape (layer None: the output head of an architecture of this width)."""
        key = (family, embed, head_dim, layer)
        found = self.blocks.get(key)
        if found is not None:
            return found
        if layer is not None:
            ops = lower_layer(ArchConfig(embed, (layer,), head_dim, family), 0, self.workload)
        else:
            ops = lower_head(ArchConfig(embed, (LayerConfig(1, 1),), head_dim, family), self.workload)
        counts: dict[tuple[int, int], int] = {}  # q, k and v projections share a shape: one row, count 3
        elements = np.zeros(len(KINDS))
        for op in ops:
            if isinstance(op, Gemm):
                shape = self.shapes.setdefault((op.m, op.n, op.k), len(self.shapes))
                group = GEMM_GROUPS.index(op.group)
                counts[shape, group] = counts.get((shape, group), 0) + op.count
            elif isinstance(op, VectorWork):
                elements[KINDS.index(SHARES_UNIT_OF.get(op.kind, op.kind))] += op.elements
        self.block_gemms.append([(shape, count, group) for (shape, group), count in counts.items()])
        self.block_elements.append(elements)
        self._tables = None
        self.blocks[key] = len(self.blocks)
        return self.blocks[key]

    def tables(self) -> tuple[np.ndarray, np.ndarray]:
        """(blocks, widest block, 3) GEMM rows padded with count 0, and (blocks, kinds) vector elements."""
        if self._tables is None:
            width = max((len(g) for g in self.block_gemms), default=0)
            gemms = np.zeros((len(self.block_gemms), max(width, 1), 3), dtype=np.int64)
            for i, rows in enumerate(self.block_gemms):
                if rows:
                    gemms[i, :len(rows)] = rows
            self._tables = gemms, np.array(self.block_elements).reshape(-1, len(KINDS))
        return self._tables

    def shape_table(self) -> np.ndarray:
        """(m, n, k) of each GEMM shape id, as floats."""
        return np.array(list(self.shapes), dtype=float).reshape(-1, 3)


@lru_cache(maxsize=16)
def _lowering(workload: Workload) -> _Lowering:
    return _Lowering(workload)
