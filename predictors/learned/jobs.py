"""Work units that executors ship to worker processes: plain data in, plain rows out.

Kept free of pandas and scikit-learn, so that a freshly spawned worker imports only the simulator.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from dataclasses import dataclass

from predictors.accelerator.hardware import AcceleratorConfig
from predictors.accelerator.systolic import SystolicSimulator
from predictors.accelerator.workload import Workload
from supernet.space import ArchConfig


@dataclass(frozen=True)
class SimulationJob:
    """One chunk of architectures to simulate on one hardware under one workload."""

    hardware: dict
    workload: dict
    archs: tuple[dict, ...]


@dataclass(frozen=True)
class JointSimulationJob:
    """One chunk of (architecture, accelerator) pairs under one workload; `hardware` maps a label of each
    accelerator (its genes in the dataset's hardware space) to its config, `pairs` are (label, arch) pairs."""

    workload: dict
    hardware: dict[str, dict]
    pairs: tuple[tuple[str, dict], ...]


_following_parent = False


def follow_parent() -> None:
    """In a multiprocessing worker: exit as soon as the parent process ends, however it ends (SIGKILL included).

    A pool worker waits on its task queue, whose write end its siblings hold as well, so a parent killed with
    SIGKILL would leave it waiting (or simulating the queued chunks) forever. `multiprocessing.parent_process()`
    carries a sentinel that becomes ready when the parent exits (a pipe whose other end only the parent holds):
    a daemon thread that `join`s it notices the death at once, with no polling and no pid that could be reused.
    Ctrl-C is ignored in the worker: the terminal sends it to the parent too, which shuts the pool down.

    `simulate_job` calls this on its first job in each process; a pool initializer may call it as well, which
    also covers workers that never receive a job. Idempotent, and does nothing outside multiprocessing workers
    (the serial executor runs jobs in the main process; Ray manages its own workers).
    """
    global _following_parent
    parent = multiprocessing.parent_process()
    if _following_parent or parent is None or threading.current_thread() is not threading.main_thread():
        return
    _following_parent = True
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_after, args=(parent,), name="hwnas-follow-parent", daemon=True).start()


def _exit_after(parent: multiprocessing.process.BaseProcess) -> None:
    parent.join()
    os._exit(1)  # nothing of the worker's is worth saving: its results went to the parent, which is gone


def simulate_job(job: SimulationJob) -> list[dict]:
    """One simulator per chunk, so GEMM and layer results are shared by the chunk's architectures."""
    follow_parent()
    sim = SystolicSimulator(AcceleratorConfig.model_validate(job.hardware))
    workload = Workload.model_validate(job.workload)
    return [_row(sim, ArchConfig.from_dict(data), workload) for data in job.archs]


def simulate_joint_job(job: JointSimulationJob) -> list[dict]:
    """Rows keyed `<arch key>@<accelerator label>`, with the label in column `hardware`; one simulator per
    accelerator of the chunk."""
    follow_parent()
    workload = Workload.model_validate(job.workload)
    sims = {label: SystolicSimulator(AcceleratorConfig.model_validate(hw)) for label, hw in job.hardware.items()}
    rows = []
    for label, data in job.pairs:
        row = _row(sims[label], ArchConfig.from_dict(data), workload)
        rows.append(row | {"key": f"{row['key']}@{label}", "hardware": label})
    return rows


def _row(sim: SystolicSimulator, arch: ArchConfig, workload: Workload) -> dict:
    report = sim.simulate(arch, workload)
    return {"key": arch.key, "arch": arch.to_json(), "latency_ms": report.latency_ms, "energy_mj": report.energy_mj,
            "cycles": report.cycles}
