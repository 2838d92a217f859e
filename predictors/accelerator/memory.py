"""The memory system an accelerator owns: a DRAM technology and how many channels (or HBM stacks) of it.

Without it the widest bus a user allowed is free, so for a memory-bound decode the DSE answers "the top of your
range": the bus is the answer and costs nothing. Here bandwidth, latency and energy per bit follow from the
technology, and every channel pays for its PHY and controller in area and static power, and adds capacity that
the model's weights, KV cache and activations must fit in. Every figure is in docs/sources.md section 9.1,
labelled there as a JEDEC figure, a datasheet, a paper's model or an ESTIMATE.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator, model_validator


@dataclass(frozen=True)
class MemoryTechnology:
    """One DRAM technology, per channel (or per stack for HBM). On the accelerator's die it needs a PHY
    (`phy_mm2`: analog I/O, which does not shrink with the node) and a memory controller (`controller_mm2_7nm`,
    logic, scaled from 7 nm to the accelerator's node); `pj_per_bit` is the DRAM device's energy per bit moved
    (activation, on-die movement and I/O), which does not shrink with the accelerator's node either."""

    name: str
    unit: Literal["channel", "stack"]
    mt_per_s: float  # transfers per second per pin, in millions
    bits: int  # data pins of one channel or stack
    latency_ns: float  # an access that opens a row, device and controller: tRCD + CL + CONTROLLER_NS
    pj_per_bit: float
    phy_mm2: float
    controller_mm2_7nm: float
    static_mw: float  # the devices' standby power while the channel is kept ready
    gib: float  # capacity of one channel or stack, a typical part

    @property
    def gb_per_s(self) -> float:
        """Peak bandwidth of one channel or stack: transfers per second x pins / 8 bits."""
        return self.mt_per_s * 1e6 * self.bits / 8 / 1e9


# The controller, PHY and on-chip path of a DMA read before and after the device's tRCD + CL: ESTIMATE (no source
# gives a loaded latency, docs/sources.md sections 9.1 and 9.6).
CONTROLLER_NS = 20.0
# docs/sources.md section 9.1, one row per technology (each figure's kind is stated there): tRCD + CL, the
# device's pJ/bit, PHY and controller area (LLMCompass's constants, and estimates from them for DDR4 and LPDDR),
# standby power (DRAMsim3's IDD2N figures), capacity of a typical part.
TECHNOLOGIES: dict[str, MemoryTechnology] = {t.name: t for t in (
    MemoryTechnology("ddr4", "channel", 3200, 64, 27.5 + CONTROLLER_NS, 15.0, 2.9, 1.88, 355.0, 8.0),
    MemoryTechnology("lpddr4x", "channel", 4267, 16, 35.0 + CONTROLLER_NS, 8.0, 0.73, 0.47, 40.0, 1.0),
    MemoryTechnology("lpddr5", "channel", 6400, 16, 39.0 + CONTROLLER_NS, 5.0, 0.73, 0.47, 40.0, 2.0),
    MemoryTechnology("lpddr5x", "channel", 8533, 16, 38.0 + CONTROLLER_NS, 4.5, 0.73, 0.47, 40.0, 2.0),
    MemoryTechnology("hbm2e", "stack", 3600, 1024, 28.0 + CONTROLLER_NS, 3.97, 10.45, 5.74, 380.0, 16.0),
    MemoryTechnology("hbm3", "stack", 6400, 1024, 28.0 + CONTROLLER_NS, 3.75, 10.45, 5.74, 600.0, 16.0),
)}
MAX_CHANNELS = 64
MAX_STACKS = 16


class MemorySystem(BaseModel):
    """A hardware file's `memory:` section: `technology` (a key of `TECHNOLOGIES`) and `channels`, or `stacks`
    for HBM (1 when neither is given)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    technology: str
    channels: StrictInt | None = Field(None, gt=0, le=MAX_CHANNELS,
                                       description=f"DRAM channels (1 to {MAX_CHANNELS}); for LPDDR and DDR")
    stacks: StrictInt | None = Field(None, gt=0, le=MAX_STACKS, description=f"HBM stacks (1 to {MAX_STACKS})")

    @field_validator("technology")
    @classmethod
    def _known(cls, name: str) -> str:
        if name not in TECHNOLOGIES:
            raise ValueError(f"unknown memory technology {name!r}; expected one of {', '.join(TECHNOLOGIES)}")
        return name

    @model_validator(mode="after")
    def _count_in_the_technology_s_unit(self) -> "MemorySystem":
        unit = TECHNOLOGIES[self.technology].unit
        wrong, right = ("stacks", "channels") if unit == "channel" else ("channels", "stacks")
        if getattr(self, wrong) is not None:
            raise ValueError(f"{self.technology} is counted in {right}, not {wrong}")
        if getattr(self, right) is None:  # one channel (or stack) spelt out, so that both spellings are one memory
            self.__dict__[right] = 1
        return self

    @property
    def spec(self) -> MemoryTechnology:
        return TECHNOLOGIES[self.technology]

    @property
    def count(self) -> int:
        """Channels or stacks."""
        return self.channels if self.spec.unit == "channel" else self.stacks

    @property
    def gb_per_s(self) -> float:
        return self.spec.gb_per_s * self.count

    def bytes_per_cycle(self, clock_mhz: float) -> float:
        return self.gb_per_s * 1e9 / (clock_mhz * 1e6)

    def latency_cycles(self, clock_mhz: float) -> float:
        return self.spec.latency_ns * clock_mhz / 1e3

    @property
    def pj_per_byte(self) -> float:
        return self.spec.pj_per_bit * 8

    @property
    def capacity_bytes(self) -> float:
        return self.spec.gib * self.count * 2**30

    @property
    def static_mw(self) -> float:
        return self.spec.static_mw * self.count

    def describe(self) -> str:
        unit = self.spec.unit + ("s" if self.count > 1 else "")
        return (f"{self.count} {self.technology} {unit}: {self.gb_per_s:.1f} GB/s, {self.spec.gib * self.count:g} "
                f"GiB, {self.spec.pj_per_bit:g} pJ/bit, {self.spec.latency_ns:g} ns")
