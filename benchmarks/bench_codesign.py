"""Which accelerator should I build? The hardware side of co-design, measured.

    python benchmarks/bench_codesign.py [--seeds 10] [--population 32] [--generations 39]

1. The survey's hardware story, rediscovered: a hardware-only search for BERT-Base (prefill, seq 512) over a wide
   space extending `gemmini-default` (array, dataflow, both SRAMs, DRAM bus, DMA queue, and for every non-linear op
   host / accelerator unit / fused, with its lanes), within `gemmini-default`'s own area. Prints the fastest design
   found, its speedup over `gemmini-default` beside the survey's 39.6x (which adds I-BERT's units and rebalances
   the SRAMs by hand), and the moves it made. Nothing in the space prefers any of those moves.
2. Search quality: on a hardware space small enough to enumerate (26,244 designs, latency and area for one
   network), NSGA-II against the exhaustive front's hypervolume with at most 5% of the space evaluated, and
   against random search with the same budget, over `--seeds` seeds.

Bars (the constants below): the fastest design within the area budget beats our model of the survey's hand-made
path (gemmini-ibert) and reaches most of the survey's 39.6x; the search's quality as in `bench_search.py`.
"""
from __future__ import annotations

import argparse
import time

import moocore
import numpy as np

from bars import Bar, check, exit_if_missed
from nas.codec import Candidate, FixedSpace, JointSpace
from nas.evolution import EvolutionarySearch, RandomSearch, hypervolume
from nas.objectives import area_objective, candidate_simulator_objective
from predictors.accelerator.area import estimate_area
from predictors.accelerator.hardware import AcceleratorConfig
from predictors.accelerator.hardware_space import HardwareSpace, design_changes
from predictors.accelerator.systolic import SystolicSimulator
from predictors.accelerator.workload import Workload
from supernet.space import reference_arch

WIDE = {"extends": "gemmini-default", "rows": [8, 16, 32], "cols": [8, 16, 32], "dataflow": ["ws", "os"],
        "scratchpad_kib": [32, 64, 128, 256, 512], "accumulator_kib": [32, 64, 128, 256, 512],
        "dram_bytes_per_cycle": [8, 16, 32], "dma_inflight_requests": [8, 16, 32, 64],
        "vector_units": {op: {"where": ["host", "accelerator"] + (["fused"] if op in ("gelu", "quantize") else []),
                              "lanes": [4, 8, 16, 32]}
                         for op in ("softmax", "layernorm", "gelu", "residual_add", "quantize")}}
SMALL = {"extends": "gemmini-default", "rows": [8, 16, 32], "cols": [8, 16, 32], "dataflow": ["ws", "os"],
         "scratchpad_kib": [64, 128, 256], "accumulator_kib": [32, 64, 256],
         "vector_units": {"softmax": {"where": ["host", "accelerator"], "lanes": [8, 16]},
                          "layernorm": {"where": ["host", "accelerator"], "lanes": [8, 16]},
                          "gelu": {"where": ["host", "accelerator", "fused"], "lanes": [16]},
                          "residual_add": {"where": ["host", "accelerator"], "lanes": [16]},
                          "quantize": {"where": ["host", "accelerator", "fused"], "lanes": [16]}}}


SURVEY_SPEEDUP = 39.6  # the survey's hand-made path over gemmini-default (I-BERT's units, SRAMs rebalanced)
# fastest design found / gemmini-ibert, both over gemmini-default in our model: the search should at least match the
# hand-made path it is meant to rediscover (measured 35.0x against 32.9x: 1.06)
OVER_IBERT_BAR = Bar(">=", 1.0, ".3f")
# fastest design found / the survey's 39.6x: measured 0.88 (35.0x); 0.75 allows for our model not being Timeloop's
OVER_SURVEY_BAR = Bar(">=", 0.75, ".3f")
# NSGA-II hypervolume / exhaustive: measured mean 0.9996, min 0.9993 (random search: 0.967-0.990)
MEAN_HV_BAR = Bar(">=", 0.998, ".4f")
MIN_HV_BAR = Bar(">=", 0.995, ".4f")
SHARE_BAR = Bar("<=", 0.05, ".2%")  # the most of the space a seed evaluated: the docstring's 5% (measured 3.71%)
WINS_BAR = Bar(">=", 1.0, ".0%")  # share of the seeds in which NSGA-II beats random search: all (10 of 10)


def objectives(workload: Workload):
    return [candidate_simulator_objective("latency_ms", workload, {}), area_objective()]


def rediscover(args) -> None:
    arch, workload = reference_arch("bert-base"), Workload(seq_len=512)
    default = AcceleratorConfig.preset("gemmini-default")
    budget = estimate_area(default).total_mm2
    codec = JointSpace(FixedSpace(arch), HardwareSpace.from_mapping(WIDE, "wide space"))
    start = time.perf_counter()
    search = EvolutionarySearch(codec, objectives(workload), constraints=[f"area_mm2 <= {budget:.6f}"],
                                population=48, generations=40, seed=0)
    result = search.run()
    best, record = min(result.front, key=lambda m: m[1]["latency_ms"])
    base = SystolicSimulator(default).simulate(arch, workload)
    ibert = AcceleratorConfig.preset("gemmini-ibert")
    ibert_ms = SystolicSimulator(ibert).simulate(arch, workload).latency_ms
    print(f"DSE for BERT-Base seq 512 within gemmini-default's area ({budget:.3f} mm^2): "
          f"{codec.accelerators.size():,} designs in the space, {len(result.evaluated):,} evaluated in "
          f"{time.perf_counter() - start:.1f} s")
    print(f"  fastest found: {record['latency_ms']:.1f} ms at {record['area_mm2']:.3f} mm^2, "
          f"{base.latency_ms / record['latency_ms']:.1f}x faster than gemmini-default ({base.latency_ms:.0f} ms); "
          f"survey: 39.6x")
    print(f"  for comparison gemmini-ibert (hand-made, {estimate_area(ibert).total_mm2:.3f} mm^2): "
          f"{ibert_ms:.1f} ms, {base.latency_ms / ibert_ms:.1f}x")
    print("  moves: " + "; ".join(design_changes(default, best.hw)))
    speedup, ibert_speedup = base.latency_ms / record["latency_ms"], base.latency_ms / ibert_ms
    check("fastest found speedup / gemmini-ibert's", speedup / ibert_speedup, OVER_IBERT_BAR,
          f"{speedup:.1f}x against {ibert_speedup:.1f}x")
    check(f"fastest found speedup / the survey's {SURVEY_SPEEDUP}x", speedup / SURVEY_SPEEDUP, OVER_SURVEY_BAR)


def quality(args) -> None:
    arch, workload = reference_arch("nas-baseline"), Workload(seq_len=128)
    space = HardwareSpace.from_mapping(SMALL, "small space")
    codec = JointSpace(FixedSpace(arch), space)
    start = time.perf_counter()
    every = [Candidate(arch, hw) for hw in space.enumerate()]
    points = np.column_stack([objective.evaluate(every) for objective in objectives(workload)])
    worst, best = points.max(axis=0), points.min(axis=0)
    reference = (worst + 0.1 * (worst - best)).tolist()
    exhaustive = hypervolume(points[moocore.is_nondominated(points)], reference)
    budget = args.population * (args.generations + 1)
    print(f"hardware space: {len(every):,} designs scored exhaustively in {time.perf_counter() - start:.1f} s; "
          f"budget {budget:,} evaluations ({budget / len(every):.1%} of the space)")
    wins, ratios, shares = 0, [], []
    for seed in range(args.seeds):
        found = {}
        for cls in (EvolutionarySearch, RandomSearch):
            result = cls(codec, objectives(workload), population=args.population, generations=args.generations,
                         seed=seed).run()
            front = np.array([[r["latency_ms"], r["area_mm2"]] for _, r in result.front])
            found[cls.algorithm] = (hypervolume(front, reference) / exhaustive, len(result.evaluated))
        (nsga, evaluated), (rand, _) = found["nsga2"], found["random"]
        wins += nsga > rand
        ratios.append(nsga)
        shares.append(evaluated / len(every))
        print(f"seed {seed}: NSGA-II {nsga:.4f} of the exhaustive hypervolume after {evaluated:,} designs "
              f"({evaluated / len(every):.2%}); random search {rand:.4f}")
    print(f"NSGA-II: mean {np.mean(ratios):.4f}, min {np.min(ratios):.4f} of the exhaustive hypervolume, at most "
          f"{max(shares):.2%} of the space evaluated; beats random search in {wins} of {args.seeds} seeds")
    check("NSGA-II mean hypervolume / exhaustive", float(np.mean(ratios)), MEAN_HV_BAR)
    check("NSGA-II min hypervolume / exhaustive", float(np.min(ratios)), MIN_HV_BAR)
    check("NSGA-II most of the space evaluated", float(max(shares)), SHARE_BAR)
    check(f"seeds beating random search ({wins} of {args.seeds})", wins / args.seeds, WINS_BAR)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--population", type=int, default=32)
    parser.add_argument("--generations", type=int, default=39)
    args = parser.parse_args()
    rediscover(args)
    quality(args)
    exit_if_missed()


if __name__ == "__main__":
    main()
