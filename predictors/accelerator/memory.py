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
    """One DRAM technology, per channel (or per stack for HBM). `phy_mm2` is the PHY and memory controller on
    the accelerator's die, at `phy_node_nm`; `pj_per_bit` is the energy of moving one bit between the DRAM
    array and the accelerator (device and interface), which does not shrink with the accelerator's node."""

    name: str
    unit: Literal["channel", "stack"]
    mt_per_s: float  # transfers per second per pin, in millions
    bits: int  # data pins of one channel or stack
    latency_ns: float  # an access that misses every open row: activate, column read, data back
    pj_per_bit: float
    phy_mm2: float
    phy_node_nm: int
    static_mw: float  # the PHY's and the device's background power while the channel is kept ready
    gib: float  # capacity of one channel or stack, a typical part

    @property
    def gb_per_s(self) -> float:
        """Peak bandwidth of one channel or stack: transfers per second x pins / 8 bits."""
        return self.mt_per_s * 1e6 * self.bits / 8 / 1e9


# docs/sources.md section 9.1 (one row per technology, with each figure's kind).
TECHNOLOGIES: dict[str, MemoryTechnology] = {t.name: t for t in (
    MemoryTechnology("ddr4", "channel", 3200, 64, 46.0, 15.0, 10.0, 12, 300.0, 16.0),
    MemoryTechnology("lpddr4x", "channel", 4267, 16, 42.0, 5.0, 1.6, 12, 25.0, 2.0),
    MemoryTechnology("lpddr5", "channel", 6400, 16, 40.0, 4.0, 1.8, 12, 30.0, 2.0),
    MemoryTechnology("lpddr5x", "channel", 8533, 16, 40.0, 3.5, 2.0, 12, 35.0, 2.0),
    MemoryTechnology("hbm2e", "stack", 3600, 1024, 48.0, 3.9, 14.0, 12, 1500.0, 16.0),
    MemoryTechnology("hbm3", "stack", 6400, 1024, 45.0, 3.4, 16.0, 12, 2000.0, 24.0),
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
        return self

    @property
    def spec(self) -> MemoryTechnology:
        return TECHNOLOGIES[self.technology]

    @property
    def count(self) -> int:
        """Channels or stacks."""
        return (self.channels if self.spec.unit == "channel" else self.stacks) or 1

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
