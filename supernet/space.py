"""The shared vocabulary of architectures: `ArchConfig`, `LayerConfig` and the `SearchSpace` they come from.

Every other part of hwnas (supernet, simulator, predictors, search) speaks in these terms, so they live in one
file that imports nothing else from the project but the names of the block families. Attention width is
`heads * head_dim`, independent of `embed_dim`, as in HAT and the survey's NAS case study (its found model has
d=672 with 10 heads); key/value width is `kv_heads * head_dim` (grouped-query attention, as in Llama).
"""
from __future__ import annotations

import hashlib
import itertools
import json
import random
from dataclasses import dataclass
from typing import Any, Iterator, Literal, Optional, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator, model_validator

from supernet.family import FAMILIES
from userfiles import UserInputError, load_mapping, validate

DEFAULT_HEAD_DIM = 64

# What a user may ask for: generous for any real transformer (GPT-3 175B is 96 layers, d=12288, 96 heads of 128,
# FFN 49152), small enough that a typo (`max_seq_len: 1e9`, an FFN range of 30 million choices) is refused at
# the door instead of allocating hundreds of GB. Each bound is named in the error it gives.
LIMITS = {"depth": 256, "embed_dim": 65_536, "heads": 1_024, "ffn_dim": 262_144, "head_dim": 1_024,
          "max_seq_len": 131_072}
MAX_CHOICES = 1_024  # choices per list (the survey's FFN range 768..3072 step 128 has 19)


@dataclass(frozen=True)
class LayerConfig:
    """One transformer block: its number of attention heads, its FFN hidden size and, for grouped-query
    attention, how many key/value heads the query heads share (None: one per query head, plain multi-head).

    `kv_heads` equal to `heads` is stored as None, so that the two spellings of multi-head attention are one
    architecture with one key."""

    heads: int
    ffn_dim: int
    kv_heads: int | None = None

    def __post_init__(self) -> None:
        if self.kv_heads == self.heads:
            object.__setattr__(self, "kv_heads", None)

    @property
    def kv(self) -> int:
        """Key/value heads: `kv_heads`, or `heads` for multi-head attention."""
        return self.heads if self.kv_heads is None else self.kv_heads

    def to_dict(self) -> dict[str, int]:
        shape = {"heads": self.heads, "ffn_dim": self.ffn_dim}
        return shape if self.kv_heads is None else {**shape, "kv_heads": self.kv_heads}


@dataclass(frozen=True)
class ArchConfig:
    """A sub-network: hidden size, one `LayerConfig` per block, the per-head width it was sampled with, and its
    block family (`supernet.family.FAMILIES`; None: the task's own, BERT for an encoder and GPT-2 for a decoder,
    which is what every architecture written before families existed means)."""

    embed_dim: int
    layers: tuple[LayerConfig, ...]
    head_dim: int = DEFAULT_HEAD_DIM
    family: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        if self.family is not None and self.family not in FAMILIES:
            raise ValueError(f"family must be one of {', '.join(FAMILIES)}, got {self.family!r}")
        if self.embed_dim <= 0 or self.head_dim <= 0:
            raise ValueError("embed_dim and head_dim must be positive")
        if not self.layers:
            raise ValueError("an architecture needs at least one layer")
        _at_most("embed_dim", self.embed_dim)
        _at_most("head_dim", self.head_dim)
        if len(self.layers) > LIMITS["depth"]:
            raise ValueError(f"{len(self.layers)} layers is more than the limit of {LIMITS['depth']}")
        for i, layer in enumerate(self.layers):
            if layer.heads <= 0 or layer.ffn_dim <= 0:
                raise ValueError(f"layers[{i}]: heads and ffn_dim must be positive")
            _at_most(f"layers[{i}].heads", layer.heads, LIMITS["heads"])
            _at_most(f"layers[{i}].ffn_dim", layer.ffn_dim, LIMITS["ffn_dim"])
            if layer.kv_heads is not None:
                if layer.kv_heads <= 0:
                    raise ValueError(f"layers[{i}].kv_heads={layer.kv_heads} must be at least 1")
                if layer.heads % layer.kv_heads:
                    raise ValueError(f"layers[{i}].kv_heads={layer.kv_heads} must divide heads={layer.heads}")

    @property
    def depth(self) -> int:
        return len(self.layers)

    def attn_dim(self, layer: int) -> int:
        return self.layers[layer].heads * self.head_dim

    def kv_dim(self, layer: int) -> int:
        """Width of the key and value projections (and of one token's K or V in the cache) of `layer`."""
        return self.layers[layer].kv * self.head_dim

    def to_dict(self) -> dict[str, Any]:
        shape = {
            "embed_dim": self.embed_dim,
            "head_dim": self.head_dim,
            "layers": [layer.to_dict() for layer in self.layers],
        }
        return shape if self.family is None else {**shape, "family": self.family}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ArchConfig":
        """Inverse of `to_dict`; wrong keys or types raise ValueError naming the field."""
        if not isinstance(data, dict):
            raise ValueError("an architecture must be a mapping with 'embed_dim' and 'layers'")
        unknown = set(data) - {"embed_dim", "layers", "head_dim", "family"}
        if unknown:
            raise ValueError(f"unknown architecture key(s): {', '.join(sorted(unknown))}")
        for key in ("embed_dim", "layers"):
            if key not in data:
                raise ValueError(f"architecture is missing '{key}'")
        layers = data["layers"]
        if not isinstance(layers, list):
            raise ValueError("layers: expected a list of {heads, ffn_dim}")
        if len(layers) > LIMITS["depth"]:
            raise ValueError(f"layers: {len(layers)} layers is more than the limit of {LIMITS['depth']}")
        parsed = []
        for i, layer in enumerate(layers):
            if not isinstance(layer, dict) or not {"heads", "ffn_dim"} <= set(layer) <= set(LayerConfig.__annotations__):
                raise ValueError(f"layers[{i}]: expected the keys 'heads' and 'ffn_dim' (and optionally 'kv_heads')")
            kv = layer.get("kv_heads")
            parsed.append(LayerConfig(_as_int(layer["heads"], f"layers[{i}].heads"),
                                      _as_int(layer["ffn_dim"], f"layers[{i}].ffn_dim"),
                                      None if kv is None else _as_int(kv, f"layers[{i}].kv_heads")))
        family = data.get("family")
        if family is not None and not isinstance(family, str):
            raise ValueError(f"family: expected one of {', '.join(FAMILIES)}, got {family!r}")
        return cls(
            embed_dim=_as_int(data["embed_dim"], "embed_dim"),
            layers=tuple(parsed),
            head_dim=_as_int(data.get("head_dim", DEFAULT_HEAD_DIM), "head_dim"),
            family=family,
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @property
    def key(self) -> str:
        """A short id that is stable across processes and versions (used for caches and file names)."""
        return hashlib.sha1(self.to_json().encode()).hexdigest()[:12]

    def describe(self) -> str:
        heads = ",".join(str(layer.heads) for layer in self.layers)
        ffn = ",".join(str(layer.ffn_dim) for layer in self.layers)
        kv = ""
        if any(layer.kv_heads is not None for layer in self.layers):
            kv = " kv=[" + ",".join(str(layer.kv) for layer in self.layers) + "]"
        family = f"{self.family} " if self.family else ""
        return f"{family}L={self.depth} d={self.embed_dim} heads=[{heads}]{kv} ffn=[{ffn}]"


def _as_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name}: expected an integer, got {value!r}")
    return value


def _at_most(name: str, value: int, limit: int | None = None) -> None:
    limit = LIMITS[name] if limit is None else limit
    if value > limit:
        raise ValueError(f"{name}={value:,} is more than the limit of {limit:,}")


def uniform_arch(depth: int, embed_dim: int, heads: int, ffn_dim: int, head_dim: int = DEFAULT_HEAD_DIM,
                 kv_heads: int | None = None, family: str | None = None) -> ArchConfig:
    return ArchConfig(embed_dim, tuple(LayerConfig(heads, ffn_dim, kv_heads) for _ in range(depth)), head_dim, family)


# Shapes from the survey's Table 1 and its NAS case study (docs/sources.md section 1), and today's small decoders
# from their published config.json (section 6), with the vocabulary each was trained with.
_REFERENCE_ARCHS = {
    "bert-base": (dict(depth=12, embed_dim=768, heads=12, ffn_dim=3072), 30522),
    "bert-large": (dict(depth=24, embed_dim=1024, heads=16, ffn_dim=4096), 30522),
    "gpt2": (dict(depth=12, embed_dim=768, heads=12, ffn_dim=3072), 50257),
    "nas-baseline": (dict(depth=6, embed_dim=768, heads=12, ffn_dim=3072), 30522),
    "llama-3.2-1b": (dict(depth=16, embed_dim=2048, heads=32, kv_heads=8, ffn_dim=8192, family="llama"), 128256),
    "qwen2.5-0.5b": (dict(depth=24, embed_dim=896, heads=14, kv_heads=2, ffn_dim=4864, family="llama"), 151936),
    "smollm-135m": (dict(depth=30, embed_dim=576, heads=9, kv_heads=3, ffn_dim=1536, family="llama"), 49152),
}


def reference_arch_names() -> list[str]:
    return sorted(_REFERENCE_ARCHS)


def reference_arch(name: str) -> ArchConfig:
    """A published model's shape: `bert-base`, `bert-large`, `gpt2`, the survey's 6-layer `nas-baseline`, or a
    Llama-style decoder (`llama-3.2-1b`, `qwen2.5-0.5b`, `smollm-135m`; Qwen2's q/k/v biases are left out,
    0.006% of its parameters)."""
    return uniform_arch(**_reference(name)[0])


def reference_vocab(name: str) -> int:
    """The vocabulary a reference model was published with (its LM head's width)."""
    return _reference(name)[1]


def _reference(name: str) -> tuple[dict, int]:
    if name not in _REFERENCE_ARCHS:
        raise ValueError(f"unknown model {name!r}; expected one of: {', '.join(reference_arch_names())}")
    return _REFERENCE_ARCHS[name]


class SearchSpace(BaseModel):
    """The choices a sub-network is made of, and the integer genome the evolutionary search works on.

    Genome layout (one place only): `[depth, embed_dim, heads_0, ffn_0, ..., heads_{L-1}, ffn_{L-1}]`, each gene
    an index into its choice list, with `L = max(depth)`; a space with `kv_heads` choices has a third gene per
    layer, `[..., heads_i, kv_i, ffn_i, ...]`. Genes of layers beyond the decoded depth are carried but ignored,
    so crossover between parents of different depths stays well defined. A key/value gene whose choice does not
    divide its layer's heads decodes to the nearest choice that does (the largest below it, else the smallest),
    so every genome is an architecture of the space.

    `family` names the block (`supernet.family.FAMILIES`; None: the task's own). `kv_heads` lists the key/value
    head counts a layer may share its query heads over (grouped-query attention); None keeps one per query head.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    depth: tuple[StrictInt, ...] = Field(
        min_length=1, description=f"layer counts to choose from (1 to {LIMITS['depth']}; "
        f"at most {MAX_CHOICES} choices in each list)")
    embed_dim: tuple[StrictInt, ...] = Field(min_length=1, description=f"hidden sizes (1 to {LIMITS['embed_dim']:,})")
    heads: tuple[StrictInt, ...] = Field(min_length=1, description=f"attention heads per layer (1 to {LIMITS['heads']:,})")
    ffn_dim: tuple[StrictInt, ...] = Field(
        min_length=1, description=f"FFN sizes per layer (1 to {LIMITS['ffn_dim']:,}), or {{min, max, step}}")
    head_dim: StrictInt = Field(DEFAULT_HEAD_DIM, gt=0, le=LIMITS["head_dim"],
                                description=f"width of one head (1 to {LIMITS['head_dim']:,})")
    max_seq_len: StrictInt = Field(512, gt=0, le=LIMITS["max_seq_len"],
                                   description=f"longest sequence (1 to {LIMITS['max_seq_len']:,}; the supernet's "
                                   "position table has this many rows)")
    family: Optional[Literal[tuple(FAMILIES)]] = Field(  # type: ignore[valid-type]
        None, description=f"block family: {', '.join(FAMILIES)} (default: bert for classification, gpt2 for a "
        "language model)")
    kv_heads: Optional[tuple[StrictInt, ...]] = Field(
        None, min_length=1, description="key/value heads per layer (grouped-query attention; each layer's choice "
        "divides its heads); default: one per query head")

    @field_validator("ffn_dim", mode="before")
    @classmethod
    def _expand_range(cls, value: Any) -> Any:
        """Accept `{min, max, step}` as in the YAML form of the survey's space (FFN 768-3072 step 128)."""
        if isinstance(value, dict):
            if set(value) != {"min", "max", "step"}:
                raise ValueError("a range needs exactly the keys min, max and step")
            lo, hi, step = value["min"], value["max"], value["step"]
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in (lo, hi, step)):
                raise ValueError("min, max and step must be integers")
            if step <= 0 or lo > hi:
                raise ValueError("need step > 0 and min <= max")
            count = (hi - lo) // step + 1
            if count > MAX_CHOICES:
                raise ValueError(f"the range min={lo}, max={hi}, step={step} has {count:,} choices, more than "
                                 f"the limit of {MAX_CHOICES:,}; use a larger step")
            return list(range(lo, hi + 1, step))
        return value

    @field_validator("depth", "embed_dim", "heads", "ffn_dim", "kv_heads", mode="before")
    @classmethod
    def _not_too_many(cls, value: Any) -> Any:
        """Count the choices before validating each one, so that a list of millions is refused at once."""
        if isinstance(value, (list, tuple)) and len(value) > MAX_CHOICES:
            raise ValueError(f"{len(value):,} choices is more than the limit of {MAX_CHOICES:,}")
        return value

    @field_validator("depth", "embed_dim", "heads", "ffn_dim", "kv_heads")
    @classmethod
    def _sorted_positive_unique(cls, value: tuple[int, ...] | None, info) -> tuple[int, ...] | None:
        if value is None:
            return None
        if any(v <= 0 for v in value):
            raise ValueError("all choices must be positive")
        limit = LIMITS["heads" if info.field_name == "kv_heads" else info.field_name]
        if max(value) > limit:
            raise ValueError(f"{max(value):,} is more than the limit of {limit:,}")
        if len(set(value)) != len(value):
            raise ValueError("choices must not repeat")
        return tuple(sorted(value))

    @model_validator(mode="after")
    def _every_head_count_has_kv(self) -> "SearchSpace":
        if self.kv_heads is not None:
            for heads in self.heads:
                if not self.kv_choices(heads):
                    raise ValueError(f"kv_heads: none of {list(self.kv_heads)} divides heads={heads}; every head "
                                     "count needs a key/value head count that divides it (1 always does)")
            unused = [kv for kv in self.kv_heads if not any(heads % kv == 0 for heads in self.heads)]
            if unused:
                raise ValueError(f"kv_heads: {unused} divide none of the head counts {list(self.heads)}")
        if self.family is not None and FAMILIES[self.family].positions == "rope" and self.head_dim % 2:
            raise ValueError(f"head_dim={self.head_dim}: rotary positions (family {self.family}) rotate pairs of "
                             "features, so head_dim must be even")
        return self

    def kv_choices(self, heads: int) -> tuple[int | None, ...]:
        """The key/value head counts a layer of `heads` query heads may have (None: multi-head attention)."""
        if self.kv_heads is None:
            return (None,)
        return tuple(kv for kv in self.kv_heads if heads % kv == 0)

    # ---- sampling and corners -------------------------------------------------------------------------
    def sample(self, rng: random.Random | np.random.Generator) -> ArchConfig:
        """A uniformly random architecture (depth first, then every layer's choices independently)."""
        pick = _picker(rng)
        depth = pick(self.depth)
        embed_dim = pick(self.embed_dim)
        layers = tuple(self.sample_layer(rng) for _ in range(depth))
        return ArchConfig(embed_dim, layers, self.head_dim, self.family)

    def sample_layer(self, rng: random.Random | np.random.Generator) -> LayerConfig:
        """One block: heads, then (with grouped-query attention) a key/value head count that divides them, then
        the FFN size."""
        pick = _picker(rng)
        heads = pick(self.heads)
        kv = pick(self.kv_choices(heads)) if self.kv_heads is not None else None
        return LayerConfig(heads, pick(self.ffn_dim), kv)

    def largest(self) -> ArchConfig:
        """Every choice at its largest; with grouped-query attention, the most key/value heads that divide the
        most heads (with heads [4, 6] and kv_heads [1, 2, 4], 6 heads over 2: a 4-head layer may use more key/value
        heads than the largest network, whose weights then train only as members of smaller networks)."""
        heads = self.heads[-1]
        return uniform_arch(self.depth[-1], self.embed_dim[-1], heads, self.ffn_dim[-1], self.head_dim,
                            self.kv_choices(heads)[-1], self.family)

    def smallest(self) -> ArchConfig:
        heads = self.heads[0]
        return uniform_arch(self.depth[0], self.embed_dim[0], heads, self.ffn_dim[0], self.head_dim,
                            self.kv_choices(heads)[0], self.family)

    # ---- membership -------------------------------------------------------------------------------------
    def violation(self, arch: ArchConfig) -> str | None:
        """Why `arch` is outside this space (naming the layer and field), or None when it is inside."""
        if arch.family != self.family:
            name = lambda family: family or "none (the task's own)"  # noqa: E731
            return f"family={name(arch.family)} is not this space's family={name(self.family)}"
        if arch.head_dim != self.head_dim:
            return f"head_dim={arch.head_dim} is not this space's head_dim={self.head_dim}"
        if arch.depth not in self.depth:
            return f"depth={arch.depth} is not one of {list(self.depth)}"
        if arch.embed_dim not in self.embed_dim:
            return f"embed_dim={arch.embed_dim} is not one of {list(self.embed_dim)}"
        for i, layer in enumerate(arch.layers):
            if layer.heads not in self.heads:
                return f"layers[{i}].heads={layer.heads} is not one of {list(self.heads)}"
            if layer.ffn_dim not in self.ffn_dim:
                return f"layers[{i}].ffn_dim={layer.ffn_dim} is not one of {_short(self.ffn_dim)}"
            if self.kv_heads is None and layer.kv_heads is not None:
                return f"layers[{i}].kv_heads={layer.kv_heads}: this space has multi-head attention only"
            if self.kv_heads is not None and layer.kv not in self.kv_choices(layer.heads):
                return f"layers[{i}].kv_heads={layer.kv} is not one of {list(self.kv_choices(layer.heads))}"
        return None

    def contains(self, arch: ArchConfig) -> bool:
        return self.violation(arch) is None

    def check(self, arch: ArchConfig) -> ArchConfig:
        problem = self.violation(arch)
        if problem:
            raise ValueError(f"architecture outside the search space: {problem}")
        return arch

    # ---- size and enumeration -----------------------------------------------------------------------------
    def _layer_choices(self) -> list[LayerConfig]:
        return [LayerConfig(h, f, kv) for h in self.heads for kv in self.kv_choices(h) for f in self.ffn_dim]

    def size(self) -> int:
        per_layer = sum(len(self.kv_choices(h)) for h in self.heads) * len(self.ffn_dim)
        return len(self.embed_dim) * sum(per_layer**d for d in self.depth)

    def enumerate(self, limit: int = 1_000_000) -> Iterator[ArchConfig]:
        """Every architecture, for spaces small enough to search exhaustively (refuses above `limit`)."""
        if self.size() > limit:
            raise ValueError(f"the space has {self.size():,} architectures, more than the limit of {limit:,}")
        per_layer = self._layer_choices()
        for depth in self.depth:
            for embed in self.embed_dim:
                for layers in itertools.product(per_layer, repeat=depth):
                    yield ArchConfig(embed, layers, self.head_dim, self.family)

    # ---- genome codec -------------------------------------------------------------------------------------
    @property
    def max_depth(self) -> int:
        return self.depth[-1]

    def _layer_genes(self) -> list[int]:
        if self.kv_heads is None:
            return [len(self.heads), len(self.ffn_dim)]
        return [len(self.heads), len(self.kv_heads), len(self.ffn_dim)]

    def gene_choices(self) -> list[int]:
        """Number of choices per gene, in genome order (the search draws gene i from range(gene_choices()[i]))."""
        return [len(self.depth), len(self.embed_dim)] + self._layer_genes() * self.max_depth

    def encode(self, arch: ArchConfig) -> list[int]:
        self.check(arch)
        genome = [self.depth.index(arch.depth), self.embed_dim.index(arch.embed_dim)]
        for i in range(self.max_depth):
            layer = arch.layers[i] if i < arch.depth else arch.layers[-1]
            kv = [] if self.kv_heads is None else [self.kv_heads.index(layer.kv)]
            genome += [self.heads.index(layer.heads), *kv, self.ffn_dim.index(layer.ffn_dim)]
        return genome

    def decode(self, genome: Sequence[int]) -> ArchConfig:
        choices = self.gene_choices()
        if len(genome) != len(choices):
            raise ValueError(f"genome has {len(genome)} genes, this space needs {len(choices)}")
        for i, (gene, n) in enumerate(zip(genome, choices)):
            if not 0 <= gene < n:
                raise ValueError(f"gene {i} = {gene} is outside 0..{n - 1}")
        depth, width = self.depth[genome[0]], len(self._layer_genes())
        layers = []
        for i in range(depth):
            genes = genome[2 + width * i: 2 + width * (i + 1)]
            heads, ffn = self.heads[genes[0]], self.ffn_dim[genes[-1]]
            layers.append(LayerConfig(heads, ffn, None if self.kv_heads is None else
                                      self._nearest_kv(heads, self.kv_heads[genes[1]])))
        return ArchConfig(self.embed_dim[genome[1]], tuple(layers), self.head_dim, self.family)

    def _nearest_kv(self, heads: int, wanted: int) -> int:
        allowed = self.kv_choices(heads)
        below = [kv for kv in allowed if kv <= wanted]
        return below[-1] if below else allowed[0]

    # ---- identity -----------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The space as plain data; the optional keys appear only when set, so a space written before they
        existed keeps its fingerprint (and its supernet checkpoints and runs stay valid)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.model_dump(exclude_none=True).items()}

    def fingerprint(self) -> str:
        return hashlib.sha1(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:12]




def resolve_space(name_or_path: str) -> SearchSpace:
    """A named space (`nas-case-study`) or a YAML/JSON file holding one (optionally under a `space:` key)."""
    if name_or_path in NAMED_SPACES:
        return NAMED_SPACES[name_or_path]()
    if not name_or_path.endswith((".yaml", ".yml", ".json")):
        raise UserInputError(f"unknown search space {name_or_path!r}; expected one of: {', '.join(NAMED_SPACES)} "
                             "or a YAML file")
    data = load_mapping(name_or_path)
    if isinstance(data.get("space"), dict):
        data = data["space"]
    return validate(SearchSpace, data, source=name_or_path)


def _picker(rng: random.Random | np.random.Generator):
    if isinstance(rng, np.random.Generator):
        return lambda seq: seq[int(rng.integers(len(seq)))]
    return lambda seq: seq[rng.randrange(len(seq))]


def _short(values: Sequence[int]) -> str:
    if len(values) <= 8:
        return str(list(values))
    step = values[1] - values[0]
    if all(b - a == step for a, b in zip(values, values[1:])):
        return f"{values[0]}..{values[-1]} step {step}"
    return f"[{values[0]}, {values[1]}, ..., {values[-1]}]"


def nas_case_study_space() -> SearchSpace:
    """The survey's NAS search space (Section 6.4): layers 3-6, heads 4-12, hidden 384-768 step 96, FFN 768-3072."""
    return SearchSpace(
        depth=(3, 4, 5, 6),
        embed_dim=(384, 480, 576, 672, 768),
        heads=(4, 6, 8, 10, 12),
        ffn_dim=tuple(range(768, 3073, 128)),
        head_dim=64,
        max_seq_len=512,
    )


NAMED_SPACES = {"nas-case-study": nas_case_study_space}

__all__ = [
    "ArchConfig",
    "LayerConfig",
    "SearchSpace",
    "reference_arch",
    "reference_arch_names",
    "uniform_arch",
    "nas_case_study_space",
    "resolve_space",
]
