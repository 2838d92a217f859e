"""One validated `RunConfig` per run, from YAML: every section a user can write, checked at the door.

Unknown keys, wrong types and impossible values are refused with one line naming the file and the key path
(`searches/demo.yaml: search.population: Input should be greater than or equal to 2`). The resolved config
(defaults filled in) is what a run directory stores, so a run can be repeated from it alone.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from predictors.accelerator.hardware import (DEFAULT_ACCELERATOR, MEASURED_PREFIX, AcceleratorConfig, measured_fingerprint,
                                            preset_names)
from predictors.accelerator.workload import Workload
from nas.objectives import REGISTRY, Constraint, objective_info
from userfiles import UserInputError, load_mapping, refuse_overwriting_inputs, validate
from supernet.family import family_for
from supernet.space import SearchSpace
from supernet.train_config import SupernetTrainConfig



class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SupernetSection(SupernetTrainConfig):
    """Train a supernet with these settings, or reuse a trained one (`checkpoint`: its folder)."""

    checkpoint: str | None = None


class PredictorSection(Strict):
    path: str | None = Field(None, description="a trained predictor folder; otherwise one is trained")
    samples: int = Field(1000, ge=20, description="simulated architectures to train it on")
    model: Literal["gbm", "mlp", "ensemble"] = "gbm"
    seed: int = Field(0, ge=0, le=2**32 - 1, description="seeds the sampled latency data and the predictor's "
                      "training (0 to 2^32 - 1); kept apart from "
                                     "search.seed so that another search seed reuses the same predictor")


class QualityPredictorSection(Strict):
    """The quality predictor a `{name: perplexity, source: predictor}` objective searches on: `samples` networks
    drawn from the space are scored on the supernet, and a model of their scores stands in for it."""

    samples: int = Field(300, ge=20, le=100_000, description="networks scored on the supernet to fit it on")
    model: Literal["gbm", "mlp", "ensemble"] = "gbm"
    seed: int = Field(0, ge=0, le=2**32 - 1, description="seeds the networks drawn and the model's training")


class ObjectiveSpec(Strict):
    name: str
    source: Literal["predictor", "simulator", "supernet", "shape", "area"] = Field(
        description="the cost model behind the name; default: the registry's first (for latency_ms / energy_mj / "
        "edp the learned predictor; `simulator` asks the simulator itself; for quality the supernet, `predictor` "
        "a quality predictor fitted on supernet scores)")

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, data: Any) -> Any:
        data = {"name": data} if isinstance(data, str) else data
        if isinstance(data, dict) and data.get("source") is None and data.get("name") in REGISTRY:
            data = {**data, "source": REGISTRY[data["name"]].sources[0]}
        return data

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        return objective_info(name).name

    @model_validator(mode="after")
    def _source_fits(self) -> "ObjectiveSpec":
        if self.source not in self.info.sources:
            able = ", ".join(n for n, info in REGISTRY.items() if self.source in info.sources)
            raise ValueError(f"source: {self.source} applies to {able}, not to {self.name}")
        return self

    @property
    def info(self):
        return REGISTRY[self.name]

    @property
    def direction(self) -> str:
        return self.info.direction


class SearchSection(Strict):
    algorithm: Literal["nsga2", "random"] = "nsga2"
    population: int = Field(40, ge=2, le=10_000)
    generations: int = Field(40, ge=1, le=100_000)
    crossover_prob: float = Field(0.9, ge=0, le=1)
    mutation_prob: float = Field(0.2, ge=0, le=1, description="probability that each gene is redrawn")
    seed: int = 0


class ExecutorSection(Strict):
    kind: Literal["serial", "process", "ray"] = "process"
    workers: int | None = Field(None, ge=1)
    address: str | None = Field(None, description="Ray cluster address (auto: join `ray start --head`)")


class ExportSection(Strict):
    format: Literal["hf", "torch", "onnx"] = "hf"
    pick: Literal["best", "fastest", "none"] = Field(
        "best", description="best: highest quality under the constraints; fastest: lowest latency; none: skip")


# The run's hardware objective that each mapping objective serves.
MAPPING_OBJECTIVE_OF = {"latency_ms": "cycles", "energy_mj": "energy", "edp": "edp"}


class MappingSection(Strict):
    """How GEMMs are laid onto the accelerator: a choice of the run, not a property of the accelerator (so the
    hardware's fingerprint does not move with it). `mapper`: gemmini (the tiling Gemmini's software picks,
    the default) or search (the best tiling for `objective`). `objective`: None takes it, for the search
    mapper, from the run's objectives: energy when energy_mj is the run's only latency/energy/EDP objective, edp
    when edp is, cycles otherwise; it is derived only when those objectives all come from the simulator, since a
    predictor's dataset was simulated with cycles. The gemmini mapper takes cycles unless `objective` is given:
    it uses the objective only where Gemmini's software has no tiling (a GEMM fused with a row-wise op, or one
    whose square-ish tile does not fit), whose tiles it searches for `objective`, so an explicit objective
    changes those GEMMs alone, and a derived one would change the numbers of every earlier run."""

    mapper: Literal["gemmini", "search"] = "gemmini"
    objective: Literal["cycles", "energy", "edp"] | None = None


class RunConfig(Strict):
    """Three modes, chosen by keys: `space` on one `hardware` (NAS); `arch` over a `hardware_space` (which
    accelerator to build for this network); `space` with a `hardware_space` (both found together)."""

    name: str = "run"
    space: SearchSpace | None = Field(None, description="the supernet's space of networks (NAS and co-design)")
    arch: str | dict[str, Any] | None = Field(
        None, description="one fixed network for a hardware-only search: a reference name (bert-base), an "
        "ArchConfig mapping, or a JSON/YAML file holding one")
    hardware_space: dict[str, Any] | None = Field(
        None, description="the accelerators to search (predictors.accelerator.hardware_space.HardwareSpace): `extends` a "
        "preset or file, then lists of choices per field")
    supernet: SupernetSection = SupernetSection()
    hardware: str | dict[str, Any] = DEFAULT_ACCELERATOR
    workload: Workload = Workload()
    predictor: PredictorSection = PredictorSection()
    quality_predictor: QualityPredictorSection = QualityPredictorSection()
    objectives: list[ObjectiveSpec] = Field(
        default_factory=lambda: [ObjectiveSpec(name="perplexity"), ObjectiveSpec(name="latency_ms")], min_length=2)
    constraints: list[Constraint] = Field(default_factory=list)
    search: SearchSection = SearchSection()
    executor: ExecutorSection = ExecutorSection()
    mapping: MappingSection = MappingSection()
    export: ExportSection = ExportSection()
    output: str = "runs/run"

    @model_validator(mode="before")
    @classmethod
    def _decoder_workload(cls, data: Any) -> Any:
        """A causal-LM supernet is a decoder: its workload is causal unless the config says otherwise. (A fixed
        network of a hardware-only search has no supernet: its workload says what it is, an encoder by default.)"""
        if not isinstance(data, dict) or data.get("arch") is not None:
            return data
        supernet, workload = data.get("supernet") or {}, data.get("workload") or {}
        if isinstance(supernet, dict) and isinstance(workload, dict) and "causal" not in workload \
                and supernet.get("task", "causal_lm") == "causal_lm":
            data = {**data, "workload": {**workload, "causal": True}}
        return data

    @model_validator(mode="before")
    @classmethod
    def _simulated_by_default_in_codesign(cls, data: Any) -> Any:
        """A hardware space has no predictor trained for it: its hardware objectives come from the simulator."""
        if not isinstance(data, dict) or data.get("hardware_space") is None or not isinstance(
                data.get("objectives"), list):
            return data
        def simulated(spec: Any) -> Any:
            spec = {"name": spec} if isinstance(spec, str) else spec
            if isinstance(spec, dict) and spec.get("source") is None and spec.get("name") in REGISTRY \
                    and "simulator" in REGISTRY[spec["name"]].sources:
                return {**spec, "source": "simulator"}
            return spec

        return {**data, "objectives": [simulated(o) for o in data["objectives"]]}

    @model_validator(mode="after")
    def _consistent(self) -> "RunConfig":
        self._mode_consistent()
        self._mapping_consistent()
        names = [o.name for o in self.objectives]
        if len(set(names)) != len(names):
            raise ValueError("objectives: each objective may appear once")
        for i, c in enumerate(self.constraints):
            if c.objective not in names:
                _refuse(("constraints", i), f"{c.objective!r} is not an objective of this run; objectives are "
                        f"{', '.join(names)} (a constraint bounds one of them)")
        self._measured_consistent()
        quality = [i for i, spec in enumerate(self.objectives) if spec.info.quality]
        predicted = [i for i in quality if self.objectives[i].source == "predictor"]
        if predicted and len(quality) > 1:
            _refuse(("objectives", predicted[0]), "a quality predictor serves a run with one quality objective; "
                    f"this run has {len(quality)} ({', '.join(self.objectives[i].name for i in quality)})")
        for spec in self.objectives:
            task = spec.info.task
            if task is not None and self.supernet.task != task:
                raise ValueError(f"objectives: {spec.name} needs supernet.task={task}, not {self.supernet.task}")
        if self.space is not None and self.supernet.seq_len > self.space.max_seq_len:
            raise ValueError(f"supernet.seq_len={self.supernet.seq_len} exceeds space.max_seq_len")
        if self.space is not None and self.space.family is not None:
            try:
                family_for(self.supernet.task, self.space.family)
            except ValueError as exc:
                _refuse(("space", "family"), f"{exc} (supernet.task)")
        return self

    def _mode_consistent(self) -> None:
        """Which of the three modes the keys select, and what each mode cannot do."""
        if (self.space is None) == (self.arch is None):
            _refuse(("space",), "give either space (a supernet's networks) or arch (one fixed network), not both "
                    "and not neither")
        if self.hardware_space is None:
            if self.arch is not None:
                _refuse(("arch",), "a fixed network needs a hardware_space to search (for one network on one "
                        "accelerator, use `hwnas simulate`)")
            for i, spec in enumerate(self.objectives):
                if spec.info.accelerator_only:
                    _refuse(("objectives", i), f"{spec.name} does not vary on one accelerator; search a "
                            "hardware_space to trade it off")
            return
        if "hardware" in self.model_fields_set:
            _refuse(("hardware",), "with a hardware_space, the accelerator is searched; its fixed fields come from "
                    "hardware_space.extends")
        for i, spec in enumerate(self.objectives):
            if spec.info.hardware and spec.source != "simulator":
                _refuse(("objectives", i), f"{spec.name}: a hardware space is costed by the simulator (write "
                        "source: simulator); the search does not yet use a hardware-conditioned predictor "
                        "(`hwnas latency-data --hardware-space` trains one for use outside it)")
            if self.arch is not None and (spec.info.quality or spec.source == "shape"):
                _refuse(("objectives", i), f"{spec.name} does not vary with one fixed network; a hardware-only "
                        "search optimises latency_ms, energy_mj, edp, area_mm2 or power_mw")
        if self.predictor.path:
            _refuse(("predictor", "path"), "a hardware space is costed by the simulator; drop predictor.path")

    @property
    def codesign(self) -> bool:
        """The accelerator is searched (a hardware space), alone or with the network."""
        return self.hardware_space is not None

    def fixed_arch(self, base: Path = Path(".")):
        """The network of a hardware-only search, or None."""
        from supernet.space import ArchConfig, reference_arch, reference_arch_names

        if self.arch is None:
            return None
        if isinstance(self.arch, dict):
            data, source = self.arch, "arch"
        elif self.arch in reference_arch_names():
            return reference_arch(self.arch)
        else:
            data, source = load_mapping(base / self.arch), str(base / self.arch)
        try:
            return ArchConfig.from_dict(data)
        except ValueError as exc:
            raise UserInputError(f"{source}: {exc}") from None

    def networks(self, base: Path = Path(".")):
        """The network side of the search: the supernet's space, or a one-point side holding the fixed network."""
        from nas.codec import FixedSpace

        return self.space if self.space is not None else FixedSpace(self.fixed_arch(base))

    def accelerators(self, base: Path = Path(".")):
        """The hardware space of a co-design run (None for NAS on one accelerator)."""
        from predictors.accelerator.hardware_space import HardwareSpace

        if self.hardware_space is None:
            return None
        return HardwareSpace.from_mapping(self.hardware_space, "hardware_space", base)

    def _measured_consistent(self) -> None:
        """A measured device has no simulator: its latency comes only from the predictor trained on its
        measurements, so that predictor must be given and every hardware objective must be that latency."""
        device = self.measured_device
        if device is None:
            return
        if set(self.hardware) != {"measured"} or not isinstance(device, str) or not device:
            _refuse(("hardware",), "a measured device is written {measured: NAME} alone (NAME: the --device "
                    "of `hwnas latency-data --from-csv`)")
        if not self.predictor.path:
            _refuse(("predictor", "path"), f"the measured device {device!r} needs the predictor trained on its "
                    "measurements (`hwnas predictor train --data ...`)")
        for i, spec in enumerate(self.objectives):
            if spec.source == "simulator" or (spec.info.hardware and spec.name != "latency_ms"):
                _refuse(("objectives", i), f"{spec.name} from the {spec.source} needs a simulated accelerator; the "
                        f"measured device {device!r} gives latency_ms from predictor.path only")

    @property
    def measured_device(self) -> str | None:
        """The device name of `hardware: {measured: NAME}`, or None for a simulated accelerator."""
        return self.hardware.get("measured") if isinstance(self.hardware, dict) and "measured" in self.hardware \
            else None

    def _mapping_consistent(self) -> None:
        """A predictor's dataset is simulated with the default mapping (`hwnas latency-data` has no mapping
        setting yet), so another mapping would be applied to the simulated objectives only."""
        if self.mapping == MappingSection() or self.mapping == MappingSection(objective="cycles"):
            return
        for i, spec in enumerate(self.objectives):
            if spec.info.hardware and spec.source == "predictor":
                _refuse(("mapping",), f"{spec.name} comes from a predictor, whose dataset is simulated with the "
                        "default mapping (mapper gemmini, objective cycles); give it source: simulator to map "
                        "otherwise")

    @property
    def mapping_objective(self) -> str:
        """What the mapper minimises per GEMM: `mapping.objective`, or the one the run's objectives imply."""
        if self.mapping.objective is not None:
            return self.mapping.objective
        if self.mapping.mapper != "search":  # Gemmini's tiling, as every earlier release mapped it: cycles
            return "cycles"
        served = [o for o in self.objectives if o.name in MAPPING_OBJECTIVE_OF]
        wanted = {MAPPING_OBJECTIVE_OF[o.name] for o in served}
        if len(wanted) == 1 and all(o.source == "simulator" for o in served):
            return wanted.pop()
        return "cycles"

    def simulator(self, hw: AcceleratorConfig):
        """A `SystolicSimulator` for `hw`, mapping as this run says."""
        from predictors.accelerator.systolic import SystolicSimulator

        return SystolicSimulator(hw, mapper=self.mapping.mapper, objective=self.mapping_objective)

    @property
    def quality_objective(self) -> ObjectiveSpec | None:
        return next((o for o in self.objectives if o.info.quality), None)

    def setting(self, base: Path = Path(".")) -> dict:
        """What the run targets, in the shape of a latency dataset's metadata (`predictors.learned.dataset`): the space,
        hardware and workload with their fingerprints. A predictor is usable for the run when they match."""
        if self.codesign:
            networks = self.networks(base)
            accelerators = self.accelerators(base)
            return {"space": self.space.to_dict() if self.space else {"arch": networks.value.to_dict()},
                    "space_fingerprint": networks.fingerprint(), "hardware": f"hardware space over {accelerators.extends}",
                    "hardware_fingerprint": accelerators.fingerprint(), "workload": self.workload.model_dump(mode="json"),
                    "workload_fingerprint": self.workload.fingerprint()}
        device = self.measured_device
        hw = None if device else self.accelerator(base)
        return {"space": self.space.to_dict(), "space_fingerprint": self.space.fingerprint(),
                "hardware": device or hw.name, "hardware_fingerprint": measured_fingerprint(device) if device
                else hw.fingerprint(),
                "workload": self.workload.model_dump(mode="json"), "workload_fingerprint": self.workload.fingerprint()}

    def check_files(self, base: Path = Path(".")) -> None:
        """Refuse, before any work, paths that do not hold what the run needs: `predictor.path` must be a
        predictor of latency trained for this run's space, hardware and workload (read from its card, without
        loading the model), and `supernet.checkpoint` a folder. Paths are relative to the config file."""
        if self.codesign:
            self.setting(base)  # the fixed network and the hardware space, read and validated before any work
        if self.supernet.checkpoint and not (base / self.supernet.checkpoint).is_dir():
            raise UserInputError(f"supernet.checkpoint: {base / self.supernet.checkpoint}: no such folder")
        if not self.predictor.path:
            return
        folder = base / self.predictor.path
        card_path = folder / "predictor.json"
        if not card_path.is_file():
            raise UserInputError(f"predictor.path: {folder}: not a predictor folder (no predictor.json); train one "
                                 "with `hwnas predictor train`")
        card = load_mapping(card_path)  # bounded; a damaged file is one line naming it
        target, trained = card.get("target"), card.get("meta")
        if not isinstance(target, str) or not isinstance(trained, dict):
            raise UserInputError(f"predictor.path: {card_path}: damaged predictor card (expected a target name and "
                                 "a meta mapping); retrain it with `hwnas predictor train`")
        if target != "latency_ms":
            raise UserInputError(f"predictor.path: {folder} predicts {target}, not latency_ms")
        wanted = self.setting(base)
        for what in ("space", "hardware", "workload"):
            if trained.get(f"{what}_fingerprint") != wanted[f"{what}_fingerprint"]:
                hint = ""
                if what == "hardware" and str(trained.get("hardware_fingerprint", "")).startswith(MEASURED_PREFIX):
                    hint = f"; for that measured device write `hardware: {{measured: {trained.get('hardware')}}}`"
                raise UserInputError(f"predictor.path: {folder} was trained for another {what} "
                                     f"({trained.get(what)!r}, not this run's {wanted[what]!r}){hint}")

    def input_paths(self, base: Path = Path(".")) -> list[Path]:
        """The files and folders this run reads that exist on disk: the hardware file, the hardware space's
        `extends` file, the arch file, the supernet's data, tokenizer, init_from and checkpoint, the predictor.
        (A checkpoint at `<output>/supernet` is left out: it is the folder a run trains into, which `hwnas
        supernet train` filled, and a run given it as its checkpoint reads it and writes nothing there.)"""
        from supernet.space import reference_arch_names

        named: list[str | None] = []
        if self.hardware_space is None and isinstance(self.hardware, str) and self.hardware not in preset_names():
            named.append(self.hardware)
        extends = (self.hardware_space or {}).get("extends")
        if isinstance(extends, str) and extends not in preset_names():
            named.append(extends)
        if isinstance(self.arch, str) and self.arch not in reference_arch_names():
            named.append(self.arch)
        named.append(self.predictor.path)
        found = [base / name for name in named if name and (base / name).exists()]
        supernet = self.supernet
        for name in (supernet.data.removeprefix("hf:") if supernet.data != "builtin" else None,
                     supernet.tokenizer if supernet.tokenizer not in (None, "", "bytes") else None,
                     supernet.init_from):
            where = _existing(name, base) if name else None
            if where is not None:
                found.append(where)
        if supernet.checkpoint and (base / supernet.checkpoint).exists() and \
                (base / supernet.checkpoint).resolve() != (Path(self.output) / "supernet").resolve():
            found.append(base / supernet.checkpoint)
        return found

    def accelerator(self, base: Path = Path(".")) -> AcceleratorConfig:
        """The hardware: a preset name, a YAML path (relative to the config file), or an inline mapping; with a
        hardware space, the accelerator it extends (the baseline its designs are compared with)."""
        if self.hardware_space is not None:
            return self.accelerators(base).base()
        if isinstance(self.hardware, dict):
            return AcceleratorConfig.from_mapping(self.hardware, source="hardware", relative_to=base)
        if self.hardware in preset_names():
            return AcceleratorConfig.preset(self.hardware)
        return AcceleratorConfig.from_yaml(base / self.hardware)


def check_supernet_inputs(section: SupernetTrainConfig, base: Path = Path(".")) -> None:
    """Refuse, before torch is imported, a supernet section whose files are missing: `data` (a local file, unless
    `builtin` or `hf:`), `tokenizer` (a folder `transformers` can load, or a model name in the local Hugging
    Face cache) and `init_from` (a BERT checkpoint folder with a config.json). A path may be relative to the
    config file or to the current directory. The one-line error names the key."""
    if section.data != "builtin" and not section.data.startswith("hf:"):
        found = _existing(section.data, base)
        if found is None:
            raise UserInputError(f"supernet.data: {base / section.data}: data file not found (expected builtin, "
                                 "hf:NAME or a local text/CSV/JSONL file)")
        if found.is_dir():
            raise UserInputError(f"supernet.data: {found}: is a directory, expected a data file (a folder of "
                                 "Hugging Face data files is written hf:FOLDER)")
    if section.data.startswith("hf:") and not section.data[3:]:
        raise UserInputError("supernet.data: hf: needs a dataset name or folder (hf:NAME[:CONFIG] or hf:FOLDER)")
    if section.tokenizer not in (None, "", "bytes"):
        found = _existing(section.tokenizer, base)
        if found is None and not _in_hub_cache(section.tokenizer):
            raise UserInputError(f"supernet.tokenizer: {base / section.tokenizer}: no such tokenizer folder (nor a "
                                 "model name in the local Hugging Face cache); omit the key for byte tokens")
    if section.init_from:
        found = _existing(section.init_from, base)
        if found is None or not found.is_dir():
            raise UserInputError(f"supernet.init_from: {base / section.init_from}: no such checkpoint folder")
        if not (found / "config.json").is_file():
            raise UserInputError(f"supernet.init_from: {found}: no config.json of a BERT checkpoint")


def _existing(name: str, base: Path) -> Path | None:
    """`base / name` if it exists, else `name` from the current directory if it exists, else None."""
    for candidate in (base / name, Path(name)):
        try:
            if candidate.exists():
                return candidate
        except OSError:  # a name too long for the file system
            return None
    return None


def _in_hub_cache(name: str) -> bool:
    """Whether a Hugging Face model id (`bert-base-uncased`, `org/name`) is in the local cache, where
    `transformers` finds it offline; read from the cache folder, without importing anything heavy."""
    if not re.fullmatch(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?", name):
        return False
    hf_home = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")).expanduser()
    cache = Path(os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE") or hf_home / "hub")
    return (cache.expanduser() / f"models--{name.replace('/', '--')}").is_dir()


def _refuse(loc: tuple, message: str) -> None:
    """Fail validation at the key path `loc`, so the one-line error names that key (`constraints.0: ...`)."""
    raise ValidationError.from_exception_data("RunConfig", [InitErrorDetails(
        type=PydanticCustomError("value_error", message), loc=loc, input=None)])


def _precision_in_some_datapath(workload, space) -> None:
    """Designs whose datapath lacks the workload's precision are infeasible in the search; a space in which
    every design lacks it has nothing to search."""
    if workload.precision is not None and not any(workload.precision in formats for formats in space.datapath):
        raise UserInputError(f"precision {workload.precision} is in none of hardware_space.datapath's choices "
                             f"({'; '.join(', '.join(f) for f in space.datapath)})")
    designs = [space.base().with_changes(datapath=list(formats)) for formats in space.datapath]
    if not any(workload.runs_on(hw) for hw in designs):  # weights wider than every datapath computes
        workload.check_widths(designs[0])


def load_run_config(path: str | Path) -> RunConfig:
    """A run config file; mistakes give one line naming the file and the key path."""
    config = validate(RunConfig, load_mapping(path), source=str(path))
    if config.measured_device is None:
        try:
            hw = config.accelerator(Path(path).parent)
        except UserInputError as exc:  # an inline mapping's errors already start with `hardware`
            where = "" if str(exc).startswith("hardware") else "hardware: "
            raise UserInputError(f"{path}: {where}{exc}") from None
        try:  # a hardware space that searches the datapath needs the precision in one of its choices
            space = config.accelerators(Path(path).parent) if config.codesign else None
            if space is not None and space.datapath is not None:
                _precision_in_some_datapath(config.workload, space)
            else:
                config.workload.check_widths(hw)
        except UserInputError as exc:
            raise UserInputError(f"{path}: workload: {exc}") from None
    try:
        config.check_files(Path(path).parent)
        check_supernet_inputs(config.supernet, Path(path).parent)
    except UserInputError as exc:
        raise UserInputError(f"{path}: {exc}") from None
    try:
        refuse_overwriting_inputs(config.output, *config.input_paths(Path(path).parent), option="output:")
    except UserInputError as exc:
        raise UserInputError(f"{path}: {exc}") from None
    return config
