"""What an accelerator costs in silicon: area per component, static power, and SRAM access energy by capacity.

Without an area model the biggest array always wins, so "which accelerator should I build" cannot even be asked.
Every constant below names its source (docs/sources.md section 5); the ones no source gives are marked ESTIMATE.
The reference node is 12 nm, where the PE and SRAM figures were synthesised; other nodes scale by Stillmaker &
Baas's factors. The least certain term is the PE (datapath-only estimates give about a fifth of the synthesised
figure used here, docs/sources.md section 5), so treat totals as +/- 50% in absolute terms; comparisons between
designs at one node are what the search relies on, and those share the error.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from predictors.accelerator.hardware import AcceleratorConfig

# Area of one design at each node relative to 12 nm, from Stillmaker & Baas as packaged by Accelergy
# (hwcomponents/scaling/techscaling.py): 45 -> 22 nm x0.252, 12 -> 22 nm x1.975.
AREA_VS_12NM = {12: 1.0, 22: 1.975, 45: 1.975 / 0.252}

# One int8 x int8 PE with a 32-bit accumulator and its registers, weight-stationary: 506,892 um^2 for a 32x32
# array in GF 12LP synthesis, 495 um^2 per PE (harvard-acc/RecPipe Synthesis_Report/MMU-compile.area).
PE_UM2_INT8_ACC32 = 495.0
# How that PE splits between the multiplier (grows with input_bits^2) and the adder and registers (grow with
# acc_bits): Horowitz ISSCC 2014 at 45 nm gives an 8b multiplier 282 um^2 and a 32b adder 137 um^2; registers are
# folded into the adder's share. ESTIMATE of the split, not of the total.
PE_MULTIPLIER_SHARE = 282 / (282 + 137)

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
# scaled to 12 nm as if it were 22 nm (no 28 nm factor is sourced). ESTIMATE (a hint, not a fact).
FIXED_UM2 = 440_000.0 / AREA_VS_12NM[22]

# Leakage per mm^2. ESTIMATE: chosen so that a 1 mm^2 block leaks the 10 mW that EnergyModel assumed for a
# ~1 mm^2 accelerator block before static power followed area; held the same at every node (no source gives
# leakage per mm^2 by node).
STATIC_MW_PER_MM2 = 10.0


@dataclass(frozen=True)
class AreaReport:
    """Area per component in mm^2 at `node_nm`, and the static power that area leaks."""

    node_nm: int
    breakdown: dict[str, float]
    static_mw: float

    @property
    def total_mm2(self) -> float:
        return sum(self.breakdown.values())

    def to_dict(self) -> dict:
        return {"node_nm": self.node_nm, "total_mm2": self.total_mm2, "static_mw": self.static_mw,
                "breakdown_mm2": dict(self.breakdown)}


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


def estimate_area(hw: AcceleratorConfig, node_nm: int | None = None) -> AreaReport:
    """Area of `hw` by component: PE array, scratchpad, accumulator, each vector unit on the accelerator, and
    the fixed DMA/control block, at `node_nm` (default: the accelerator's own `node_nm`)."""
    node_nm = hw.node_nm if node_nm is None else node_nm
    if node_nm not in AREA_VS_12NM:
        raise ValueError(f"node_nm: no area scaling for {node_nm} nm; expected one of "
                         f"{', '.join(str(n) for n in sorted(AREA_VS_12NM))}")
    scale = 1e-6 * AREA_VS_12NM[node_nm]  # um^2 at 12 nm -> mm^2 at node_nm
    pe = PE_UM2_INT8_ACC32 * (PE_MULTIPLIER_SHARE * (hw.input_bits / 8) ** 2
                              + (1 - PE_MULTIPLIER_SHARE) * hw.acc_bits / 32)
    breakdown = {"pe_array": hw.rows * hw.cols * pe * scale}
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
    breakdown["dma_control"] = FIXED_UM2 * scale
    total = sum(breakdown.values())
    return AreaReport(node_nm, breakdown, STATIC_MW_PER_MM2 * total)
