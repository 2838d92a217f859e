"""Work units that executors ship to worker processes: plain data in, plain rows out.

Kept free of pandas and scikit-learn, so that a freshly spawned worker imports only the simulator.
"""
from __future__ import annotations

from dataclasses import dataclass

from predictors.hardware import AcceleratorConfig
from predictors.systolic import SystolicSimulator
from predictors.workload import Workload
from supernet.space import ArchConfig


@dataclass(frozen=True)
class SimulationJob:
    """One chunk of architectures to simulate on one hardware under one workload."""

    hardware: dict
    workload: dict
    archs: tuple[dict, ...]


def simulate_job(job: SimulationJob) -> list[dict]:
    """One simulator per chunk, so GEMM and layer results are shared by the chunk's architectures."""
    sim = SystolicSimulator(AcceleratorConfig.model_validate(job.hardware))
    workload = Workload.model_validate(job.workload)
    rows = []
    for data in job.archs:
        arch = ArchConfig.from_dict(data)
        report = sim.simulate(arch, workload)
        rows.append({"key": arch.key, "arch": arch.to_json(), "latency_ms": report.latency_ms,
                     "energy_mj": report.energy_mj, "cycles": report.cycles})
    return rows
