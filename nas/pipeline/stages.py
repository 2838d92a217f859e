"""The stages of a run, one function each: what the stage reads (its inputs, fingerprinted by `Run.stage`),
whether its outputs already match (the done-check), and the work. A stage that was interrupted resumes: the
latency data, supernet training, the quality predictor's scoring and the search all continue from what they
saved; the export is redone whole (it is short).
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Callable

from nas.config import RunConfig
from nas.evolution import STATE_FILE, EvolutionarySearch, RandomSearch, SearchResult
from nas.objectives import quality_objective
from nas.parallel import executor
from nas.pipeline import problem
from nas.pipeline.folder import Run, content_fingerprint, read_own
from userfiles import UserInputError, atomic_write_json, parse_text, read_user_text
from userfiles.folders import check_target



def supernet_dir(config: RunConfig, config_dir: Path) -> Path:
    """The supernet a run uses: `supernet.checkpoint` (relative to the config file), or the one it trains."""
    if config.supernet.checkpoint:
        return config_dir / config.supernet.checkpoint
    return Path(config.output) / "supernet"


def latency_data(run: Run) -> tuple[Path, str]:
    """The simulated latency dataset the predictors are trained on; resumes a partly built one."""
    from predictors.learned.dataset import build_dataset, dataset_complete

    cfg = run.config
    path = run.root / "latency" / "data.parquet"
    inputs = {"space": cfg.space.fingerprint(), "hardware": run.hw.fingerprint(),
              "workload": cfg.workload.fingerprint(), "samples": cfg.predictor.samples, "seed": cfg.predictor.seed}

    def work():
        run.log(f"[latency-data] simulating {cfg.predictor.samples} architectures on {run.hw.name}")
        with executor(cfg.executor.kind, cfg.executor.workers, cfg.executor.address) as pool:
            build_dataset(cfg.space, run.hw, cfg.workload, cfg.predictor.samples, path, cfg.predictor.seed, pool.map)

    fp = run.stage("latency_data", inputs, lambda: dataset_complete(path, cfg.predictor.samples), work)
    return path, fp


def predictor_targets(config: RunConfig) -> list[str]:
    """The hardware targets the objectives take from a predictor (EDP from latency and energy)."""
    wanted = {o.name for o in config.objectives if o.info.hardware and o.source == "predictor"}
    return sorted({t for name in wanted for t in (("latency_ms", "energy_mj") if name == "edp" else (name,))})


def predictors(run: Run) -> dict[str, str]:
    """One predictor per hardware target the objectives take from a predictor: `predictor.path` for latency
    (checked against the run's setting), the others trained on the run's simulated latency data, which is
    built only when some predictor must be trained. Returns each target's fingerprint; the predictors are
    kept in `run.predictors_`."""
    from predictors.learned.evaluation import train_from_dataset
    from predictors.learned.latency_predictor import LatencyPredictor

    cfg = run.config
    expect = cfg.setting(run.config_dir)
    fingerprints: dict[str, str] = {}
    data: list[tuple[Path, str]] = []
    for target in predictor_targets(cfg):
        if cfg.predictor.path and target == "latency_ms":
            folder = run.config_dir / cfg.predictor.path
            run.predictors_[target] = LatencyPredictor.load(folder, expect=expect)
            fingerprints[target] = content_fingerprint(folder / "predictor.json")
            run.log(f"[predictor] {target}: {folder} (given)")
            continue
        data = data or [latency_data(run)]
        (path, data_fp), = data
        folder = run.root / "latency" / f"predictor_{target}"
        inputs = {"data": data_fp, "model": cfg.predictor.model, "target": target, "seed": cfg.predictor.seed}

        def work(folder=folder, target=target, path=path):
            metrics = train_from_dataset(path, folder, cfg.predictor.model, target, cfg.predictor.seed)
            test = metrics["test"]
            run.log(f"[predictor] {target}: test MAPE {test['mape']:.2%}, Kendall tau {test['kendall_tau']:.3f}")

        fingerprints[target] = run.stage(f"predictor_{target}", inputs,
                                         lambda folder=folder: (folder / "predictor.json").is_file(), work)
        run.predictors_[target] = LatencyPredictor.load(folder, expect=expect)
    return fingerprints


def needs_supernet(config: RunConfig) -> bool:
    """A quality objective or the export reads the supernet; a fixed network (DSE) has none."""
    return config.space is not None and (config.quality_objective is not None or config.export.pick != "none")


def supernet(run: Run) -> tuple[Path | None, str | None]:
    """The supernet folder and its fingerprint (of a given checkpoint's files, or of the training stage's
    inputs), or (None, None) when neither a quality objective nor the export needs one. Training resumes from
    its checkpoint."""
    cfg = run.config
    if not needs_supernet(cfg):
        return None, None
    from supernet.store import SUPERNET_CARD, SUPERNET_WEIGHTS
    from supernet.train import train_supernet

    folder = supernet_dir(cfg, run.config_dir)
    if cfg.supernet.checkpoint:
        if not (folder / SUPERNET_CARD).is_file() or not (folder / SUPERNET_WEIGHTS).is_file():
            raise UserInputError(f"supernet.checkpoint: {folder}: no trained supernet ({SUPERNET_CARD} and "
                                 f"{SUPERNET_WEIGHTS})")
        return folder, content_fingerprint(folder / SUPERNET_CARD, folder / SUPERNET_WEIGHTS)

    inputs = {"space": cfg.space.fingerprint(), "train": run.train_config().identity()}

    def progress(record: dict) -> None:
        every = max(1, cfg.supernet.steps // 10)
        if record["step"] % every == 0:
            run.log(f"[supernet] step {record['step']}/{cfg.supernet.steps}: loss "
                    f"{record['loss_largest']:.3f} (largest), {record['tokens_per_s']:,.0f} tokens/s")

    def work():
        run.log(f"[supernet] training {cfg.supernet.steps} steps ({cfg.supernet.task}, data {cfg.supernet.data})")
        result = train_supernet(cfg.space, run.train_config(), folder, on_step=progress, log=run.log)
        last = result.history[-1]
        run.log(f"[supernet] done: loss {last['loss_largest']:.3f} (largest), {last['loss_smallest']:.3f} (smallest)")

    return folder, run.stage("supernet", inputs, lambda: (folder / SUPERNET_CARD).is_file(), work)


def needs_quality_predictor(config: RunConfig) -> bool:
    spec = config.quality_objective
    return spec is not None and spec.source == "predictor"


def quality_predictor(run: Run, supernet_folder: Path | None, supernet_fp: str | None) -> str | None:
    """The quality predictor a `source: predictor` quality objective searches on: `quality_predictor.samples`
    networks drawn from the space (the latency data's sampler: corners first, then seeded draws) are scored on
    the supernet and a model is fitted to them; its error on held-out networks goes to the log and the
    report. The scores are saved after every batch (`quality/predictor/scores.json`, with the stage's
    fingerprint), so a killed scoring resumes with the networks not yet scored. Returns the stage's
    fingerprint (None when no objective asks for it)."""
    from predictors.learned.dataset import sample_archs
    from predictors.learned.latency_predictor import METRICS_FILE
    from predictors.learned.quality import SCORES_FILE, QualityPredictor, fit_quality_predictor

    cfg = run.config
    if not needs_quality_predictor(cfg):
        return None
    spec = cfg.quality_objective
    section = cfg.quality_predictor
    folder = run.root / "quality" / "predictor"
    inputs = {"supernet": supernet_fp, "target": spec.name, **section.model_dump()}
    meta = {"space_fingerprint": cfg.space.fingerprint(), "supernet_fingerprint": supernet_fp}

    def work():
        started = time.perf_counter()
        archs = sample_archs(cfg.space, section.samples, section.seed)
        fp = run.recorded("quality_predictor")
        scores_path = folder / SCORES_FILE
        saved = _read_scores(scores_path, fp, run.log)
        todo = [a for a in archs if a.key not in saved["scores"]]
        if saved["scores"]:
            run.log(f"[quality-predictor] resuming: {len(archs) - len(todo)} of {len(archs)} networks already "
                    "scored")
        run.log(f"[quality-predictor] scoring {len(archs)} networks on the supernet")
        train = run.train_config().model_dump(exclude={"checkpoint"})
        with executor(cfg.executor.kind, cfg.executor.workers, cfg.executor.address) as pool:
            scorer = quality_objective(spec.name, supernet_folder, train, pool.map, pool.workers)
            batch = 8 * max(1, pool.workers)
            for start in range(0, len(todo), batch):
                chunk = todo[start:start + batch]
                for arch, value in zip(chunk, scorer.evaluate(chunk)):
                    saved["scores"][arch.key] = float(value)
                saved["seconds"] += time.perf_counter() - started
                started = time.perf_counter()
                atomic_write_json(scores_path, saved)
        values = [saved["scores"][a.key] for a in archs]
        predictor, metrics = fit_quality_predictor(archs, values, spec.name, model=section.model,
                                                   seed=section.seed, max_depth=cfg.space.max_depth)
        metrics["scoring_seconds"] = saved["seconds"] + time.perf_counter() - started
        predictor.save(folder, meta=meta, metrics=metrics)  # metrics.json with it, the stage's done-mark
        held = metrics["held_out"]
        run.log(f"[quality-predictor] {spec.name} on {held['n']} held-out networks: Kendall tau "
                f"{held['kendall_tau']:.3f}, MAPE {held['mape']:.2%}")

    def redo() -> None:
        """Clear the done-mark only; the refit replaces the folder whole (`atomic_folder`), and scores recorded
        under another fingerprint are not read. A folder holding what hwnas did not write is refused first."""
        if folder.exists():
            check_target(folder, keep=QualityPredictor.KEPT_FILES)
            (folder / METRICS_FILE).unlink(missing_ok=True)

    fp = run.stage("quality_predictor", inputs, lambda: (folder / METRICS_FILE).is_file(), work, redo=redo)
    run.quality_predictor_ = QualityPredictor.load(folder, expect=meta)
    return fp


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _read_scores(path: Path, fp: str | None, log: Callable[[str], None] = print) -> dict:
    """The scores saved by an interrupted scoring with the same inputs; an empty record otherwise. The file is a
    cache of work hwnas can redo: a damaged one (unreadable, not JSON, a score or the time not a finite number)
    is ignored with a log line and the networks are scored again (it is rewritten after the first batch)."""
    empty = {"fingerprint": fp, "scores": {}, "seconds": 0.0}
    if not path.is_file():
        return empty
    try:
        saved = parse_text(read_user_text(path, "score record"), True, str(path))
    except UserInputError as exc:
        log(f"[quality-predictor] ignoring the saved scores, scoring again: {exc}")
        return empty
    if not isinstance(saved, dict) or not isinstance(saved.get("scores"), dict):
        log(f"[quality-predictor] ignoring the saved scores, scoring again: {path}: not a score record")
        return empty
    if saved.get("fingerprint") != fp:  # another scoring's: its networks or supernet differ
        return empty
    bad = next((key for key, value in saved["scores"].items() if not _finite(value)), None)
    seconds = saved.get("seconds", 0.0)
    if bad is not None or not _finite(seconds) or seconds < 0:
        what = f"the score of {bad}" if bad is not None else "seconds"
        log(f"[quality-predictor] ignoring the saved scores, scoring again: {path}: {what} is not a finite number")
        return empty
    return {**empty, "scores": {key: float(value) for key, value in saved["scores"].items()},
            "seconds": float(seconds)}


def search(run: Run, supernet_folder: Path | None, upstream: dict, resume: bool = True,
           on_generation: Callable[[dict], None] | None = None) -> SearchResult:
    """NSGA-II (or random search) over the codec; continues a killed search from its state file, and starts
    over when the search's own settings or its upstream fingerprints changed. Never skipped: a finished search
    resumes to its front in a moment."""
    cfg = run.config
    s = cfg.search
    inputs = {"upstream": upstream, "objectives": [o.model_dump() for o in cfg.objectives],
              "constraints": [str(c) for c in cfg.constraints], "search": s.model_dump()}
    result: list[SearchResult] = []

    def work():
        with executor(cfg.executor.kind, cfg.executor.workers, cfg.executor.address) as pool:
            cls = EvolutionarySearch if s.algorithm == "nsga2" else RandomSearch
            objectives = problem.objectives(run, supernet_folder, pool)
            searcher = cls(problem.codec(run), objectives, constraints=cfg.constraints,
                           population=s.population, generations=s.generations, crossover_prob=s.crossover_prob,
                           mutation_prob=s.mutation_prob, seed=s.seed, out=run.root, on_generation=on_generation,
                           infeasibility=problem.infeasibility(run),
                           on_resume=lambda g: run.log(f"[search] resuming after generation {g} of {s.generations} "
                                                       f"({run.root / STATE_FILE})"))
            result.append(searcher.run(resume=resume))
            base = problem.baseline(run)
            if cfg.codesign:  # the baseline accelerator need not be in the hardware space: scored outside it
                values = {o.name: float(o.evaluate([base])[0]) for o in objectives}
                violation = sum(c.violation(values[c.objective]) for c in searcher.constraints)
                result[0].largest = (base, {**values, "violation": violation})
            else:
                result[0].largest = (base, searcher.evaluate([base])[0])
        atomic_write_json(run.root / "history.json", result[0].history)

    run.stage("search", inputs, lambda: False, work, redo=lambda: (run.root / STATE_FILE).unlink(missing_ok=True))
    return result[0]


def export(run: Run, picked: tuple, model, train_cfg: dict, labels) -> dict:
    """The chosen sub-network as a standalone model in `subnets/chosen`, checked against the supernet; redone
    when the search or the pick changed. Returns its export record."""
    from supernet.export import export_subnet

    cfg = run.config
    arch, hw = (picked[0].arch, picked[0].hw) if cfg.codesign else (picked[0], run.hw)
    out = run.root / "subnets" / "chosen"
    inputs = {"search": run.recorded("search"), "arch": picked[0].key, "format": cfg.export.format}
    holder: list[dict] = []

    def work():
        paired = {"hardware": hw.model_dump(mode="json")} if cfg.codesign else {}  # the accelerator it was found with
        holder.append(export_subnet(model, arch, out, cfg.export.format, labels=labels,
                                    extra={"train": train_cfg, "run": str(run.root), "objectives": picked[1],
                                           **paired}))
        run.log(f"[export] {arch.describe()} -> {out} ({cfg.export.format})")

    run.stage("export", inputs, lambda: (out / "export.json").is_file(), work, redo=lambda: None)
    if holder:
        return holder[0]
    record = read_own(out / "export.json", "export record",
                      f"move {out} out of the run folder and rerun to export again")
    checked = record.get("checked") if isinstance(record, dict) else None
    diff = record.get("max_abs_diff") if isinstance(record, dict) else None
    if not isinstance(record, dict) or not isinstance(record.get("format"), str) or not isinstance(checked, bool) \
            or (checked and not _finite(diff)):
        raise UserInputError(f"{out / 'export.json'}: damaged export record (expected format, checked and, when "
                             f"checked, a finite max_abs_diff); move {out} out of the run folder and rerun to export "
                             "again")
    return record
