"""One process node for the whole accelerator: how area and energy move between nodes.

Areas were synthesised at 12 nm and energies measured at 45 nm (Horowitz); a design is costed at its own
`node_nm` only when both are scaled to it, by the same source: Stillmaker and Baas's factors as Accelergy
packages them (hwcomponents/scaling/techscaling.py, docs/sources.md sections 5 and 9.4). What lives off the
accelerator's die, the DRAM device, does not scale with it.
"""
from __future__ import annotations

NODES = (12, 16, 22, 28, 45, 65)
# Area of one design at each node relative to 45 nm, the 45 nm row of hwcomponents/scaling/techscaling.py
# AREA_SCALING (Accelergy-Project/hwcomponents, Stillmaker & Baas; docs/sources.md sections 5 and 9.4): 7, 16 and
# 65 nm are table values; 22 and 28 nm linear in nm between the table's 32 nm (0.46) and 20 nm (0.21) (the
# repository's own interpolation helper weights the wrong neighbour, so it is not used); 12 nm is 22 nm's 0.252 over
# section 5's 12 -> 22 nm factor of 1.975, the figure the area constants have been scaled by since they were
# synthesised at 12 nm. 7 nm serves only the memory controllers' figures; 16, 28 and 65 nm the published chips of
# benchmarks/bench_silicon.py.
AREA_VS_45NM = {7: 0.059, 12: 0.252 / 1.975, 16: 0.19, 22: 0.252, 28: 0.377, 45: 1.0, 65: 1.5}
AREA_VS_12NM = {node: factor / AREA_VS_45NM[12] for node, factor in AREA_VS_45NM.items()}
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
