"""Can a quality predictor stand in for the supernet during a search?

    python benchmarks/bench_quality_predictor.py [--population 40] [--generations 40] [--samples 300]
                                                 [--supernet DIR]

The demo's decoder supernet (trained here, 300 steps on the offline corpus, unless `--supernet` names a trained
one; `runs/demo/supernet` after `hwnas run searches/demo.yaml`) and two searches of `--population` x
`--generations` with the same seed, perplexity against simulated latency on gemmini-ibert (prefill, 128 tokens):
- on the supernet: every new network is a pass over the validation windows;
- on a quality predictor (`{name: perplexity, source: predictor}`): `--samples` networks scored on the supernet,
  a model fitted to them, and the front re-scored on the supernet at the end.
Prints the predictor's Kendall tau on held-out networks, the wall time of each search (the predictor's includes
scoring its samples and fitting), and the hypervolume of the predictor-steered front, re-scored on the supernet,
against the supernet-steered one (one reference point for both: the worst of either plus 10% of the range).

Bars (the constants below): the predictor's held-out and on-front Kendall tau, the predictor-steered front's share
of the supernet-steered hypervolume, and the predictor-steered search no slower than the supernet-steered one.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import moocore
import numpy as np
import yaml

from bars import Bar, check, exit_if_missed, skip
from nas.config import load_run_config
from nas.evolution import hypervolume
from nas.pipeline import Run, run_search
from nas.pipeline.stages import supernet as train_or_check_supernet

DEMO = Path(__file__).resolve().parents[1] / "searches" / "demo.yaml"

# Kendall tau on held-out networks: measured 0.944 (60 networks); on its own front re-scored on the supernet: 0.972
HELD_OUT_TAU_BAR = Bar(">=", 0.85, ".3f")
FRONT_TAU_BAR = Bar(">=", 0.85, ".3f")
# predictor-steered front's hypervolume / the supernet-steered one's, both scored on the supernet: measured 0.991
HYPERVOLUME_BAR = Bar(">=", 0.97, ".3f")
# supernet-steered search time / predictor-steered (scoring and fitting included), same run: measured 1.25 (188 s
# against 150 s); the bar is that standing in costs no time, even on this small supernet where evaluation is cheap
SPEEDUP_BAR = Bar(">=", 1.0, ".2f")


def config(folder: Path, name: str, supernet: Path | None, quality_source: str, args) -> Path:
    demo = yaml.safe_load(DEMO.read_text())
    supernet_section = dict(demo["supernet"], **({"checkpoint": str(supernet)} if supernet else {}))
    data = {**demo, "name": name, "output": str(folder / name), "supernet": supernet_section,
            "objectives": [{"name": "perplexity", "source": quality_source},
                           {"name": "latency_ms", "source": "simulator"}],
            "constraints": [], "quality_predictor": {"samples": args.samples},
            "search": {"population": args.population, "generations": args.generations, "seed": 0},
            "executor": {"kind": "process", "workers": 2}, "export": {"pick": "none"}}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def front_points(folder: Path, verified: bool) -> np.ndarray:
    rows = json.loads((folder / "pareto.json").read_text())["front"]
    quality = [r["supernet"]["perplexity"] if verified else r["objectives"]["perplexity"] for r in rows]
    return np.array([[q, r["objectives"]["latency_ms"]] for q, r in zip(quality, rows)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--population", type=int, default=40)
    parser.add_argument("--generations", type=int, default=40)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--supernet", type=Path, default=None)
    args = parser.parse_args()
    quiet = lambda message: None  # noqa: E731
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        supernet = args.supernet
        if supernet is None:
            start = time.perf_counter()
            path = config(folder, "train", None, "supernet", args)
            run = Run(load_run_config(path), folder, quiet)
            run.open()
            train_or_check_supernet(run)
            supernet = folder / "train" / "supernet"
            print(f"supernet: {yaml.safe_load(DEMO.read_text())['supernet']['steps']} steps in "
                  f"{time.perf_counter() - start:.0f} s")
        seconds = {}
        for name, source in (("direct", "supernet"), ("predicted", "predictor")):
            path = config(folder, name, supernet.resolve(), source, args)
            start = time.perf_counter()
            run_search(load_run_config(path), folder, quiet)
            seconds[name] = time.perf_counter() - start
        metrics = json.loads((folder / "predicted" / "quality" / "predictor" / "metrics.json").read_text())
        on_front = json.loads((folder / "predicted" / "pareto.json").read_text())["quality_predictor_on_front"]
        direct, predicted = front_points(folder / "direct", False), front_points(folder / "predicted", True)
        every = np.vstack([direct, predicted])
        worst, best = every.max(axis=0), every.min(axis=0)
        reference = (worst + 0.1 * (worst - best)).tolist()
        volume = {name: hypervolume(p[moocore.is_nondominated(p)], reference)
                  for name, p in (("direct", direct), ("predicted", predicted))}
    held = metrics["held_out"]
    print(f"quality predictor ({metrics['scored_networks']} networks scored on the supernet, fitted and measured "
          f"in {metrics['scoring_seconds']:.0f} s): Kendall tau {held['kendall_tau']:.3f} on {held['n']} held-out "
          f"networks (fitted on the other {metrics['held_out_fit_networks']}), MAPE {held['mape']:.2%}")
    tau = "n/a" if on_front["kendall_tau"] is None else f"{on_front['kendall_tau']:.3f}"
    print(f"on its own front, re-scored on the supernet: tau {tau}, mean error "
          f"{on_front['mean_abs_error']:.2%}, max {on_front['max_abs_error']:.2%}")
    print(f"{args.population} x {args.generations} search: on the supernet {seconds['direct']:.0f} s, on the "
          f"predictor {seconds['predicted']:.0f} s (scoring and fitting included): "
          f"{seconds['direct'] / seconds['predicted']:.1f}x faster")
    print(f"hypervolume (perplexity on the supernet, latency): predictor-steered front "
          f"{volume['predicted'] / volume['direct']:.3f} of the supernet-steered one "
          f"({volume['predicted']:.4g} vs {volume['direct']:.4g})")
    check("quality predictor Kendall tau, held out", held["kendall_tau"], HELD_OUT_TAU_BAR)
    if on_front["kendall_tau"] is None:
        skip("quality predictor Kendall tau on its front", "front too small for a tau")
    else:
        check("quality predictor Kendall tau on its front", on_front["kendall_tau"], FRONT_TAU_BAR)
    check("hypervolume predictor-steered / supernet-steered", volume["predicted"] / volume["direct"], HYPERVOLUME_BAR)
    check("search time on the supernet / on the predictor", seconds["direct"] / seconds["predicted"], SPEEDUP_BAR)
    exit_if_missed()


if __name__ == "__main__":
    main()
