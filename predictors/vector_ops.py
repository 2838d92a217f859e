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
