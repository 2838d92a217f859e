"""Which stages a run has, in order, and running them: `plan` names them for a config (NAS: a supernet space on
one accelerator; DSE: a fixed network with a hardware space; co-design: both spaces), `run_search` and `run_all`
take the folder's lock, claim the folder (`Run.open`) and run each step of the plan. After the search, the
front is chosen from (`choose`), the chosen network compared with the largest (`summarise`), and the
co-design front's accelerators written as hardware files (`write_designs`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import yaml

from nas.codec import Candidate
from nas.config import RunConfig
from nas.evolution import SearchResult
from nas.pipeline import stages
from nas.pipeline.folder import Run, check_output, read_own
from nas.pipeline.verify import verified_value, verify_front
from predictors.accelerator.hardware import AcceleratorConfig
from supernet.space import ArchConfig
from userfiles import UserInputError
from userfiles.folders import atomic_folder, check_target
from userfiles.locks import folder_lock


def mode(config: RunConfig) -> str:
    """`nas` (networks on one accelerator), `dse` (accelerators for one network) or `codesign` (both)."""
    if config.space is None:
        return "dse"
    return "codesign" if config.codesign else "nas"


def plan(config: RunConfig, export: bool = False) -> list[str]:
    """The steps of a run, in order: `hwnas search` without `export`, `hwnas run` with it. The predictors step
    builds the latency data when it trains a predictor; the supernet is trained (or a given one checked) when a
    quality objective or the export reads it; a DSE run has neither a supernet nor an export."""
    steps = []
    if stages.predictor_targets(config):
        steps.append("predictors")
    if stages.needs_supernet(config):
        steps.append("supernet")
    if stages.needs_quality_predictor(config):
        steps.append("quality_predictor")
    steps += ["search", "verify", "front"]
    if config.codesign:
        steps.append("designs")
    if export and config.export.pick != "none" and config.space is not None:
        steps.append("export")
    return steps + ["report"]


@dataclass
class Products:
    """What the steps hand on to each other."""

    predictors: dict = field(default_factory=dict)  # target -> fingerprint
    supernet: Path | None = None
    supernet_fp: str | None = None
    quality_fp: str | None = None
    result: SearchResult | None = None
    summary: dict | None = None
    chosen: dict | None = None  # `summarise` of the exported network, and of the largest
    largest: dict | None = None
    export: dict | None = None
    report: Path | None = None
    exporting: bool = False  # this run has an export step (`hwnas run`)


def _predictors(run: Run, p: Products, on_generation) -> None:
    p.predictors = stages.predictors(run)


def _supernet(run: Run, p: Products, on_generation) -> None:
    p.supernet, p.supernet_fp = stages.supernet(run)


def _quality_predictor(run: Run, p: Products, on_generation) -> None:
    p.quality_fp = stages.quality_predictor(run, p.supernet, p.supernet_fp)


def _search(run: Run, p: Products, on_generation) -> None:
    upstream = {"predictors": p.predictors, "supernet": p.supernet_fp}
    if p.quality_fp is not None:
        upstream["quality_predictor"] = p.quality_fp
    p.result = stages.search(run, p.supernet, upstream, on_generation=on_generation)


def _verify(run: Run, p: Products, on_generation) -> None:
    p.summary = run.summary_ = verify_front(run, p.result, p.supernet)


def _front(run: Run, p: Products, on_generation) -> None:
    from nas.report import write_front

    write_front(run, p.result, p.summary, choose(run, p.result, p.summary))


def _designs(run: Run, p: Products, on_generation) -> None:
    write_designs(run.root / "hardware", p.summary["front"])


def _export(run: Run, p: Products, on_generation) -> None:
    from supernet.evaluate import SubnetEvaluator
    from supernet.store import load_supernet, read_card
    from supernet.tasks import load_task_data

    cfg = run.config
    picked = choose(run, p.result, p.summary)
    if picked is None:  # nothing met the constraints
        return
    folder = stages.supernet_dir(cfg, run.config_dir)
    model = load_supernet(folder)
    evaluator = SubnetEvaluator(model, load_task_data(run.train_config()), cfg.supernet.seq_len,
                                cfg.supernet.batch_size, cfg.supernet.eval_windows)
    quality_name = "accuracy" if cfg.supernet.task == "classification" else "perplexity"
    arch, hw = (picked[0].arch, picked[0].hw) if cfg.codesign else (picked[0], run.hw)
    p.chosen = summarise(run, arch, model, evaluator, quality_name, hw)
    p.largest = summarise(run, cfg.space.largest(), model, evaluator, quality_name, run.hw)
    p.export = stages.export(run, picked, model, run.train_config().model_dump(exclude={"checkpoint"}),
                             read_card(folder).get("labels"))


def _report(run: Run, p: Products, on_generation) -> None:
    """`report.md`, by `hwnas run` and `hwnas search` alike: a search rewrites it, so that it never describes an
    earlier search (the search alone picks and exports nothing, and the report says so)."""
    from nas.report import write_report

    searched_only = not p.exporting and "export" in plan(run.config, export=True)
    p.report = write_report(run, p.result, p.chosen, p.largest, predictor_metrics(run), p.export,
                            searched_only=searched_only)
    run.log(f"[report] {p.report}")


STEPS: dict[str, Callable[[Run, Products, Callable | None], None]] = {
    "predictors": _predictors, "supernet": _supernet, "quality_predictor": _quality_predictor, "search": _search,
    "verify": _verify, "front": _front, "designs": _designs, "export": _export, "report": _report}


def _run_plan(config: RunConfig, config_dir: Path, log: Callable[[str], None],
              on_generation: Callable[[dict], None] | None, export: bool) -> tuple[Run, Products]:
    run = Run(config, config_dir, log)
    check_output(run.root)  # before the lock creates the folder (and again under it, in `open`)
    with folder_lock(run.root, log):
        run.open()
        products = Products(exporting=export)
        steps = plan(config, export)
        if "designs" in steps:  # refused before the search, not after it
            check_target(run.root / "hardware")
        for step in steps:
            STEPS[step](run, products, on_generation)
    return run, products


def run_search(config: RunConfig, config_dir: Path, log: Callable[[str], None] = print,
               on_generation: Callable[[dict], None] | None = None) -> tuple[Run, SearchResult]:
    """Every stage up to and including the search and its verification; writes pareto.json/csv, the plots, the
    co-design front's hardware files and `report.md` (without an export)."""
    run, products = _run_plan(config, config_dir, log, on_generation, export=False)
    return run, products.result


def run_all(config: RunConfig, config_dir: Path, log: Callable[[str], None] = print,
            on_generation: Callable[[dict], None] | None = None) -> dict:
    """The whole pipeline: search, verification, export of the chosen sub-network, and `report.md`."""
    run, p = _run_plan(config, config_dir, log, on_generation, export=True)
    return {"run": run, "result": p.result, "chosen": p.chosen, "largest": p.largest, "export": p.export,
            "report": p.report}


def predictor_metrics(run: Run) -> dict:
    """The held-out metrics of each latency/energy predictor the search used, for the report."""
    folders = {folder.name.removeprefix("predictor_"): folder for folder in (run.root / "latency").glob("predictor_*")}
    if run.config.predictor.path:
        folders["latency_ms"] = run.config_dir / run.config.predictor.path
    return {target: read_metrics(folder / "metrics.json") for target, folder in sorted(folders.items())
            if target in run.predictors_ and (folder / "metrics.json").is_file()}


METRIC_KEYS = ("mape", "max_rel_error", "kendall_tau", "within_5pct")  # what the report shows of the test split


def read_metrics(path: Path) -> dict:
    """A latency/energy predictor's `metrics.json`, checked to hold what the report shows (its model, and finite
    test-split numbers); damaged, one line naming it."""
    advice = f"retrain the predictor in {path.parent} (`hwnas predictor train`, or delete it in a run folder)"
    metrics = read_own(path, "predictor metrics", advice)
    test = metrics.get("test") if isinstance(metrics, dict) else None
    if not isinstance(metrics, dict) or not isinstance(metrics.get("model"), str) or not isinstance(test, dict):
        raise UserInputError(f"{path}: damaged predictor metrics (expected a mapping with model and test); {advice}")
    for key in METRIC_KEYS:
        value = test.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise UserInputError(f"{path}: damaged predictor metrics (test.{key}: expected a finite number, got "
                                 f"{value!r}); {advice}")
    return metrics


def write_designs(folder: Path, front: list[dict]) -> None:
    """Each front member's accelerator as `hardware/<rank>.yaml`: a complete hardware file that
    `hwnas simulate --hardware FILE` takes as it is. The folder is written whole (`userfiles.folders`, with a
    manifest): an earlier front's folder, which hwnas wrote and nobody changed, is replaced, files of a longer
    front included; a folder holding anything else (a user's own hardware file, an edited design) is refused
    in one line, and nothing in it is touched."""
    with atomic_folder(folder) as tmp:
        for row in front:
            settings = AcceleratorConfig.model_validate(row["hardware"]).settings()  # what memory: derives, left out
            (tmp / f"{row['rank']}.yaml").write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")


def choose(run: Run, result: SearchResult, summary: dict | None = None) -> tuple[ArchConfig | Candidate, dict] | None:
    """The front member to export: the best quality (`best`; by its supernet score where the search used a
    predicted one and `summary` holds the re-scored front) or the lowest latency (`fastest`; without a latency
    objective, the first hardware one)."""
    cfg = run.config
    if cfg.export.pick == "none" or not result.front or cfg.space is None:  # a fixed network has nothing to export
        return None
    quality = cfg.quality_objective
    if cfg.export.pick == "best" and quality is not None:
        verified = {r["key"]: verified_value(r, quality.name) for r in (summary or {}).get("front", [])}
        return min(result.front, key=lambda m: quality.info.sign * verified.get(m[0].key, m[1][quality.name]))
    names = [o.name for o in cfg.objectives]
    hardware = "latency_ms" if "latency_ms" in names else next(
        (o.name for o in cfg.objectives if o.info.hardware), names[0])
    return min(result.front, key=lambda m: m[1][hardware])


def summarise(run: Run, arch: ArchConfig, model, evaluator, quality_name: str,
              hw: AcceleratorConfig | None) -> dict:
    """Latency and energy on `hw` (simulated; for a measured device, latency predicted and no energy), inherited
    quality and size of one architecture."""
    if hw is not None:
        report = run.config.simulator(hw).simulate(arch, run.config.workload)
        latency, energy, source = report.latency_ms, report.energy_mj, "simulated"
    else:
        latency, energy, source = float(run.predictors_["latency_ms"].predict([arch])[0]), None, "predicted"
    (quality,) = evaluator.evaluate([arch])
    return {"describe": arch.describe(), "latency_ms": latency, "energy_mj": energy, "source": source,
            "quality": quality[quality_name], "quality_name": quality_name, "params": model.num_params(arch)}
