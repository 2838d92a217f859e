"""Where the time and the energy go: the vocabulary of the simulator's attribution.

A user who changes one knob of an accelerator and sees nothing move needs to know which limit binds. Every op
the simulator costs names one `Limit`, splits its cycles into compute (the unit that does the work is busy) and
stall (it waits for data), and splits its energy into `EnergyParts`. The rules are here, apart from the cost
model, so that GEMMs and vector ops are judged the same way.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import NamedTuple


class Limit(str, Enum):
    """What bounds an op's cycles."""

    array = "array"  # the PE array computes the whole time; more bandwidth would not help
    dram_bus = "dram_bus"  # the DMA bus width (`dram_bytes_per_cycle`) is saturated
    dma_queue = "dma_queue"  # requests in flight x their size / round trip is below the bus width
    sram_capacity = "sram_capacity"  # the compulsory traffic alone would hide under compute; re-reads do not
    vector_unit = "vector_unit"  # an accelerator vector unit's passes over the data
    host = "host"  # the host CPU's per-element work


LIMIT_TEXT = {
    Limit.array: "the PE array (compute-bound)",
    Limit.dram_bus: "the DRAM bus width (dram_bytes_per_cycle)",
    Limit.dma_queue: "the DMA queue (dma_inflight_requests x dma_request_bytes / dram_latency_cycles)",
    Limit.sram_capacity: "SRAM capacity (tiles too small: operands re-read from DRAM)",
    Limit.vector_unit: "a vector unit's passes",
    Limit.host: "the host CPU",
}


class EnergyParts(NamedTuple):
    """Energy in pJ by component; `total` is what the objectives use. A named tuple: the simulator makes one per
    op, and a tuple is made fastest."""

    mac: float = 0.0
    scratchpad: float = 0.0
    accumulator: float = 0.0
    dram: float = 0.0
    host: float = 0.0
    static: float = 0.0
    vector: float = 0.0

    @property
    def total(self) -> float:
        return (self.mac + self.scratchpad + self.accumulator + self.dram + self.host + self.static
                + self.vector)

    def __add__(self, other: "EnergyParts") -> "EnergyParts":
        return EnergyParts(self.mac + other.mac, self.scratchpad + other.scratchpad,
                           self.accumulator + other.accumulator, self.dram + other.dram, self.host + other.host,
                           self.static + other.static, self.vector + other.vector)

    def scaled(self, factor: float) -> "EnergyParts":
        return EnergyParts(self.mac * factor, self.scratchpad * factor, self.accumulator * factor,
                           self.dram * factor, self.host * factor, self.static * factor, self.vector * factor)

    def to_dict(self) -> dict[str, float]:
        return self._asdict()


def memory_limit(compute: float, transfer: float, bus_transfer: float, traffic: float, compulsory: float) -> Limit:
    """Which limit binds an op whose compute takes `compute` cycles and whose DRAM traffic (`traffic` bytes,
    of which `compulsory` are unavoidable) takes `transfer` cycles at the DMA's sustained rate, or
    `bus_transfer` at the bus width alone.

    Compute binds when the transfers fit under it. Otherwise the DMA queue binds when it sustains less than
    the bus (Little's law: requests in flight x their size / round trip), since no tiling moves bytes faster
    than that; else SRAM capacity when moving each operand once would have fitted under compute (the excess
    is re-reads that bigger tiles would avoid); else the bus.
    """
    if transfer <= compute:
        return Limit.array
    if transfer > bus_transfer * (1 + 1e-9):
        return Limit.dma_queue
    if traffic > compulsory and bus_transfer * compulsory / traffic <= compute:
        return Limit.sram_capacity
    return Limit.dram_bus


@dataclass(frozen=True)
class CycleSplit:
    """Cycles of a group of ops: the units busy (`compute`) and waiting for data (`stall`)."""

    compute: float = 0.0
    stall: float = 0.0

    @property
    def total(self) -> float:
        return self.compute + self.stall

    def __add__(self, other: "CycleSplit") -> "CycleSplit":
        return CycleSplit(self.compute + other.compute, self.stall + other.stall)

    def to_dict(self) -> dict[str, float]:
        return {"compute": self.compute, "stall": self.stall}
