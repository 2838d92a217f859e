"""The shared vocabulary of architectures: `ArchConfig`, `LayerConfig` and the `SearchSpace` they come from.

Every other part of hwnas (supernet, simulator, predictors, search) speaks in these terms, so they live in one
file that imports nothing else from the project. Attention width is `heads * head_dim`, independent of
`embed_dim`, as in HAT and the survey's NAS case study (its found model has d=672 with 10 heads).
"""
from __future__ import annotations

import hashlib
import itertools
import json
import random
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

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
    """One transformer block: its number of attention heads and its FFN hidden size."""

    heads: int
    ffn_dim: int


@dataclass(frozen=True)
class ArchConfig:
    """A sub-network: hidden size, one `LayerConfig` per block, and the per-head width it was sampled with."""

    embed_dim: int
    layers: tuple[LayerConfig, ...]
    head_dim: int = DEFAULT_HEAD_DIM

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
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

    @property
    def depth(self) -> int:
        return len(self.layers)

    def attn_dim(self, layer: int) -> int:
        return self.layers[layer].heads * self.head_dim

    def to_dict(self) -> dict[str, Any]:
        return {
            "embed_dim": self.embed_dim,
            "head_dim": self.head_dim,
            "layers": [{"heads": layer.heads, "ffn_dim": layer.ffn_dim} for layer in self.layers],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ArchConfig":
        """Inverse of `to_dict`; wrong keys or types raise ValueError naming the field."""
        if not isinstance(data, dict):
            raise ValueError("an architecture must be a mapping with 'embed_dim' and 'layers'")
        unknown = set(data) - {"embed_dim", "layers", "head_dim"}
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
            if not isinstance(layer, dict) or set(layer) != {"heads", "ffn_dim"}:
                raise ValueError(f"layers[{i}]: expected exactly the keys 'heads' and 'ffn_dim'")
            parsed.append(LayerConfig(_as_int(layer["heads"], f"layers[{i}].heads"),
                                      _as_int(layer["ffn_dim"], f"layers[{i}].ffn_dim")))
        return cls(
            embed_dim=_as_int(data["embed_dim"], "embed_dim"),
            layers=tuple(parsed),
            head_dim=_as_int(data.get("head_dim", DEFAULT_HEAD_DIM), "head_dim"),
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
        return f"L={self.depth} d={self.embed_dim} heads=[{heads}] ffn=[{ffn}]"


def _as_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name}: expected an integer, got {value!r}")
    return value


def _at_most(name: str, value: int, limit: int | None = None) -> None:
    limit = LIMITS[name] if limit is None else limit
    if value > limit:
        raise ValueError(f"{name}={value:,} is more than the limit of {limit:,}")


def uniform_arch(depth: int, embed_dim: int, heads: int, ffn_dim: int, head_dim: int = DEFAULT_HEAD_DIM) -> ArchConfig:
    return ArchConfig(embed_dim, tuple(LayerConfig(heads, ffn_dim) for _ in range(depth)), head_dim)


# Shapes from the survey's Table 1 and its NAS case study (REFERENCE.md section 1).
_REFERENCE_ARCHS = {
    "bert-base": dict(depth=12, embed_dim=768, heads=12, ffn_dim=3072),
    "bert-large": dict(depth=24, embed_dim=1024, heads=16, ffn_dim=4096),
    "gpt2": dict(depth=12, embed_dim=768, heads=12, ffn_dim=3072),
    "nas-baseline": dict(depth=6, embed_dim=768, heads=12, ffn_dim=3072),
}


def reference_arch_names() -> list[str]:
    return sorted(_REFERENCE_ARCHS)


def reference_arch(name: str) -> ArchConfig:
    """A published model's shape: `bert-base`, `bert-large`, `gpt2`, or the survey's 6-layer `nas-baseline`."""
    if name not in _REFERENCE_ARCHS:
        raise ValueError(f"unknown model {name!r}; expected one of: {', '.join(reference_arch_names())}")
    return uniform_arch(**_REFERENCE_ARCHS[name])


class SearchSpace(BaseModel):
    """The choices a sub-network is made of, and the integer genome the evolutionary search works on.

    Genome layout (one place only): `[depth, embed_dim, heads_0, ffn_0, ..., heads_{L-1}, ffn_{L-1}]`, each gene
    an index into its choice list, with `L = max(depth)`. Genes of layers beyond the decoded depth are carried
    but ignored, so crossover between parents of different depths stays well defined.
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

    @field_validator("depth", "embed_dim", "heads", "ffn_dim", mode="before")
    @classmethod
    def _not_too_many(cls, value: Any) -> Any:
        """Count the choices before validating each one, so that a list of millions is refused at once."""
        if isinstance(value, (list, tuple)) and len(value) > MAX_CHOICES:
            raise ValueError(f"{len(value):,} choices is more than the limit of {MAX_CHOICES:,}")
        return value

    @field_validator("depth", "embed_dim", "heads", "ffn_dim")
    @classmethod
    def _sorted_positive_unique(cls, value: tuple[int, ...], info) -> tuple[int, ...]:
        if any(v <= 0 for v in value):
            raise ValueError("all choices must be positive")
        limit = LIMITS[info.field_name]
        if max(value) > limit:
            raise ValueError(f"{max(value):,} is more than the limit of {limit:,}")
        if len(set(value)) != len(value):
            raise ValueError("choices must not repeat")
        return tuple(sorted(value))

    # ---- sampling and corners -------------------------------------------------------------------------
    def sample(self, rng: random.Random | np.random.Generator) -> ArchConfig:
        """A uniformly random architecture (depth first, then every layer's choices independently)."""
        pick = _picker(rng)
        depth = pick(self.depth)
        return ArchConfig(
            embed_dim=pick(self.embed_dim),
            layers=tuple(LayerConfig(pick(self.heads), pick(self.ffn_dim)) for _ in range(depth)),
            head_dim=self.head_dim,
        )

    def largest(self) -> ArchConfig:
        return uniform_arch(self.depth[-1], self.embed_dim[-1], self.heads[-1], self.ffn_dim[-1], self.head_dim)

    def smallest(self) -> ArchConfig:
        return uniform_arch(self.depth[0], self.embed_dim[0], self.heads[0], self.ffn_dim[0], self.head_dim)

    # ---- membership -------------------------------------------------------------------------------------
    def violation(self, arch: ArchConfig) -> str | None:
        """Why `arch` is outside this space (naming the layer and field), or None when it is inside."""
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
        return None

    def contains(self, arch: ArchConfig) -> bool:
        return self.violation(arch) is None

    def check(self, arch: ArchConfig) -> ArchConfig:
        problem = self.violation(arch)
        if problem:
            raise ValueError(f"architecture outside the search space: {problem}")
        return arch

    # ---- size and enumeration -----------------------------------------------------------------------------
    def size(self) -> int:
        per_layer = len(self.heads) * len(self.ffn_dim)
        return len(self.embed_dim) * sum(per_layer**d for d in self.depth)

    def enumerate(self, limit: int = 1_000_000) -> Iterator[ArchConfig]:
        """Every architecture, for spaces small enough to search exhaustively (refuses above `limit`)."""
        if self.size() > limit:
            raise ValueError(f"the space has {self.size():,} architectures, more than the limit of {limit:,}")
        per_layer = [LayerConfig(h, f) for h in self.heads for f in self.ffn_dim]
        for depth in self.depth:
            for embed in self.embed_dim:
                for layers in itertools.product(per_layer, repeat=depth):
                    yield ArchConfig(embed, layers, self.head_dim)

    # ---- genome codec -------------------------------------------------------------------------------------
    @property
    def max_depth(self) -> int:
        return self.depth[-1]

    def gene_choices(self) -> list[int]:
        """Number of choices per gene, in genome order (the search draws gene i from range(gene_choices()[i]))."""
        return [len(self.depth), len(self.embed_dim)] + [len(self.heads), len(self.ffn_dim)] * self.max_depth

    def encode(self, arch: ArchConfig) -> list[int]:
        self.check(arch)
        genome = [self.depth.index(arch.depth), self.embed_dim.index(arch.embed_dim)]
        for i in range(self.max_depth):
            layer = arch.layers[i] if i < arch.depth else arch.layers[-1]
            genome += [self.heads.index(layer.heads), self.ffn_dim.index(layer.ffn_dim)]
        return genome

    def decode(self, genome: Sequence[int]) -> ArchConfig:
        choices = self.gene_choices()
        if len(genome) != len(choices):
            raise ValueError(f"genome has {len(genome)} genes, this space needs {len(choices)}")
        for i, (gene, n) in enumerate(zip(genome, choices)):
            if not 0 <= gene < n:
                raise ValueError(f"gene {i} = {gene} is outside 0..{n - 1}")
        depth = self.depth[genome[0]]
        layers = tuple(
            LayerConfig(self.heads[genome[2 + 2 * i]], self.ffn_dim[genome[3 + 2 * i]]) for i in range(depth)
        )
        return ArchConfig(self.embed_dim[genome[1]], layers, self.head_dim)

    # ---- identity -----------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.model_dump().items()}

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
