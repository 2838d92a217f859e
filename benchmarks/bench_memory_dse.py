"""Which memory should a Llama-3.2-1B decoder get? The memory-aware DSE, at three budgets, measured.

    python benchmarks/bench_memory_dse.py [--population 48] [--generations 30] [--seed 0] [--show 12] [--exhaustive]

The search of searches/dse-llama-decode-memory.yaml (one decode step of Llama-3.2-1B at a 2,048-token context,
LM head over its 128,256-token vocabulary, around edge-lpddr5: array, SRAMs, int8 or int4 datapath, DRAM
technology x channels or stacks, DMA queue; latency, energy, area and power, a design whose memory cannot hold the
model infeasible) run through the Python API the pipeline uses (`EvolutionarySearch` with the run's objectives and
the capacity check as `infeasibility`), once per budget (area and power; the YAML's own constraints are the middle
one). The objectives' caches are shared across budgets: a design is simulated once. For each budget:

1. the front (every member with --show 0), sorted by latency: latency, energy, area, power, memory, array,
   datapath, SRAMs, DMA depth and what binds the cycles;
2. which memory the fastest member picked, and why in numbers: every technology at that count with its peak
   bandwidth, interface area (PHYs + controllers), bandwidth per mm^2, per W at peak streaming, and what the power
   budget could stream;
3. the naive "maximum of every gene" design (last choice of each gene: largest array and SRAMs, HBM3 with the most
   stacks, the deepest DMA queue), against the budget and the front.

With --exhaustive every design of the space is also scored (about 2.5 minutes on one core), and the fastest design
found at each budget is compared with the true fastest.

Bars (the constants below): a non-empty front at every budget; the max-gene design over a budget or dominated at
every budget; the budgets' fastest designs using at least two memory setups, with more bandwidth at the largest
budget than at the smallest; with --exhaustive, the fastest found within 2% of the true fastest.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from bars import Bar, check, exit_if_missed, skip

from nas.codec import Candidate, JointSpace
from nas.config import load_run_config
from nas.evolution import EvolutionarySearch
from nas.objectives import Constraint, area_objective, candidate_simulator_objective
from predictors.accelerator.area import estimate_area
from predictors.accelerator.footprint import GIB, capacity_shortfall, dram_footprint
from predictors.accelerator.hardware_space import MemoryChoices
from predictors.accelerator.memory import TECHNOLOGIES, MemorySystem
from predictors.accelerator.node import area_scale

CONFIG = Path(__file__).resolve().parent.parent / "searches" / "dse-llama-decode-memory.yaml"
# (name, area mm^2 at 12 nm, average power mW): a phone-class SoC block, the YAML's own edge budget, an
# accelerator card; power includes the DRAM devices' energy and standby
BUDGETS = (("phone", 6.0, 1500.0), ("edge", 12.0, 2500.0), ("card", 40.0, 5000.0))

FRONT_BAR = Bar(">=", 1, "d")  # members of the feasible front at each budget
MAX_GENE_BAR = Bar("==", 1, "d")  # 1: the max-gene design is over the budget or dominated by a front member
# distinct memory setups (technology x count) among the budgets' fastest designs: the memory follows the budget
# (measured 3: 2 x LPDDR5X, 4 x LPDDR5X, 1 x HBM3)
SETUPS_BAR = Bar(">=", 2, "d")
# peak bandwidth of the largest budget's fastest design / the smallest budget's: bandwidth is bought with area and
# power when they are there (measured 24x: 819 GB/s against 34 GB/s)
BANDWIDTH_BAR = Bar(">", 1.0, ".2f")
# --exhaustive: the fastest design found / the true fastest at the same budget (measured 1.0002, 1.0000, 1.0102)
EXHAUSTIVE_BAR = Bar("<=", 1.02, ".4f")


def memory_label(hw) -> str:
    return f"{hw.memory.count} x {hw.memory.technology}"


def dominates(a: dict, b: dict, names: list[str]) -> bool:
    return all(a[n] <= b[n] for n in names) and any(a[n] < b[n] for n in names)


def violations(record: dict, constraints: list[Constraint]) -> list[str]:
    return [f"{c.objective} {record[c.objective]:,.1f} is {record[c.objective] / c.value:.1f}x the bound {c.value:g}"
            for c in constraints if c.violation(record[c.objective]) > 0]


def print_front(front, sims, arch, workload, show: int) -> None:
    members = sorted(front, key=lambda m: m[1]["latency_ms"])
    if show and len(members) > show:  # evenly along latency, both ends kept
        picks = sorted({round(i * (len(members) - 1) / (show - 1)) for i in range(show)})
        shown = [members[i] for i in picks]
    else:
        shown = members
    print(f"  front: {len(members)} designs{f', {len(shown)} shown evenly along latency (--show 0 for all)' if len(shown) < len(members) else ''}")
    print(f"    {'ms/tok':>7s} {'mJ':>6s} {'mm^2':>6s} {'W':>5s} | {'memory':14s} {'GB/s':>6s} | {'array':>7s} {'dp':4s} "
          f"{'sp KiB':>6s} {'acc KiB':>7s} {'DMA':>5s} | bound by")
    for candidate, r in shown:
        hw = candidate.hw
        report = sims[hw.fingerprint()].simulate(arch, workload)
        limits = report.limits()
        binding = max(limits, key=limits.get)
        print(f"    {r['latency_ms']:7.2f} {r['energy_mj']:6.2f} {r['area_mm2']:6.2f} {r['power_mw'] / 1e3:5.2f} | "
              f"{memory_label(hw):14s} {hw.memory.gb_per_s:6.1f} | {f'{hw.rows}x{hw.cols}':>7s} {'/'.join(hw.formats):4s} "
              f"{hw.scratchpad_kib:6g} {hw.accumulator_kib:7g} {hw.dma_inflight_requests:5d} | {binding.value} "
              f"{limits[binding] / report.cycles:.0%}")
    setups: dict[str, int] = {}
    for candidate, _ in members:
        setups[memory_label(candidate.hw)] = setups.get(memory_label(candidate.hw), 0) + 1
    print("  memory setups on the front: " + ", ".join(f"{k} ({v})" for k, v in sorted(setups.items(),
                                                                                       key=lambda kv: -kv[1])))


def why_memory(fastest, record, sims, arch, workload, area_budget: float, power_budget: float) -> None:
    """Every technology at the count the fastest member uses: what a GB/s costs in area and power."""
    hw = fastest.hw
    count = hw.memory.count
    bytes_per_token = sims[hw.fingerprint()].simulate(arch, workload).dram_bytes
    need = dram_footprint(arch, workload, hw.operand_format(workload.precision).bits).total / GIB
    print(f"  the fastest member ({record['latency_ms']:.2f} ms) uses {record['area_mm2'] / area_budget:.0%} of the "
          f"area budget and {record['power_mw'] / power_budget:.0%} of the power budget")
    print(f"  picked {hw.memory.describe()}; every technology at {count} channel(s)/stack(s) "
          f"(this design moves {bytes_per_token / 1e6:,.0f} MB a token and needs {need:.2f} GiB):")
    print(f"    {'memory':14s} {'GB/s':>7s} {'iface mm^2':>10s} {'GB/s/mm^2':>9s} {'pJ/bit':>6s} {'standby W':>9s} "
          f"{'W at peak':>9s} {'GB/s/W':>6s} {'mJ/token':>8s} {'GB/s in budget W':>16s} {'GiB':>5s}")
    for name, spec in TECHNOLOGIES.items():
        memory = MemorySystem.model_validate(MemoryChoices.section(name, count))
        iface = (spec.phy_mm2 + spec.controller_mm2_7nm * area_scale(7, hw.node_nm)) * count
        peak_w = memory.static_mw / 1e3 + memory.gb_per_s * memory.pj_per_byte * 1e-3
        # what the whole power budget could stream if nothing else drew any: (budget - standby) / energy per byte
        affordable = max(power_budget / 1e3 - memory.static_mw / 1e3, 0.0) / (memory.pj_per_byte * 1e-3)
        notes = []
        if iface > area_budget:
            notes.append("interface alone over the area budget")
        if memory.capacity_bytes / GIB < need:
            notes.append("too small for the model")
        print(f"    {f'{count} x {name}':14s} {memory.gb_per_s:7.1f} {iface:10.2f} {memory.gb_per_s / iface:9.1f} "
              f"{spec.pj_per_bit:6.2f} {memory.static_mw / 1e3:9.2f} {peak_w:9.2f} {memory.gb_per_s / peak_w:6.1f} "
              f"{bytes_per_token * memory.pj_per_byte * 1e-9:8.2f} {min(affordable, memory.gb_per_s):16.1f} "
              f"{memory.capacity_bytes / GIB:5.0f}{'  (' + '; '.join(notes) + ')' if notes else ''}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--population", type=int, default=48)
    parser.add_argument("--generations", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--show", type=int, default=12, help="front members shown per budget (0: all)")
    parser.add_argument("--exhaustive", action="store_true", help="also score every design (about 2.5 minutes)")
    args = parser.parse_args()

    cfg = load_run_config(CONFIG)
    base_dir = CONFIG.parent
    arch, workload, space = cfg.fixed_arch(base_dir), cfg.workload, cfg.accelerators(base_dir)
    codec = JointSpace(cfg.networks(base_dir), space)
    sims: dict = {}  # one simulator per design, shared by every objective and budget
    objectives = [candidate_simulator_objective(o.name, workload, sims, cache_size=10**6, simulator=cfg.simulator)
                  if o.source == "simulator" else area_objective() for o in cfg.objectives]
    names = [o.name for o in objectives]

    def infeasibility(candidates):  # as the pipeline's (nas.pipeline.problem.infeasibility)
        return [1.0 if workload.precision is not None and workload.precision not in c.hw.formats
                else capacity_shortfall(c.hw, c.arch, workload) for c in candidates]

    print(f"{cfg.name}: {space.size():,} designs around {space.extends}; objectives {', '.join(names)}; "
          f"NSGA-II population {args.population} x {args.generations} generations, seed {args.seed}")
    print(f"  workload: {workload.describe()}, head {workload.head} over {workload.vocab_size:,} tokens; datapath "
          "int8 or int4 is a cost trade here, accuracy is not modelled")

    max_gene = Candidate(arch, space.decode([n - 1 for n in space.gene_choices()]))
    max_record = dict(zip(names, (float(o.evaluate([max_gene])[0]) for o in objectives)))
    mg = max_gene.hw
    print(f"  max-gene design: {mg.rows}x{mg.cols} {'/'.join(mg.formats)}, {mg.scratchpad_kib:g} KiB scratchpad, "
          f"{mg.accumulator_kib:g} KiB accumulator, {mg.memory.describe()}, {mg.dma_inflight_requests} DMA requests: "
          f"{max_record['latency_ms']:.2f} ms, {max_record['energy_mj']:.2f} mJ, {max_record['area_mm2']:.1f} mm^2 "
          f"(memory interface {estimate_area(mg).breakdown['memory_interface']:.1f}), "
          f"{max_record['power_mw'] / 1e3:.2f} W")

    exhaustive = None
    if args.exhaustive:
        start = time.perf_counter()
        every = [Candidate(arch, hw) for hw in space.enumerate()]
        values = {o.name: o.evaluate(every) for o in objectives}
        own = infeasibility(every)
        exhaustive = [(c, {n: float(values[n][i]) for n in names}, own[i]) for i, c in enumerate(every)]
        print(f"  exhaustive: {len(every):,} designs scored in {time.perf_counter() - start:.0f} s")

    fastest = {}
    for budget, area, power in BUDGETS:
        constraints = [Constraint.parse(f"area_mm2 <= {area}"), Constraint.parse(f"power_mw <= {power}")]
        start = time.perf_counter()
        result = EvolutionarySearch(codec, objectives, constraints=constraints, population=args.population,
                                    generations=args.generations, seed=args.seed, infeasibility=infeasibility).run()
        print(f"\nbudget {budget}: area <= {area:g} mm^2, power <= {power / 1e3:g} W: {len(result.evaluated):,} "
              f"designs evaluated in {time.perf_counter() - start:.1f} s")
        check(f"{budget}: feasible front members", len(result.front), FRONT_BAR)
        if not result.front:
            continue
        print_front(result.front, sims, arch, workload, args.show)
        best, best_record = min(result.front, key=lambda m: m[1]["latency_ms"])
        fastest[budget] = best.hw
        why_memory(best, best_record, sims, arch, workload, area, power)

        over = violations(max_record, constraints)
        dominating = [(c, r) for c, r in result.front if dominates(r, max_record, names)]
        print(f"  max-gene design: {'; '.join(over) if over else 'within the budget'}; "
              + (f"dominated by {len(dominating)} front member(s), e.g. {memory_label(dominating[0][0].hw)} "
                 f"{dominating[0][0].hw.rows}x{dominating[0][0].hw.cols}: " +
                 ", ".join(f"{n} {dominating[0][1][n]:.2f}" for n in names)
                 if dominating else "dominated by no front member") +
              f"; the front's fastest member takes {best_record['latency_ms'] / max_record['latency_ms']:.2f}x its "
              f"time per token in {best_record['area_mm2'] / max_record['area_mm2']:.1%} of its area at "
              f"{best_record['power_mw'] / max_record['power_mw']:.0%} of its power")
        check(f"{budget}: max-gene design over the budget or dominated", int(bool(over or dominating)), MAX_GENE_BAR)
        if exhaustive is not None:
            feasible = [(c, r) for c, r, v in exhaustive
                        if v == 0 and all(k.violation(r[k.objective]) == 0 for k in constraints)]
            true_best, true_record = min(feasible, key=lambda m: m[1]["latency_ms"])
            print(f"  exhaustive fastest within the budget: {true_record['latency_ms']:.2f} ms on "
                  f"{memory_label(true_best.hw)} {true_best.hw.rows}x{true_best.hw.cols} "
                  f"{'/'.join(true_best.hw.formats)} ({len(feasible):,} feasible designs)")
            check(f"{budget}: fastest found / exhaustive fastest", best_record["latency_ms"] /
                  true_record["latency_ms"], EXHAUSTIVE_BAR)
        else:
            skip(f"{budget}: fastest found / exhaustive fastest", "run with --exhaustive")

    print("\nthe fastest design per budget: " + "; ".join(
        f"{budget}: {memory_label(hw)} ({hw.memory.gb_per_s:.0f} GB/s), {hw.rows}x{hw.cols} {'/'.join(hw.formats)}"
        for budget, hw in fastest.items()))
    setups = {(hw.memory.technology, hw.memory.count) for hw in fastest.values()}
    check("distinct memory setups among the budgets' fastest designs", len(setups), SETUPS_BAR)
    first, last = BUDGETS[0][0], BUDGETS[-1][0]
    if first in fastest and last in fastest:
        check(f"peak bandwidth of the fastest design, {last} / {first}",
              fastest[last].memory.gb_per_s / fastest[first].memory.gb_per_s, BANDWIDTH_BAR)
    exit_if_missed()


if __name__ == "__main__":
    main()
