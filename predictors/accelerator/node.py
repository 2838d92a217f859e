"""One process node for the whole accelerator: how area and energy move between nodes.

Areas were synthesised at 12 nm and energies measured at 45 nm (Horowitz); a design is costed at its own
`node_nm` only when both are scaled to it, by the same source: Stillmaker and Baas's factors as Accelergy
packages them (hwcomponents/scaling/techscaling.py, docs/sources.md sections 5 and 9.4). What lives off the
accelerator's die, the DRAM device, does not scale with it.
"""
from __future__ import annotations

NODES = (12, 22, 45)
# Area of one design at each node relative to 12 nm: 45 -> 22 nm x0.252, 12 -> 22 nm x1.975; 7 nm (0.059 of 45 nm's
# against 12 nm's 0.135, section 9.4) only to bring the memory controllers' 7 nm figures to our nodes.
AREA_VS_12NM = {7: 0.059 / 0.135, 12: 1.0, 22: 1.975, 45: 1.975 / 0.252}
# Energy of one event at each node relative to 45 nm: 45 -> 22 nm x0.294, 45 -> 12 nm x0.128.
ENERGY_VS_45NM = {45: 1.0, 22: 0.294, 12: 0.128}


def area_scale(from_nm: int, to_nm: int) -> float:
    """What an area at `from_nm` becomes at `to_nm`."""
    return AREA_VS_12NM[to_nm] / AREA_VS_12NM[from_nm]


def energy_scale(from_nm: int, to_nm: int) -> float:
    """What an energy per event at `from_nm` becomes at `to_nm`."""
    return ENERGY_VS_45NM[to_nm] / ENERGY_VS_45NM[from_nm]
