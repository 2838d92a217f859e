"""Objectives: one registry of what each name means, and the cost models behind the names.

`REGISTRY` is the single place that knows, per objective name, its direction, unit and axis label, which cost
model can compute it and whether it is cheap or expensive. Config validation, the search (minimisation form and
DEAP weights), the pipeline (which model to build) and the report (axis labels) all read it, so adding an objective
(area, power) is one entry here. An `Objective` has a name, a direction and `evaluate(archs) -> np.ndarray`.
Cheap ones (predicted or simulated latency, parameters) are computed for every candidate; expensive ones (supernet
quality) only for candidates that pass the constraints on cheap objectives. Every value is cached by `arch.key`,
so a re-visited architecture costs nothing, and the search itself never knows which cost model is behind a name
(OFA's dependency injection). A `Constraint` bounds one objective (`latency_ms <= 5`).
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Literal, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from supernet.space import ArchConfig

Direction = Literal["min", "max"]
Cost = Literal["cheap", "expensive"]
Source = Literal["supernet", "predictor", "simulator", "shape", "area"]


@dataclass(frozen=True)
class ObjectiveInfo:
    """What hwnas knows about one objective name. `sources` lists the cost models that can compute it, the
    default first: `supernet` (inherited-weight quality), `predictor` (a learned model: of latency and energy, or
    of quality, fitted on supernet scores),
    `simulator` (the systolic-array simulator), `shape` (counted from the sub-network's shapes), `area` (the area
    model of `predictors.accelerator.area`). `task` is the
    supernet task the objective needs, if any."""

    name: str
    direction: Direction
    quantity: str
    unit: str
    sources: tuple[Source, ...]
    cost: Cost
    task: str | None = None
    accelerator_only: bool = False  # depends on the accelerator alone: constant unless a hardware space is searched
    quality: bool = False  # how good the network is (scored on the supernet, or by a quality predictor)

    @property
    def sign(self) -> float:
        """Multiplies a value into minimisation form (maximised objectives are negated)."""
        return 1.0 if self.direction == "min" else -1.0

    @property
    def hardware(self) -> bool:
        """A hardware cost a learned latency/energy predictor can give (latency, energy, EDP): the objectives a
        run trains hardware predictors for, and re-simulates on its front. Not power (simulator only) nor area."""
        return "predictor" in self.sources and not self.quality

    def label(self, token: str = "token") -> str:
        """Axis label with the unit; quality per token names the token (`perplexity (per byte)`)."""
        unit = self.unit.replace("{token}", token)
        return f"{self.quantity} ({unit})" if unit else self.quantity


REGISTRY: dict[str, ObjectiveInfo] = {info.name: info for info in (
    ObjectiveInfo("accuracy", "max", "accuracy", "", ("supernet", "predictor"), "expensive", task="classification",
                  quality=True),
    ObjectiveInfo("perplexity", "min", "perplexity", "per {token}", ("supernet", "predictor"), "expensive",
                  task="causal_lm", quality=True),
    ObjectiveInfo("loss", "min", "loss", "nats per {token}", ("supernet", "predictor"), "expensive", quality=True),
    ObjectiveInfo("latency_ms", "min", "latency", "ms", ("predictor", "simulator"), "cheap"),
    ObjectiveInfo("energy_mj", "min", "energy", "mJ", ("predictor", "simulator"), "cheap"),
    ObjectiveInfo("edp", "min", "energy-delay product", "mJ x ms", ("predictor", "simulator"), "cheap"),
    ObjectiveInfo("area_mm2", "min", "area", "mm^2", ("area",), "cheap", accelerator_only=True),
    ObjectiveInfo("power_mw", "min", "average power", "mW", ("simulator",), "cheap"),
    ObjectiveInfo("params", "min", "parameters", "count", ("shape",), "cheap"),
    ObjectiveInfo("macs", "min", "multiply-accumulates", "count", ("shape",), "cheap"),
)}


def objective_info(name: str) -> ObjectiveInfo:
    """The registry entry of `name`; an unknown name is a `ValueError` listing the known ones."""
    if name not in REGISTRY:
        raise ValueError(f"unknown objective {name!r}; expected one of: {', '.join(REGISTRY)}")
    return REGISTRY[name]


_CONSTRAINT = re.compile(r"^\s*([a-z_][a-z0-9_]*)\s*(<=|>=)\s*([-+0-9.eE]+)\s*$")


class Constraint(BaseModel):
    """A bound on one objective, written `latency_ms <= 5` in YAML and accepted as that string anywhere."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    objective: str
    op: Literal["<=", ">="]
    value: float = Field(allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, data: Any) -> Any:
        if not isinstance(data, str):
            return data
        match = _CONSTRAINT.match(data)
        if not match:
            raise ValueError(f"expected 'objective <= value' or 'objective >= value', got {data!r}")
        name, op, value = match.groups()
        if name not in REGISTRY:
            raise ValueError(f"unknown objective {name!r} in {data!r}")
        return {"objective": name, "op": op, "value": float(value)}

    @classmethod
    def parse(cls, text: "str | Constraint") -> "Constraint":
        """A constraint from its text (or itself): the Python API takes the strings the YAML takes."""
        return text if isinstance(text, cls) else cls.model_validate(text)

    def violation(self, value: float) -> float:
        """How far `value` is on the wrong side of the bound, relative to the bound (0 when satisfied)."""
        excess = value - self.value if self.op == "<=" else self.value - value
        return max(excess, 0.0) / (abs(self.value) or 1.0)

    def __str__(self) -> str:
        return f"{self.objective} {self.op} {self.value:g}"


class Objective:
    """A named cost model: `direction` and `cost` default to the registry's entry for the name (a name outside
    the registry, for custom cost models, defaults to a cheap minimised objective)."""

    def __init__(self, name: str, fn: Callable[[list[ArchConfig]], Sequence[float]],
                 direction: Direction | None = None, cost: Cost | None = None):
        info = REGISTRY.get(name)
        direction = direction or (info.direction if info else "min")
        cost = cost or (info.cost if info else "cheap")
        if direction not in ("min", "max"):
            raise ValueError(f"direction must be 'min' or 'max', got {direction!r}")
        if cost not in ("cheap", "expensive"):
            raise ValueError(f"cost must be 'cheap' or 'expensive', got {cost!r}")
        self.name, self.fn, self.direction, self.cost = name, fn, direction, cost
        self.cache: dict[str, float] = {}

    @property
    def weight(self) -> float:
        """DEAP's fitness weight: -1 minimises, +1 maximises."""
        return -1.0 if self.direction == "min" else 1.0

    @property
    def sign(self) -> float:
        """Multiplies a value into minimisation form."""
        return -self.weight

    def evaluate(self, archs: Sequence[ArchConfig]) -> np.ndarray:
        missing = list({a.key: a for a in archs if a.key not in self.cache}.values())
        if missing:
            values = np.asarray(self.fn(missing), dtype=float)
            if values.shape != (len(missing),):
                raise ValueError(f"objective {self.name!r} returned {values.shape} values for {len(missing)} archs")
            self.cache.update(zip((a.key for a in missing), values.tolist()))
        return np.array([self.cache[a.key] for a in archs])

    def __repr__(self) -> str:
        return f"Objective({self.name!r}, {self.direction}, {self.cost})"


# ---- cost models behind the names --------------------------------------------------------------------------
def predictor_objective(name: str, predictor) -> Objective:
    """Latency, energy or quality from a learned predictor (batched: thousands of architectures per millisecond;
    cheap, so a predicted quality is scored for every candidate)."""
    return Objective(name, lambda archs: predictor.predict(archs), cost="cheap")


def simulator_objective(name: str, simulator, workload) -> Objective:
    """`latency_ms`, `energy_mj` or `edp` from the `SystolicSimulator` itself (ground truth, memoised)."""
    return Objective(name, lambda archs: [getattr(simulator.simulate(a, workload), name) for a in archs])


def on_network(objective: Objective) -> Objective:
    """The same objective for (network, accelerator) candidates, scored once per network whatever the
    accelerator: supernet quality and model size do not change with the hardware, and cost the most."""
    return Objective(objective.name, lambda candidates: objective.evaluate([c.arch for c in candidates]),
                     objective.direction, objective.cost)


def candidate_simulator_objective(name: str, workload, simulators: dict, cache_size: int = 4096,
                                  simulator=None) -> Objective:
    """`latency_ms`, `energy_mj`, `edp` or `power_mw` of (network, accelerator) candidates on the simulator.
    `simulators` (one `SystolicSimulator` per accelerator fingerprint) is shared by every hardware objective of a
    run, so a design is mapped once whatever it is scored on; the oldest are dropped beyond `cache_size`.
    `simulator(hw)` makes one with the run's mapping (default: `SystolicSimulator(hw)`)."""
    from predictors.accelerator.systolic import SystolicSimulator

    simulator = simulator or SystolicSimulator

    def simulate(candidate):
        key = candidate.hw.fingerprint()
        if key not in simulators:
            if len(simulators) >= cache_size:
                simulators.pop(next(iter(simulators)))
            simulators[key] = simulator(candidate.hw)
        return simulators[key].simulate(candidate.arch, workload)

    def value(candidate) -> float:
        if not workload.runs_on(candidate.hw):
            return math.inf  # infeasible (`nas.pipeline.problem.infeasibility`): nothing to simulate
        return getattr(simulate(candidate), name)

    return Objective(name, lambda candidates: [value(c) for c in candidates])


def area_objective() -> Objective:
    """`area_mm2` of each candidate's accelerator (`predictors.accelerator.area`) at the accelerator's own node."""
    from predictors.accelerator.area import estimate_area

    return Objective("area_mm2", lambda candidates: [estimate_area(c.hw).total_mm2 for c in candidates])


def model_size_objective(name: str, model, seq_len: int) -> Objective:
    """`params` or `macs` of the sub-network, counted from its shapes."""
    if name == "params":
        return Objective(name, lambda archs: [model.num_params(a) for a in archs])
    return Objective(name, lambda archs: [model.macs(a, seq_len) for a in archs])


@dataclass(frozen=True)
class QualityJob:
    """A chunk of architectures to score with inherited weights; plain data, so any executor can ship it."""

    supernet_dir: str
    train_config: dict
    archs: tuple[dict, ...]


_EVALUATORS: dict[tuple[str, str], object] = {}


def score_quality_job(job: QualityJob) -> list[dict]:
    """Runs in a worker: the supernet and its validation data are loaded once per process and reused.
    (Imported here so that processes that only serve cheap objectives never load torch.)"""
    from supernet.evaluate import SubnetEvaluator
    from supernet.store import load_supernet
    from supernet.tasks import load_task_data
    from supernet.train_config import SupernetTrainConfig

    key = (job.supernet_dir, json.dumps(job.train_config, sort_keys=True))
    evaluator = _EVALUATORS.get(key)
    if evaluator is None:
        cfg = SupernetTrainConfig.model_validate(job.train_config)
        evaluator = SubnetEvaluator(load_supernet(job.supernet_dir), load_task_data(cfg), cfg.seq_len,
                                    cfg.batch_size, cfg.eval_windows)
        _EVALUATORS[key] = evaluator
    return evaluator.evaluate([ArchConfig.from_dict(a) for a in job.archs])


def quality_objective(name: str, supernet_dir: str | Path, train_config: dict,
                      map_fn: Callable[[Callable, Iterable], Iterable] = map, workers: int = 1) -> Objective:
    """`accuracy`, `perplexity` or `loss` of sub-networks with inherited supernet weights, scored in batches
    spread over `workers` (each loads the supernet once)."""
    def score(archs: list[ArchConfig]) -> list[float]:
        chunks = np.array_split(np.arange(len(archs)), max(1, min(workers, len(archs))))
        jobs = [QualityJob(str(supernet_dir), train_config, tuple(archs[i].to_dict() for i in chunk))
                for chunk in chunks if len(chunk)]
        return [result[name] for results in map_fn(score_quality_job, jobs) for result in results]

    return Objective(name, score)
