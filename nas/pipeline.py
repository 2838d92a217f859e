"""A run, stage by stage: latency dataset -> predictor -> supernet (-> quality predictor) -> search -> verification
(-> export).

Each stage records a fingerprint of its inputs in `stages.json`: the content they depend on (settings and the
fingerprints of upstream stages or of given files), never a path, so a run resumes the same from any working
directory. A stage whose outputs exist with the same fingerprint is reused; one that was interrupted resumes
(datasets, supernet training and the search all continue from their own checkpoints; the quality predictor's
scoring starts over). A run directory may be rerun with changed `objectives`, `constraints`, `search`, `export`,
`executor`, `quality_predictor`, `name` or `output`: the stages those do not feed (latency data, predictors,
supernet) are reused and the others are redone. A change
to anything the upstream stages read (space, hardware, workload, supernet, predictor) is refused with the first
differing key rather than silently mixed. With `hardware: {measured: NAME}` there is no simulator: latency comes
from the predictor trained on the device's measurements and the front is not re-simulated. The run directory
holds the resolved config, `meta.json` (versions, seeds, fingerprints) and every stage's outputs.
"""
from __future__ import annotations

import hashlib
import json
import platform
import shutil
import time
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Callable, get_args

import moocore
import numpy as np
import yaml
from pydantic import BaseModel

from nas.config import RunConfig
from nas.codec import Candidate, JointSpace
from nas.evolution import STATE_FILE, EvolutionarySearch, RandomSearch, SearchResult
from nas.objectives import (REGISTRY, Objective, area_objective, candidate_simulator_objective,
                            model_size_objective, on_network, predictor_objective, quality_objective,
                            simulator_objective)
from nas.parallel import executor
from predictors.accelerator.area import estimate_area
from predictors.accelerator.hardware import AcceleratorConfig
from predictors.accelerator.systolic import SystolicSimulator
from supernet.train_config import PATH_KEYS, resolve_paths
from userfiles import UserInputError, atomic_write_json, atomic_write_text, differences
from supernet.space import ArchConfig

# Config sections that only the search, the export and the quality predictor (refitted from supernet scores) read:
# changing them in a run directory redoes those stages and reuses the rest. Every other section feeds the latency data, the predictors or the supernet.
REDOABLE = ("name", "output", "objectives", "constraints", "search", "executor", "export", "quality_predictor")
CLOSEST = 5  # infeasible candidates listed when nothing met the constraints


def supernet_dir(config: RunConfig, config_dir: Path) -> Path:
    """The supernet a run uses: `supernet.checkpoint` (relative to the config file), or the one it trains."""
    if config.supernet.checkpoint:
        return config_dir / config.supernet.checkpoint
    return Path(config.output) / "supernet"


def fingerprint(payload) -> str:
    return hashlib.sha1(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:12]


def content_fingerprint(*paths: Path) -> str:
    """A digest of files' bytes: given inputs (a predictor, a supernet checkpoint) are identified by what they
    hold, so the same files reached by another path are the same input."""
    digest = hashlib.sha1()
    for path in paths:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:12]


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
    """A run directory and its config; `stage(...)` runs, reuses or redoes one stage. `hw` is None for a
    measured device (`hardware: {measured: NAME}`), which has no simulator."""

    config: RunConfig
    config_dir: Path
    log: Callable[[str], None] = print
    root: Path = field(init=False)
    hw: AcceleratorConfig | None = field(init=False)
    target: str = field(init=False)
    changed: list[str] = field(init=False, default_factory=list)
    predictors_: dict = field(init=False, default_factory=dict)
    quality_predictor_: object = field(init=False, default=None)  # a QualityPredictor, when the search uses one
    summary_: dict | None = field(init=False, default=None)  # the verified front (`verify_front`), once searched

    def __post_init__(self) -> None:
        self.config.check_files(self.config_dir)
        self.root = Path(self.config.output)
        device = self.config.measured_device
        self.hw = None if device else self.config.accelerator(self.config_dir)
        self.target = f"measured device {device}" if device else self.hw.name
        self.root.mkdir(parents=True, exist_ok=True)
        resolved = self.resolved()
        previous = self.root / "config.yaml"
        if previous.is_file():
            try:
                stored = yaml.safe_load(previous.read_text(encoding="utf-8"))
            except (yaml.YAMLError, UnicodeDecodeError):
                stored = None
            if not isinstance(stored, dict):
                raise UserInputError(f"{previous}: corrupt run config; use a new output directory, or delete this one")
            self.changed = differences(_with_new_defaults(stored, resolved), resolved)
            fixed = [key for key in self.changed if key.split(".")[0] not in REDOABLE]
            if fixed:
                raise UserInputError(
                    f"{self.root}: holds a run of another config ({fixed[0]} differs; only "
                    f"{', '.join(REDOABLE)} may change in a run directory); use a new output directory, or delete "
                    "this one")
            if self.changed:
                self.log(f"[config] changed since the last run: {', '.join(self.changed)}")
        atomic_write_text(previous, yaml.safe_dump(resolved, sort_keys=False))
        setting = self.config.setting(self.config_dir)
        atomic_write_json(self.root / "meta.json", {
            "name": self.config.name, "versions": _versions(), "seeds": {
                "search": self.config.search.seed, "supernet": self.config.supernet.seed,
                "predictor": self.config.predictor.seed},
            "fingerprints": {"space": setting["space_fingerprint"], "hardware": setting["hardware_fingerprint"],
                             "workload": setting["workload_fingerprint"], "config": fingerprint(resolved)},
            "hardware": setting["hardware"]})

    def resolved(self) -> dict:
        """The config with defaults filled in, the hardware inline and paths absolute: enough to rerun alone."""
        resolved = self.config.model_dump(mode="json")
        if self.config.codesign:  # the accelerator is searched: its fixed fields are the space's `extends`
            del resolved["hardware"]
            extends = self.config_dir / resolved["hardware_space"]["extends"]
            if extends.is_file():
                resolved["hardware_space"]["extends"] = str(extends.resolve())
            if self.config.arch is not None:
                resolved["arch"] = self.config.fixed_arch(self.config_dir).to_dict()
        elif self.hw is not None:
            resolved["hardware"] = self.hw.model_dump(mode="json")
        resolved["output"] = str(self.root.resolve())
        train = self.train_config()  # data, tokenizer and init_from as absolute paths: readable from anywhere
        resolved["supernet"].update({key: getattr(train, key) for key in PATH_KEYS})
        for section, key in (("predictor", "path"), ("supernet", "checkpoint")):
            if resolved[section][key]:
                resolved[section][key] = str((self.config_dir / resolved[section][key]).resolve())
        return resolved

    # ---- stage bookkeeping --------------------------------------------------------------------------------
    def _stages(self) -> dict:
        path = self.root / "stages.json"
        if not path.is_file():
            return {}
        try:
            stages = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError):
            stages = None
        if not isinstance(stages, dict):
            raise UserInputError(f"{path}: corrupt stage record; delete it (finished stages are then redone)")
        return stages

    def stage(self, name: str, inputs: dict, done: Callable[[], bool], work: Callable[[], None],
              redo: Callable[[], None] | None = None) -> str:
        """Run `work` unless `done()` and the recorded fingerprint matches; returns the stage's fingerprint.
        A stage recorded with other inputs is redone after `redo()` clears its old state when it has a `redo`
        (search, export), and refused otherwise (its outputs feed stages that would silently mix)."""
        fp = fingerprint(inputs)
        recorded = self._stages().get(name)
        if recorded == fp and done():
            self.log(f"[{name}] up to date, skipped: outputs reused (inputs unchanged)")
            return fp
        if recorded is not None and recorded != fp:
            if redo is None:
                raise UserInputError(f"{self.root}: stage {name!r} was run with other settings; use a new output "
                                     "directory (or delete it) to run with this config")
            why = [key for key in self.changed if key.split(".")[0] not in ("name", "output", "executor")]
            self.log(f"[{name}] redone: {', '.join(why) or 'an upstream stage'} changed")
            redo()
        stages = self._stages()
        stages[name] = fp
        atomic_write_json(self.root / "stages.json", stages)
        work()
        return fp

    # ---- stages -------------------------------------------------------------------------------------------
    def latency_data(self) -> tuple[Path, str]:
        from predictors.learned.dataset import build_dataset, dataset_complete

        cfg = self.config
        path = self.root / "latency" / "data.parquet"
        inputs = {"space": cfg.space.fingerprint(), "hardware": self.hw.fingerprint(),
                  "workload": cfg.workload.fingerprint(), "samples": cfg.predictor.samples, "seed": cfg.predictor.seed}

        def work():
            self.log(f"[latency-data] simulating {cfg.predictor.samples} architectures on {self.hw.name}")
            with executor(cfg.executor.kind, cfg.executor.workers, cfg.executor.address) as pool:
                build_dataset(cfg.space, self.hw, cfg.workload, cfg.predictor.samples, path, cfg.predictor.seed,
                              pool.map)

        fp = self.stage("latency_data", inputs, lambda: dataset_complete(path, cfg.predictor.samples), work)
        return path, fp

    def predictors(self) -> dict[str, str]:
        """One predictor per hardware target the objectives take from a predictor: `predictor.path` for latency
        (checked against the run's setting), the others trained on the run's simulated latency data, which is
        built only when some predictor must be trained. Returns each target's fingerprint; the predictors are
        kept in `predictors_`."""
        from predictors.learned.evaluation import train_from_dataset
        from predictors.learned.latency_predictor import LatencyPredictor

        cfg = self.config
        wanted = {o.name for o in cfg.objectives if o.info.hardware and o.source == "predictor"}
        targets = sorted({t for name in wanted for t in (("latency_ms", "energy_mj") if name == "edp" else (name,))})
        expect = cfg.setting(self.config_dir)
        fingerprints: dict[str, str] = {}
        data: list[tuple[Path, str]] = []
        for target in targets:
            if cfg.predictor.path and target == "latency_ms":
                folder = self.config_dir / cfg.predictor.path
                self.predictors_[target] = LatencyPredictor.load(folder, expect=expect)
                fingerprints[target] = content_fingerprint(folder / "predictor.json")
                self.log(f"[predictor] {target}: {folder} (given)")
                continue
            data = data or [self.latency_data()]
            (path, data_fp), = data
            folder = self.root / "latency" / f"predictor_{target}"
            inputs = {"data": data_fp, "model": cfg.predictor.model, "target": target, "seed": cfg.predictor.seed}

            def work(folder=folder, target=target, path=path):
                metrics = train_from_dataset(path, folder, cfg.predictor.model, target, cfg.predictor.seed)
                test = metrics["test"]
                self.log(f"[predictor] {target}: test MAPE {test['mape']:.2%}, Kendall tau {test['kendall_tau']:.3f}")

            fingerprints[target] = self.stage(f"predictor_{target}", inputs,
                                              lambda folder=folder: (folder / "predictor.json").is_file(), work)
            self.predictors_[target] = LatencyPredictor.load(folder, expect=expect)
        return fingerprints

    def supernet(self) -> tuple[Path | None, str | None]:
        """The supernet folder and its fingerprint (of a given checkpoint's files, or of the training stage's
        inputs), or (None, None) when neither a quality objective nor the export needs one."""
        cfg = self.config
        needs = cfg.quality_objective is not None or cfg.export.pick != "none"
        if not needs or cfg.space is None:
            return None, None
        from supernet.store import SUPERNET_CARD, SUPERNET_WEIGHTS
        from supernet.train import train_supernet

        folder = supernet_dir(cfg, self.config_dir)
        if cfg.supernet.checkpoint:
            if not (folder / SUPERNET_CARD).is_file() or not (folder / SUPERNET_WEIGHTS).is_file():
                raise UserInputError(f"supernet.checkpoint: {folder}: no trained supernet ({SUPERNET_CARD} and "
                                     f"{SUPERNET_WEIGHTS})")
            return folder, content_fingerprint(folder / SUPERNET_CARD, folder / SUPERNET_WEIGHTS)

        inputs = {"space": cfg.space.fingerprint(), "train": self.train_config().identity()}

        def work():
            self.log(f"[supernet] training {cfg.supernet.steps} steps ({cfg.supernet.task}, data {cfg.supernet.data})")
            result = train_supernet(cfg.space, self.train_config(), folder, on_step=self._supernet_progress,
                                    log=self.log)
            last = result.history[-1]
            self.log(f"[supernet] done: loss {last['loss_largest']:.3f} (largest), {last['loss_smallest']:.3f} (smallest)")

        return folder, self.stage("supernet", inputs, lambda: (folder / SUPERNET_CARD).is_file(), work)

    def quality_predictor(self, supernet_folder: Path | None, supernet_fp: str | None) -> str | None:
        """The quality predictor a `source: predictor` quality objective searches on: `quality_predictor.samples`
        networks drawn from the space (the latency data's sampler: corners first, then seeded draws) are scored on
        the supernet and a model is fitted to them; its error on held-out networks goes to the log and the
        report. Returns the stage's fingerprint (None when no objective asks for it)."""
        from predictors.learned.dataset import sample_archs
        from predictors.learned.quality import QualityPredictor, fit_quality_predictor

        cfg = self.config
        spec = cfg.quality_objective
        if spec is None or spec.source != "predictor":
            return None
        section = cfg.quality_predictor
        folder = self.root / "quality" / "predictor"
        inputs = {"supernet": supernet_fp, "target": spec.name, **section.model_dump()}
        meta = {"space_fingerprint": cfg.space.fingerprint(), "supernet_fingerprint": supernet_fp}

        def work():
            started = time.perf_counter()
            archs = sample_archs(cfg.space, section.samples, section.seed)
            self.log(f"[quality-predictor] scoring {len(archs)} networks on the supernet")
            train = self.train_config().model_dump(exclude={"checkpoint"})
            with executor(cfg.executor.kind, cfg.executor.workers, cfg.executor.address) as pool:
                scorer = quality_objective(spec.name, supernet_folder, train, pool.map, pool.workers)
                values = scorer.evaluate(archs)
            predictor, metrics = fit_quality_predictor(archs, values, spec.name, model=section.model,
                                                       seed=section.seed, max_depth=cfg.space.max_depth)
            metrics["scoring_seconds"] = time.perf_counter() - started
            predictor.save(folder, meta=meta, metrics=metrics)
            atomic_write_json(folder / "metrics.json", metrics)
            held = metrics["held_out"]
            self.log(f"[quality-predictor] {spec.name} on {held['n']} held-out networks: Kendall tau "
                     f"{held['kendall_tau']:.3f}, MAPE {held['mape']:.2%}")

        fp = self.stage("quality_predictor", inputs, lambda: (folder / "metrics.json").is_file(), work,
                        redo=lambda: shutil.rmtree(folder, ignore_errors=True))
        self.quality_predictor_ = QualityPredictor.load(folder, expect=meta)
        return fp

    def train_config(self):
        """The supernet settings with `data`, `tokenizer` and `init_from` made absolute (relative to the config
        file), so that a run started from another directory reads the same files."""
        return resolve_paths(self.config.supernet, self.config_dir)

    def _supernet_progress(self, record: dict) -> None:
        every = max(1, self.config.supernet.steps // 10)
        if record["step"] % every == 0:
            self.log(f"[supernet] step {record['step']}/{self.config.supernet.steps}: loss "
                     f"{record['loss_largest']:.3f} (largest), {record['tokens_per_s']:,.0f} tokens/s")

    def codec(self):
        """What the search varies: the supernet's space on one accelerator, or (network, accelerator) pairs."""
        cfg = self.config
        if not cfg.codesign:
            return cfg.space
        return JointSpace(cfg.networks(self.config_dir), cfg.accelerators(self.config_dir))

    def objectives(self, supernet_dir: Path | None, pool) -> list[Objective]:
        """Each configured objective behind the cost model its `source` names. In co-design the candidates are
        (network, accelerator) pairs: one simulator per design serves every hardware objective, and network-side
        objectives (quality, size) are scored once per network whatever the accelerator."""
        cfg = self.config
        per_network = on_network if cfg.codesign else (lambda objective: objective)
        simulators: dict = {}  # per accelerator fingerprint, shared by latency, energy, EDP and power
        train = self.train_config().model_dump(exclude={"checkpoint"})
        model = None
        objectives = []
        for spec in cfg.objectives:
            if spec.source == "simulator":
                objectives.append(candidate_simulator_objective(spec.name, cfg.workload, simulators) if cfg.codesign
                                  else simulator_objective(spec.name, self._simulator(simulators), cfg.workload))
            elif spec.source == "area":
                objectives.append(area_objective())
            elif spec.source == "predictor" and spec.name == "edp":
                lat, energy = self.predictors_["latency_ms"], self.predictors_["energy_mj"]
                objectives.append(Objective("edp", lambda a: lat.predict(a) * energy.predict(a)))
            elif spec.source == "predictor" and spec.info.quality:
                objectives.append(per_network(predictor_objective(spec.name, self.quality_predictor_)))
            elif spec.source == "predictor":
                objectives.append(predictor_objective(spec.name, self.predictors_[spec.name]))
            elif spec.source == "supernet":
                objectives.append(per_network(quality_objective(spec.name, supernet_dir, train, pool.map,
                                                                 pool.workers)))
            else:
                model = model or self._shape_model(supernet_dir)
                seq_len = cfg.workload.seq_len or cfg.supernet.seq_len
                objectives.append(per_network(model_size_objective(spec.name, model, seq_len)))
        return objectives

    def _simulator(self, simulators: dict) -> SystolicSimulator:
        key = self.hw.fingerprint()
        simulators.setdefault(key, SystolicSimulator(self.hw))
        return simulators[key]

    def baseline(self):
        """What the front is compared with: the largest network (NAS, co-design) or the fixed one (DSE), on the
        run's accelerator (NAS) or the one the hardware space extends (co-design)."""
        cfg = self.config
        arch = cfg.space.largest() if cfg.space is not None else cfg.fixed_arch(self.config_dir)
        return Candidate(arch, self.hw) if cfg.codesign else arch

    def _shape_model(self, supernet_dir: Path | None):
        """A supernet for counting parameters and MACs: the trained one, or an empty one on the meta device."""
        import torch

        from supernet.store import load_supernet
        from supernet.tasks import build_supernet, load_task_data

        if supernet_dir is not None:
            return load_supernet(supernet_dir)
        with torch.device("meta"):
            return build_supernet(self.config.space, self.config.supernet, load_task_data(self.train_config()))

    def search(self, supernet_dir: Path | None, upstream: dict, resume: bool = True,
               on_generation: Callable[[dict], None] | None = None) -> SearchResult:
        """NSGA-II (or random search) over the space; continues a killed search from its state file, and starts
        over when the search's own settings or its upstream fingerprints changed."""
        cfg = self.config
        s = cfg.search
        inputs = {"upstream": upstream, "objectives": [o.model_dump() for o in cfg.objectives],
                  "constraints": [str(c) for c in cfg.constraints], "search": s.model_dump()}
        result: list[SearchResult] = []

        def work():
            with executor(cfg.executor.kind, cfg.executor.workers, cfg.executor.address) as pool:
                cls = EvolutionarySearch if s.algorithm == "nsga2" else RandomSearch
                objectives = self.objectives(supernet_dir, pool)
                search = cls(self.codec(), objectives, constraints=cfg.constraints,
                             population=s.population, generations=s.generations, crossover_prob=s.crossover_prob,
                             mutation_prob=s.mutation_prob, seed=s.seed, out=self.root, on_generation=on_generation,
                             on_resume=lambda g: self.log(f"[search] resuming after generation {g} of {s.generations} "
                                                          f"({self.root / STATE_FILE})"))
                result.append(search.run(resume=resume))
                baseline = self.baseline()
                if cfg.codesign:  # the baseline accelerator need not be in the hardware space: scored outside it
                    values = {o.name: float(o.evaluate([baseline])[0]) for o in objectives}
                    violation = sum(c.violation(values[c.objective]) for c in search.constraints)
                    result[0].largest = (baseline, {**values, "violation": violation})
                else:
                    result[0].largest = (baseline, search.evaluate([baseline])[0])
            atomic_write_json(self.root / "history.json", result[0].history)

        self.stage("search", inputs, lambda: False, work, redo=lambda: (self.root / STATE_FILE).unlink(missing_ok=True))
        return result[0]


# ---- after the search: verification and the choice ------------------------------------------------------------
def _with_new_defaults(stored: dict, resolved: dict, model: type[BaseModel] = RunConfig) -> dict:
    """`stored` (an earlier run's config) with the settings a later hwnas added, at any depth, that this config
    leaves at their defaults: they change nothing, so a run made before them is not refused for lacking them."""
    added = {}
    for key, value in resolved.items():
        field = model.model_fields.get(key)
        if field is None:
            continue
        if key not in stored:
            default = field.get_default(call_default_factory=True)
            dumped = default.model_dump(mode="json") if isinstance(default, BaseModel) else default
            if json.loads(json.dumps(dumped)) == value:
                added[key] = value
        elif isinstance(value, dict) and isinstance(stored[key], dict):
            inner = next((t for t in (field.annotation, *get_args(field.annotation))
                          if isinstance(t, type) and issubclass(t, BaseModel)), None)
            if inner is not None:
                added[key] = _with_new_defaults(stored[key], value, inner)
    return {**stored, **added}


def verify_front(run: Run, result: SearchResult, supernet_folder: Path | None = None) -> dict:
    """Re-score the front on the ground truths: hardware objectives a predictor gave on the simulator, a quality
    a predictor gave on the supernet; say how far each predictor was from them and which members stop being
    Pareto-optimal on verified values. A measured device has no simulator: its latency stays unverified, with
    the reason. When nothing met the constraints, the closest candidates (least total violation) are listed
    instead, so the user sees how far the bounds are from reach."""
    cfg = run.config
    names = [o.name for o in cfg.objectives]
    sim = SystolicSimulator(run.hw) if run.hw is not None else None
    if cfg.codesign:
        sim = None  # every hardware objective was scored on the simulator itself, for each design
    quality = cfg.quality_objective if supernet_folder is not None else None
    if quality is not None and quality.source != "predictor":
        quality = None
    archs = [candidate.arch if cfg.codesign else candidate for candidate, _ in result.front]
    scored = (quality_objective(quality.name, supernet_folder, run.train_config().model_dump(exclude={"checkpoint"}))
              .evaluate(archs) if quality is not None and archs else [])
    rows = []
    for rank, ((candidate, record), arch) in enumerate(zip(result.front, archs)):
        row = {"rank": rank, "key": candidate.key, "arch": arch.to_dict(), "describe": candidate.describe(),
               "objectives": {n: record[n] for n in names}, "simulated": None, "predictor_error": {}}
        if cfg.codesign:
            row["hardware"] = candidate.hw.model_dump(mode="json")
            row["area_mm2"] = estimate_area(candidate.hw).total_mm2
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
        verified = np.array([[REGISTRY[n].sign * _verified(r, n) for n in names] for r in rows])
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


def _verified(row: dict, name: str) -> float:
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


def run_search(config: RunConfig, config_dir: Path, log: Callable[[str], None] = print,
               on_generation: Callable[[dict], None] | None = None) -> tuple[Run, SearchResult]:
    """Every stage up to and including the search and its verification; writes pareto.json/csv and the plots."""
    from nas.report import write_front

    run = Run(config, config_dir, log)
    predictors = run.predictors()
    folder, supernet_fp = run.supernet()
    quality_fp = run.quality_predictor(folder, supernet_fp)
    upstream = {"predictors": predictors, "supernet": supernet_fp}
    if quality_fp is not None:
        upstream["quality_predictor"] = quality_fp
    result = run.search(folder, upstream, on_generation=on_generation)
    summary = run.summary_ = verify_front(run, result, folder)
    write_front(run, result, summary, choose(run, result, summary))
    if config.codesign:
        write_designs(run.root / "hardware", summary["front"])
    return run, result


def write_designs(folder: Path, front: list[dict]) -> None:
    """Each front member's accelerator as `hardware/<rank>.yaml`: a complete hardware file that
    `hwnas simulate --hardware FILE` takes as it is. Files of an earlier, longer front are removed."""
    folder.mkdir(parents=True, exist_ok=True)
    keep = {f"{row['rank']}.yaml" for row in front}
    for old in folder.glob("*.yaml"):
        if old.name not in keep:
            old.unlink()
    for row in front:
        atomic_write_text(folder / f"{row['rank']}.yaml", yaml.safe_dump(row["hardware"], sort_keys=False))


def choose(run: Run, result: SearchResult, summary: dict | None = None) -> tuple[ArchConfig | Candidate, dict] | None:
    """The front member to export: the best quality (`best`; by its supernet score where the search used a
    predicted one and `summary` holds the re-scored front) or the lowest latency (`fastest`; without a latency
    objective, the first hardware one)."""
    cfg = run.config
    if cfg.export.pick == "none" or not result.front or cfg.space is None:  # a fixed network has nothing to export
        return None
    quality = cfg.quality_objective
    if cfg.export.pick == "best" and quality is not None:
        verified = {r["key"]: _verified(r, quality.name) for r in (summary or {}).get("front", [])}
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
        report = SystolicSimulator(hw).simulate(arch, run.config.workload)
        latency, energy, source = report.latency_ms, report.energy_mj, "simulated"
    else:
        latency, energy, source = float(run.predictors_["latency_ms"].predict([arch])[0]), None, "predicted"
    (quality,) = evaluator.evaluate([arch])
    return {"describe": arch.describe(), "latency_ms": latency, "energy_mj": energy, "source": source,
            "quality": quality[quality_name], "quality_name": quality_name, "params": model.num_params(arch)}


def run_all(config: RunConfig, config_dir: Path, log: Callable[[str], None] = print,
            on_generation: Callable[[dict], None] | None = None) -> dict:
    """The whole pipeline: search, verification, export of the chosen sub-network, and `report.md`."""
    from nas.report import write_report
    from supernet.evaluate import SubnetEvaluator
    from supernet.export import export_subnet
    from supernet.store import load_supernet, read_card
    from supernet.tasks import load_task_data

    run, result = run_search(config, config_dir, log, on_generation)
    picked = choose(run, result, run.summary_)
    chosen = largest = record = None
    if picked is not None:
        model = load_supernet(supernet_dir(config, config_dir))
        train_cfg = run.train_config().model_dump(exclude={"checkpoint"})
        evaluator = SubnetEvaluator(model, load_task_data(run.train_config()), config.supernet.seq_len,
                                    config.supernet.batch_size, config.supernet.eval_windows)
        quality_name = "accuracy" if config.supernet.task == "classification" else "perplexity"
        arch, hw = (picked[0].arch, picked[0].hw) if config.codesign else (picked[0], run.hw)
        chosen = summarise(run, arch, model, evaluator, quality_name, hw)
        largest = summarise(run, config.space.largest(), model, evaluator, quality_name, run.hw)
        out = run.root / "subnets" / "chosen"
        inputs = {"search": run._stages().get("search"), "arch": picked[0].key, "format": config.export.format}
        holder: list[dict] = []
        labels = read_card(supernet_dir(config, config_dir)).get("labels")

        def work():
            paired = {"hardware": hw.model_dump(mode="json")} if config.codesign else {}  # the accelerator it was found with
            holder.append(export_subnet(model, arch, out, config.export.format, labels=labels,
                                        extra={"train": train_cfg, "run": str(run.root), "objectives": picked[1],
                                               **paired}))
            log(f"[export] {arch.describe()} -> {out} ({config.export.format})")

        run.stage("export", inputs, lambda: (out / "export.json").is_file(), work, redo=lambda: None)
        record = holder[0] if holder else json.loads((out / "export.json").read_text())
    folders = {folder.name.removeprefix("predictor_"): folder for folder in (run.root / "latency").glob("predictor_*")}
    if config.predictor.path:
        folders["latency_ms"] = config_dir / config.predictor.path
    metrics = {target: json.loads((folder / "metrics.json").read_text()) for target, folder in sorted(folders.items())
               if target in run.predictors_ and (folder / "metrics.json").is_file()}
    report = write_report(run, result, chosen, largest, metrics, record)
    log(f"[report] {report}")
    return {"run": run, "result": result, "chosen": chosen, "largest": largest, "export": record, "report": report}
