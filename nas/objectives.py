"""Objectives: what the search optimises, told apart by cost and cached by architecture.

An `Objective` has a name, a direction and `evaluate(archs) -> np.ndarray`. Cheap ones (predicted or simulated
latency, parameters) are computed for every candidate; expensive ones (supernet quality) only for candidates that
pass the constraints on cheap objectives. Every value is cached by `arch.key`, so a re-visited architecture costs
nothing, and the search itself never knows which cost model is behind a name (OFA's dependency injection).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Literal, Sequence

import numpy as np

from supernet.space import ArchConfig

Direction = Literal["min", "max"]
Cost = Literal["cheap", "expensive"]


class Objective:
    def __init__(self, name: str, fn: Callable[[list[ArchConfig]], Sequence[float]], direction: Direction = "min",
                 cost: Cost = "cheap"):
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
    """Latency or energy from a `LatencyPredictor` (batched: thousands of architectures per millisecond)."""
    return Objective(name, lambda archs: predictor.predict(archs), "min", "cheap")


def simulator_objective(name: str, simulator, workload) -> Objective:
    """`latency_ms`, `energy_mj` or `edp` from the `SystolicSimulator` itself (ground truth, memoised)."""
    field = {"latency_ms": "latency_ms", "energy_mj": "energy_mj", "edp": "edp"}[name]
    return Objective(name, lambda archs: [getattr(simulator.simulate(a, workload), field) for a in archs], "min", "cheap")


def model_size_objective(name: str, model, seq_len: int) -> Objective:
    """`params` or `macs` of the sub-network, counted from its shapes."""
    if name == "params":
        return Objective(name, lambda archs: [model.num_params(a) for a in archs], "min", "cheap")
    return Objective(name, lambda archs: [model.macs(a, seq_len) for a in archs], "min", "cheap")


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
    from supernet.train import SupernetTrainConfig, load_supernet, load_task_data

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
    direction: Direction = "max" if name == "accuracy" else "min"

    def score(archs: list[ArchConfig]) -> list[float]:
        chunks = np.array_split(np.arange(len(archs)), max(1, min(workers, len(archs))))
        jobs = [QualityJob(str(supernet_dir), train_config, tuple(archs[i].to_dict() for i in chunk))
                for chunk in chunks if len(chunk)]
        return [result[name] for results in map_fn(score_quality_job, jobs) for result in results]

    return Objective(name, score, direction, "expensive")
