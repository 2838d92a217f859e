"""A whole model on one accelerator: `SystolicSimulator(hw, mapper=..., objective=...)` lowers nothing itself
(`workload.lower_*_phases` does), maps and costs each GEMM (a mapper from `mapper.py` choosing, the cost model of
`cost.py` costing), costs each vector op where the hardware places it (`vector_placement.py`), applies the
hardware's fusion (`fusion.py`), and sums the blocks into a `SimReport`. Results are memoised per op shape and
per layer, so warm calls are cheap.

The module map: `mapping.py` (what a mapping is), `cost.py` (what a given mapping costs: `cost_mapping`),
`mapper.py` (engines that choose one: `SearchMapper`, `GemminiMapper`), `vector_placement.py` (vector ops),
`fusion.py` (which ops run fused), `attribution.py` (limits and energy parts), and this file (the sum).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Iterable, Iterator

from predictors.accelerator.attribution import CycleSplit, EnergyParts, Limit
from predictors.accelerator.cost import CostModel, GemmReport, OpCost, TilingCost
from predictors.accelerator.fusion import FusedGemm, HiddenVector
from predictors.accelerator.fusion import plan as fusion_plan
from predictors.accelerator.hardware import AcceleratorConfig
from predictors.accelerator.mapper import DEFAULT_MAPPER, OBJECTIVES, Mapper, SearchMapper, make_mapper
from predictors.accelerator.mapping import Problem
from predictors.accelerator.vector_ops import VectorKind
from predictors.accelerator.vector_placement import hidden_cost, vector_cost
from predictors.accelerator.workload import Gemm, Op, Phase, VectorWork, Workload, lower_head_phases, lower_layer_phases
from supernet.space import ArchConfig

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
    """Cycles and energy of GEMMs and whole transformers on one `AcceleratorConfig`, mapped by one mapper.

    `mapper`: a mapping engine's name (`gemmini`, the default: the tiling Gemmini's software picks, as the
    Gemmini presets were always simulated; `search`: the best tiling for `objective`) or a `Mapper`; `objective`: what a named engine minimises per GEMM (`cycles`, the default, `energy`
    or `edp`; see `mapper.OBJECTIVES`). Results are memoised on the instance, keyed by op shape (GEMMs) and
    by layer shape (whole blocks): the hardware and the mapper are fixed per instance.
    """

    def __init__(self, hw: AcceleratorConfig, mapper: str | Mapper = DEFAULT_MAPPER, objective: str = "cycles",
                 precision: str | None = None):
        self.hw = hw
        if objective not in OBJECTIVES:  # the names a simulator's objective takes
            raise ValueError(f"objective {objective!r}: expected one of {', '.join(OBJECTIVES)}")
        if isinstance(mapper, str):
            mapper = make_mapper(mapper, objective)
        elif objective != "cycles" and objective != mapper.objective:
            raise ValueError(f"objective={objective!r} given with a {mapper.name} mapper that minimises "
                             f"{mapper.objective!r}; give the objective to the mapper")
        self.mapper: Mapper = mapper
        self.cost = CostModel(hw, precision)
        self._by_precision: dict[str, SystolicSimulator] = {}
        self._gemms: dict[Problem, GemmReport] = {}
        self._layers: dict[tuple, dict[tuple[int, int], BlockCost]] = {}

    @property
    def objective(self) -> str:
        return self.mapper.objective

    def at_precision(self, name: str | None) -> "SystolicSimulator":
        """The simulator of this accelerator computing in format `name` (None or the own format: this one),
        with the same mapper; refuses a format the datapath lacks."""
        if name is None or name == self.cost.format.name:
            return self
        found = self._by_precision.get(name)
        if found is None:
            found = self._by_precision[name] = SystolicSimulator(self.hw, self.mapper, precision=name)
        return found

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
        best = self.mapper.best(self.cost, p)
        if best is None:
            hw = self.hw
            raise ValueError(
                f"hardware {hw.name!r}: one {hw.rows}x{hw.cols} tile does not fit the scratchpad "
                f"({hw.scratchpad_kib} KiB) and accumulator ({hw.accumulator_kib} KiB)")
        return self.cost.report(p, best)

    def mapspace(self, m: int, n: int, k: int, causal_axis: str | None = None, on_chip: str | None = None,
                 full_rows: bool = False) -> Iterator[TilingCost]:
        """Every mapping the search mapper chooses from (benchmarks/bench_mapper.py): `SearchMapper.mapspace`."""
        return SearchMapper(self.objective).mapspace(self.cost, Problem(m, n, k, causal_axis, on_chip, full_rows))

    def search_mapping(self, m: int, n: int, k: int, causal_axis: str | None = None, on_chip: str | None = None,
                       full_rows: bool = False) -> tuple[TilingCost | None, int]:
        """The search mapper's choice for this simulator's objective and how many mappings it costed."""
        return SearchMapper(self.objective).search(self.cost, Problem(m, n, k, causal_axis, on_chip, full_rows))

    # ---- ops ----------------------------------------------------------------------------------------------
    def vector(self, op: VectorWork) -> OpCost:
        """One vector op where the hardware places it (`vector_placement.vector_cost`)."""
        return vector_cost(self.cost, op)

    def op(self, op: Op, role: FusedGemm | None = None) -> OpCost:
        """The cost of one op run alone, or of a GEMM in the fused `role`."""
        if isinstance(op, Gemm):
            role = role or FusedGemm()
            g = self.gemm(op.m, op.n, op.k, op.count, op.causal_axis, role.on_chip, role.full_rows, op.b_bits)
            return OpCost(op.name, "matmul", g.cycles, g.compute_cycles, g.energy, g.dram_bytes, g.limit, g.macs, gemm=g,
                          weight_bytes=g.b_read_bytes if op.b_operand == "weights" else 0.0,
                          kv_cache_bytes=g.b_read_bytes if op.b_operand == "kv_cache" else 0.0)
        return vector_cost(self.cost, op)

    # ---- whole models -------------------------------------------------------------------------------------
    def simulate(self, arch: ArchConfig, workload: Workload) -> SimReport:
        if workload.precision is not None and workload.precision != self.cost.format.name:
            return self.at_precision(workload.precision).simulate(arch, workload)
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
                costs[i] = hidden_cost(self.cost, ops[i], role, ops, costs)
        return costs


def energy_optimal_mj(hw: AcceleratorConfig, arch: ArchConfig, workload: Workload, used_mj: float) -> float:
    """What `arch` would spend on `hw` with every GEMM mapped for energy: beside the energy of the mappings a run
    used (`used_mj`), it says how much of a design's energy is the mapper's tie-breaking rather than the design.
    Never above `used_mj`: the search lands within 0.5% of the optimum, and the mapping used is a mapping too."""
    return min(SystolicSimulator(hw, mapper="search", objective="energy").simulate(arch, workload).energy_mj, used_mj)
