"""The memory system measured: Llama-3.2-1B decode on every DRAM technology, int8 and int4 weights side by side.

    python benchmarks/bench_memory.py [--channels 2] [--stacks 1] [--array 32]

One decode step at a 2,048-token context of Llama-3.2-1B (its own 128,256-token vocabulary, LM head included), its
weights stored at 8 bits and at 4 bits (weight-only quantisation, `Workload.weight_bits=4`, widened to int8 on
chip), on the `edge-lpddr5` base (32x32 int8 Gemmini with I-BERT's units, 12 nm) with its memory replaced by each
technology of `predictors.accelerator.memory`: `--channels` channels of DDR4 / LPDDR (default 2) and `--stacks`
stacks of HBM (default 1), so that every LPDDR setup has the same pin count and HBM its smallest unit. The DMA
queue of each design is sized by Little's law for that technology (the rule is printed with the table), so that
the queue is not what limits it.

For each design: the peak bandwidth, the time per token, the roofline bound (DRAM bytes moved / peak bandwidth)
and their ratio, what binds the cycles (`SimReport.limits`), energy per token split into the DRAM interface (the
device's pJ/bit), SRAM (scratchpad + accumulator), compute (MACs + vector units), host and static, the average
power (energy / time, DRAM devices included) and the area with and without the memory interface (PHYs and
controllers). One simulator per design; a few seconds in all.

Bars (the constants below): time per token within 10% of the roofline bound wherever the DRAM is what binds the
design; energy per token positive, at least the DRAM transfer it cannot avoid and not wildly above it; the parts
adding up to the total; int4 weights moving about half the bytes of int8.
"""
from __future__ import annotations

import argparse
import math
import time

from bars import Bar, check, exit_if_missed

from predictors.accelerator.area import estimate_area
from predictors.accelerator.attribution import Limit
from predictors.accelerator.footprint import GIB, dram_footprint
from predictors.accelerator.hardware import AcceleratorConfig
from predictors.accelerator.memory import TECHNOLOGIES
from predictors.accelerator.systolic import SystolicSimulator
from predictors.accelerator.workload import Workload
from supernet.space import reference_arch, reference_vocab

MODEL = "llama-3.2-1b"
BASE = "edge-lpddr5"
CONTEXT = 2048
MEMORY_LIMITS = (Limit.dram_bus, Limit.dma_queue, Limit.sram_capacity)  # cycles the DRAM side binds

# time per token / (DRAM bytes / peak bandwidth) where the DRAM binds most of the cycles: the simulator's bus is
# the peak less the DMA's per-request overheads, so it should sit just above the roofline (measured 1.04 on
# LPDDR4X and LPDDR5 x2, int8 weights)
ROOFLINE_BAR = Bar("<=", 1.10, ".3f")
ENERGY_POSITIVE_BAR = Bar(">", 0.0, ".3f")
# energy per token / the DRAM transfer's own energy (bytes moved x the device's pJ/byte): at least 1 (nothing
# moves for free); at most 4 (measured 1.2 on DDR4 up to 2.4 on one HBM3 stack, whose 600 mW standby dominates
# a 41 ms token): more would mean on-chip energy or leakage out of proportion to an edge chip streaming weights
ENERGY_FLOOR_BAR = Bar(">=", 1.0, ".3f")
ENERGY_CEILING_BAR = Bar("<=", 4.0, ".3f")
PARTS_BAR = Bar("<=", 1e-9, ".1e")  # |sum of the energy parts / the total - 1|
# DRAM bytes with int4 weights / with int8: the weights halve, the KV cache (33.6 MB of 1.3 GB) and activations
# do not (measured 0.513)
INT4_BYTES_BAR = Bar("<=", 0.55, ".3f")


def narrowest_row(hw: AcceleratorConfig) -> float:
    """Bytes of the narrowest request the DMA streams weights in: one array-wide row of int4 weights (the DMA
    issues one request per scratchpad row, at most `dma_request_bytes`)."""
    return min(hw.dma_request_bytes, hw.cols * 4 / 8)


def littles_law(hw: AcceleratorConfig) -> int:
    """DMA requests in flight to keep the bus busy: bandwidth (B/cycle) x round-trip latency (cycles) / bytes
    per request (the narrowest row), rounded up to a power of two."""
    needed = hw.dram_bytes_per_cycle * hw.dram_latency_cycles / narrowest_row(hw)
    return 2 ** math.ceil(math.log2(max(needed, 1.0)))


def design(base: AcceleratorConfig, technology: str, args) -> AcceleratorConfig:
    spec = TECHNOLOGIES[technology]
    count = args.stacks if spec.unit == "stack" else args.channels
    hw = base.with_changes(memory={"technology": technology, f"{spec.unit}s": count}, rows=args.array,
                           cols=args.array)
    return hw.with_changes(dma_inflight_requests=littles_law(hw))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=2, help="channels of DDR4 and LPDDR (default 2)")
    parser.add_argument("--stacks", type=int, default=1, help="stacks of HBM (default 1)")
    parser.add_argument("--array", type=int, default=32, help="rows = columns of the PE array (edge-lpddr5: 32)")
    args = parser.parse_args()

    arch, vocab = reference_arch(MODEL), reference_vocab(MODEL)
    base = AcceleratorConfig.preset(BASE)
    workloads = {bits: Workload(phase="decode", seq_len=CONTEXT, causal=True, head="lm", vocab_size=vocab,
                                weight_bits=bits) for bits in (8, 4)}
    print(f"{MODEL} decode, one token at a {CONTEXT:,}-token context, LM head over {vocab:,} tokens, on {BASE} "
          f"({args.array}x{args.array} {base.dataflow.upper()} {'/'.join(base.formats)}, {base.scratchpad_kib:g} KiB "
          f"scratchpad, {base.accumulator_kib:g} KiB accumulator, {base.clock_mhz:g} MHz, {base.node_nm} nm), "
          f"{args.channels} channels of DDR4/LPDDR, {args.stacks} stack(s) of HBM")
    row = narrowest_row(base.with_changes(rows=args.array, cols=args.array))
    print(f"DMA queue by Little's law: requests in flight = peak bandwidth (B/cycle) x round trip (cycles) / "
          f"{row:g} B per request (one {args.array}-wide row of int4 weights, the narrowest row streamed; at most "
          f"{base.dma_request_bytes} B), rounded up to a power of two")
    print("roofline = DRAM bytes moved / peak bandwidth; energy per token in mJ: dram = the interface (device "
          "pJ/bit x bytes), sram = scratchpad + accumulator, compute = MACs + vector units, static = leakage + "
          "the memory's standby; W = energy / time (DRAM devices included); area at 12 nm")
    header = (f"  {'memory':18s} {'GB/s':>6s} {'ns':>4s} {'DMA':>5s} {'w':>2s} | {'ms/tok':>7s} {'roofl':>6s} "
              f"{'ratio':>6s} {'bound by':14s} | {'dram':>6s} {'sram':>5s} {'comp':>5s} {'host':>5s} {'static':>6s} "
              f"{'total':>6s} | {'W':>5s} | {'mm^2':>6s} {'no mem':>6s} | {'GiB need/have':>13s}")
    print(header)
    print("  " + "-" * (len(header) - 2))

    start = time.perf_counter()
    rows = []
    for technology in TECHNOLOGIES:
        hw = design(base, technology, args)
        sim = SystolicSimulator(hw)  # one per design, both workloads
        area = estimate_area(hw)
        for bits, workload in workloads.items():
            report = sim.simulate(arch, workload)
            parts = report.energy_parts()
            ms = report.ms_per_output_token
            roofline = report.dram_bytes / (hw.memory.gb_per_s * 1e9) * 1e3
            limits = report.limits()
            memory_share = sum(limits.get(limit, 0.0) for limit in MEMORY_LIMITS) / report.cycles
            binding = max(limits, key=limits.get)
            mj = {"dram": parts.dram, "sram": parts.scratchpad + parts.accumulator, "compute": parts.mac + parts.vector,
                  "host": parts.host, "static": parts.static}
            mj = {k: v * 1e-9 for k, v in mj.items()}
            need = dram_footprint(arch, workload, hw.operand_format(workload.precision).bits).total / GIB
            have = hw.memory.capacity_bytes / GIB
            no_mem = area.total_mm2 - area.breakdown.get("memory_interface", 0.0)
            print(f"  {hw.memory.count} x {technology:12s} {hw.memory.gb_per_s:6.1f} {hw.memory.spec.latency_ns:4.0f} "
                  f"{hw.dma_inflight_requests:5d} {bits:2d} | {ms:7.2f} {roofline:6.2f} {ms / roofline:6.3f} "
                  f"{binding.value + f' {limits[binding] / report.cycles:.0%}':14s} | {mj['dram']:6.2f} {mj['sram']:5.2f} "
                  f"{mj['compute']:5.2f} {mj['host']:5.2f} {mj['static']:6.2f} {report.energy_mj:6.2f} | "
                  f"{report.power_mw / 1e3:5.2f} | {area.total_mm2:6.2f} {no_mem:6.2f} | "
                  f"{need:5.2f} / {have:5.1f}{'' if need <= have else ' (!)'}", flush=True)
            rows.append({"name": f"{hw.memory.count} x {technology}, int{bits} weights", "hw": hw, "bits": bits,
                         "ms": ms, "roofline": roofline, "memory_share": memory_share, "report": report,
                         "parts": parts, "floor": report.dram_bytes * hw.memory.pj_per_byte * 1e-9})
    print(f"  ({len(rows)} decode steps simulated in {time.perf_counter() - start:.1f} s)")

    bound = [r for r in rows if r["memory_share"] >= 0.5]
    print(f"memory-bound (DRAM bus, DMA queue or SRAM re-reads bind >= 50% of the cycles): "
          f"{', '.join(r['name'] for r in bound) or 'none'}; the others are bound by the "
          f"{args.array}x{args.array} array, which takes in one {args.array}-wide weight row per cycle in decode")
    for r in bound:
        check(f"{r['name']}: time per token / roofline", r["ms"] / r["roofline"], ROOFLINE_BAR,
              f"{r['ms']:.2f} ms against {r['roofline']:.2f} ms")
    lowest = min(rows, key=lambda r: r["report"].energy_mj)
    check(f"lowest energy per token, mJ ({lowest['name']})", lowest["report"].energy_mj, ENERGY_POSITIVE_BAR)
    ratios = [(r["report"].energy_mj / r["floor"], r) for r in rows]
    low, high = min(ratios, key=lambda x: x[0]), max(ratios, key=lambda x: x[0])
    check(f"energy per token / DRAM transfer energy, lowest ({low[1]['name']})", low[0], ENERGY_FLOOR_BAR)
    check(f"energy per token / DRAM transfer energy, highest ({high[1]['name']})", high[0], ENERGY_CEILING_BAR)
    worst = max(abs(r["parts"].total * 1e-9 / r["report"].energy_mj - 1) for r in rows)
    check("energy parts against the total, worst |sum / total - 1|", worst, PARTS_BAR)
    by = {(r["hw"].memory.technology, r["bits"]): r["report"].dram_bytes for r in rows}
    ratio = max(by[t, 4] / by[t, 8] for t in TECHNOLOGIES)
    check("DRAM bytes, int4 weights / int8 (largest over technologies)", ratio, INT4_BYTES_BAR)
    exit_if_missed()


if __name__ == "__main__":
    main()
