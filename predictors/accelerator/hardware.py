"""What the accelerator *is* (Timeloop's "architecture"): `AcceleratorConfig` and its named presets.

A Gemmini-like systolic array: a rows x cols PE array with a weight- or output-stationary dataflow, a scratchpad
for int8 operands and an accumulator for int32 partial sums, a DRAM port of a given width, and, for each
non-linear operation of a transformer, where it runs: on a unit next to the accumulator, or on the host CPU
(Gemmini's baseline, where every softmax, LayerNorm, GELU, residual add and (de)quantisation is a round trip
through DRAM). Presets are YAML files in `predictors/accelerator/presets/`; users add their own with `from_yaml`.
"""
from __future__ import annotations

import hashlib
import math
import json
import os
import warnings
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, field_validator, model_validator

from predictors.accelerator.memory import MemorySystem
from predictors.accelerator.node import NODES
from predictors.accelerator.precision import FORMATS, Format, OperandFormat, operand_format
from predictors.accelerator.vector_ops import SHARES_UNIT_OF, UNIT_KINDS, VectorKind
from userfiles import UserInputError, load_mapping, validate

MAX_SRAM_KIB = 2**20  # 1 GiB per SRAM
MAX_EXTENDS = 32  # files in one `extends` chain
# Settings added after hardware fingerprints were first recorded, with the defaults that change nothing.
LATER_SETTINGS = {"fusion": {"attention": False, "projection_layernorm": False}, "memory": None, "datapath": None}
# Bumped when the cost model changes what a given accelerator's settings simulate to, so that a dataset or
# predictor recorded under the old model no longer matches (2: energies scaled to the accelerator's node, the
# memory system, the DMA queue and the second weight register priced, operand formats).
COST_MODEL_VERSION = 2
# Settings that a `memory:` section or a `datapath:` derives: given beside it, only their derived value is taken.
DERIVED_BY_MEMORY = ("dram_bytes_per_cycle", "dram_latency_cycles")
# How we map is not what the accelerator is: these keys left the hardware for the simulator and the run config
# (`SystolicSimulator(hw, mapper=..., objective=...)`, a run config's `mapping:`). A file that still holds them
# at the simulator's defaults (every Gemmini-based file hwnas wrote) loads, with a warning; any other value is
# refused, since dropping it would change the numbers silently.
MOVED_MAPPER_KEYS = {"mapper": ("gemmini", "mapping.mapper"), "mapper_objective": ("cycles", "mapping.objective")}
# Ops whose work can ride along the accumulator's write-out: an elementwise function of one accumulator value
# (I-BERT's integer GELU and requantisation are applied inline during mvout, docs/sources.md section 2; SiLU runs
# on GELU's unit). Softmax and the norms need passes over whole rows, a residual add, the gating product and the
# rotation a second operand: `fused` on them would make them free, which no hardware does. Hardware files and
# hardware spaces both read this one list.
FUSABLE = (VectorKind.gelu, VectorKind.silu, VectorKind.quantize)

class VectorUnit(BaseModel):
    """Where one kind of vector op runs and what each element costs there.

    `accelerator`: `passes` sweeps over the data at `lanes` elements per cycle (the I-BERT normalisation unit
    needs three passes for LayerNorm and softmax: docs/sources.md section 2), or nothing extra when `fused` with
    the preceding GEMM's write-out (integer GELU and rescaling are applied inline during mvout).
    `host`: the CPU spends `host_cycles_per_element`, and the data makes a round trip through DRAM (int32 out
    of the accumulator, int8 back into the scratchpad), because Gemmini shares L2/DRAM with its host.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    where: Literal["accelerator", "host"]
    lanes: StrictFloat = Field(16.0, ge=1e-3, le=1e6, description="elements per cycle per pass on the accelerator "
                         "(0.001 to 1,000,000; below 1, one element takes several cycles)")
    passes: StrictInt = Field(1, ge=1, le=1024, description="sweeps over the data (1 to 1,024)")
    fused: StrictBool = False
    host_cycles_per_element: StrictFloat = Field(0.0, ge=0, le=1e6, description="host CPU cycles per element (0 to 1e6)")
    dram_bytes_per_element: StrictFloat = Field(
        0.0, ge=0, le=1024,
        description="operand bytes an accelerator op streams in by DMA per element at int8 (a residual add's skip "
        "input; 0 to 1,024); scaled by the operand format's bytes, so 1 means one operand of whatever width")

    @model_validator(mode="after")
    def _host_needs_cost(self) -> "VectorUnit":
        if self.where == "host" and self.fused:
            raise ValueError("an op on the host cannot be fused with an accelerator GEMM")
        return self


class Fusion(BaseModel):
    """Which producer-consumer chains the accelerator runs without a round trip through DRAM.

    `attention`: QK^T, softmax and attention x V per head, the scores kept on chip; the softmax unit works on
    one block of rows while the array computes the next, and when a block of rows of scores does not fit the
    accumulator it is an online softmax (FlashAttention) that rescales the partial output once per block of
    keys. `projection_layernorm`: a projection's output rows normalised as they leave the accumulator, which
    needs output tiles that span whole rows (the survey found it harmful: the mapping it forces costs more
    than the LayerNorm's pass saves). Each needs its vector ops, and the (de)quantisation, on the accelerator.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    attention: StrictBool = False
    projection_layernorm: StrictBool = False


class EnergyModel(BaseModel):
    """Energy per event. Defaults: Horowitz, "Computing's energy problem", ISSCC 2014 (45 nm), as used by
    Eyeriss/Timeloop-style estimates: int8 multiply 0.2 pJ + int32 add 0.1 pJ per MAC; DRAM 1.3 nJ per 64-bit
    access (160 pJ/byte, a DDR3-class figure: Gemmini's FireSim runs model DDR3). Host CPU: about 30 pJ per
    cycle for a small in-order core (Rocket-class, about 0.03 mW/MHz). The on-chip figures hold at
    `figures_node_nm` and the simulator scales them to the accelerator's `node_nm` by the rule areas follow
    (`predictors.accelerator.node`); `mac_pj` is an int8 MAC with an int32 accumulator, and the other operand
    formats scale from it (`predictors.accelerator.precision`). DRAM energy is the memory device's and does not
    scale; with a `memory:` section it is the technology's, not `dram_pj_per_byte`.

    SRAM access energy grows with capacity, so that a bigger buffer costs energy as well as area: the per-byte
    figures hold at `sram_reference_kib` and scale as (capacity / reference) ** `sram_capacity_exponent`
    (docs/sources.md section 5: Horowitz 8 KB -> 1 MB gives 0.47, CACTI 7 at a 128-bit port 0.54; 0.5 here).
    Horowitz's 32 KB SRAM is 20 pJ per 64-bit access: 2.5 pJ/byte at 32 KiB, so Gemmini's 256 KiB scratchpad
    costs about 7.1 pJ/byte and its 64 KiB accumulator about 3.5. An exponent of 0 gives one fixed figure.

    Static power: None (the default) takes the leakage of the accelerator's area (`predictors.accelerator.area`), so that
    area costs energy too; a number overrides it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    # every energy is finite and at most 1e6 pJ per event (a microjoule; DRAM is about 160 pJ/byte)
    mac_pj: StrictFloat = Field(0.3, ge=0, le=1e6)
    scratchpad_pj_per_byte: StrictFloat = Field(2.5, ge=0, le=1e6, description="at sram_reference_kib")
    accumulator_pj_per_byte: StrictFloat = Field(2.5, ge=0, le=1e6, description="at sram_reference_kib")
    sram_reference_kib: StrictFloat = Field(32.0, ge=0.125, le=MAX_SRAM_KIB,
                                      description="capacity at which the SRAM per-byte energies hold (0.125 KiB, "
                                      "the smallest macro worth the name, to 1 GiB)")
    sram_capacity_exponent: StrictFloat = Field(0.5, ge=0, le=2, description="access energy ~ capacity ** this (0 to 2)")
    dram_pj_per_byte: StrictFloat = Field(160.0, ge=0, le=1e6)
    vector_pj_per_element: StrictFloat = Field(1.0, ge=0, le=1e6, description="one pass of an accelerator vector unit")
    host_pj_per_cycle: StrictFloat = Field(30.0, ge=0, le=1e6)
    static_mw: StrictFloat | None = Field(None, ge=0, le=1e6, description="static power in mW (0 to 1e6: a kilowatt), "
                                    "the whole of it, the memory's standby included; leave it out to take the "
                                    "leakage of the accelerator's area and the memory system's standby power")
    figures_node_nm: Literal[NODES] = Field(45, description="the process node these on-chip figures are for "
                                                 "(Horowitz's: 45 nm); they are scaled to the accelerator's node_nm")

    def sram_pj_per_byte(self, pj_at_reference: float, capacity_kib: float) -> float:
        """Per-byte access energy of an SRAM of `capacity_kib`, from its figure at the reference capacity."""
        return pj_at_reference * (capacity_kib / self.sram_reference_kib) ** self.sram_capacity_exponent


class AcceleratorConfig(BaseModel):
    """A systolic-array accelerator. Defaults are Gemmini's default configuration (docs/sources.md section 2:
    ucb-bar/gemmini `Configs.scala`): 16x16 WS mesh, int8 in / int32 accumulate, 256 KiB scratchpad, 64 KiB
    accumulator, a 128-bit (16 B/cycle) DMA bus, and a 1 GHz clock (the survey's analytical model's clock).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str = Field("custom", max_length=200)
    description: str = Field("", max_length=2000)
    rows: StrictInt = Field(16, gt=0, le=4096, description="PE rows (1 to 4,096)")
    cols: StrictInt = Field(16, gt=0, le=4096, description="PE columns (1 to 4,096)")
    dataflow: Literal["ws", "os"] = "ws"
    input_bits: StrictInt = Field(8, gt=0, le=64)
    acc_bits: StrictInt = Field(32, gt=0, le=64)
    scratchpad_kib: StrictFloat = Field(256.0, gt=0, le=MAX_SRAM_KIB, description="scratchpad capacity in KiB (up to "
                                  "1 GiB); must hold one rows x rows block of A and one rows x cols block of B")
    accumulator_kib: StrictFloat = Field(64.0, gt=0, le=MAX_SRAM_KIB, description="accumulator capacity in KiB (up to "
                                   "1 GiB); must hold one rows x cols block of partial sums")
    double_buffered: StrictBool = Field(
        True, description="tiles use half of each SRAM so the next tile loads while this one computes "
        "(Gemmini's WS loop; its OS path is issued by the host without double buffering)")
    fold_overlap: StrictBool = Field(
        True, description="the next fold's weights/operands shift in while the current fold drains (a second "
        "weight register in each PE, Gemmini's; it costs PE area)")
    datapath: tuple[Format, ...] | None = Field(
        None, min_length=1, max_length=len(FORMATS), description="operand formats the PEs compute in, the "
        f"native one first ({', '.join(FORMATS)}); input_bits follows the widest. Leave it out for one integer "
        "format of input_bits")
    memory: MemorySystem | None = Field(
        None, description="the DRAM the accelerator owns (technology and channels or stacks): bandwidth, latency, "
        "energy, interface area, static power and capacity follow from it. Leave it out to give "
        "dram_bytes_per_cycle and dram_latency_cycles yourself (a measured device, or a port into a shared L2)")
    dram_bytes_per_cycle: StrictFloat = Field(16.0, ge=1e-3, le=1e12,
                                        description="width of the DMA bus to L2/DRAM (0.001 to 1e12 bytes); "
                                        "derived from memory: when that is given")
    dram_latency_cycles: StrictFloat = Field(
        0.0, ge=0, le=1e6, description="round trip of one DMA request; 0 = bandwidth-limited only (up to 1e6); "
        "derived from memory: when that is given")
    dma_inflight_requests: StrictInt = Field(16, gt=0, le=65_536,
                                             description="outstanding DMA requests (Gemmini: 16; up to 65,536)")
    dma_request_bytes: StrictInt = Field(64, gt=0, le=2**20, description="largest DMA request (Gemmini: 64 B, "
                                         "one per SRAM row; up to 1 MiB)")
    clock_mhz: StrictFloat = Field(1000.0, ge=1, le=100_000, description="clock in MHz (1 to 100,000)")
    node_nm: Literal[NODES] = Field(12, description="process node of the whole accelerator: area, leakage and "
                                    "every on-chip energy are scaled to it (12, 16, 22, 28, 45 or 65 nm)")
    vector_units: dict[VectorKind, VectorUnit] = Field(
        description="where each non-linear op runs (rmsnorm, silu, multiply and rope default to the unit of "
        "layernorm, gelu, residual_add and residual_add)")
    fusion: Fusion = Field(default_factory=Fusion, description="producer-consumer chains kept on chip")
    energy: EnergyModel = Field(default_factory=EnergyModel)

    @field_validator("datapath")
    @classmethod
    def _formats_once(cls, formats: tuple | None) -> tuple | None:
        if formats is not None and len(set(formats)) != len(formats):
            raise ValueError("formats must not repeat")
        return formats

    @model_validator(mode="after")
    def _derived_from_memory_and_datapath(self) -> "AcceleratorConfig":
        """A `memory:` section sets the bus (bandwidth and latency at this clock) and the DRAM energy; a
        `datapath:` sets `input_bits` (its widest format). A value given beside them that differs is refused: it
        would be a measured override and a technology at once, and one of them would be ignored."""
        given = self.model_fields_set
        derived: dict[str, float] = {}
        if self.datapath is not None:
            derived["input_bits"] = max(FORMATS[f].bits for f in self.datapath)
        if self.memory is not None:
            derived["dram_bytes_per_cycle"] = self.memory.bytes_per_cycle(self.clock_mhz)
            derived["dram_latency_cycles"] = self.memory.latency_cycles(self.clock_mhz)
        for key, value in derived.items():
            if key in given and not math.isclose(getattr(self, key), value, rel_tol=1e-9):
                owner = f"datapath {list(self.datapath)}" if key == "input_bits" else f"memory ({self.memory.describe()})"
                raise ValueError(f"{key}={getattr(self, key):g} conflicts with {owner}, which gives {value:g}; "
                                 f"leave {key} out" + ("" if key == "input_bits" else ", or drop memory: to give a "
                                                       "measured bus yourself"))
            self.__dict__[key] = value
        if self.memory is not None:
            pj = self.memory.pj_per_byte
            if "dram_pj_per_byte" in self.energy.model_fields_set and not math.isclose(
                    self.energy.dram_pj_per_byte, pj, rel_tol=1e-9):
                raise ValueError(f"energy.dram_pj_per_byte={self.energy.dram_pj_per_byte:g} conflicts with memory "
                                 f"({self.memory.describe()}), which gives {pj:g}; leave it out")
            self.__dict__["energy"] = self.energy.model_copy(update={"dram_pj_per_byte": pj})
        return self

    @field_validator("vector_units")
    @classmethod
    def _every_op_placed(cls, units: dict[VectorKind, VectorUnit]) -> dict[VectorKind, VectorUnit]:
        missing = [op.value for op in UNIT_KINDS if op not in units]
        if missing:
            raise ValueError(f"no placement for {', '.join(missing)}")
        return units

    def unit(self, kind: VectorKind) -> VectorUnit:
        """Where `kind` runs: its own placement, or that of the unit it shares (`SHARES_UNIT_OF`)."""
        return self.vector_units[kind] if kind in self.vector_units else self.vector_units[SHARES_UNIT_OF[kind]]

    def units(self) -> list[VectorKind]:
        """The kinds that have a unit of their own here, in a fixed order."""
        return [kind for kind in VectorKind if kind in self.vector_units]

    @model_validator(mode="after")
    def _fused_only_where_it_means_something(self) -> "AcceleratorConfig":
        for kind, unit in self.vector_units.items():
            if unit.fused and kind not in FUSABLE:
                raise ValueError(f"vector_units.{kind.value}.fused: true applies only to "
                                 f"{', '.join(k.value for k in FUSABLE)} (elementwise on the accumulator's "
                                 f"write-out); {kind.value} needs passes of its own or a second operand")
        return self

    @model_validator(mode="after")
    def _accumulator_holds_a_product(self) -> "AcceleratorConfig":
        """A product of two `input_bits`-wide integers needs 2 * input_bits bits; a narrower accumulator
        overflows on the first MAC, so no result it gives means anything."""
        if self.acc_bits < 2 * self.input_bits:
            raise ValueError(f"acc_bits={self.acc_bits} cannot hold one product of two {self.input_bits}-bit "
                             f"inputs (input_bits={self.input_bits}): acc_bits must be at least "
                             f"{2 * self.input_bits}")
        return self

    @model_validator(mode="after")
    def _fused_ops_on_the_accelerator(self) -> "AcceleratorConfig":
        needs = {"attention": (VectorKind.softmax, VectorKind.quantize),
                 "projection_layernorm": (VectorKind.layernorm, VectorKind.quantize)}
        for chain, kinds in needs.items():
            on_host = [kind.value for kind in kinds if getattr(self.fusion, chain)
                       and self.vector_units[kind].where == "host"]
            if on_host:
                raise ValueError(f"fusion.{chain} needs {' and '.join(on_host)} on the accelerator "
                                 f"(vector_units.{on_host[0]}.where: host)")
        return self

    @model_validator(mode="after")
    def _one_tile_fits(self) -> "AcceleratorConfig":
        """The smallest tile the mapper can use on a large GEMM is one array block: rows x cols partial sums in
        the accumulator, a rows x rows block of A and a rows x cols block of B in the scratchpad (half of
        each SRAM when double-buffered). An accelerator that cannot hold it cannot run a transformer."""
        share = 2 if self.double_buffered else 1
        buffered = ", double-buffered: half of the SRAM is usable" if self.double_buffered else ""
        acc_need = self.rows * self.cols * self.acc_bits / 8 * share / 1024
        if acc_need > self.accumulator_kib:
            raise ValueError(f"accumulator_kib={self.accumulator_kib:g} cannot hold one tile ({self.rows}x"
                             f"{self.cols} partial sums of {self.acc_bits} bits{buffered}): it needs at least "
                             f"{acc_need:g} KiB")
        sp_need = (self.rows * self.rows + self.rows * self.cols) * self.input_bits / 8 * share / 1024
        if sp_need > self.scratchpad_kib:
            raise ValueError(f"scratchpad_kib={self.scratchpad_kib:g} cannot hold one tile ({self.rows}x"
                             f"{self.rows} and {self.rows}x{self.cols} operands of {self.input_bits} bits{buffered}): "
                             f"it needs at least {sp_need:g} KiB")
        return self

    # ---- derived quantities -------------------------------------------------------------------------------
    @property
    def input_bytes(self) -> float:
        return self.input_bits / 8

    @property
    def formats(self) -> tuple[str, ...]:
        """The operand formats the datapath computes in, the native one first."""
        return self.datapath if self.datapath is not None else (f"int{self.input_bits}",)

    def operand_format(self, name: str | None = None) -> OperandFormat:
        """Format `name` (None: the native one) as this datapath computes it; refuses one it lacks."""
        name = self.formats[0] if name is None else name
        if name not in self.formats:
            raise UserInputError(f"precision {name} is not in the datapath of accelerator {self.name!r} "
                                 f"(datapath: {', '.join(self.formats)}); add it to datapath: or pick one of those")
        return operand_format(name, self.input_bits)

    def settings(self) -> dict:
        """What a file must say to describe this accelerator again: its fields, less those that `memory:` and
        `datapath:` derive (so that a changed memory or datapath re-derives them rather than conflicting)."""
        data = self.model_dump(mode="json")
        if self.memory is not None:
            for key in DERIVED_BY_MEMORY:
                del data[key]
            del data["energy"]["dram_pj_per_byte"]
        if self.datapath is not None:
            del data["input_bits"]
        return data

    def with_changes(self, **update) -> "AcceleratorConfig":
        """This accelerator with some settings changed, validated (`model_copy` would skip the checks and the
        figures that memory and datapath derive). A memory or datapath given here derives them anew."""
        return AcceleratorConfig.model_validate(_merge(_without_derived(self.settings(), update), update))

    @property
    def acc_bytes(self) -> float:
        return self.acc_bits / 8

    @property
    def peak_macs_per_cycle(self) -> int:
        return self.rows * self.cols

    def dma_bytes_per_cycle(self, row_bytes: float) -> float:
        """Sustained DMA throughput for rows of `row_bytes` contiguous bytes (Little's law).

        Gemmini issues one request per scratchpad row, at most `dma_request_bytes` each, with a bounded number
        in flight; narrow rows or long latency leave the bus idle (docs/sources.md section 2).
        """
        if self.dram_latency_cycles == 0:
            return self.dram_bytes_per_cycle
        per_request = row_bytes / math.ceil(row_bytes / self.dma_request_bytes)
        return min(self.dram_bytes_per_cycle, self.dma_inflight_requests * per_request / self.dram_latency_cycles)

    @model_validator(mode="before")
    @classmethod
    def _mapper_keys_moved(cls, data):
        """`mapper` and `mapper_objective` at their old defaults are dropped with a warning; others refused."""
        if not isinstance(data, dict) or not MOVED_MAPPER_KEYS.keys() & data.keys():
            return data
        data = dict(data)
        for key, (default, new_place) in MOVED_MAPPER_KEYS.items():
            if key in data and data.pop(key) != default:
                raise ValueError(f"{key} is no longer a hardware setting (how GEMMs are mapped is not what the "
                                 f"accelerator is): set {new_place} in the run config, or --{key.replace('_', '-')} "
                                 "on hwnas simulate")
        warnings.warn("hardware: mapper/mapper_objective are no longer hardware settings; their default values "
                      "here were ignored (the run config's mapping: section sets them)", FutureWarning, stacklevel=2)
        return data

    def fingerprint(self) -> str:
        """Hash of everything that changes a simulated number on a given mapper (not the name or description),
        and of the cost model's version (`COST_MODEL_VERSION`), so that what an older model simulated is not taken
        for what this one would. Within one version, settings added later count only when they differ from
        their defaults (`LATER_SETTINGS`), and a `datapath` of the one integer format of `input_bits` is the same
        accelerator as none. `mapper` is hashed at one constant, the value that the Gemmini presets and every
        design extending them recorded (the mapper is no longer the hardware's, so it no longer moves the
        fingerprint)."""
        payload = self.model_dump(mode="json", exclude={"name", "description"})
        payload["mapper"] = "gemmini"
        payload["cost_model"] = COST_MODEL_VERSION
        if self.datapath is not None and tuple(self.datapath) == (f"int{self.input_bits}",):
            payload["datapath"] = None  # the one integer format input_bits gives: the same accelerator
        for key, default in LATER_SETTINGS.items():
            if payload[key] == default:
                del payload[key]
        return hashlib.sha1(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]

    # ---- loading ------------------------------------------------------------------------------------------
    @classmethod
    def from_yaml(cls, path: str | Path) -> "AcceleratorConfig":
        """A user's hardware file. Mistakes give one line naming the file and the key."""
        data = _resolved_mapping(Path(path), _settings(load_mapping(path)), seen=())
        data.setdefault("name", Path(path).stem)
        return validate(cls, data, source=str(path))

    @classmethod
    def from_mapping(cls, data: dict, source: str, relative_to: Path = Path(".")) -> "AcceleratorConfig":
        """An inline hardware description (a run config's `hardware:` mapping), `extends` included."""
        return validate(cls, _resolved_mapping(relative_to / "inline.yaml", dict(data), seen=()), source=source)

    @classmethod
    def preset(cls, name: str) -> "AcceleratorConfig":
        files = _preset_files()
        if name not in files:
            raise UserInputError(f"unknown hardware preset {name!r}; expected one of: {', '.join(sorted(files))}")
        return cls.from_yaml(files[name])

    @classmethod
    def resolve(cls, name_or_path: str) -> "AcceleratorConfig":
        """A preset name, or a path to a YAML file: what the CLI's `--hardware` accepts."""
        if not name_or_path.strip():
            raise UserInputError(f"hardware: empty name; expected a preset ({', '.join(preset_names())}) or a YAML file")
        if name_or_path in _preset_files():
            return cls.preset(name_or_path)
        if name_or_path.endswith((".yaml", ".yml")) or Path(name_or_path).exists():
            return cls.from_yaml(name_or_path)
        return cls.preset(name_or_path)


def _resolved_mapping(path: Path, data: dict, seen: tuple[Path, ...]) -> dict:
    """`data` (read from `path`) laid over the preset or file it `extends` (nested mappings merged key by key)."""
    base_name = data.pop("extends", None)
    if base_name is None:
        return data
    if not isinstance(base_name, str):
        raise UserInputError(f"{path}: extends: expected a preset name or a YAML path")
    files = _preset_files()
    base_path = files.get(base_name) or (path.parent / base_name)
    chain = seen + (_identity(path),)
    if _identity(base_path) == chain[-1]:
        raise UserInputError(f"{path}: extends: {base_name!r} extends itself")
    if _identity(base_path) in chain:
        raise UserInputError(f"{os.path.normpath(path)}: extends: {base_name!r} leads back to "
                             f"{os.path.normpath(base_path)}, a file that extends this one (a cycle of extends)")
    if len(chain) >= MAX_EXTENDS:
        raise UserInputError(f"{path}: extends: more than {MAX_EXTENDS} files in one chain of extends")
    if base_path.is_dir():
        raise UserInputError(f"{path}: extends: {base_name!r} is a directory, expected a preset or a YAML file")
    if not base_path.exists():
        raise UserInputError(f"{path}: extends: {base_name!r} is neither a preset nor a file")
    base = _resolved_mapping(base_path, _settings(load_mapping(base_path)), chain)
    base.pop("name", None)
    base.pop("description", None)
    return _merge(_without_derived(base, data), data)


def _without_derived(base: dict, override: dict) -> dict:
    """`base` less the settings that the override's `memory:` or `datapath:` derive anew: a file that adds a
    memory system to a base with a hand-set bus replaces that bus, rather than conflicting with it."""
    base = dict(base)
    if isinstance(override.get("memory"), dict) and "technology" in override["memory"]:
        base.pop("memory", None)  # another technology is another memory: its count is not the base's
    if override.get("memory") is not None:
        for key in DERIVED_BY_MEMORY:
            base.pop(key, None)
        if isinstance(base.get("energy"), dict):
            base["energy"] = {k: v for k, v in base["energy"].items() if k != "dram_pj_per_byte"}
    if override.get("datapath") is not None:
        base.pop("input_bits", None)
    return base


# What `hwnas hardware show --json` prints beside the settings: figures computed from them, so that its output is a
# hardware file that reads back (they are recomputed from the settings, never read).
SHOWN_KEYS = ("fingerprint", "area", "sram_pj_per_byte")


def _settings(data: dict) -> dict:
    """A hardware file's settings: `data` without the computed figures that `hardware show --json` adds."""
    return {key: value for key, value in data.items() if key not in SHOWN_KEYS}


def _identity(path: Path) -> Path:
    """One name per file, whatever the spelling (`a/../b.yaml`, symlinks), so that a cycle is seen."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a symlink loop: compare the spelling
        return path.absolute()


def _merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


MEASURED_PREFIX = "measured:"


def measured_fingerprint(device: str) -> str:
    """What stands for the hardware fingerprint of a real device whose latencies were measured, not simulated."""
    return MEASURED_PREFIX + device


# The accelerator a command or run config uses when none is named: the survey's co-designed Gemmini (I-BERT units,
# rebalanced SRAMs), the one its NAS case study searched on. Named here once; the CLI and the run config read it.
DEFAULT_ACCELERATOR = "gemmini-ibert"


def preset_names() -> list[str]:
    return sorted(_preset_files())


def _preset_files() -> dict[str, Path]:
    folder = resources.files("predictors.accelerator") / "presets"
    return {Path(str(p)).stem: Path(str(p)) for p in folder.iterdir() if str(p).endswith(".yaml")}
