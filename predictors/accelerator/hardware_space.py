"""`HardwareSpace`: the accelerators a co-design search may build, as `SearchSpace` is the networks it may train.

Choices over `AcceleratorConfig` fields, laid over a base (`extends`: a preset or a hardware YAML) that fixes
everything else. The same codec as `SearchSpace` (`gene_choices`, `encode`, `decode`, `sample`, `contains`,
`size`, `enumerate`, `fingerprint`), so the evolutionary search drives either, or both, without knowing which.

```yaml
hardware_space:
  extends: gemmini-default
  rows: [8, 16, 32]
  cols: [8, 16, 32]
  dataflow: [ws, os]
  scratchpad_kib: [64, 128, 256]
  accumulator_kib: [32, 64, 128, 256]
  vector_units:
    layernorm: {where: [host, accelerator], lanes: [8, 16, 32]}
    gelu: {where: [host, accelerator, fused]}
  fold_overlap: [true, false]         # the second weight register per PE, priced in area
  datapath: [[int8], [int4, int8]]    # operand formats the PEs compute in
  memory: {technology: [lpddr5, lpddr5x, hbm3], count: [1, 2, 4]}   # channels, or stacks for HBM
```
The last three are genes only when the space sets them, so that the genomes of spaces written before them stay
as they were.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import random
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Iterator, Literal, Sequence, TypeVar

import numpy as np
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from predictors.accelerator.hardware import (
    FUSABLE,
    AcceleratorConfig,
    VectorUnit,
    preset_names,
)
from predictors.accelerator.memory import TECHNOLOGIES
from predictors.accelerator.precision import FORMATS, Format
from predictors.accelerator.systolic import SystolicSimulator
from predictors.accelerator.vector_ops import SHARES_UNIT_OF, VectorKind
from userfiles import UserInputError, load_mapping, validate, validation_message

Placement = Literal["host", "accelerator", "fused"]
# Fields of AcceleratorConfig a space may vary, in gene order.
FIELDS = ("rows", "cols", "dataflow", "scratchpad_kib", "accumulator_kib", "dram_bytes_per_cycle",
          "dma_inflight_requests")
# A unit moved from the host onto the accelerator works as I-BERT's does (docs/sources.md section 2): three passes
# for softmax and LayerNorm (max/sum, then scale; mean, variance, normalise); a residual add streams its skip
# input in by DMA, one byte per int8 element.
ACCELERATOR_UNIT = {
    VectorKind.softmax: {"passes": 3}, VectorKind.layernorm: {"passes": 3}, VectorKind.gelu: {"passes": 1},
    VectorKind.residual_add: {"passes": 1, "dram_bytes_per_element": 1.0}, VectorKind.quantize: {"passes": 1},
}
MAX_CHOICES = 64
# Genes a space has only when it sets them (after FIELDS and before the vector units, in this order).
OPTIONAL_GENES = ("fold_overlap", "datapath", "memory.technology", "memory.count")


def _distinct(values: tuple) -> tuple:
    """A list of choices, each once."""
    if len(set(values)) != len(values):
        raise ValueError("choices must not repeat")
    return values


T = TypeVar("T")
Distinct = Annotated[T, AfterValidator(_distinct)]


class OutsideHardwareSpace(UserInputError):
    """An accelerator that a hardware space (say, the one a predictor was trained for) does not hold."""


class VectorUnitChoices(BaseModel):
    """Where one vector op may run, and with how many lanes when it runs on a unit of its own (a fused op works
    on the accumulator's write-out, one lane per array column, so its lanes gene is carried but ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    where: Distinct[tuple[Placement, ...]] = Field(min_length=1, max_length=3)
    lanes: Distinct[tuple[StrictFloat, ...]] = Field((16.0,), min_length=1, max_length=MAX_CHOICES)


class MemoryChoices(BaseModel):
    """Memory technologies and how many of each: `count` is channels, or stacks for HBM."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    technology: Distinct[tuple[str, ...]] = Field(min_length=1, max_length=len(TECHNOLOGIES))
    count: Distinct[tuple[StrictInt, ...]] = Field((1,), min_length=1, max_length=MAX_CHOICES)

    @staticmethod
    def section(technology: str, count: int) -> dict:
        """The hardware file's `memory:` section for one choice."""
        return {"technology": technology, TECHNOLOGIES[technology].unit + "s": count} if technology in TECHNOLOGIES \
            else {"technology": technology}


class HardwareSpace(BaseModel):
    """Choices per field; a field left out keeps the base accelerator's value (a one-point choice)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    extends: str = Field(description="a preset name or a hardware YAML file: every field not searched")
    rows: tuple[StrictInt, ...] | None = Field(None, min_length=1, max_length=MAX_CHOICES)
    cols: tuple[StrictInt, ...] | None = Field(None, min_length=1, max_length=MAX_CHOICES)
    dataflow: tuple[Literal["ws", "os"], ...] | None = Field(None, min_length=1, max_length=2)
    scratchpad_kib: tuple[StrictFloat, ...] | None = Field(None, min_length=1, max_length=MAX_CHOICES)
    accumulator_kib: tuple[StrictFloat, ...] | None = Field(None, min_length=1, max_length=MAX_CHOICES)
    dram_bytes_per_cycle: tuple[StrictFloat, ...] | None = Field(None, min_length=1, max_length=MAX_CHOICES)
    dma_inflight_requests: tuple[StrictInt, ...] | None = Field(None, min_length=1, max_length=MAX_CHOICES)
    vector_units: dict[VectorKind, VectorUnitChoices] = Field(default_factory=dict)
    fold_overlap: tuple[bool, ...] | None = Field(None, min_length=1, max_length=2)
    datapath: tuple[tuple[Format, ...], ...] | None = Field(None, min_length=1, max_length=MAX_CHOICES)
    memory: MemoryChoices | None = None
    base_dir: Path = Field(Path("."), exclude=True, description="where a relative `extends` is found")

    @field_validator(*FIELDS, mode="before")
    @classmethod
    def _no_booleans(cls, values: Any) -> Any:
        """YAML reads `true` as a number where a number is expected; a choice list holds numbers or names only."""
        if isinstance(values, (list, tuple)) and any(isinstance(v, bool) for v in values):
            raise ValueError("choices must be numbers (or ws/os), not true/false")
        return values

    @field_validator(*FIELDS, "fold_overlap", "datapath")
    @classmethod
    def _unique_choices(cls, values: tuple | None) -> tuple | None:
        return values if values is None else _distinct(values)

    @model_validator(mode="after")
    def _every_point_is_an_accelerator(self, info: ValidationInfo) -> "HardwareSpace":
        """Refuse a space with points the accelerator model rejects, naming the field, before any search."""
        if info.context and "base" in info.context:  # rebuilt by `from_record`: the base comes inline
            self.__dict__["_base"] = info.context["base"]
        base = self.base()
        shared = [kind.value for kind in SHARES_UNIT_OF if kind in self.vector_units or kind in base.vector_units]
        if shared:
            raise ValueError(f"vector_units.{shared[0]}: in a hardware space, {', '.join(shared)} run on the unit "
                             f"of {', '.join(SHARES_UNIT_OF[VectorKind(k)].value for k in shared)} (search that "
                             "unit's placement); a unit of their own is not modelled by the hardware-conditioned "
                             "predictor yet")
        for kind, choices in self.vector_units.items():
            if "fused" in choices.where and kind not in FUSABLE:  # the rule of hardware files, named once
                raise ValueError(f"vector_units.{kind.value}.where: 'fused' applies only to "
                                 f"{', '.join(k.value for k in FUSABLE if k not in SHARES_UNIT_OF)}")
            if "host" in choices.where and base.unit(kind).where != "host":
                raise ValueError(f"vector_units.{kind.value}.where: {self.extends!r} runs {kind.value} on the "
                                 "accelerator, so its cost on the host is unknown; extend a base that has it")
            for lanes in choices.lanes:
                _check(VectorUnit, {"where": "accelerator", "lanes": lanes}, f"vector_units.{kind.value}.lanes")
        for name in FIELDS:
            for value in self._field_choices(base, name):
                _check_design(base, {name: value}, name)
        if (self.memory is not None or base.memory is not None) and self.dram_bytes_per_cycle is not None:
            raise ValueError("dram_bytes_per_cycle: searched beside memory, which sets it; search memory.count "
                             "(channels or stacks) for bandwidth instead")
        for formats in self.datapath or ():
            _check_design(base, {"datapath": list(formats)}, "datapath")
        if self.memory is not None:
            for technology in self.memory.technology:
                for count in self.memory.count:
                    _check_design(base, {"memory": MemoryChoices.section(technology, count)}, "memory")
        self._hardest_tile_fits(base)
        if all(n == 1 for n in self.gene_choices()):  # after the choices' own checks, which name what is wrong
            raise ValueError("offers a single design; list two or more choices for some field to search")
        return self

    def _hardest_tile_fits(self, base: AcceleratorConfig) -> None:
        """Every design holds one array tile if the hardest one does: the largest array (rows and columns) with the
        smallest scratchpad and accumulator. One tile needs rows x cols partial sums and rows x (rows + cols)
        operands, more with every row and column and the same whatever the capacity, so a design that holds it
        under the least room and the largest array is the worst case. One check instead of one per point of
        rows x cols x scratchpad x accumulator (64^4 = 16.8 million at the choice limit, half an hour)."""
        rows, cols = max(self._field_choices(base, "rows")), max(self._field_choices(base, "cols"))
        sp, acc = min(self._field_choices(base, "scratchpad_kib")), min(self._field_choices(base, "accumulator_kib"))
        widest = max((f for formats in self.datapath for f in formats), key=lambda f: FORMATS[f].bits) \
            if self.datapath else None  # the widest operands need the most room
        update = {"rows": rows, "cols": cols, "scratchpad_kib": sp, "accumulator_kib": acc}
        if widest is not None:
            update.update(datapath=(widest,), input_bits=FORMATS[widest].bits)
        hw = base.model_copy(update=update)
        try:
            SystolicSimulator(hw).gemm(rows, cols, rows)
        except ValueError:
            raise ValueError(f"a {rows}x{cols} array with a {sp:g} KiB scratchpad and a {acc:g} KiB accumulator "
                             "cannot hold one tile; drop the small buffers or the large arrays") from None

    # ---- the base and the genes ---------------------------------------------------------------------------
    def base(self) -> AcceleratorConfig:
        return self._base

    @cached_property
    def _base(self) -> AcceleratorConfig:
        path = self.base_dir / self.extends
        if self.extends not in preset_names() and (path.suffix in (".yaml", ".yml") or path.exists()):
            return AcceleratorConfig.from_yaml(path)  # a folder gets "is a directory", not "unknown preset"
        return AcceleratorConfig.preset(self.extends)

    def _field_choices(self, base: AcceleratorConfig, name: str) -> tuple:
        values = getattr(self, name)
        return values if values is not None else (getattr(base, name),)

    def _genes(self) -> list[tuple[str, tuple]]:
        return self._gene_table

    @cached_property
    def _gene_table(self) -> list[tuple[str, tuple]]:
        """(name, choices) per gene: the fields in FIELDS order, then each searched vector op's place and lanes."""
        base = self.base()
        genes = [(name, self._field_choices(base, name)) for name in FIELDS]
        optional = {"fold_overlap": self.fold_overlap, "datapath": self.datapath,
                    "memory.technology": self.memory and self.memory.technology,
                    "memory.count": self.memory and self.memory.count}
        genes += [(name, optional[name]) for name in OPTIONAL_GENES if optional[name] is not None]
        for kind in VectorKind:
            if kind in self.vector_units:
                genes.append((f"{kind.value}.where", self.vector_units[kind].where))
                genes.append((f"{kind.value}.lanes", self.vector_units[kind].lanes))
        return genes

    def gene_choices(self) -> list[int]:
        return [len(choices) for _, choices in self._genes()]

    def decode(self, genome: Sequence[int]) -> AcceleratorConfig:
        genes = self._genes()
        if len(genome) != len(genes):
            raise ValueError(f"genome has {len(genome)} genes, this hardware space needs {len(genes)}")
        picked = {}
        for i, ((name, choices), gene) in enumerate(zip(genes, genome)):
            if not 0 <= gene < len(choices):
                raise ValueError(f"gene {i} ({name}) = {gene} is outside 0..{len(choices) - 1}")
            picked[name] = choices[gene]
        base = self.base()
        units = dict(base.vector_units)
        for kind in self.vector_units:
            units[kind] = _place(base.unit(kind), kind, picked[f"{kind.value}.where"],
                                 picked[f"{kind.value}.lanes"])
        update = {**{name: picked[name] for name in FIELDS}, "vector_units": units}
        if "fold_overlap" in picked:
            update["fold_overlap"] = picked["fold_overlap"]
        if "datapath" in picked or "memory.technology" in picked:  # settings that derive others: validated anew
            if "datapath" in picked:
                update["datapath"] = list(picked["datapath"])
            if "memory.technology" in picked:
                update["memory"] = MemoryChoices.section(picked["memory.technology"], picked["memory.count"])
                update.pop("dram_bytes_per_cycle")  # the memory derives it (a space never searches both)
            hw = base.with_changes(**update)
        else:
            hw = base.model_copy(update=update)
        on_unit = [kind.value for kind, unit in units.items() if unit.where == "accelerator"]
        return hw.model_copy(update={
            "name": f"{Path(self.extends).stem}-{hw.rows}x{hw.cols}-{hw.fingerprint()[:8]}",
            "description": f"a design of a hardware space over {Path(self.extends).stem}: {hw.rows}x{hw.cols} "
                           f"{hw.dataflow.upper()}, {hw.scratchpad_kib:g} KiB scratchpad, {hw.accumulator_kib:g} KiB "
                           f"accumulator, on the accelerator: {', '.join(on_unit) or 'no non-linear op'}"})

    def encode(self, hw: AcceleratorConfig) -> list[int]:
        genome = []
        for name, choices in self._genes():
            value = _gene_value(hw, name)
            if name == "dram_bytes_per_cycle" and self.memory is not None:
                value = None  # the memory gene derives it
            if value is None:  # the lanes of an op on the host or fused, or a derived bus: carried, ignored
                genome.append(0)
                continue
            if value not in choices:
                raise ValueError(f"{name} = {value!r} is not one of this space's choices {list(choices)}")
            genome.append(choices.index(value))
        return genome

    # ---- the SearchSpace interface ------------------------------------------------------------------------
    def contains(self, hw: AcceleratorConfig) -> bool:
        try:
            return self.decode(self.encode(hw)).fingerprint() == hw.fingerprint()
        except ValueError:
            return False

    def sample(self, rng: random.Random | np.random.Generator) -> AcceleratorConfig:
        pick = rng.randrange if isinstance(rng, random.Random) else (lambda n: int(rng.integers(n)))
        return self.decode([pick(n) for n in self.gene_choices()])

    def size(self) -> int:
        """Distinct designs: an op on the host or fused counts once, whatever its (ignored) lanes gene."""
        total = 1
        for name, choices in self._genes():
            if name in FIELDS or name in OPTIONAL_GENES:
                total *= len(choices)
            elif name.endswith(".where"):
                on_unit = "accelerator" in choices
                lanes = len(self.vector_units[VectorKind(name.partition(".")[0])].lanes)
                total *= on_unit * lanes + len(choices) - on_unit
        return total

    def enumerate(self, limit: int = 1_000_000) -> Iterator[AcceleratorConfig]:
        """Every distinct design once."""
        if self.size() > limit:
            raise ValueError(f"the hardware space has {self.size():,} designs, more than the limit {limit:,}")
        genes = self._genes()
        for genome in itertools.product(*(range(len(choices)) for _, choices in genes)):
            if any(name.endswith(".lanes") and gene and genes[i - 1][1][genome[i - 1]] != "accelerator"
                   for i, ((name, _), gene) in enumerate(zip(genes, genome))):
                continue
            yield self.decode(genome)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)

    def check(self, hw: AcceleratorConfig) -> AcceleratorConfig:
        """`hw` when this space holds it; otherwise `OutsideHardwareSpace`, one line naming the first field that
        is off and what this space allows for it."""
        try:
            inside = self.decode(self.encode(hw))
        except ValueError as exc:
            raise OutsideHardwareSpace(f"accelerator {hw.name!r}: {exc}") from None
        if inside.fingerprint() != hw.fingerprint():
            ours, theirs = _flat(inside.model_dump(mode="json")), _flat(hw.model_dump(mode="json"))
            field = next(key for key in ours if key not in ("name", "description") and ours[key] != theirs.get(key))
            raise OutsideHardwareSpace(f"accelerator {hw.name!r}: {field} = {theirs.get(field)!r} is outside this "
                                       f"hardware space, which fixes it at {ours[field]!r}")
        return hw

    def to_record(self) -> dict[str, Any]:
        """The space with its base accelerator inline: what a dataset's metadata or a predictor's card keeps, so
        that `from_record` rebuilds the same space (same fingerprint) without the files it was made from."""
        return {"space": self.to_dict(), "base": self.base().model_dump(mode="json")}

    @classmethod
    def from_record(cls, record: Any, source: str) -> "HardwareSpace":
        if not isinstance(record, dict) or not isinstance(record.get("space"), dict):
            raise UserInputError(f"{source}: expected a hardware space record (keys space and base)")
        base = validate(AcceleratorConfig, record.get("base"), f"{source}: base")
        try:
            return cls.model_validate(record["space"], context={"base": base})
        except ValidationError as exc:
            raise UserInputError(validation_message(exc, source)) from None

    def fingerprint(self) -> str:
        """The base accelerator's content and the choices (not the base's name or where its file lives)."""
        payload = {"base": self.base().fingerprint(), "choices": self.to_dict() | {"extends": None}}
        return hashlib.sha1(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]

    @classmethod
    def from_mapping(cls, data: Any, source: str, base_dir: Path = Path(".")) -> "HardwareSpace":
        if not isinstance(data, dict):
            raise UserInputError(f"{source}: expected a mapping of AcceleratorConfig fields to lists of choices")
        return validate(cls, {**data, "base_dir": base_dir}, source=source)

    @classmethod
    def from_yaml(cls, path: str | Path) -> "HardwareSpace":
        """A file holding a hardware space, at its top level or under a `hardware_space:` key."""
        data = load_mapping(path)
        if isinstance(data.get("hardware_space"), dict):
            data = data["hardware_space"]
        return cls.from_mapping(data, str(path), Path(path).parent)


def _check_design(base: AcceleratorConfig, update: dict, key: str) -> None:
    """Validate the base with one choice applied, naming the choice's key once in the message."""
    try:
        base.with_changes(**update)
    except ValidationError as exc:
        message = validation_message(exc, "").removeprefix(": ").removeprefix("(top level): ")
        raise ValueError(f"{key}: {message.removeprefix(key + ': ').removeprefix(key.split('.')[-1] + ': ')}") from None


def _check(model, data: dict, key: str) -> None:
    """Validate one choice as the accelerator model would, and name the choice's key once in the message."""
    try:
        validate(model, data)
    except UserInputError as exc:
        message = str(exc).removeprefix("(top level): ").removeprefix(f"{key.split('.')[-1]}: ")
        raise ValueError(f"{key}: {message}") from None


def _flat(data: dict, prefix: str = "") -> dict[str, Any]:
    """Nested mappings as one level of dotted keys (`vector_units.softmax.where`)."""
    flat = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _place(base: VectorUnit, kind: VectorKind, where: str, lanes: float) -> VectorUnit:
    """The unit for `kind` at `where`: the base's own when it already runs there, else a unit built as I-BERT's.
    (The validator has made sure that `host` is only offered where the base runs the op on the host.)"""
    if where == "host":
        return base
    if where == "fused":
        return base if base.fused else VectorUnit(where="accelerator", fused=True, **ACCELERATOR_UNIT[kind])
    if base.where == "accelerator" and not base.fused:
        return base.model_copy(update={"lanes": lanes})
    return VectorUnit(where="accelerator", lanes=lanes, **ACCELERATOR_UNIT[kind])


def _gene_value(hw: AcceleratorConfig, name: str) -> Any:
    if name in FIELDS or name == "fold_overlap":
        return getattr(hw, name)
    if name == "datapath":
        return tuple(hw.formats)
    if name.startswith("memory."):
        if hw.memory is None:
            return None
        return hw.memory.technology if name == "memory.technology" else hw.memory.count
    kind, _, attr = name.partition(".")
    unit = hw.unit(VectorKind(kind))
    if attr == "where":
        return "fused" if unit.fused else unit.where
    return unit.lanes if unit.where == "accelerator" and not unit.fused else None


_FIELD_WORDS = {"rows": ("array rows", ""), "cols": ("array columns", ""), "dataflow": ("dataflow", ""),
                "scratchpad_kib": ("scratchpad", " KiB"), "accumulator_kib": ("accumulator", " KiB"),
                "dram_bytes_per_cycle": ("DRAM bus", " B/cycle"),
                "dma_inflight_requests": ("DMA requests in flight", ""), "fold_overlap": ("fold overlap", ""),
                "datapath": ("datapath", "")}


def _words(value: Any) -> str:
    """A setting as a reader writes it: `int4, int8` for a datapath, `on` / `off` for a switch."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (tuple, list)):
        return ", ".join(map(str, value))
    return str(value)


def design_changes(base: AcceleratorConfig, hw: AcceleratorConfig) -> list[str]:
    """What a design changed from its base, in words: `accumulator 64 -> 256 KiB`, `layernorm moved to the
    accelerator (16 lanes)`. The report says this beside the numbers, so a reader sees the moves, not a diff."""
    changes = []
    for name, (label, unit) in _FIELD_WORDS.items():
        old, new = (base.formats, hw.formats) if name == "datapath" else (getattr(base, name), getattr(hw, name))
        if old != new:
            changes.append(f"{label} {old:g} -> {new:g}{unit}" if isinstance(old, (int, float)) and not
                           isinstance(old, bool) else f"{label} {_words(old)} -> {_words(new)}")
    if base.memory != hw.memory:
        changes.append(f"memory {base.memory.describe() if base.memory else 'none'} -> "
                       f"{hw.memory.describe() if hw.memory else 'none'}")
    for kind in VectorKind:
        if kind not in base.vector_units and kind not in hw.vector_units:
            continue  # it shares a unit whose move is reported under that unit's name
        old, new = base.unit(kind), hw.unit(kind)
        if old == new:
            continue
        place = "into the accumulator's write-out (fused)" if new.fused else f"to the {new.where}"
        if (old.where, old.fused) != (new.where, new.fused):
            lanes = f" ({new.lanes:g} lanes)" if new.where == "accelerator" and not new.fused else ""
            changes.append(f"{kind.value} moved {place}{lanes}")
        elif old.lanes != new.lanes:
            changes.append(f"{kind.value} unit {old.lanes:g} -> {new.lanes:g} lanes")
    return changes
