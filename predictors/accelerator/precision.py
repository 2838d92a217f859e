"""The operand formats a PE datapath computes in, and what one MAC of each costs in area and energy.

Precision is hardware: a datapath that computes int4 is smaller and spends less per MAC than one that computes
int8, and a datapath that supports several formats pays for each multiplier. The figures are Horowitz's
(ISSCC 2014, 45 nm) where he gives them; int4 and int16 follow his int8 by the rule that a multiplier's area and
energy grow with the product of its operand widths, which his int8 and int32 multipliers bear out within 23%
(area) and 3% (energy); bf16 follows fp16 by the square of the mantissa. docs/sources.md section 9.3.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Format = Literal["int4", "int8", "int16", "fp16", "bf16"]

# Horowitz, 45 nm (docs/sources.md section 5 and 9.3): an 8-bit integer multiplier and a 32-bit integer adder,
# the int8 MAC with an int32 accumulator that `EnergyModel.mac_pj` (0.3 pJ) and the synthesised PE describe.
INT8_MULTIPLIER_UM2, INT8_MULTIPLIER_PJ = 282.0, 0.2
INT32_ADDER_UM2, INT32_ADDER_PJ = 137.0, 0.1
# Floating point, Horowitz: an fp16 multiplier, and the fp32 adder a 16-bit float MAC accumulates in.
FP16_MULTIPLIER_UM2, FP16_MULTIPLIER_PJ = 1640.0, 1.1
FP32_ADDER_UM2, FP32_ADDER_PJ = 4184.0, 0.9
# bf16 has an 8-bit mantissa (7 stored + the hidden bit) against fp16's 11: the mantissa multiplier dominates,
# so its cost is taken as fp16's x (8/11)^2. ESTIMATE (a rule, no published bf16 multiplier at 45 nm).
BF16_VS_FP16 = (8 / 11) ** 2


@dataclass(frozen=True)
class OperandFormat:
    """One format's multiplier and the accumulation it needs, at 45 nm."""

    name: str
    bits: int
    is_float: bool
    multiplier_um2: float
    multiplier_pj: float

    @classmethod
    def integer(cls, bits: int) -> "OperandFormat":
        """An integer multiplier of `bits` x `bits`, scaled from int8 by the product of the widths."""
        scale = (bits / 8) ** 2
        return cls(f"int{bits}", bits, False, INT8_MULTIPLIER_UM2 * scale, INT8_MULTIPLIER_PJ * scale)

    def adder_um2(self, acc_bits: int) -> float:
        """The accumulating adder: an integer one grows with the accumulator's width; a float MAC adds in fp32."""
        return FP32_ADDER_UM2 if self.is_float else INT32_ADDER_UM2 * acc_bits / 32

    def adder_pj(self, acc_bits: int) -> float:
        return FP32_ADDER_PJ if self.is_float else INT32_ADDER_PJ * acc_bits / 32

    def mac_pj(self, acc_bits: int) -> float:
        """Energy of one MAC at 45 nm."""
        return self.multiplier_pj + self.adder_pj(acc_bits)


FORMATS: dict[str, OperandFormat] = {
    "int4": OperandFormat.integer(4),
    "int8": OperandFormat.integer(8),
    "int16": OperandFormat.integer(16),
    "fp16": OperandFormat("fp16", 16, True, FP16_MULTIPLIER_UM2, FP16_MULTIPLIER_PJ),
    "bf16": OperandFormat("bf16", 16, True, FP16_MULTIPLIER_UM2 * BF16_VS_FP16, FP16_MULTIPLIER_PJ * BF16_VS_FP16),
}
# What an int8 MAC with an int32 accumulator costs at 45 nm: the unit `EnergyModel.mac_pj` and the synthesised
# PE area are given in, so that a user's own figure for it scales to the other formats by the same rule.
INT8_MAC_PJ = FORMATS["int8"].mac_pj(32)


def operand_format(name: str, input_bits: int) -> OperandFormat:
    """A named format, or for a datapath declared by `input_bits` alone, the integer format of that width."""
    return FORMATS[name] if name in FORMATS else OperandFormat.integer(input_bits)
