"""What a search leaves behind: the front re-scored on the simulator, tables and plots.

The search ranks candidates with a learned predictor; here every front member is simulated (ground truth), the
predictor's error on the front is reported, and members that are no longer Pareto-optimal once the simulated
values replace the predicted ones are flagged. Writes `pareto.json`, `pareto.csv`, `pareto.png` (every evaluated
point faded, the front highlighted, the largest architecture marked) and `hypervolume.png`.
"""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from nas.config import OBJECTIVES  # noqa: E402
from nas.evolution import SearchResult  # noqa: E402
from predictors.systolic import SystolicSimulator  # noqa: E402
from userfiles import atomic_write, atomic_write_json  # noqa: E402

HARDWARE = ("latency_ms", "energy_mj", "edp")


def _nondominated(points_min: np.ndarray) -> np.ndarray:
    """Mask of rows not dominated by any other row (all objectives minimised)."""
    n = len(points_min)
    keep = np.ones(n, dtype=bool)
    for i in range(n):
        dominated = np.all(points_min <= points_min[i], axis=1) & np.any(points_min < points_min[i], axis=1)
        keep[i] = not dominated.any()
    return keep


def verify_front(run, result: SearchResult, predictors: dict) -> list[dict]:
    cfg = run.config
    names = [o.name for o in cfg.objectives]
    sim = SystolicSimulator(run.hw)
    rows = []
    for rank, (arch, record) in enumerate(result.front):
        report = sim.simulate(arch, cfg.workload)
        simulated = {"latency_ms": report.latency_ms, "energy_mj": report.energy_mj, "edp": report.edp}
        row = {"rank": rank, "key": arch.key, "arch": arch.to_dict(), "describe": arch.describe(),
               "objectives": {n: record[n] for n in names}, "simulated": simulated, "predictor_error": {}}
        for name in names:
            if name in HARDWARE:
                row["predictor_error"][name] = record[name] / simulated[name] - 1
        rows.append(row)
    if rows:
        verified = np.array([[(r["simulated"][n] if n in HARDWARE else r["objectives"][n])
                              * (-1 if OBJECTIVES[n][0] == "max" else 1) for n in names] for r in rows])
        for row, still in zip(rows, _nondominated(verified)):
            row["still_pareto"] = bool(still)
    errors = [abs(e) for r in rows for e in r["predictor_error"].values()]
    summary = {"hardware": run.hw.name, "workload": cfg.workload.model_dump(mode="json"), "objectives": names,
               "constraints": [str(c) for c in cfg.constraints], "front_size": len(rows),
               "evaluations": len(result.evaluated),
               "predictor_error_on_front": {"mean_abs": float(np.mean(errors)) if errors else None,
                                            "max_abs": float(np.max(errors)) if errors else None},
               "no_longer_pareto": [r["key"] for r in rows if not r.get("still_pareto", True)],
               "largest": _largest(result, names), "front": rows}
    atomic_write_json(run.root / "pareto.json", summary)
    flat = pd.DataFrame([{"rank": r["rank"], "key": r["key"], "arch": r["describe"],
                          **{n: r["objectives"][n] for n in names},
                          **{f"simulated_{k}": v for k, v in r["simulated"].items()},
                          "still_pareto": r.get("still_pareto")} for r in rows])
    atomic_write(run.root / "pareto.csv", lambda tmp: flat.to_csv(tmp, index=False))
    pareto_plot(result, names, run.root / "pareto.png", f"{cfg.name}: {run.hw.name}")
    hypervolume_plot(result.history, run.root / "hypervolume.png")
    return rows


def _largest(result: SearchResult, names: list[str]) -> dict | None:
    if result.largest is None:
        return None
    arch, record = result.largest
    return {"key": arch.key, "describe": arch.describe(), "objectives": {n: record[n] for n in names}}


def _axes(names: list[str]) -> tuple[str, str]:
    """x: the first hardware (or size) objective; y: the quality objective, or the other one."""
    x = next((n for n in names if OBJECTIVES[n][1] in ("hardware", "model")), names[0])
    y = next((n for n in names if OBJECTIVES[n][1] == "supernet"), next(n for n in names if n != x))
    return x, y


def pareto_plot(result: SearchResult, names: list[str], path: Path, title: str) -> None:
    x, y = _axes(names)
    everything = [r for _, r in result.evaluated.values() if np.isfinite(r[x]) and np.isfinite(r[y])]
    fig, ax = plt.subplots(figsize=(6, 4.4), dpi=110)
    ax.scatter([r[x] for r in everything], [r[y] for r in everything], s=8, color="grey", alpha=0.25,
               label=f"evaluated ({len(everything)})")
    front = sorted((r for _, r in result.front), key=lambda r: r[x])
    ax.plot([r[x] for r in front], [r[y] for r in front], marker="o", ms=5, color="tab:red",
            label=f"Pareto front ({len(front)})")
    if result.largest is not None and np.isfinite(result.largest[1][y]):
        ax.scatter([result.largest[1][x]], [result.largest[1][y]], marker="*", s=180, color="tab:blue",
                   label="largest architecture", zorder=5)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)


def hypervolume_plot(history: list[dict], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5, 3.4), dpi=110)
    ax.plot([h["generation"] for h in history], [h["hypervolume"] for h in history], marker=".")
    ax.set_xlabel("generation")
    ax.set_ylabel("hypervolume (fixed reference point)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)


def write_report(run, result: SearchResult, chosen: dict | None, largest_row: dict | None, predictor_metrics: dict,
                 export_record: dict | None) -> Path:
    """`report.md`: the setup, the predictor's accuracy, the front, and the chosen network against the largest."""
    cfg = run.config
    names = [o.name for o in cfg.objectives]
    pareto = json.loads((run.root / "pareto.json").read_text()) if (run.root / "pareto.json").is_file() else {"front": []}
    lines = [f"# {cfg.name}: hardware-aware search on {run.hw.name}", "",
             f"- Workload: {cfg.workload.describe()}",
             f"- Search space: {cfg.space.size():,} architectures (depth {list(cfg.space.depth)}, hidden "
             f"{list(cfg.space.embed_dim)}, heads {list(cfg.space.heads)}, FFN {cfg.space.ffn_dim[0]}-"
             f"{cfg.space.ffn_dim[-1]})",
             f"- Objectives: {', '.join(names)}; constraints: {', '.join(map(str, cfg.constraints)) or 'none'}",
             f"- Search: {cfg.search.algorithm}, population {cfg.search.population}, {cfg.search.generations} "
             f"generations, seed {cfg.search.seed}: {len(result.evaluated):,} architectures evaluated", ""]
    if predictor_metrics:
        lines += ["## Latency predictor (held-out test split)", "",
                  "| target | model | MAPE | max error | Kendall tau | within 5% |", "|---|---|---|---|---|---|"]
        for target, m in predictor_metrics.items():
            t = m["test"]
            lines.append(f"| {target} | {m['model']} | {t['mape']:.2%} | {t['max_rel_error']:.2%} | "
                         f"{t['kendall_tau']:.4f} | {t['within_5pct']:.1%} |")
        lines += ["", "![predictor scatter](latency/predictor_latency_ms/scatter.png)", ""]
    err = pareto.get("predictor_error_on_front", {})
    lines += ["## Pareto front", "", "![Pareto front](pareto.png) ![hypervolume](hypervolume.png)", "",
              f"{len(result.front)} architectures; re-simulated, the predictor's error on the front is "
              + (f"{err['mean_abs']:.2%} on average and {err['max_abs']:.2%} at most"
                 if err.get("mean_abs") is not None else "not applicable (no predicted objective)")
              + f"; {len(pareto.get('no_longer_pareto', []))} point(s) are no longer Pareto-optimal on simulated values.",
              "", "| # | architecture | " + " | ".join(names) + " | simulated latency (ms) | still Pareto |",
              "|---|---|" + "---|" * len(names) + "---|---|"]
    for row in pareto["front"]:
        values = " | ".join(f"{row['objectives'][n]:.4g}" for n in names)
        lines.append(f"| {row['rank']} | {row['describe']} | {values} | {row['simulated']['latency_ms']:.4g} | "
                     f"{'yes' if row.get('still_pareto', True) else 'no'} |")
    if chosen and largest_row:
        lines += ["", f"## Chosen sub-network ({cfg.export.pick} under the constraints) against the largest", "",
                  "| | chosen | largest | ratio |", "|---|---|---|---|"]
        for key, label in (("latency_ms", "latency (ms, simulated)"), ("energy_mj", "energy (mJ, simulated)"),
                           ("quality", chosen["quality_name"]), ("params", "parameters")):
            a, b = chosen[key], largest_row[key]
            lines.append(f"| {label} | {a:.4g} | {b:.4g} | {a / b:.3f}x |")
        lines += ["", f"Chosen: `{chosen['describe']}`."]
    if export_record:
        check = (f"max |difference| {export_record['max_abs_diff']:.1e} against the supernet"
                 if export_record["checked"] else "not checked (onnxruntime not installed)")
        lines += ["", f"Exported as `{export_record['format']}` to `subnets/chosen` ({check})."]
    path = run.root / "report.md"
    atomic_write(path, lambda tmp: tmp.write_text("\n".join(lines) + "\n"))
    return path
