"""One process node for the whole accelerator: how area and energy move between nodes.

Areas were synthesised at 12 nm and energies measured at 45 nm (Horowitz); a design is costed at its own
`node_nm` only when both are scaled to it, by the same source: Stillmaker and Baas's factors as Accelergy
packages them (hwcomponents/scaling/techscaling.py, docs/sources.md sections 5 and 9.4). What lives off the
accelerator's die, the DRAM device, does not scale with it.
"""
from __future__ import annotations

NODES = (12, 16, 22, 28, 45, 65)
# Area of one design at each node relative to 12 nm: 45 -> 22 nm x0.252, 12 -> 22 nm x1.975; 7 nm (0.059 of 45 nm's
# against 12 nm's 0.135, section 9.4) only to bring the memory controllers' 7 nm figures to our nodes.
# 16, 28 and 65 nm (for validating against published silicon, benchmarks/bench_silicon.py): the 45 nm row of
# hwcomponents/scaling/techscaling.py AREA_SCALING (Accelergy-Project/hwcomponents, Stillmaker & Baas), divided by
# 12 nm's 0.135: 16 nm 0.19 and 65 nm 1.5 are table values; 28 nm 0.377 is linear in nm between 32 nm (0.46) and
# 20 nm (0.21), as section 9.4 tabulates it (the repository's own interpolation helper is not used: it weights the
# wrong neighbour).
AREA_VS_12NM = {7: 0.059 / 0.135, 12: 1.0, 16: 0.19 / 0.135, 22: 1.975, 28: 0.377 / 0.135, 45: 1.975 / 0.252,
                65: 1.5 / 0.135}
# Energy of one event at each node relative to 45 nm: 45 -> 22 nm x0.294, 45 -> 12 nm x0.128.
# 16, 28 and 65 nm from the same file's ENERGY_SCALING polynomials a*Vdd^2 + b*Vdd + c at its default 0.8 V at both
# nodes, over 45 nm's (0.6930): 16 nm 0.1735 and 65 nm 1.241 (0.8598) are table nodes; 28 nm 0.513 is linear in nm
# between 32 nm (0.659) and 20 nm (0.221), section 9.4. Paper's model. The supply is the same 0.8 V at both nodes
# (at 1.0 V the 65 nm ratio is 1.31); a chip run at a higher supply spends more per event than this gives.
ENERGY_VS_45NM = {65: 1.241, 45: 1.0, 28: 0.513, 22: 0.294, 16: 0.174, 12: 0.128}


def area_scale(from_nm: int, to_nm: int) -> float:
    """What an area at `from_nm` becomes at `to_nm`."""
    return AREA_VS_12NM[to_nm] / AREA_VS_12NM[from_nm]


def energy_scale(from_nm: int, to_nm: int) -> float:
    """What an energy per event at `from_nm` becomes at `to_nm`."""
    return ENERGY_VS_45NM[to_nm] / ENERGY_VS_45NM[from_nm]
