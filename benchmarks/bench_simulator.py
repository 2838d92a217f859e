"""Simulator speed, and agreement with SCALE-Sim v3, measured side by side in one run.

    python benchmarks/bench_simulator.py [--repeats N] [--dataflows ws,os]

Prints whole-BERT-Base simulations per second (cold: a fresh simulator, every GEMM mapped; warm: memoised),
and, when `scalesim` is installed, SCALE-Sim's time and ours on the GEMMs of one BERT-Base layer (seq 128)
with the compute-cycle agreement. SCALE-Sim is timed on its compute model only (the demand matrices whose
length is its compute time); its full run adds a cycle-stepped memory model on top, 23-230 s per GEMM
(docs/sources.md section 4, tests/data).

Bars (the constants below): memoisation several times faster than a cold simulation; against SCALE-Sim, the same
compute cycles on every GEMM and a cold simulation far faster than its compute model.
"""
from __future__ import annotations

import argparse
import time

from bars import Bar, check, exit_if_missed, skip
from predictors.accelerator import scalesim_backend
from predictors.accelerator.hardware import AcceleratorConfig
from predictors.accelerator.systolic import SystolicSimulator
from predictors.accelerator.workload import Gemm, Workload, lower_layer
from supernet.space import reference_arch

# warm (memoised) / cold whole-model simulations per second: measured 106,958 / 4,203 (25x) on gemmini-default;
# 5 leaves room for noise and fails if the per-layer memo stops hitting
WARM_SPEEDUP_BAR = Bar(">=", 5.0, ",.1f")
# worst |ours - SCALE-Sim| / SCALE-Sim compute cycles over one BERT-Base layer's GEMMs: identical, as documented
CYCLES_BAR = Bar("<=", 0.0, ".3%")
# SCALE-Sim's compute-model time / ours cold on the same GEMMs: the README's 3.34 s against 10 ms (334x, WS) is
# not what this code measures (0.3 s cold for the 8 GEMMs on a loaded 2-core machine, at HEAD too: 46x WS); 10
# leaves room for noise below that and still fails if our mapper gets several times slower
SCALESIM_SPEEDUP_BAR = Bar(">=", 10.0, ",.0f")


def per_second(fn, repeats: int) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return repeats / (time.perf_counter() - start)


def bench_whole_model(repeats: int) -> None:
    bert = reference_arch("bert-base")
    workload = Workload(seq_len=512)
    for preset in ("gemmini-default", "gemmini-ibert"):
        hw = AcceleratorConfig.preset(preset)
        cold = per_second(lambda: SystolicSimulator(hw).simulate(bert, workload), max(3, repeats // 100))
        sim = SystolicSimulator(hw)
        sim.simulate(bert, workload)
        warm = per_second(lambda: sim.simulate(bert, workload), repeats)
        print(f"bert-base seq512 on {preset}: cold {cold:,.0f} sims/s ({1e3 / cold:.2f} ms), "
              f"warm {warm:,.0f} sims/s ({1e6 / warm:.1f} us)")
        check(f"{preset} warm / cold sims/s", warm / cold, WARM_SPEEDUP_BAR)


def bench_against_scalesim(dataflows: list[str]) -> None:
    if not scalesim_backend.available():
        print("scalesim not installed: pip install 'hwnas[scalesim]' to compare")
        skip("compute cycles and speed against SCALE-Sim", "scalesim not installed")
        return
    bert = reference_arch("bert-base")
    gemms = [op for op in lower_layer(bert, 0, Workload(seq_len=128)) if isinstance(op, Gemm)]
    for dataflow in dataflows:
        base = AcceleratorConfig.preset("gemmini-default").model_dump()
        base.update(dataflow=dataflow, fold_overlap=False, scratchpad_kib=1 << 20,
                    accumulator_kib=1 << 20, dram_bytes_per_cycle=1e9, dram_latency_cycles=0)
        hw = AcceleratorConfig.model_validate(base)
        t_theirs = t_ours = 0.0
        worst = 0.0
        for g in gemms:
            start = time.perf_counter()
            theirs = scalesim_backend.compute_cycles(hw, g.m, g.n, g.k)
            t_theirs += time.perf_counter() - start
            start = time.perf_counter()
            ours = SystolicSimulator(hw, mapper="search").gemm(g.m, g.n, g.k).compute_cycles
            t_ours += time.perf_counter() - start
            worst = max(worst, abs(ours - theirs) / theirs)
            print(f"  {dataflow} {g.name:8s} M={g.m:4d} N={g.n:4d} K={g.k:4d}: scalesim {theirs:>9,d} cycles, "
                  f"ours {ours:>11,.0f}")
        print(f"{dataflow}: {len(gemms)} GEMMs, scalesim compute model {t_theirs:.2f} s, ours (cold) "
              f"{t_ours * 1e3:.2f} ms, ratio {t_theirs / t_ours:,.0f}x; worst compute-cycle difference {worst:.3%}")
        check(f"{dataflow} worst compute-cycle difference from SCALE-Sim", worst, CYCLES_BAR)
        check(f"{dataflow} SCALE-Sim time / ours (cold)", t_theirs / t_ours, SCALESIM_SPEEDUP_BAR)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2000)
    parser.add_argument("--dataflows", type=lambda v: v.split(","), default=["ws", "os"],
                        help="against SCALE-Sim (OS: about 35 s of its time, WS: 3 s)")
    args = parser.parse_args()
    bench_whole_model(args.repeats)
    bench_against_scalesim(args.dataflows)
    exit_if_missed()


if __name__ == "__main__":
    main()
