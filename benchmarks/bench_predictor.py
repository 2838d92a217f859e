"""Latency datasets and learned predictors: speed and accuracy, measured side by side in one run.

    python benchmarks/bench_predictor.py [--samples 2500] [--plots docs/]

1. dataset rows per second with 1 and 2 worker processes (same architectures, fresh files);
2. the accuracy bar: the survey's NAS space on gemmini-ibert, prefill at seq 512, 2,000 training samples, test
   MAPE / Kendall tau / share within 5% for latency and energy, and for decode latency of a causal decoder;
3. the learning curve (test MAPE at 100 ... 2,000 training samples) and the test scatter plot, as PNGs;
4. predictions per second on a batch of 10,000 architectures, and time per architecture against the simulator's.

Bars (the constants below): the accuracy bar on every setting, target and model; the learning curve falling; two
workers faster than one; a prediction faster than a cold simulation. Speeds are ratios within the run.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from bars import Bar, check, exit_if_missed
from nas.parallel import executor
from predictors.learned.dataset import archs_of, build_dataset, sample_archs, split_indices
from predictors.accelerator.hardware import AcceleratorConfig
from predictors.accelerator.systolic import SystolicSimulator
from predictors.accelerator.workload import Workload
from supernet.space import nas_case_study_space

# scikit-learn and matplotlib are imported inside the functions that use them: spawned dataset workers re-import
# this module, and should start as fast as they do under `hwnas latency-data`.

SPACE = nas_case_study_space()
HW = AcceleratorConfig.preset("gemmini-ibert")
PREFILL = Workload(phase="prefill", seq_len=512)
DECODE = Workload(phase="decode", seq_len=512, causal=True)
CURVE = (100, 250, 500, 1000, 2000)

# the accuracy bar, on the test split of every setting, target and model: measured MAPE 0.10-0.29%, max error 1.73%,
# tau 0.9933-0.9980, 100% within 5% (README's table); the bars leave room for a smaller --samples
MAPE_BAR = Bar("<=", 0.01, ".3%")
TAU_BAR = Bar(">=", 0.98, ".4f")
WITHIN_5PCT_BAR = Bar(">=", 0.98, ".1%")
# test MAPE at the largest training size / at the smallest: measured 0.14 (gbm) and 0.22 (mlp)
CURVE_BAR = Bar("<=", 0.5, ".3f")
# dataset rows/s with 2 workers / 1 worker, process start-up included: a second worker must not slow the build
# down. No figure was stated; on the shared 2-core machine (load 3-4 from other work) this measured 0.24-0.45, at
# HEAD too, so it misses there: run it on an idle machine before reading a miss as a regression
WORKERS_BAR = Bar(">=", 1.0, ".2f")
# simulator time per architecture, cold / a prediction's in a batch of 10,000
PREDICTION_BAR = Bar(">=", 10.0, ",.1f")


def bench_dataset_rows(folder: Path, rows: int) -> None:
    rates = {}
    for workers in (1, 2):
        with executor("process", workers) as pool:
            start = time.perf_counter()
            build_dataset(SPACE, HW, PREFILL, rows, folder / f"rows_{workers}.parquet", seed=1, map_fn=pool.map,
                          chunk_size=max(10, rows // 20))
            rates[workers] = rows / (time.perf_counter() - start)
    print(f"dataset: {rates[1]:,.0f} rows/s with 1 worker, {rates[2]:,.0f} rows/s with 2 workers "
          f"(x{rates[2] / rates[1]:.2f}; {rows} architectures, process start-up included)")
    check("dataset rows/s, 2 workers / 1", rates[2] / rates[1], WORKERS_BAR)


def accuracy(folder: Path, samples: int, plots: Path | None) -> dict:
    from predictors.learned.evaluation import scatter_plot
    from predictors.learned.latency_predictor import LatencyPredictor, regression_metrics

    predictors = {}
    for name, workload, targets in (("prefill", PREFILL, ("latency_ms", "energy_mj")), ("decode", DECODE, ("latency_ms",))):
        frame = build_dataset(SPACE, HW, workload, samples, folder / f"{name}.parquet", seed=0)
        archs = archs_of(frame)
        train, _, test = split_indices(len(archs), seed=0)
        train = train[:2000]
        for target in targets:
            y = frame[target].to_numpy()
            for model in ("gbm", "mlp"):
                start = time.perf_counter()
                p = LatencyPredictor(model, target).fit([archs[i] for i in train], y[train])
                fit_s = time.perf_counter() - start
                m = regression_metrics(y[test], p.predict([archs[i] for i in test]))
                print(f"accuracy {name:7s} {target:10s} {model}: train {len(train)}, test {m['n']}: MAPE {m['mape']:.3%}, "
                      f"max {m['max_rel_error']:.2%}, Kendall tau {m['kendall_tau']:.4f}, within 5% "
                      f"{m['within_5pct']:.1%}, within 10% {m['within_10pct']:.1%} (fit {fit_s:.1f} s)")
                predictors[(name, target, model)] = p
                for key, label, bar in (("mape", "MAPE", MAPE_BAR), ("kendall_tau", "Kendall tau", TAU_BAR),
                                        ("within_5pct", "within 5%", WITHIN_5PCT_BAR)):
                    check(f"accuracy {name} {target} {model} {label}", m[key], bar)
                if plots and (name, target, model) == ("prefill", "latency_ms", "mlp"):
                    scatter_plot(y[test], p.predict([archs[i] for i in test]), target, plots / "predictor_scatter.png",
                                 title="MLP, gemmini-ibert, prefill 512: test split")
            if (name, target) == ("prefill", "latency_ms"):
                learning_curve(archs, y, train, test, plots)
    return predictors


def learning_curve(archs, y, train, test, plots: Path | None) -> None:
    import matplotlib.pyplot as plt

    from predictors.learned.latency_predictor import LatencyPredictor, regression_metrics

    curves = {}
    for model in ("gbm", "mlp"):
        curves[model] = []
        for n in CURVE:
            p = LatencyPredictor(model).fit([archs[i] for i in train[:n]], y[train[:n]])
            curves[model].append(regression_metrics(y[test], p.predict([archs[i] for i in test]))["mape"])
        print(f"learning curve {model}: " + ", ".join(f"{n}: {mape:.2%}" for n, mape in zip(CURVE, curves[model])))
        check(f"learning curve {model}: MAPE at {CURVE[-1]} / at {CURVE[0]}", curves[model][-1] / curves[model][0],
              CURVE_BAR)
    if plots:
        fig, ax = plt.subplots(figsize=(4.8, 3.6), dpi=110)
        for model, mapes in curves.items():
            ax.plot(CURVE, np.array(mapes) * 100, marker="o", label=model)
        ax.set_xscale("log")
        ax.set_xlabel("training samples")
        ax.set_ylabel("test MAPE (%)")
        ax.set_title("latency predictor, gemmini-ibert, prefill 512", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(plots / "learning_curve.png")
        plt.close(fig)


def bench_prediction_speed(predictors: dict) -> None:
    batch = sample_archs(SPACE, 10_000, seed=7)
    fresh = batch[:300]
    start = time.perf_counter()
    for arch in fresh:
        SystolicSimulator(HW).simulate(arch, PREFILL)
    sim_cold = (time.perf_counter() - start) / len(fresh)
    sim = SystolicSimulator(HW)
    for arch in batch[:2000]:
        sim.simulate(arch, PREFILL)
    start = time.perf_counter()
    for arch in batch[:2000]:
        sim.simulate(arch, PREFILL)
    sim_warm = (time.perf_counter() - start) / 2000
    for model in ("gbm", "mlp"):
        p = predictors[("prefill", "latency_ms", model)]
        p.predict(batch[:100])
        start = time.perf_counter()
        p.predict(batch)
        per_arch = (time.perf_counter() - start) / len(batch)
        print(f"prediction {model}: {1 / per_arch:,.0f} archs/s on a batch of {len(batch):,}; {per_arch * 1e6:.2f} us per "
              f"arch against the simulator's {sim_cold * 1e6:,.0f} us cold (x{sim_cold / per_arch:,.0f}) and "
              f"{sim_warm * 1e6:,.1f} us warm (x{sim_warm / per_arch:,.1f})")
        check(f"prediction {model}: cold simulation time / prediction time", sim_cold / per_arch, PREDICTION_BAR)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2500, help="dataset size (80%% train, capped at 2,000)")
    parser.add_argument("--rows", type=int, default=4000, help="rows for the rows-per-second measurement")
    parser.add_argument("--plots", type=Path, default=None, help="folder for learning_curve.png and predictor_scatter.png")
    args = parser.parse_args()
    if args.plots:
        args.plots.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        bench_dataset_rows(folder, args.rows)
        predictors = accuracy(folder, args.samples, args.plots)
        bench_prediction_speed(predictors)
    exit_if_missed()


if __name__ == "__main__":
    main()
