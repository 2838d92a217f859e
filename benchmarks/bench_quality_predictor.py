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

from nas.config import load_run_config
from nas.evolution import hypervolume
from nas.pipeline import Run, run_search

DEMO = Path(__file__).resolve().parents[1] / "searches" / "demo.yaml"


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
            Run(load_run_config(path), folder, quiet).supernet()
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
        check = json.loads((folder / "predicted" / "pareto.json").read_text())["quality_predictor_on_front"]
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
    tau = "n/a" if check["kendall_tau"] is None else f"{check['kendall_tau']:.3f}"
    print(f"on its own front, re-scored on the supernet: tau {tau}, mean error "
          f"{check['mean_abs_error']:.2%}, max {check['max_abs_error']:.2%}")
    print(f"{args.population} x {args.generations} search: on the supernet {seconds['direct']:.0f} s, on the "
          f"predictor {seconds['predicted']:.0f} s (scoring and fitting included): "
          f"{seconds['direct'] / seconds['predicted']:.1f}x faster")
    print(f"hypervolume (perplexity on the supernet, latency): predictor-steered front "
          f"{volume['predicted'] / volume['direct']:.3f} of the supernet-steered one "
          f"({volume['predicted']:.4g} vs {volume['direct']:.4g})")


if __name__ == "__main__":
    main()
