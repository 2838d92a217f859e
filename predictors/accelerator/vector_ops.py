"""The vocabulary shared by the architecture and the problem: the kinds of non-GEMM operation.

`hardware.py` says where each kind runs and what an element costs there; `workload.py` says how many elements
of each kind a model produces. Both speak these names, and neither imports the other (Timeloop's split).
"""
from __future__ import annotations

from enum import Enum


class VectorKind(str, Enum):
    """The non-GEMM operations of a transformer block, each placed and costed by the hardware model."""

    softmax = "softmax"
    layernorm = "layernorm"
    gelu = "gelu"
    residual_add = "residual_add"
    quantize = "quantize"  # int32 -> int8 rescaling of GEMM outputs, float -> int8 of GEMM inputs
    rmsnorm = "rmsnorm"
    silu = "silu"
    multiply = "multiply"  # SwiGLU's elementwise product of the activated gate and the up projection
    rope = "rope"  # rotary positions: a rotation of each pair of query and key features


# The ops that a Llama-style block added run, unless a hardware file places them itself, on the unit of their
# nearest relative, at its cost per element: RMSNorm on the normalisation unit (its passes: three for I-BERT's,
# where RMSNorm alone would need two), SiLU on the activation unit (fused into the write-out where GELU is), the
# gating product and the rotation on the elementwise unit that adds residuals (streaming one operand byte per
# element by DMA, as a residual add does). So every accelerator described before they existed costs them where it
# would plausibly run them (on the host for Gemmini's default, on the accelerator where a preset has the units),
# without every preset being edited by hand.
SHARES_UNIT_OF: dict[VectorKind, VectorKind] = {
    VectorKind.rmsnorm: VectorKind.layernorm,
    VectorKind.silu: VectorKind.gelu,
    VectorKind.multiply: VectorKind.residual_add,
    VectorKind.rope: VectorKind.residual_add,
}
# The kinds every accelerator must place: each is a unit of its own.
UNIT_KINDS: tuple[VectorKind, ...] = tuple(kind for kind in VectorKind if kind not in SHARES_UNIT_OF)
