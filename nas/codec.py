"""Genome codecs: what the evolutionary search drives, whatever it searches.

A codec turns a fixed-length list of integer genes into a candidate and back (`gene_choices`, `encode`,
`decode`, `fingerprint`); a candidate has a stable `key`. `SearchSpace` (networks) and `HardwareSpace`
(accelerators) are codecs; `JointSpace` is their product, whose candidates are (architecture, accelerator) pairs,
and `FixedSpace` is a one-point side, so that one search serves the three modes of a run: a network space on one
accelerator (NAS), one network over a hardware space (DSE), or both at once (co-design). NSGA-II, caching,
constraints, resume and executors never learn which one they drive.
"""
from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol, Sequence

import numpy as np

from predictors.accelerator.hardware import AcceleratorConfig
from predictors.accelerator.hardware_space import HardwareSpace
from supernet.space import ArchConfig, SearchSpace


class GenomeCodec(Protocol):
    def gene_choices(self) -> list[int]: ...
    def encode(self, candidate: Any) -> list[int]: ...
    def decode(self, genome: Sequence[int]) -> Any: ...
    def fingerprint(self) -> str: ...


@dataclass(frozen=True)
class Candidate:
    """A network and the accelerator it runs on: one point of a co-design search."""

    arch: ArchConfig
    hw: AcceleratorConfig

    @cached_property
    def key(self) -> str:
        """Computed once: the search asks for it at every cache lookup, and hashing a design costs a JSON dump."""
        return hashlib.sha1(f"{self.arch.key}:{self.hw.fingerprint()}".encode()).hexdigest()[:12]

    def describe(self) -> str:
        return f"{self.arch.describe()} on {self.hw.name}"

    def to_dict(self) -> dict[str, Any]:
        return {"arch": self.arch.to_dict(), "hardware": self.hw.model_dump(mode="json")}


@dataclass(frozen=True)
class FixedSpace:
    """A side that does not vary: no genes, one candidate."""

    value: ArchConfig | AcceleratorConfig

    def gene_choices(self) -> list[int]:
        return []

    def encode(self, candidate: Any) -> list[int]:
        return []

    def decode(self, genome: Sequence[int]) -> Any:
        if len(genome):
            raise ValueError(f"genome has {len(genome)} genes, a fixed side has none")
        return self.value

    def sample(self, rng: random.Random | np.random.Generator) -> Any:
        return self.value

    def size(self) -> int:
        return 1

    def fingerprint(self) -> str:
        ident = self.value.key if isinstance(self.value, ArchConfig) else self.value.fingerprint()
        return hashlib.sha1(f"fixed:{ident}".encode()).hexdigest()[:12]


@dataclass(frozen=True)
class JointSpace:
    """The product of a network side and an accelerator side: the network's genes, then the accelerator's."""

    networks: SearchSpace | FixedSpace
    accelerators: HardwareSpace | FixedSpace

    def gene_choices(self) -> list[int]:
        return self.networks.gene_choices() + self.accelerators.gene_choices()

    def encode(self, candidate: Candidate) -> list[int]:
        return self.networks.encode(candidate.arch) + self.accelerators.encode(candidate.hw)

    def decode(self, genome: Sequence[int]) -> Candidate:
        split = len(self.networks.gene_choices())
        return Candidate(self.networks.decode(list(genome[:split])), self.accelerators.decode(list(genome[split:])))

    def sample(self, rng: random.Random | np.random.Generator) -> Candidate:
        return Candidate(self.networks.sample(rng), self.accelerators.sample(rng))

    def size(self) -> int:
        return self.networks.size() * self.accelerators.size()

    def fingerprint(self) -> str:
        payload = [self.networks.fingerprint(), self.accelerators.fingerprint()]
        return hashlib.sha1(json.dumps(payload).encode()).hexdigest()[:12]


def network_side(codec: GenomeCodec) -> SearchSpace | None:
    """The network space whose genes open a codec's genome, or None where the network is fixed (or absent)."""
    if isinstance(codec, SearchSpace):
        return codec
    if isinstance(codec, JointSpace) and isinstance(codec.networks, SearchSpace):
        return codec.networks
    return None
