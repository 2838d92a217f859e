"""A trained supernet on disk: `supernet.safetensors` (weights, no pickle) and `supernet.json` (its card: the space,
task, vocabulary, label names, training settings and the sha256 of the weights), and the strict, verified weight
loading shared with checkpoints.

Loading is strict because a file that lacks a weight would otherwise leave that weight at its random
initialisation, and every score computed afterwards would be silently wrong. It is verified for the same reason:
a flipped bit, a header whose dtype was changed (F32 read as I32 keeps every shape) or a NaN left by a diverged
run all load without complaint from safetensors and give nonsense scores, so the bytes are checked against the
sha256 the writer recorded, each tensor's dtype and shape against the model, and every value for finiteness. The
card's sizes are checked (strict integers within bounds) before any of them reaches torch, so a damaged
`vocab_size` of 2^40 is a one-line refusal, not an allocation of terabytes.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError, model_validator
from safetensors.torch import load_file, save_file

from userfiles import UserInputError, atomic_write, atomic_write_json, file_sha256, load_mapping, validation_message
from supernet.family import family_for
from supernet.model import SuperTransformer
from supernet.space import LIMITS, SearchSpace
from supernet.train_config import MAX_STEPS

SUPERNET_WEIGHTS, SUPERNET_CARD = "supernet.safetensors", "supernet.json"
# Bounds on a card's sizes: far above any real model (Gemma's vocabulary is 262,144 tokens), far below what would
# exhaust memory when torch allocates the embedding or the classifier.
MAX_VOCAB = 2**21
MAX_CLASSES = 65_536
SHA256 = r"^[0-9a-f]{64}$"
# `format` of the cards and records written from now on: one that carries it must carry its checksums too, so
# that deleting a checksum from the file cannot switch its check off. Cards of earlier releases have no `format`
# (and maybe no checksum) and load as before.
CARD_FORMAT = 1


def write_weights(state: dict[str, torch.Tensor], path: Path) -> str:
    """Write `state` as safetensors at `path` and return the file's sha256, which its card or record keeps so
    that loading can tell the very bytes written from damaged ones."""
    save_file({k: v.detach().cpu().contiguous() for k, v in state.items()}, str(path))
    return file_sha256(path)


def verify_sha256(path: Path, expected: str | None, record: Path) -> None:
    """Refuse `path` when its sha256 is not `expected` (what `record` says was written); None (a file written
    before checksums were recorded) is not checked."""
    if expected is None:
        return
    try:
        found = file_sha256(path)
    except OSError as exc:
        raise UserInputError(f"{path}: cannot read ({(exc.strerror or str(exc)).lower()})") from None
    if found != expected:
        raise UserInputError(f"{path}: damaged: its sha256 is {found[:16]}..., not the {expected[:16]}... that "
                             f"{record.name} records for it")


def read_weights(path: Path, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """A safetensors file, or a one-line `UserInputError` for a missing, truncated or corrupt one."""
    try:
        return load_file(str(path), device=str(device))
    except Exception as exc:  # noqa: BLE001 - safetensors raises several types for damaged files
        raise UserInputError(f"{path}: cannot load ({(str(exc).splitlines() or [type(exc).__name__])[0]})") from None


def check_finite(tensors: dict[str, torch.Tensor], source: Path) -> None:
    """Refuse a floating-point tensor holding NaN or infinity, naming the first: a diverged run or damaged bytes,
    never weights worth scoring or training on."""
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            raise UserInputError(f"{source}: {name} holds {bad:,} non-finite value(s) (NaN or infinity) of "
                                 f"{tensor.numel():,}; the file is damaged or was written by a diverged run")


def load_weights(module: torch.nn.Module, state: dict[str, torch.Tensor], source: Path) -> None:
    """`module.load_state_dict(state)` that names the first missing, unexpected, misshapen, mistyped or non-finite
    tensor in one line."""
    expected = module.state_dict()
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing:
        raise UserInputError(f"{source}: {len(missing)} weight(s) missing, e.g. {missing[0]}")
    if unexpected:
        raise UserInputError(f"{source}: {len(unexpected)} unexpected weight(s), e.g. {unexpected[0]}")
    for name, tensor in state.items():
        if tensor.shape != expected[name].shape:
            raise UserInputError(f"{source}: {name} has shape {tuple(tensor.shape)}, expected "
                                 f"{tuple(expected[name].shape)}")
        if tensor.dtype != expected[name].dtype:
            raise UserInputError(f"{source}: {name} is {str(tensor.dtype).removeprefix('torch.')}, expected "
                                 f"{str(expected[name].dtype).removeprefix('torch.')}")
    check_finite(state, source)
    module.load_state_dict(state, strict=True)


class SupernetCard(BaseModel):
    """What `supernet.json` may hold, with strict types (a JSON `true` is no size) and explicit bounds: the sizes
    become tensor shapes, so a damaged card is refused here, before torch allocates anything. `weights_sha256` may
    be missing only on cards of earlier releases, which have no `format` either; `train` is the record of the training settings,
    kept for the reader and never used to build anything."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    space: SearchSpace
    task: Literal["causal_lm", "classification"]
    vocab_size: StrictInt = Field(ge=1, le=MAX_VOCAB)
    num_classes: StrictInt = Field(ge=1, le=MAX_CLASSES)
    max_len: StrictInt = Field(ge=1, le=LIMITS["max_seq_len"])
    format: StrictInt | None = Field(None, ge=1, le=CARD_FORMAT)
    weights_sha256: StrictStr | None = Field(None, pattern=SHA256)
    steps: StrictInt | None = Field(None, ge=1, le=MAX_STEPS)
    labels: list[StrictStr] | None = Field(None, max_length=MAX_CLASSES)
    train: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> "SupernetCard":
        """The fields agree with each other: the space's block family suits the task (else building the model
        fails), and there is one label name per class (else an export's `id2label` does)."""
        family_for(self.task, self.space.family)
        if self.format is not None and self.weights_sha256 is None:
            raise ValueError(f"weights_sha256: missing, and a card of format {self.format} always records it")
        if self.labels is not None and len(self.labels) != self.num_classes:
            raise ValueError(f"labels: {len(self.labels)} names for {self.num_classes} classes")
        return self


def save_supernet(model: SuperTransformer, folder: Path, extra: dict | None = None) -> None:
    """Write the weights, then the card that records their sha256. A kill between the two leaves the previous
    card (or none): training rewrites both from its final checkpoint on the rerun, the same bytes, so a card never
    vouches for weights other than the ones it was written with."""
    card = {"space": model.space.to_dict(), "task": model.task, "vocab_size": model.vocab_size,
            "num_classes": model.num_classes, "max_len": model.max_len, **(extra or {})}
    digest: list[str] = []
    atomic_write(folder / SUPERNET_WEIGHTS, lambda tmp: digest.append(write_weights(model.state_dict(), tmp)))
    atomic_write_json(folder / SUPERNET_CARD, {**card, "format": CARD_FORMAT, "weights_sha256": digest[0]})


def _card(folder: Path) -> tuple[dict, SupernetCard]:
    if not (folder / SUPERNET_CARD).is_file() or not (folder / SUPERNET_WEIGHTS).is_file():
        raise UserInputError(f"{folder}: no trained supernet ({SUPERNET_CARD} and {SUPERNET_WEIGHTS})")
    path = folder / SUPERNET_CARD
    raw = load_mapping(path)
    missing = [key for key in ("space", "task", "vocab_size", "num_classes", "max_len") if key not in raw]
    if missing:
        raise UserInputError(f"{path}: not a supernet card (no {missing[0]!r})")
    try:
        return raw, SupernetCard.model_validate(raw)
    except ValidationError as exc:
        raise UserInputError(f"{path}: not a supernet card, or a damaged one ({validation_message(exc)})") from None


def read_card(folder: str | Path) -> dict:
    """The card of a trained supernet (`supernet.json`), checked to hold what `load_supernet` needs, within
    bounds."""
    return _card(Path(folder))[0]


def load_supernet(folder: str | Path, device: str = "cpu") -> SuperTransformer:
    """The trained supernet in `folder`, its weights verified (sha256, dtypes, shapes, finite values)."""
    folder = Path(folder)
    _, card = _card(folder)
    model = SuperTransformer(card.space, card.task, card.vocab_size, card.num_classes, card.max_len)
    weights = folder / SUPERNET_WEIGHTS
    verify_sha256(weights, card.weights_sha256, folder / SUPERNET_CARD)
    load_weights(model, read_weights(weights, device), weights)
    return model.to(device).eval()
