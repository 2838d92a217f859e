"""Verification of the front on the ground truths: hardware objectives a predictor gave are re-simulated, a
quality a predictor gave is re-scored on the supernet; how far each predictor was, and which members stop being
Pareto-optimal on verified values. Reads the run, writes nothing (the report writes what it finds)."""
from __future__ import annotations

from pathlib import Path

import moocore
import numpy as np

from nas.codec import Candidate
from nas.evolution import SearchResult
from nas.objectives import REGISTRY, quality_objective
from nas.pipeline.folder import Run
from predictors.accelerator.area import estimate_area

CLOSEST = 5  # infeasible candidates listed when nothing met the constraints


def verify_front(run: Run, result: SearchResult, supernet_folder: Path | None = None) -> dict:
    """Re-score the front on the ground truths: hardware objectives a predictor gave on the simulator, a quality
    a predictor gave on the supernet; say how far each predictor was from them and which members stop being
    Pareto-optimal on verified values. A measured device has no simulator: its latency stays unverified, with
    the reason. When nothing met the constraints, the closest candidates (least total violation) are listed
    instead, so the user sees how far the bounds are from reach."""
    cfg = run.config
    names = [o.name for o in cfg.objectives]
    sim = cfg.simulator(run.hw) if run.hw is not None else None
    if cfg.codesign:
        sim = None  # every hardware objective was scored on the simulator itself, for each design
    quality = cfg.quality_objective if supernet_folder is not None else None
    if quality is not None and quality.source != "predictor":
        quality = None
    archs = [candidate.arch if cfg.codesign else candidate for candidate, _ in result.front]
    scored = (quality_objective(quality.name, supernet_folder, run.train_config().model_dump(exclude={"checkpoint"}))
              .evaluate(archs) if quality is not None and archs else [])
    energy_matters = any(spec.name in ("energy_mj", "edp") and spec.source == "simulator" for spec in cfg.objectives)
    rows = []
    for rank, ((candidate, record), arch) in enumerate(zip(result.front, archs)):
        row = {"rank": rank, "key": candidate.key, "arch": arch.to_dict(), "describe": candidate.describe(),
               "objectives": {n: record[n] for n in names}, "simulated": None, "predictor_error": {}}
        if cfg.codesign:
            row["hardware"] = candidate.hw.model_dump(mode="json")
            row["area_mm2"] = estimate_area(candidate.hw).total_mm2
            if energy_matters:
                row["mapping_energy"] = mapping_energy(cfg, candidate.hw, arch)
        elif sim is not None:
            report = sim.simulate(arch, cfg.workload)
            row["simulated"] = {"latency_ms": report.latency_ms, "energy_mj": report.energy_mj, "edp": report.edp}
            for spec in cfg.objectives:
                if spec.info.hardware and spec.source == "predictor":
                    row["predictor_error"][spec.name] = record[spec.name] / row["simulated"][spec.name] - 1
        if quality is not None:
            row["supernet"] = {quality.name: float(scored[rank])}
            row["predictor_error"][quality.name] = record[quality.name] / scored[rank] - 1
        rows.append(row)
    verified_any = sim is not None or quality is not None
    if rows and verified_any:
        verified = np.array([[REGISTRY[n].sign * verified_value(r, n) for n in names] for r in rows])
        for row, still in zip(rows, still_pareto(verified)):
            row["still_pareto"] = bool(still)
    errors = [abs(e) for r in rows for n, e in r["predictor_error"].items() if REGISTRY[n].hardware]
    closest = [] if rows else sorted(result.evaluated.values(), key=lambda m: (m[1]["violation"], m[0].key))[:CLOSEST]
    return {"hardware": run.target, "workload": cfg.workload.model_dump(mode="json"), "objectives": names,
            "constraints": [str(c) for c in cfg.constraints], "front_size": len(rows),
            "evaluations": len(result.evaluated),
            "verified_on_simulator": sim is not None or cfg.codesign,
            "not_verified_because": None if sim is not None or cfg.codesign else
            f"the target is the {run.target}: there is no simulator for it; values come from its predictor",
            "predictor_error_on_front": {"mean_abs": float(np.mean(errors)) if errors else None,
                                         "max_abs": float(np.max(errors)) if errors else None},
            "quality_predictor_on_front": _quality_check(rows, quality.name) if quality is not None and rows else None,
            "no_longer_pareto": [r["key"] for r in rows if r.get("still_pareto") is False],
            "nothing_met_constraints": not rows and bool(cfg.constraints),
            "closest": [{"key": c.key, "describe": c.describe(), **_identity(c),
                         "violation": record["violation"], "objectives": {n: record[n] for n in names}}
                        for c, record in closest],
            "largest": _largest(result, names), "front": rows}


def mapping_energy(cfg, hw, arch) -> dict:
    """The energy of the mappings the run used and of the energy-optimal ones, for one design: under a cycles
    mapper, which of several equally fast mappings won decides part of a design's energy."""
    from predictors.accelerator.systolic import energy_optimal_mj

    used = cfg.simulator(hw)
    spent = used.simulate(arch, cfg.workload).energy_mj
    return {"mapper": used.mapper.name, "objective": used.objective, "used_mj": spent,
            "energy_optimal_mj": energy_optimal_mj(hw, arch, cfg.workload, spent)}


def verified_value(row: dict, name: str) -> float:
    """The ground-truth value of one objective of a front row: simulated, scored on the supernet, or as searched."""
    for source in ("simulated", "supernet"):
        if row.get(source) and name in row[source]:
            return row[source][name]
    return row["objectives"][name]


def _quality_check(rows: list[dict], name: str) -> dict:
    """How the quality predictor did on the front it steered the search to: its error and whether it kept the
    front's order (Kendall tau; undefined for fewer than two members)."""
    from scipy.stats import kendalltau

    predicted = [r["objectives"][name] for r in rows]
    actual = [r["supernet"][name] for r in rows]
    tau = float(kendalltau(predicted, actual).statistic) if len(rows) > 1 else None
    errors = [abs(r["predictor_error"][name]) for r in rows]
    return {"objective": name, "kendall_tau": tau if tau is None or np.isfinite(tau) else None,
            "mean_abs_error": float(np.mean(errors)), "max_abs_error": float(np.max(errors))}


def still_pareto(points_min: np.ndarray) -> np.ndarray:
    """Mask of rows (all objectives minimised) that no other row dominates; equal rows are all kept."""
    return moocore.is_nondominated(np.asarray(points_min, dtype=float), keep_weakly=True)


def _largest(result: SearchResult, names: list[str]) -> dict | None:
    if result.largest is None:
        return None
    candidate, record = result.largest
    return {"key": candidate.key, "describe": candidate.describe(), **_identity(candidate),
            "objectives": {n: record[n] for n in names}}


def _identity(candidate) -> dict:
    """A candidate as plain data: its network, and for co-design its accelerator too."""
    if isinstance(candidate, Candidate):
        return {"arch": candidate.arch.to_dict(), "hardware": candidate.hw.model_dump(mode="json")}
    return {"arch": candidate.to_dict()}
