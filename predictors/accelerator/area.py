"""What an accelerator costs in silicon: area per component and the static power it draws.

Without an area model the biggest array always wins, so "which accelerator should I build" cannot even be asked.
Every constant below names its source (docs/sources.md section 5); the ones no source gives are marked ESTIMATE.
The reference node is 12 nm, where the PE and SRAM figures were synthesised; other nodes scale by Stillmaker &
Baas's factors (`predictors.accelerator.node`). Every choice of the hardware file pays here: the formats the PEs
compute in (`predictors.accelerator.precision`), the second weight register that `fold_overlap` needs, the DMA
engine's request queue, and the memory system's PHYs and controllers (`predictors.accelerator.memory`). The least certain term is the PE (datapath-only estimates give about a fifth of the synthesised
figure used here, docs/sources.md section 5), so treat totals as +/- 50% in absolute terms; comparisons between
designs at one node are what the search relies on, and those share the error.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from predictors.accelerator.hardware import AcceleratorConfig
from predictors.accelerator.node import AREA_VS_12NM, NODES, area_scale
from predictors.accelerator.precision import INT8_MULTIPLIER_UM2, INT32_ADDER_UM2

# One int8 x int8 PE with a 32-bit accumulator and its registers, weight-stationary: 506,892 um^2 for a 32x32
# array in GF 12LP synthesis, 495 um^2 per PE (harvard-acc/RecPipe Synthesis_Report/MMU-compile.area).
PE_UM2_INT8_ACC32 = 495.0
# How that PE splits between the multiplier (one per operand format, each scaled from int8 by
# `predictors.accelerator.precision`) and the adder and registers (grow with the accumulator): Horowitz ISSCC 2014
# at 45 nm gives an 8b multiplier 282 um^2 and a 32b adder 137 um^2; registers are folded into the adder's share.
# ESTIMATE of the split, not of the total.
PE_MULTIPLIER_SHARE = INT8_MULTIPLIER_UM2 / (INT8_MULTIPLIER_UM2 + INT32_ADDER_UM2)
# The synthesised PE is taken to hold two weight registers, as weight-stationary PEs that overlap the next preload
# with the current fold do (Gemmini's, and the TPU's double-buffered weights): ESTIMATE, the report does not say
# (docs/sources.md section 9.6).
# Without `fold_overlap` the second register goes, `input_bits` flip-flops.
# One flip-flop at 12 nm, for that register and the DMA queue's tags. ESTIMATE:
# a scan flip-flop of a 12-16 nm standard-cell library is about 1 um^2 (docs/sources.md section 9.6).
FLIP_FLOP_UM2 = 1.0
# One outstanding DMA request: its address and tag (64 bits of flip-flops) and a buffer for the data it brings
# back (`dma_request_bytes`) in a small register file: about 1,500 um^2 per 64-B entry at 12-16 nm (the EMPIRE
# register-file model scaled by transistor density), 2.8 um^2 per bit once the tag is taken out. ESTIMATE
# (docs/sources.md section 9.2).
DMA_TAG_BITS = 64
DMA_BUFFER_UM2_PER_BIT = (1500 - DMA_TAG_BITS * FLIP_FLOP_UM2) / 512

# SRAM macro density at 12 nm, um^2 per bit including periphery: 4 KB 0.143, 32 KB 0.111, 256 KB 0.087
# (RecPipe plotting/figure11/synthesis.py). Interpolated in log(capacity), held flat outside the range.
SRAM_UM2_PER_BIT = ((4 * 1024, 0.143), (32 * 1024, 0.111), (256 * 1024, 0.087))

# A vector unit lane (softmax, LayerNorm, GELU, residual add, requantisation) at 12 nm. SoftEx, a BF16
# softmax/GELU unit, takes 0.039 mm^2 at 12 nm (arXiv 2412.06321); we take it as a 16-lane unit, 2,440 um^2 per
# lane. ESTIMATE: the lane count and the reuse for integer units are our reading, not the paper's.
VECTOR_LANE_UM2 = 39_000.0 / 16
# A unit that is `fused` into the accumulator's write-out is one multiply-add per lane on the mvout path: an 8b
# multiplier and a 32b adder (Horowitz, 45 nm, scaled to 12 nm). ESTIMATE.
FUSED_LANE_UM2 = (282 + 137) / AREA_VS_12NM[45]

# DMA engine, control and host interface: no source gives it. NVDLA's area table (32 MACs + 128 KB: 0.85 mm^2 ...
# 2048 MACs + 512 KB: 5.5 mm^2 at 28 nm, nvdla primer.rst) has a fitted intercept of about 0.44 mm^2 at 28 nm,
# scaled from 28 nm to 12 nm (`predictors.accelerator.node`; cost model 1 scaled it as if it were 22 nm, when no
# 28 nm factor was sourced). ESTIMATE (a hint, not a fact).
FIXED_UM2 = 440_000.0 / AREA_VS_12NM[28]

# Leakage per mm^2. ESTIMATE: chosen so that a 1 mm^2 block leaks the 10 mW that EnergyModel assumed for a
# ~1 mm^2 accelerator block before static power followed area; held the same at every node (no source gives
# leakage per mm^2 by node).
STATIC_MW_PER_MM2 = 10.0


@dataclass(frozen=True)
class AreaReport:
    """Area per component in mm^2 at `node_nm`, and the static power: the leakage of the logic and SRAM, and
    the memory system's PHYs and devices kept ready (`memory_static_mw`, part of `static_mw`)."""

    node_nm: int
    breakdown: dict[str, float]
    static_mw: float
    memory_static_mw: float = 0.0

    @property
    def total_mm2(self) -> float:
        return sum(self.breakdown.values())

    def to_dict(self) -> dict:
        return {"node_nm": self.node_nm, "total_mm2": self.total_mm2, "static_mw": self.static_mw,
                "memory_static_mw": self.memory_static_mw, "breakdown_mm2": dict(self.breakdown)}


def sram_um2_per_bit(capacity_bytes: float) -> float:
    """Macro density at 12 nm for an SRAM of this size (small macros pay more periphery per bit)."""
    points = SRAM_UM2_PER_BIT
    if capacity_bytes <= points[0][0]:
        return points[0][1]
    for (c0, d0), (c1, d1) in zip(points, points[1:]):
        if capacity_bytes <= c1:
            t = math.log(capacity_bytes / c0) / math.log(c1 / c0)
            return d0 + t * (d1 - d0)
    return points[-1][1]


def pe_um2(hw: AcceleratorConfig) -> float:
    """One PE at 12 nm: a multiplier per operand format, the widest accumulating adder with its registers, less
    the second weight register when folds do not overlap."""
    formats = [hw.operand_format(name) for name in hw.formats]
    multipliers = sum(f.multiplier_um2 for f in formats) / INT8_MULTIPLIER_UM2
    adder = max(f.adder_um2(hw.acc_bits) for f in formats) / INT32_ADDER_UM2
    second_register = 0.0 if hw.fold_overlap else FLIP_FLOP_UM2 * hw.input_bits
    return PE_UM2_INT8_ACC32 * (PE_MULTIPLIER_SHARE * multipliers + (1 - PE_MULTIPLIER_SHARE) * adder) - second_register


def dma_queue_um2(hw: AcceleratorConfig) -> float:
    """The DMA engine's tracking of `dma_inflight_requests` outstanding requests, at 12 nm."""
    per_request = DMA_TAG_BITS * FLIP_FLOP_UM2 + hw.dma_request_bytes * 8 * DMA_BUFFER_UM2_PER_BIT
    return hw.dma_inflight_requests * per_request


def estimate_area(hw: AcceleratorConfig, node_nm: int | None = None) -> AreaReport:
    """Area of `hw` by component: PE array, scratchpad, accumulator, each vector unit on the accelerator, the
    DMA queue, the fixed DMA/control block and the memory interface, at `node_nm` (default: the accelerator's
    own `node_nm`)."""
    node_nm = hw.node_nm if node_nm is None else node_nm
    if node_nm not in NODES:
        raise ValueError(f"node_nm: no area scaling for {node_nm} nm; expected one of "
                         f"{', '.join(str(n) for n in NODES)}")
    scale = 1e-6 * AREA_VS_12NM[node_nm]  # um^2 at 12 nm -> mm^2 at node_nm
    breakdown = {"pe_array": hw.rows * hw.cols * pe_um2(hw) * scale}
    for name, kib in (("scratchpad", hw.scratchpad_kib), ("accumulator", hw.accumulator_kib)):
        bits = kib * 1024 * 8
        breakdown[name] = bits * sram_um2_per_bit(kib * 1024) * scale
    for kind in hw.units():
        unit = hw.vector_units[kind]
        if unit.where != "accelerator":
            continue
        # a fused op rides the accumulator's write-out: one multiply-add per array column
        lanes, lane = (hw.cols, FUSED_LANE_UM2) if unit.fused else (unit.lanes, VECTOR_LANE_UM2)
        breakdown[f"vector.{kind.value}"] = lanes * lane * scale
    breakdown["dma_queue"] = dma_queue_um2(hw) * scale
    breakdown["dma_control"] = FIXED_UM2 * scale
    logic = sum(breakdown.values())
    memory_mw = 0.0
    if hw.memory is not None:  # the PHYs' own static power is the technology's, not leakage per mm^2
        spec = hw.memory.spec
        controller = spec.controller_mm2_7nm * area_scale(7, node_nm)
        breakdown["memory_interface"] = (spec.phy_mm2 + controller) * hw.memory.count
        memory_mw = hw.memory.static_mw
    return AreaReport(node_nm, breakdown, STATIC_MW_PER_MM2 * logic + memory_mw, memory_mw)
