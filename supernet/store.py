"""A trained supernet on disk: `supernet.safetensors` (weights, no pickle) and `supernet.json` (its card: the space,
task, vocabulary, label names and training settings), and the strict weight loading shared with checkpoints.

Loading is strict because a file that lacks a weight would otherwise leave that weight at its random
initialisation, and every score computed afterwards would be silently wrong.
"""
from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from userfiles import UserInputError, atomic_write, atomic_write_json, load_mapping
from supernet.model import SuperTransformer
from supernet.space import SearchSpace

SUPERNET_WEIGHTS, SUPERNET_CARD = "supernet.safetensors", "supernet.json"


def read_weights(path: Path, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """A safetensors file, or a one-line `UserInputError` for a missing, truncated or corrupt one."""
    try:
        return load_file(str(path), device=str(device))
    except Exception as exc:  # noqa: BLE001 - safetensors raises several types for damaged files
        raise UserInputError(f"{path}: cannot load ({(str(exc).splitlines() or [type(exc).__name__])[0]})") from None


def load_weights(module: torch.nn.Module, state: dict[str, torch.Tensor], source: Path) -> None:
    """`module.load_state_dict(state)` that names the first missing, unexpected or misshapen tensor in one line."""
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
    module.load_state_dict(state, strict=True)


def save_supernet(model: SuperTransformer, folder: Path, extra: dict | None = None) -> None:
    card = {"space": model.space.to_dict(), "task": model.task, "vocab_size": model.vocab_size,
            "num_classes": model.num_classes, "max_len": model.max_len, **(extra or {})}
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write(folder / SUPERNET_WEIGHTS, lambda tmp: save_file(state, str(tmp)))
    atomic_write_json(folder / SUPERNET_CARD, card)


def read_card(folder: str | Path) -> dict:
    """The card of a trained supernet (`supernet.json`), checked to hold what `load_supernet` needs."""
    folder = Path(folder)
    if not (folder / SUPERNET_CARD).is_file() or not (folder / SUPERNET_WEIGHTS).is_file():
        raise UserInputError(f"{folder}: no trained supernet ({SUPERNET_CARD} and {SUPERNET_WEIGHTS})")
    card = load_mapping(folder / SUPERNET_CARD)
    missing = [key for key in ("space", "task", "vocab_size", "num_classes", "max_len") if key not in card]
    if missing:
        raise UserInputError(f"{folder / SUPERNET_CARD}: not a supernet card (no {missing[0]!r})")
    return card


def load_supernet(folder: str | Path, device: str = "cpu") -> SuperTransformer:
    folder = Path(folder)
    card = read_card(folder)
    try:
        model = SuperTransformer(SearchSpace.model_validate(card["space"]), card["task"], card["vocab_size"],
                                 card["num_classes"], card["max_len"])
    except (ValueError, TypeError) as exc:  # pydantic's ValidationError is a ValueError
        raise UserInputError(f"{folder / SUPERNET_CARD}: not a supernet card "
                             f"({' '.join(str(exc).split())[:200]})") from None
    load_weights(model, read_weights(folder / SUPERNET_WEIGHTS, device), folder / SUPERNET_WEIGHTS)
    return model.to(device).eval()
