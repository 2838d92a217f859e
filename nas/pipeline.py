"""A run, stage by stage: latency dataset -> predictor -> supernet -> search -> verification (-> export).

Each stage records a fingerprint of everything it depends on in `stages.json`. A stage whose outputs exist with the
same fingerprint is skipped; one that was interrupted resumes (datasets, supernet training and the search all
continue from their own checkpoints); one whose inputs changed is refused rather than silently mixed. The run
directory holds the resolved config, `meta.json` (versions, seeds, fingerprints) and every stage's outputs.
"""
from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Callable

import yaml

from nas.config import OBJECTIVES, RunConfig
from nas.evolution import EvolutionarySearch, RandomSearch, SearchResult
from nas.objectives import Objective, model_size_objective, predictor_objective, quality_objective, simulator_objective
from nas.parallel import executor
from predictors.hardware import AcceleratorConfig
from predictors.systolic import SystolicSimulator
from userfiles import UserInputError, atomic_write_json, atomic_write_text
from supernet.space import ArchConfig

HARDWARE_OBJECTIVES = ("latency_ms", "energy_mj", "edp")


def supernet_dir(config: RunConfig, config_dir: Path) -> Path:
    """The supernet a run uses: `supernet.checkpoint` (relative to the config file), or the one it trains."""
    if config.supernet.checkpoint:
        return config_dir / config.supernet.checkpoint
    return Path(config.output) / "supernet"


def fingerprint(payload) -> str:
    return hashlib.sha1(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _versions() -> dict:
    names = ("hwnas", "torch", "transformers", "scikit-learn", "deap", "numpy", "pydantic")
    found = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return {"python": platform.python_version(), **found}


@dataclass
class Run:
    """A run directory and its config; `stage(...)` runs or skips one stage."""

    config: RunConfig
    config_dir: Path
    log: Callable[[str], None] = print
    root: Path = field(init=False)
    hw: AcceleratorConfig = field(init=False)

    def __post_init__(self) -> None:
        self.root = Path(self.config.output)
        self.hw = self.config.accelerator(self.config_dir)
        self.root.mkdir(parents=True, exist_ok=True)
        resolved = self.resolved()
        previous = self.root / "config.yaml"
        if previous.is_file():
            changed = _first_difference(yaml.safe_load(previous.read_text()), resolved)
            if changed:
                raise UserInputError(f"{self.root}: holds a run of another config ({changed} differs); use a new "
                                     "output directory, or delete this one")
        atomic_write_text(previous, yaml.safe_dump(resolved, sort_keys=False))
        atomic_write_json(self.root / "meta.json", {
            "name": self.config.name, "versions": _versions(), "seeds": {
                "search": self.config.search.seed, "supernet": self.config.supernet.seed},
            "fingerprints": {"space": self.config.space.fingerprint(), "hardware": self.hw.fingerprint(),
                             "workload": self.config.workload.fingerprint(), "config": fingerprint(resolved)},
            "hardware": self.hw.name})

    def resolved(self) -> dict:
        """The config with defaults filled in, the hardware inline and paths absolute: enough to rerun alone."""
        resolved = self.config.model_dump(mode="json")
        resolved["hardware"] = self.hw.model_dump(mode="json")
        resolved["output"] = str(self.root.resolve())
        for section, key in (("predictor", "path"), ("supernet", "checkpoint")):
            if resolved[section][key]:
                resolved[section][key] = str((self.config_dir / resolved[section][key]).resolve())
        return resolved

    # ---- stage bookkeeping --------------------------------------------------------------------------------
    def _stages(self) -> dict:
        path = self.root / "stages.json"
        return json.loads(path.read_text()) if path.is_file() else {}

    def stage(self, name: str, inputs: dict, done: Callable[[], bool], work: Callable[[], None]) -> str:
        """Run `work` unless `done()` and the recorded fingerprint matches; returns the stage's fingerprint."""
        fp = fingerprint(inputs)
        recorded = self._stages().get(name)
        if recorded == fp and done():
            self.log(f"[{name}] up to date, skipped")
            return fp
        if recorded is not None and recorded != fp:
            raise UserInputError(f"{self.root}: stage {name!r} was run with other settings; use a new output "
                                 "directory (or delete it) to run with this config")
        stages = self._stages()
        stages[name] = fp
        atomic_write_json(self.root / "stages.json", stages)
        work()
        return fp

    # ---- stages -------------------------------------------------------------------------------------------
    def latency_data(self) -> tuple[Path, str]:
        from predictors.dataset import build_dataset

        cfg = self.config
        path = self.root / "latency" / "data.parquet"
        inputs = {"space": cfg.space.fingerprint(), "hardware": self.hw.fingerprint(),
                  "workload": cfg.workload.fingerprint(), "samples": cfg.predictor.samples, "seed": cfg.search.seed}

        def work():
            self.log(f"[latency-data] simulating {cfg.predictor.samples} architectures on {self.hw.name}")
            with executor(cfg.executor.kind, cfg.executor.workers, cfg.executor.address) as pool:
                build_dataset(cfg.space, self.hw, cfg.workload, cfg.predictor.samples, path, cfg.search.seed, pool.map)

        fp = self.stage("latency_data", inputs, lambda: path.is_file() and _rows(path) >= cfg.predictor.samples, work)
        return path, fp

    def predictors(self, data: Path, data_fp: str) -> dict[str, object]:
        """One trained (or given) predictor per hardware target the objectives need from a predictor."""
        from predictors.dataset import load_dataset
        from predictors.evaluation import train_from_dataset
        from predictors.learned import LatencyPredictor

        cfg = self.config
        wanted = {o.name for o in cfg.objectives if o.name in HARDWARE_OBJECTIVES and o.source == "predictor"}
        targets = sorted({t for name in wanted for t in (("latency_ms", "energy_mj") if name == "edp" else (name,))})
        _, meta = load_dataset(data)
        loaded = {}
        for target in targets:
            if cfg.predictor.path and target == "latency_ms":
                loaded[target] = LatencyPredictor.load(self.config_dir / cfg.predictor.path, expect=meta)
                continue
            folder = self.root / "latency" / f"predictor_{target}"
            inputs = {"data": data_fp, "model": cfg.predictor.model, "target": target, "seed": cfg.search.seed}

            def work(folder=folder, target=target):
                metrics = train_from_dataset(data, folder, cfg.predictor.model, target, cfg.search.seed)
                test = metrics["test"]
                self.log(f"[predictor] {target}: test MAPE {test['mape']:.2%}, Kendall tau {test['kendall_tau']:.3f}")

            self.stage(f"predictor_{target}", inputs, lambda folder=folder: (folder / "predictor.json").is_file(), work)
            loaded[target] = LatencyPredictor.load(folder, expect=meta)
        return loaded

    def supernet(self) -> Path | None:
        cfg = self.config
        needs = cfg.quality_objective is not None or cfg.export.pick != "none"
        if not needs:
            return None
        folder = supernet_dir(cfg, self.config_dir)
        if cfg.supernet.checkpoint:
            return folder
        from supernet.train import SUPERNET_CARD, train_supernet

        train_cfg = cfg.supernet.model_dump(exclude={"checkpoint"})
        inputs = {"space": cfg.space.fingerprint(), "train": train_cfg}

        def work():
            self.log(f"[supernet] training {cfg.supernet.steps} steps ({cfg.supernet.task}, data {cfg.supernet.data})")
            result = train_supernet(cfg.space, cfg.supernet, folder, on_step=self._supernet_progress)
            last = result.history[-1]
            self.log(f"[supernet] done: loss {last['loss_largest']:.3f} (largest), {last['loss_smallest']:.3f} (smallest)")

        self.stage("supernet", inputs, lambda: (folder / SUPERNET_CARD).is_file(), work)
        return folder

    def _supernet_progress(self, record: dict) -> None:
        every = max(1, self.config.supernet.steps // 10)
        if record["step"] % every == 0:
            self.log(f"[supernet] step {record['step']}/{self.config.supernet.steps}: loss "
                     f"{record['loss_largest']:.3f} (largest), {record['tokens_per_s']:,.0f} tokens/s")

    def objectives(self, predictors: dict, supernet_dir: Path | None, pool) -> list[Objective]:
        cfg = self.config
        objectives = []
        simulator = SystolicSimulator(self.hw)
        model = None
        for spec in cfg.objectives:
            kind = OBJECTIVES[spec.name][1]
            if kind == "hardware" and spec.source == "simulator":
                objectives.append(simulator_objective(spec.name, simulator, cfg.workload))
            elif spec.name == "edp":
                lat, energy = predictors["latency_ms"], predictors["energy_mj"]
                objectives.append(Objective("edp", lambda a: lat.predict(a) * energy.predict(a)))
            elif kind == "hardware":
                objectives.append(predictor_objective(spec.name, predictors[spec.name]))
            elif kind == "supernet":
                objectives.append(quality_objective(spec.name, supernet_dir, cfg.supernet.model_dump(exclude={"checkpoint"}),
                                                    pool.map, pool.workers))
            else:
                model = model or self._shape_model(supernet_dir)
                objectives.append(model_size_objective(spec.name, model, cfg.workload.seq_len or cfg.supernet.seq_len))
        return objectives

    def _shape_model(self, supernet_dir: Path | None):
        """A supernet for counting parameters and MACs: the trained one, or an empty one on the meta device."""
        import torch

        from supernet.train import build_supernet, load_supernet, load_task_data

        if supernet_dir is not None:
            return load_supernet(supernet_dir)
        with torch.device("meta"):
            return build_supernet(self.config.space, self.config.supernet, load_task_data(self.config.supernet))

    def search(self, predictors: dict, supernet_dir: Path | None, upstream: dict, resume: bool = True,
               on_generation: Callable[[dict], None] | None = None) -> SearchResult:
        cfg = self.config
        s = cfg.search
        inputs = {"upstream": upstream, "objectives": [o.model_dump() for o in cfg.objectives],
                  "constraints": [str(c) for c in cfg.constraints], "search": s.model_dump()}
        result: list[SearchResult] = []

        def work():
            with executor(cfg.executor.kind, cfg.executor.workers, cfg.executor.address) as pool:
                cls = EvolutionarySearch if s.algorithm == "nsga2" else RandomSearch
                search = cls(cfg.space, self.objectives(predictors, supernet_dir, pool), cfg.constraints,
                             s.population, s.generations, s.crossover_prob, s.mutation_prob, s.seed,
                             out=self.root, on_generation=on_generation)
                result.append(search.run(resume=resume))
                result[0].largest = (cfg.space.largest(), search.evaluate([cfg.space.largest()])[0])
            atomic_write_json(self.root / "history.json", result[0].history)

        self.stage("search", inputs, lambda: False, work)
        return result[0]


def _first_difference(old, new, path: str = "") -> str | None:
    """The first key path at which two resolved configs differ (None when they are equal)."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new), key=str):
            found = _first_difference(old.get(key), new.get(key), f"{path}.{key}" if path else str(key))
            if found:
                return found
        return None
    return None if old == new else (path or "(top level)")


def _rows(path: Path) -> int:
    from predictors.dataset import load_dataset

    return len(load_dataset(path)[0])


def run_search(config: RunConfig, config_dir: Path, log: Callable[[str], None] = print,
               on_generation: Callable[[dict], None] | None = None) -> tuple[Run, SearchResult]:
    """Every stage up to and including the search and its verification on the simulator."""
    from nas.report import verify_front

    run = Run(config, config_dir, log)
    data, data_fp = run.latency_data()
    predictors = run.predictors(data, data_fp)
    supernet_dir = run.supernet()
    upstream = {"data": data_fp, "predictors": sorted(predictors), "supernet": str(supernet_dir) if supernet_dir else None,
                "supernet_fp": run._stages().get("supernet")}
    result = run.search(predictors, supernet_dir, upstream, on_generation=on_generation)
    verify_front(run, result, predictors)
    return run, result



def choose(run: Run, result: SearchResult) -> tuple[ArchConfig, dict] | None:
    """The front member to export: the best quality (`best`) or the lowest latency (`fastest`)."""
    cfg = run.config
    if cfg.export.pick == "none" or not result.front:
        return None
    quality = cfg.quality_objective
    if cfg.export.pick == "best" and quality is not None:
        sign = -1 if quality.direction == "max" else 1
        return min(result.front, key=lambda m: sign * m[1][quality.name])
    hardware = next((o.name for o in cfg.objectives if o.name in HARDWARE_OBJECTIVES), cfg.objectives[0].name)
    return min(result.front, key=lambda m: m[1][hardware])


def summarise(run: Run, arch: ArchConfig, model, evaluator, quality_name: str) -> dict:
    """Simulated latency and energy, inherited quality and size of one architecture."""
    report = SystolicSimulator(run.hw).simulate(arch, run.config.workload)
    (quality,) = evaluator.evaluate([arch])
    return {"describe": arch.describe(), "latency_ms": report.latency_ms, "energy_mj": report.energy_mj,
            "quality": quality[quality_name], "quality_name": quality_name, "params": model.num_params(arch)}


def run_all(config: RunConfig, config_dir: Path, log: Callable[[str], None] = print,
            on_generation: Callable[[dict], None] | None = None) -> dict:
    """The whole pipeline: search, verification, export of the chosen sub-network, and `report.md`."""
    from nas.report import write_report
    from supernet.evaluate import SubnetEvaluator
    from supernet.export import export_subnet
    from supernet.train import load_supernet, load_task_data

    run, result = run_search(config, config_dir, log, on_generation)
    picked = choose(run, result)
    chosen = largest = record = None
    if picked is not None:
        model = load_supernet(supernet_dir(config, config_dir))
        train_cfg = config.supernet.model_dump(exclude={"checkpoint"})
        evaluator = SubnetEvaluator(model, load_task_data(config.supernet), config.supernet.seq_len,
                                    config.supernet.batch_size, config.supernet.eval_windows)
        quality_name = "accuracy" if config.supernet.task == "classification" else "perplexity"
        chosen = summarise(run, picked[0], model, evaluator, quality_name)
        largest = summarise(run, config.space.largest(), model, evaluator, quality_name)
        out = run.root / "subnets" / "chosen"
        inputs = {"search": run._stages().get("search"), "arch": picked[0].key, "format": config.export.format}
        holder: list[dict] = []

        def work():
            holder.append(export_subnet(model, picked[0], out, config.export.format,
                                        extra={"train": train_cfg, "run": str(run.root), "objectives": picked[1]}))
            log(f"[export] {picked[0].describe()} -> {out} ({config.export.format})")

        run.stage("export", inputs, lambda: (out / "export.json").is_file(), work)
        record = holder[0] if holder else json.loads((out / "export.json").read_text())
    metrics = {}
    for folder in sorted((run.root / "latency").glob("predictor_*")):
        if (folder / "metrics.json").is_file():
            metrics[folder.name.removeprefix("predictor_")] = json.loads((folder / "metrics.json").read_text())
    report = write_report(run, result, chosen, largest, metrics, record)
    log(f"[report] {report}")
    return {"run": run, "result": result, "chosen": chosen, "largest": largest, "export": record, "report": report}
