"""Where the non-GEMM ops (softmax, LayerNorm, GELU, residual add, (de)quantisation ...) run and what that
costs: passes over an accelerator unit, nothing extra when fused with the GEMM's write-out, or host CPU cycles
plus a DRAM round trip (the placement is the hardware's: `AcceleratorConfig.unit`); and what stays exposed of
a vector op that a fused chain hides behind its GEMMs (`predictors.accelerator.fusion`).
"""
from __future__ import annotations

import math

from predictors.accelerator.attribution import EnergyParts, Limit, memory_limit
from predictors.accelerator.cost import CostModel, OpCost
from predictors.accelerator.fusion import HiddenVector
from predictors.accelerator.workload import Op, VectorWork


def vector_cost(model: CostModel, op: VectorWork) -> OpCost:
    """One vector op run alone where the accelerator places it."""
    hw = model.hw
    unit = hw.unit(op.kind)
    if unit.where == "accelerator":
        dram = op.elements * unit.dram_bytes_per_element * model.in_bytes  # bytes per element at int8, scaled
        busy = 0.0 if unit.fused else op.elements * unit.passes / unit.lanes
        limit = Limit.vector_unit
        cycles = busy
        if dram:  # rows of the array's width arrive by DMA while the unit works on earlier rows
            transfer = dram / hw.dma_bytes_per_cycle(hw.cols * unit.dram_bytes_per_element * model.in_bytes)
            limit = memory_limit(busy, transfer, dram / hw.dram_bytes_per_cycle, dram, dram)
            limit = Limit.vector_unit if limit is Limit.array else limit
            cycles = max(busy, transfer)
        energy = EnergyParts(vector=op.elements * unit.passes * model.vector_pj_per_element,
                             dram=dram * model.dram_pj_per_byte, static=model.static_pj(cycles))
        return OpCost(op.name, op.kind.value, cycles, busy, energy, dram, limit, elements=op.elements)
    dram = op.elements * (hw.acc_bytes + model.in_bytes)
    host_cycles = op.elements * unit.host_cycles_per_element
    transfer = dram / hw.dram_bytes_per_cycle
    cycles = host_cycles + transfer
    energy = EnergyParts(host=host_cycles * model.host_pj_per_cycle, dram=dram * model.dram_pj_per_byte,
                         static=model.static_pj(cycles))
    return OpCost(op.name, op.kind.value, cycles, host_cycles, energy, dram,
                  Limit.host if host_cycles >= transfer else Limit.dram_bus, elements=op.elements)


def hidden_cost(model: CostModel, op: VectorWork, role: HiddenVector, ops: list[Op], costs: list[OpCost]) -> OpCost:
    """A vector op fused behind GEMMs (`costs` holds theirs): it works on one block of rows while the array
    computes the next, so what the GEMMs' cycles do not cover is exposed, plus the last block, which nothing
    follows. An attention softmax whose block of rows of scores does not fit the accumulator is an online
    softmax: it rescales the partial attention x V outputs once per further block of keys, one more pass over
    them."""
    hw, alone = model.hw, vector_cost(model, op)
    producer = costs[role.producer].gemm
    unit = hw.unit(op.kind)
    extra = 0
    if role.rescaled_by is not None:
        av = ops[role.rescaled_by]
        if producer.mapping.tile_m * producer.n * hw.acc_bytes > model.acc_usable:
            extra = av.count * av.m * av.n * (math.ceil(producer.n / producer.mapping.tile_n) - 1)
    work = alone.compute_cycles + extra / unit.lanes
    blocks = math.ceil(producer.m / producer.mapping.tile_m)
    behind = sum(costs[i].cycles for i in role.behind)
    exposed = min(work, max(work - behind, 0.0) + work / blocks)
    energy = EnergyParts(vector=alone.energy.vector + extra * model.vector_pj_per_element,
                         dram=alone.energy.dram, static=model.static_pj(exposed))
    return OpCost(op.name, op.kind.value, exposed, exposed, energy, alone.dram_bytes, Limit.vector_unit,
                  elements=op.elements + extra)
