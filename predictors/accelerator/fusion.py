"""Which ops of a block run fused on an accelerator with a `fusion` capability, and in what role.

Fusion changes no op's work, only where its data lives and what overlaps: a fused GEMM keeps one operand on
chip (the scores between QK^T and attention x V never reach DRAM) or must tile whole output rows (so that a
LayerNorm can read its rows as they complete); a fused vector op works on one block of rows while the array
computes the next, so only what the array's time does not cover, and the last block, stay exposed. The cost
of each role follows from the simulator's model (`SystolicSimulator`), not from a percentage.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from predictors.accelerator.hardware import Fusion
from predictors.accelerator.vector_ops import VectorKind
from predictors.accelerator.workload import Gemm, Op, VectorWork

NORMS = (VectorKind.layernorm, VectorKind.rmsnorm)  # what a fused projection normalises: a whole row at a time


@dataclass(frozen=True)
class FusedGemm:
    """A GEMM inside a fused chain: `on_chip` names the operand that never moves to or from DRAM (C of QK^T,
    A of attention x V); `full_rows` asks for output tiles spanning whole rows."""

    on_chip: Literal["a", "c"] | None = None
    full_rows: bool = False


@dataclass(frozen=True)
class HiddenVector:
    """A vector op overlapped with the GEMMs at `behind` (indices into the op list), working on the row blocks
    of the GEMM at `producer`; `rescaled_by` is attention x V's index for an attention softmax, whose partial
    outputs an online softmax rescales once per block of keys when a block of rows of scores does not fit."""

    producer: int
    behind: tuple[int, ...]
    rescaled_by: int | None = None


Role = FusedGemm | HiddenVector


def plan(ops: list[Op], fusion: Fusion) -> dict[int, Role]:
    """The role of each fused op of `ops` (one block's ops in order), by index; ops not listed run alone."""
    roles: dict[int, Role] = {}
    if fusion.attention:
        for i, op in enumerate(ops):
            if isinstance(op, Gemm) and op.name == "attn_qk":
                softmax = _next(ops, i, lambda o: isinstance(o, VectorWork) and o.kind is VectorKind.softmax)
                av = _next(ops, i, lambda o: isinstance(o, Gemm) and o.name == "attn_av")
                if softmax is not None and av is not None:
                    roles[i] = FusedGemm(on_chip="c")
                    roles[av] = FusedGemm(on_chip="a")
                    roles[softmax] = HiddenVector(producer=i, behind=(i, av), rescaled_by=av)
    if fusion.projection_layernorm:
        for i, op in enumerate(ops):
            if isinstance(op, VectorWork) and op.kind in NORMS and op.after is not None:
                producer = _last(ops, i, lambda o: isinstance(o, Gemm) and o.name == op.after)
                if producer is not None:
                    previous = roles.get(producer, FusedGemm())
                    roles[producer] = FusedGemm(on_chip=previous.on_chip, full_rows=True)
                    roles[i] = HiddenVector(producer=producer, behind=(producer,))
    return roles


def _next(ops: list[Op], start: int, wanted) -> int | None:
    return next((j for j in range(start + 1, len(ops)) if wanted(ops[j])), None)


def _last(ops: list[Op], end: int, wanted) -> int | None:
    return next((j for j in range(end - 1, -1, -1) if wanted(ops[j])), None)
