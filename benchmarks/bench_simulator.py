"""Simulator speed, and agreement with SCALE-Sim v3, measured side by side in one run.

    python benchmarks/bench_simulator.py [--repeats N]

Prints whole-BERT-Base simulations per second (cold: a fresh simulator, every GEMM mapped; warm: memoised),
and, when `scalesim` is installed, SCALE-Sim's time and ours on the GEMMs of one BERT-Base layer (seq 128)
with the compute-cycle agreement. SCALE-Sim is timed on its compute model only (the demand matrices whose
length is its compute time); its full run adds a cycle-stepped memory model on top, 23-230 s per GEMM
(docs/sources.md section 4, tests/data).
"""
from __future__ import annotations

import argparse
import time

from predictors.accelerator import scalesim_backend
from predictors.accelerator.hardware import AcceleratorConfig
from predictors.accelerator.systolic import SystolicSimulator
from predictors.accelerator.workload import Gemm, Workload, lower_layer
from supernet.space import reference_arch


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


def bench_against_scalesim() -> None:
    if not scalesim_backend.available():
        print("scalesim not installed: pip install 'hwnas[scalesim]' to compare")
        return
    bert = reference_arch("bert-base")
    gemms = [op for op in lower_layer(bert, 0, Workload(seq_len=128)) if isinstance(op, Gemm)]
    for dataflow in ("ws", "os"):
        base = AcceleratorConfig.preset("gemmini-default").model_dump()
        base.update(dataflow=dataflow, fold_overlap=False, mapper="search", scratchpad_kib=1 << 20,
                    accumulator_kib=1 << 20, dram_bytes_per_cycle=1e9, dram_latency_cycles=0)
        hw = AcceleratorConfig.model_validate(base)
        t_theirs = t_ours = 0.0
        worst = 0.0
        for g in gemms:
            start = time.perf_counter()
            theirs = scalesim_backend.compute_cycles(hw, g.m, g.n, g.k)
            t_theirs += time.perf_counter() - start
            start = time.perf_counter()
            ours = SystolicSimulator(hw).gemm(g.m, g.n, g.k).compute_cycles
            t_ours += time.perf_counter() - start
            worst = max(worst, abs(ours - theirs) / theirs)
            print(f"  {dataflow} {g.name:8s} M={g.m:4d} N={g.n:4d} K={g.k:4d}: scalesim {theirs:>9,d} cycles, "
                  f"ours {ours:>11,.0f}")
        print(f"{dataflow}: {len(gemms)} GEMMs, scalesim compute model {t_theirs:.2f} s, ours (cold) "
              f"{t_ours * 1e3:.2f} ms, ratio {t_theirs / t_ours:,.0f}x; worst compute-cycle difference {worst:.3%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2000)
    args = parser.parse_args()
    bench_whole_model(args.repeats)
    bench_against_scalesim()


if __name__ == "__main__":
    main()
