"""One validated `RunConfig` per run, from YAML: every section a user can write, checked at the door.

Unknown keys, wrong types and impossible values are refused with one line naming the file and the key path
(`searches/demo.yaml: search.population: Input should be greater than or equal to 2`). The resolved config
(defaults filled in) is what a run directory stores, so a run can be repeated from it alone.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from predictors.hardware import AcceleratorConfig, preset_names
from predictors.workload import Workload
from userfiles import UserInputError, load_mapping, validate
from supernet.space import SearchSpace
from supernet.train import SupernetTrainConfig

# name -> (direction, where it comes from)
OBJECTIVES: dict[str, tuple[str, str]] = {
    "accuracy": ("max", "supernet"),
    "perplexity": ("min", "supernet"),
    "loss": ("min", "supernet"),
    "latency_ms": ("min", "hardware"),
    "energy_mj": ("min", "hardware"),
    "edp": ("min", "hardware"),
    "params": ("min", "model"),
    "macs": ("min", "model"),
}
_CONSTRAINT = re.compile(r"^\s*([a-z_]+)\s*(<=|>=)\s*([-+0-9.eE]+)\s*$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SupernetSection(SupernetTrainConfig):
    """Train a supernet with these settings, or reuse a trained one (`checkpoint`: its folder)."""

    checkpoint: str | None = None


class PredictorSection(Strict):
    path: str | None = Field(None, description="a trained predictor folder; otherwise one is trained")
    samples: int = Field(1000, ge=20, description="simulated architectures to train it on")
    model: Literal["gbm", "mlp", "ensemble"] = "gbm"


class ObjectiveSpec(Strict):
    name: str
    source: Literal["predictor", "simulator"] = Field(
        "predictor", description="for latency_ms / energy_mj / edp: the learned predictor or the simulator")

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, data: Any) -> Any:
        return {"name": data} if isinstance(data, str) else data

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        if name not in OBJECTIVES:
            raise ValueError(f"unknown objective {name!r}; expected one of: {', '.join(OBJECTIVES)}")
        return name

    @property
    def direction(self) -> str:
        return OBJECTIVES[self.name][0]


class Constraint(Strict):
    """A bound on one objective, written `latency_ms <= 5` in YAML."""

    objective: str
    op: Literal["<=", ">="]
    value: float

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, data: Any) -> Any:
        if not isinstance(data, str):
            return data
        match = _CONSTRAINT.match(data)
        if not match:
            raise ValueError(f"expected 'objective <= value' or 'objective >= value', got {data!r}")
        name, op, value = match.groups()
        if name not in OBJECTIVES:
            raise ValueError(f"unknown objective {name!r} in {data!r}")
        return {"objective": name, "op": op, "value": float(value)}

    @classmethod
    def parse(cls, text: str) -> "Constraint":
        return cls.model_validate(text)

    def violation(self, value: float) -> float:
        """How far `value` is on the wrong side of the bound, relative to the bound (0 when satisfied)."""
        excess = value - self.value if self.op == "<=" else self.value - value
        return max(excess, 0.0) / (abs(self.value) or 1.0)

    def __str__(self) -> str:
        return f"{self.objective} {self.op} {self.value:g}"


class SearchSection(Strict):
    algorithm: Literal["nsga2", "random"] = "nsga2"
    population: int = Field(40, ge=2)
    generations: int = Field(40, ge=1)
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


class RunConfig(Strict):
    name: str = "run"
    space: SearchSpace
    supernet: SupernetSection = SupernetSection()
    hardware: str | dict[str, Any] = "gemmini-ibert"
    workload: Workload = Workload()
    predictor: PredictorSection = PredictorSection()
    objectives: list[ObjectiveSpec] = Field(
        default_factory=lambda: [ObjectiveSpec(name="perplexity"), ObjectiveSpec(name="latency_ms")], min_length=2)
    constraints: list[Constraint] = Field(default_factory=list)
    search: SearchSection = SearchSection()
    executor: ExecutorSection = ExecutorSection()
    export: ExportSection = ExportSection()
    output: str = "runs/run"

    @model_validator(mode="before")
    @classmethod
    def _decoder_workload(cls, data: Any) -> Any:
        """A causal-LM supernet is a decoder: its workload is causal unless the config says otherwise."""
        if not isinstance(data, dict):
            return data
        supernet, workload = data.get("supernet") or {}, data.get("workload") or {}
        if isinstance(supernet, dict) and isinstance(workload, dict) and "causal" not in workload \
                and supernet.get("task", "causal_lm") == "causal_lm":
            data = {**data, "workload": {**workload, "causal": True}}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> "RunConfig":
        names = [o.name for o in self.objectives]
        if len(set(names)) != len(names):
            raise ValueError("objectives: each objective may appear once")
        quality = {"accuracy": "classification", "perplexity": "causal_lm"}
        for name, task in quality.items():
            if name in names and self.supernet.task != task:
                raise ValueError(f"objectives: {name} needs supernet.task={task}, not {self.supernet.task}")
        if self.supernet.seq_len > self.space.max_seq_len:
            raise ValueError(f"supernet.seq_len={self.supernet.seq_len} exceeds space.max_seq_len")
        return self

    @property
    def quality_objective(self) -> ObjectiveSpec | None:
        return next((o for o in self.objectives if OBJECTIVES[o.name][1] == "supernet"), None)

    def accelerator(self, base: Path = Path(".")) -> AcceleratorConfig:
        """The hardware: a preset name, a YAML path (relative to the config file), or an inline mapping."""
        if isinstance(self.hardware, dict):
            return AcceleratorConfig.from_mapping(self.hardware, source="hardware", relative_to=base)
        if self.hardware in preset_names():
            return AcceleratorConfig.preset(self.hardware)
        return AcceleratorConfig.from_yaml(base / self.hardware)


def load_run_config(path: str | Path) -> RunConfig:
    """A run config file; mistakes give one line naming the file and the key path."""
    config = validate(RunConfig, load_mapping(path), source=str(path))
    try:
        config.accelerator(Path(path).parent)
    except UserInputError as exc:
        raise UserInputError(f"{path}: hardware: {exc}") from None
    return config
