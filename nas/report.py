"""What a search leaves behind: `pareto.json`, `pareto.csv`, the plots and `report.md`. It only writes; the
verification it reports (the front re-scored on the simulator) is a search step, in `nas.pipeline.verify`.

`pareto.png` shows every evaluated candidate (those meeting the constraints and those violating them, each counted
in the legend as in the report), the front, the constraint bounds, the chosen member and the largest architecture,
with axes labelled by the objective registry (quantity and unit). `hypervolume.png` shows the hypervolume per
generation as a share of the box between the ideal point and the reference point. JSON is strict: a value that
was never computed or is infinite is written as null, never as `Infinity`/`NaN`, so any parser reads it.
"""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from nas.evolution import SearchResult  # noqa: E402
from nas.objectives import REGISTRY  # noqa: E402
from userfiles import atomic_write, atomic_write_json  # noqa: E402

NULL_MEANS = ("null: not computed (an expensive objective, such as supernet quality, is scored only for candidates "
              "that meet the constraints on cheap ones) or not finite")


def write_front(run, result: SearchResult, summary: dict, chosen: tuple | None) -> None:
    """`pareto.json` (the verification summary), `pareto.csv` (one row per front member) and both plots."""
    names = summary["objectives"]
    atomic_write_json(run.root / "pareto.json", {**summary, "null_means": NULL_MEANS})
    rows = summary["front"]
    flat = pd.DataFrame([{"rank": r["rank"], "key": r["key"], "arch": r["describe"],
                          **{n: r["objectives"][n] for n in names},
                          **{f"simulated_{k}": v for k, v in (r["simulated"] or {}).items()},
                          **{f"supernet_{k}": v for k, v in (r.get("supernet") or {}).items()},
                          "still_pareto": r.get("still_pareto")} for r in rows])
    atomic_write(run.root / "pareto.csv", lambda tmp: flat.to_csv(tmp, index=False))
    token = "byte" if run.config.supernet.tokenizer is None else "token"
    pareto_plot(result, names, run.config.constraints, chosen, run.root / "pareto.png",
                f"{run.config.name}: {run.target}", token)
    hypervolume_plot(result, names, run.root / "hypervolume.png")


def _axes(names: list[str]) -> tuple[str, str]:
    """x: the first hardware (or size) objective; y: the quality objective, or the other one."""
    x = next((n for n in names if not REGISTRY[n].quality), names[0])
    y = next((n for n in names if REGISTRY[n].quality), next(n for n in names if n != x))
    return x, y


def pareto_plot(result: SearchResult, names: list[str], constraints, chosen: tuple | None, path: Path, title: str,
                token: str = "token") -> None:
    fig = pareto_figure(result, names, constraints, chosen, title, token)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)


def pareto_figure(result: SearchResult, names: list[str], constraints, chosen: tuple | None, title: str,
                  token: str = "token"):
    """Every evaluated candidate, split by whether it meets the constraints (the legend counts add up to the
    report's number of evaluations; candidates never scored on the y objective sit on the top edge), the front,
    the constraint bounds on the plotted objectives, the chosen member and the largest architecture."""
    x, y = _axes(names)
    records = [r for _, r in result.evaluated.values()]
    feasible = [r for r in records if r["violation"] == 0]
    infeasible = [r for r in records if r["violation"] > 0]
    fig, ax = plt.subplots(figsize=(6.4, 4.6), dpi=110)
    ax.scatter([r[x] for r in feasible], [r[y] for r in feasible], s=8, color="grey", alpha=0.3,
               label=f"meets the constraints ({len(feasible)})")
    scored = [r for r in infeasible if np.isfinite(r[y])]
    unscored = [r for r in infeasible if not np.isfinite(r[y])]
    ax.scatter([r[x] for r in scored], [r[y] for r in scored], s=10, marker="x", color="tab:orange", alpha=0.5,
               label=f"violates them ({len(infeasible)}" + (f"; {len(unscored)} not scored, on the top edge)"
                                                             if unscored else ")"))
    front = sorted((r for _, r in result.front), key=lambda r: r[x])
    ax.plot([r[x] for r in front], [r[y] for r in front], marker="o", ms=5, color="tab:red",
            label=f"Pareto front ({len(front)})")
    for c in constraints:
        if c.objective in (x, y):
            line = ax.axvline if c.objective == x else ax.axhline
            line(c.value, color="black", linestyle="--", linewidth=0.9, label=f"constraint {c}")
    if chosen is not None:
        ax.scatter([chosen[1][x]], [chosen[1][y]], marker="D", s=70, facecolor="none", edgecolor="tab:green",
                   linewidth=2, label="chosen for export", zorder=6)
    if result.largest is not None and np.isfinite(result.largest[1][y]):
        ax.scatter([result.largest[1][x]], [result.largest[1][y]], marker="*", s=180, color="tab:blue",
                   label="largest architecture", zorder=5)
    # on the top edge: an axes-relative height does not widen the x range by itself, so widen it; a candidate with
    # no value on either axis (a design that cannot run the workload at all) has no place on the plot
    xs = [r[x] for r in unscored if np.isfinite(r[x])]
    if xs:
        ax.scatter(xs, [1.0] * len(xs), s=14, marker="|", color="tab:orange", alpha=0.5,
                   transform=ax.get_xaxis_transform(), clip_on=False)
        bounds = [c.value for c in constraints if c.objective == x]
        lo, hi = ax.get_xlim() if len(xs) < len(records) else (min(xs + bounds), max(xs + bounds))
        pad = 0.05 * ((max(hi, *xs) - min(lo, *xs)) or 1.0)
        ax.set_xlim(min(lo, *xs) - pad, max(hi, *xs) + pad)
        if len(xs) == len(records):
            ax.set_yticks([])  # no candidate has a value on this axis
    ax.set_xlabel(REGISTRY[x].label(token) if x in REGISTRY else x)
    ax.set_ylabel(REGISTRY[y].label(token) if y in REGISTRY else y)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def normalised_hypervolume(result: SearchResult, names: list[str]) -> list[float]:
    """Hypervolume per generation as a share of the box between the ideal point (the best feasible value per
    objective over the whole run) and the reference point, so 1 would mean one candidate best at everything."""
    if not result.reference_point:
        return [0.0 for _ in result.history]
    signs = np.array([REGISTRY[n].sign if n in REGISTRY else 1.0 for n in names])
    points = np.array([[r[n] for n in names] for _, r in result.evaluated.values() if r["violation"] == 0],
                      dtype=float).reshape(-1, len(names)) * signs
    points = points[np.isfinite(points).all(axis=1)]
    box = float(np.prod(np.clip(np.asarray(result.reference_point) - points.min(axis=0), 0, None))) \
        if len(points) else 0.0
    return [h["hypervolume"] / box if box > 0 else 0.0 for h in result.history]


def hypervolume_plot(result: SearchResult, names: list[str], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5, 3.4), dpi=110)
    ax.plot([h["generation"] for h in result.history], normalised_hypervolume(result, names), marker=".")
    ax.set_xlabel("generation")
    ax.set_ylabel("hypervolume (share of ideal-to-reference box)", fontsize=8)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)


def write_report(run, result: SearchResult, chosen: dict | None, largest_row: dict | None, predictor_metrics: dict,
                 export_record: dict | None, searched_only: bool = False) -> Path:
    """`report.md`: the setup, the predictor's accuracy, the front (or, when nothing met the constraints, the
    closest candidates), and the chosen network against the largest. `searched_only`: written by `hwnas search`,
    which picks and exports nothing; the report says so (and replaces one an earlier `hwnas run` wrote)."""
    cfg = run.config
    names = [o.name for o in cfg.objectives]
    pareto = json.loads((run.root / "pareto.json").read_text())
    feasible = sum(1 for _, r in result.evaluated.values() if r["violation"] == 0)
    lines = [f"# {cfg.name}: hardware-aware search on {run.target}", "",
             f"- Workload: {cfg.workload.describe()}",
             _space_line(run),
             f"- Objectives: {', '.join(names)}; constraints: {', '.join(map(str, cfg.constraints)) or 'none'}",
             f"- Search: {cfg.search.algorithm}, population {cfg.search.population}, {cfg.search.generations} "
             f"generations, seed {cfg.search.seed}: {len(result.evaluated):,} "
             f"{'(network, accelerator) pairs' if cfg.codesign else 'architectures'} evaluated, "
             f"{feasible:,} meeting the constraints", ""]
    if predictor_metrics:
        lines += ["## Latency predictor (held-out test split)", "",
                  "| target | model | MAPE | max error | Kendall tau | within 5% |", "|---|---|---|---|---|---|"]
        for target, m in predictor_metrics.items():
            t = m["test"]
            lines.append(f"| {target} | {m['model']} | {t['mape']:.2%} | {t['max_rel_error']:.2%} | "
                         f"{t['kendall_tau']:.4f} | {t['within_5pct']:.1%} |")
        scatter = "latency/predictor_latency_ms/scatter.png"
        lines += ["", f"![predictor scatter]({scatter})", ""] if (run.root / scatter).is_file() else [""]
    lines += _quality_predictor_section(run, pareto)
    verified = pareto["verified_on_simulator"]
    err = pareto["predictor_error_on_front"]
    if not verified:
        check = f"not verified on a simulator, because {pareto['not_verified_because']}"
    elif err["mean_abs"] is not None:
        check = (f"re-simulated, the predictor's error on the front is {err['mean_abs']:.2%} on average and "
                 f"{err['max_abs']:.2%} at most; {len(pareto['no_longer_pareto'])} point(s) are no longer "
                 "Pareto-optimal on simulated values")
    elif cfg.codesign:
        check = "every design scored on the simulator itself"
    elif pareto.get("quality_predictor_on_front"):
        check = (f"simulated, and quality re-scored on the supernet (see the quality predictor above); "
                 f"{len(pareto['no_longer_pareto'])} point(s) are no longer Pareto-optimal on re-scored values")
    else:
        check = "re-simulated (no predicted objective)"
    lines += ["## Pareto front", "", "![Pareto front](pareto.png) ![hypervolume](hypervolume.png)", "",
              f"{len(result.front)} architectures; {check}.", ""]
    verified = verified and not cfg.codesign  # a co-design front was scored on the simulator itself
    if pareto["front"] and not cfg.codesign:
        sim_col = " simulated latency (ms) | still Pareto |" if verified else ""
        lines += ["| # | architecture | " + " | ".join(names) + " |" + sim_col,
                  "|---|---|" + "---|" * len(names) + ("---|---|" if verified else "")]
        for row in pareto["front"]:
            cells = " | ".join(_cell(row["objectives"][n]) for n in names)
            extra = (f" {row['simulated']['latency_ms']:.4g} | {'yes' if row.get('still_pareto', True) else 'no'} |"
                     if verified else "")
            lines.append(f"| {row['rank']} | {row['describe']} | {cells} |{extra}")
    if pareto["closest"]:
        lines += [f"**No candidate met the constraints** ({', '.join(pareto['constraints'])}). The "
                  f"{len(pareto['closest'])} closest (least total violation, relative to each bound):", "",
                  "| architecture | violation | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
        for row in pareto["closest"]:
            cells = " | ".join(_cell(row["objectives"][n]) for n in names)
            lines.append(f"| {row['describe']} | {row['violation']:.3g} | {cells} |")
        lines += ["", "(-: not scored; expensive objectives are scored only for candidates that meet the cheap "
                  "constraints. A violation counts the constraints and, where the designs declare a memory system "
                  "or search the datapath, the share by which the model overflows the design's DRAM, or 1 for a "
                  "datapath that cannot run the workload's precision or weight width.)"]
    if cfg.codesign and pareto["front"]:
        lines += _design_section(run, pareto)
    if chosen and largest_row:
        source = chosen["source"]
        lines += ["", f"## Chosen sub-network ({cfg.export.pick} under the constraints) against the largest", "",
                  "| | chosen | largest | ratio |", "|---|---|---|---|"]
        for key, label in (("latency_ms", f"latency (ms, {source})"), ("energy_mj", f"energy (mJ, {source})"),
                           ("quality", chosen["quality_name"]), ("params", "parameters")):
            a, b = chosen[key], largest_row[key]
            if a is not None and b is not None:
                lines.append(f"| {label} | {a:.4g} | {b:.4g} | {a / b:.3f}x |")
        lines += ["", f"Chosen: `{chosen['describe']}`."]
    if export_record:
        check = (f"max |difference| {export_record['max_abs_diff']:.1e} against the supernet"
                 if export_record["checked"] else "not checked (onnxruntime not installed)")
        lines += ["", f"Exported as `{export_record['format']}` to `subnets/chosen` ({check})."]
    if searched_only:
        lines += ["", f"Written by `hwnas search`, which picks and exports nothing: `hwnas run` adds the chosen "
                  f"sub-network ({cfg.export.pick}) against the largest and its export to `subnets/chosen`."]
    path = run.root / "report.md"
    atomic_write(path, lambda tmp: tmp.write_text("\n".join(lines) + "\n"))
    return path


def _space_line(run) -> str:
    cfg = run.config
    if cfg.space is not None:
        space = cfg.space
        family = f"{space.family} " if space.family else ""
        kv = f", key/value heads {list(space.kv_heads)}" if space.kv_heads else ""
        networks = (f"{space.size():,} {family}architectures (depth {list(space.depth)}, hidden "
                    f"{list(space.embed_dim)}, heads {list(space.heads)}{kv}, FFN {space.ffn_dim[0]}-{space.ffn_dim[-1]})")
    else:
        networks = f"one network, {cfg.fixed_arch(run.config_dir).describe()}"
    if not cfg.codesign:
        return f"- Search space: {networks}"
    accelerators = cfg.accelerators(run.config_dir)
    return f"- Search space: {networks} x {accelerators.size():,} accelerators over {accelerators.extends}"


def _design_section(run, pareto: dict) -> list[str]:
    """The designs of a co-design front against the accelerator the hardware space extends, each with what it
    changed in words, and the front's first member (best on the first objective) in detail."""
    from predictors.accelerator.hardware import AcceleratorConfig
    from predictors.accelerator.hardware_space import design_changes

    names = pareto["objectives"]
    base, baseline = run.hw, pareto["largest"]
    lines = ["", f"## Designs against the baseline `{base.name}`", "",
             f"Baseline ({baseline['describe']}): " + ", ".join(f"{n} {_cell(baseline['objectives'][n])}"
                                                              for n in names), "",
             "| # | " + " | ".join(names) + " | vs baseline | what changed |", "|---|" + "---|" * (len(names) + 2)]
    first = "latency_ms" if "latency_ms" in names else names[0]
    for row in pareto["front"]:
        hw = AcceleratorConfig.model_validate(row["hardware"])
        old, new = baseline["objectives"][first], row["objectives"][first]
        ratio = old / new if old is not None and new else None  # > 1: better than the baseline (all minimised)
        changes = "; ".join(design_changes(base, hw)) or "nothing"
        lines.append(f"| {row['rank']} | " + " | ".join(_cell(row["objectives"][n]) for n in names)
                     + f" | {_cell(ratio)}x {first} | {changes} |")
    lines += ["", "Each design is in `hardware/<#>.yaml`, a file `hwnas simulate --hardware` takes as it is."]
    overlap = {AcceleratorConfig.model_validate(row["hardware"]).fold_overlap for row in pareto["front"]}
    lines += ["", "Dataflows were ranked with " + ("weights double-buffered in the PEs (fold_overlap: true: WS "
              "weight reloads hidden)" if overlap == {True} else "weights loaded between folds (fold_overlap: "
              "false: WS pays each reload)" if overlap == {False} else "fold_overlap searched (each design says "
              "which; the second weight register is priced in PE area)") + "."]
    gaps = [row["mapping_energy"] for row in pareto["front"] if row.get("mapping_energy")]
    if gaps:
        worst = max(gaps, key=lambda g: g["used_mj"] / g["energy_optimal_mj"] if g["energy_optimal_mj"] else 0)
        lines.append(f"Mapped by {worst['mapper']} for {worst['objective']}: the front's designs spend up to "
                     f"{worst['used_mj'] / worst['energy_optimal_mj'] - 1:.1%} more energy than their energy-optimal "
                     "mappings would (`mapping_energy` per design in pareto.json).")
    return lines


def _cell(value) -> str:
    return "-" if value is None else f"{value:.4g}"


def _quality_predictor_section(run, pareto: dict) -> list[str]:
    """The quality predictor's error where it was fitted (held-out networks) and where it mattered (the front it
    steered the search to, re-scored on the supernet)."""
    path = run.root / "quality" / "predictor" / "metrics.json"
    check = pareto.get("quality_predictor_on_front")
    if check is None or not path.is_file():
        return []
    metrics = json.loads(path.read_text())
    held = metrics["held_out"]
    share = lambda v: "-" if v is None else f"{v:.2%}"  # noqa: E731 - null: not finite (a score of 0)
    number = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
    return ["## Quality predictor", "",
            f"The search scored {check['objective']} with a model of {metrics['scored_networks']} networks scored on "
            f"the supernet ({metrics['scoring_seconds']:.0f} s with fitting), not with the supernet itself. Its error "
            f"was measured with {held['n']} of them held out (fitted on the other "
            f"{metrics['held_out_fit_networks']}), then it was refitted on all; the front it found was re-scored on "
            f"the supernet, and {len(pareto['no_longer_pareto'])} member(s) are no longer Pareto-optimal on "
            "re-scored values.", "",
            "| where | networks | Kendall tau | MAPE (mean abs. error) | max error |", "|---|---|---|---|---|",
            f"| held-out networks | {held['n']} | {number(held['kendall_tau'])} | {share(held['mape'])} | "
            f"{share(held['max_rel_error'])} |",
            f"| the front, re-scored on the supernet | {pareto['front_size']} | {number(check['kendall_tau'])} | "
            f"{share(check['mean_abs_error'])} | {share(check['max_abs_error'])} |", ""]
