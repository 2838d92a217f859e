"""What must live in DRAM while a model runs, and whether the accelerator's memory system holds it.

A memory system has a capacity (`predictors.accelerator.memory`): a design whose channels cannot hold the
model's weights and KV cache cannot run it, however fast it would be, so a search must see it as infeasible
and `simulate` must say so rather than print a latency.
"""
from __future__ import annotations

from dataclasses import dataclass

from predictors.accelerator.hardware import AcceleratorConfig
from predictors.accelerator.workload import Gemm, Workload, lower
from supernet.space import ArchConfig
from userfiles import UserInputError

GIB = 2**30


@dataclass(frozen=True)
class Footprint:
    """Bytes in DRAM: every weight once, the token embedding table included (`vocab_size` x `embed_dim`; an LM
    head is taken as tied to it, as in the decoders of docs/sources.md section 6, so it counts once), the KV cache
    of every layer at its full context (decode and generate), and the largest GEMM's input and output with the
    residual stream beside them (activations are produced and consumed layer by layer)."""

    weights: float
    kv_cache: float
    activations: float

    @property
    def total(self) -> float:
        return self.weights + self.kv_cache + self.activations

    def to_dict(self) -> dict:
        return {"weights_bytes": self.weights, "kv_cache_bytes": self.kv_cache,
                "activations_bytes": self.activations, "total_bytes": self.total}


def dram_footprint(arch: ArchConfig, workload: Workload, operand_bits: int) -> Footprint:
    """The footprint of `arch` under `workload` when activations are `operand_bits` wide."""
    operand = operand_bits / 8
    weights: dict[tuple, float] = {}
    activations = 0.0
    for op in lower(arch, workload):
        if not isinstance(op, Gemm):
            continue
        if op.b_operand == "weights":
            weights[(op.layer, op.name)] = op.k * op.n * (op.b_bits or operand_bits) / 8
        activations = max(activations, (op.m * op.k + op.m * op.n) * operand)
    embedding = workload.vocab_size * arch.embed_dim * (workload.weight_bits or operand_bits) / 8
    weights[(None, "lm_head")] = embedding  # tied: the head's weights are the embedding table
    tokens = workload.batch * (workload.seq_len + workload.new_tokens)
    activations += tokens * arch.embed_dim * operand if workload.phase == "prefill" else workload.batch * arch.embed_dim * operand
    kv = 0.0
    if workload.phase in ("decode", "generate"):
        kv_bytes = (workload.kv_cache_bits or operand_bits) / 8
        kv = sum(2 * arch.kv_dim(layer) * tokens * kv_bytes for layer in range(len(arch.layers)))
    return Footprint(sum(weights.values()), kv, activations)


def footprint_on(hw: AcceleratorConfig, arch: ArchConfig, workload: Workload) -> Footprint:
    """The footprint of `arch` under `workload` at the width `hw` computes it in."""
    return dram_footprint(arch, workload, hw.operand_format(workload.precision).bits)


def capacity_shortfall(hw: AcceleratorConfig, arch: ArchConfig, workload: Workload) -> float:
    """How far the footprint exceeds the memory system's capacity, relative to it (0 when it fits, or when the
    accelerator declares no memory system, whose capacity is then the user's to know)."""
    if hw.memory is None:
        return 0.0
    return max(footprint_on(hw, arch, workload).total - hw.memory.capacity_bytes, 0.0) / hw.memory.capacity_bytes


def check_capacity(hw: AcceleratorConfig, arch: ArchConfig, workload: Workload) -> Footprint:
    """The footprint, or one line naming the memory and both sizes when the model does not fit (a
    `UserInputError`)."""
    need = footprint_on(hw, arch, workload)
    if hw.memory is not None and need.total > hw.memory.capacity_bytes:
        raise UserInputError(
            f"accelerator {hw.name!r}: the model needs {need.total / GIB:.2f} GiB of DRAM (weights "
            f"{need.weights / GIB:.2f}, KV cache {need.kv_cache / GIB:.2f}, activations {need.activations / GIB:.2f}) "
            f"but its memory ({hw.memory.describe()}) holds {hw.memory.capacity_bytes / GIB:g} GiB; add "
            f"{hw.memory.spec.unit}s or pick a larger technology")
    return need
