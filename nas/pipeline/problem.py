"""What the search stage searches: the codec it varies (`codec`), each configured objective behind the cost model
its `source` names (`objectives`), and the baseline the front is compared with (`baseline`)."""
from __future__ import annotations

from pathlib import Path

from nas.codec import Candidate, JointSpace
from nas.objectives import (Objective, area_objective, candidate_simulator_objective, model_size_objective,
                            on_network, predictor_objective, quality_objective, simulator_objective)
from nas.pipeline.folder import Run


def codec(run: Run):
    """What the search varies: the supernet's space on one accelerator, or (network, accelerator) pairs."""
    cfg = run.config
    if not cfg.codesign:
        return cfg.space
    return JointSpace(cfg.networks(run.config_dir), cfg.accelerators(run.config_dir))


def objectives(run: Run, supernet_dir: Path | None, pool) -> list[Objective]:
    """Each configured objective behind the cost model its `source` names. In co-design the candidates are
    (network, accelerator) pairs: one simulator per design serves every hardware objective, and network-side
    objectives (quality, size) are scored once per network whatever the accelerator. The predictors come from
    the stages before (`run.predictors_`, `run.quality_predictor_`)."""
    cfg = run.config
    per_network = on_network if cfg.codesign else (lambda objective: objective)
    simulators: dict = {}  # per accelerator fingerprint, shared by latency, energy, EDP and power
    train = run.train_config().model_dump(exclude={"checkpoint"})
    model = None
    found = []
    for spec in cfg.objectives:
        if spec.source == "simulator":
            found.append(candidate_simulator_objective(spec.name, cfg.workload, simulators, simulator=cfg.simulator)
                         if cfg.codesign
                         else simulator_objective(spec.name, simulators.setdefault(run.hw.fingerprint(),
                                                                                   cfg.simulator(run.hw)),
                                                  cfg.workload))
        elif spec.source == "area":
            found.append(area_objective())
        elif spec.source == "predictor" and spec.name == "edp":
            lat, energy = run.predictors_["latency_ms"], run.predictors_["energy_mj"]
            found.append(Objective("edp", lambda a: lat.predict(a) * energy.predict(a)))
        elif spec.source == "predictor" and spec.info.quality:
            found.append(per_network(predictor_objective(spec.name, run.quality_predictor_)))
        elif spec.source == "predictor":
            found.append(predictor_objective(spec.name, run.predictors_[spec.name]))
        elif spec.source == "supernet":
            found.append(per_network(quality_objective(spec.name, supernet_dir, train, pool.map, pool.workers)))
        else:
            model = model or _shape_model(run, supernet_dir)
            seq_len = cfg.workload.seq_len or cfg.supernet.seq_len
            found.append(per_network(model_size_objective(spec.name, model, seq_len)))
    return found


def infeasibility(run: Run):
    """Each candidate's own violation: 1 when its datapath cannot run the workload (`runs_on`: a precision it
    lacks, weights wider than it computes), else by how much its model overflows the accelerator's memory system
    (`predictors.accelerator.footprint`), relative to the capacity; None when no design declares a memory or
    searches the datapath."""
    from predictors.accelerator.footprint import capacity_shortfall

    cfg = run.config
    if cfg.codesign:
        space = cfg.accelerators(run.config_dir)
        if space.memory is None and space.base().memory is None and space.datapath is None:
            return None

        def violation(c) -> float:
            if not cfg.workload.runs_on(c.hw):
                return 1.0
            return capacity_shortfall(c.hw, c.arch, cfg.workload)

        return lambda candidates: [violation(c) for c in candidates]
    if run.hw is None or run.hw.memory is None:  # a measured device, or no memory system declared
        return None
    return lambda archs: [capacity_shortfall(run.hw, a, cfg.workload) for a in archs]


def baseline(run: Run):
    """What the front is compared with: the largest network (NAS, co-design) or the fixed one (DSE), on the
    run's accelerator (NAS) or the one the hardware space extends (co-design)."""
    cfg = run.config
    arch = cfg.space.largest() if cfg.space is not None else cfg.fixed_arch(run.config_dir)
    return Candidate(arch, run.hw) if cfg.codesign else arch


def _shape_model(run: Run, supernet_dir: Path | None):
    """A supernet for counting parameters and MACs: the trained one, or an empty one on the meta device."""
    import torch

    from supernet.store import load_supernet
    from supernet.tasks import build_supernet, load_task_data

    if supernet_dir is not None:
        return load_supernet(supernet_dir)
    with torch.device("meta"):
        return build_supernet(run.config.space, run.config.supernet, load_task_data(run.train_config()))
