"""Seeding a supernet with a pretrained Hugging Face BERT: the checkpoint becomes the largest sub-network.

Every tensor is mapped by an explicit name table (the one the stock export uses in reverse); the load reports
which supernet parameters came from the checkpoint, which were newly initialised (a classification head the
checkpoint does not have), and which checkpoint tensors were left unused. Nothing is missed silently: a shape
that differs from the supernet's largest shape is an error naming the tensor.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file

from userfiles import UserInputError
from supernet.export import _bert_names
from supernet.model import SuperTransformer
from supernet.space import SearchSpace

IGNORED = ("embeddings.position_ids",)  # a buffer of 0..n-1, not a weight


@dataclass(frozen=True)
class InitReport:
    loaded: list[str]
    initialised: list[str]
    unused: list[str]


def bert_checkpoint_space(folder: str | Path, depth: list[int] | None = None, embed_dim: list[int] | None = None,
                          heads: list[int] | None = None, ffn_dim: list[int] | None = None) -> SearchSpace:
    """A search space whose largest architecture is the checkpoint's shape (smaller choices given by the user)."""
    cfg = _bert_config(Path(folder))
    d, h, f, layers = cfg["hidden_size"], cfg["num_attention_heads"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    return SearchSpace(depth=depth or [layers], embed_dim=embed_dim or [d], heads=heads or [h],
                       ffn_dim=ffn_dim or [f], head_dim=d // h, max_seq_len=cfg["max_position_embeddings"])


def _bert_config(folder: Path) -> dict:
    path = folder / "config.json"
    if not path.is_file():
        raise UserInputError(f"{folder}: no config.json of a BERT checkpoint")
    cfg = json.loads(path.read_text())
    if cfg.get("model_type") != "bert":
        raise UserInputError(f"{path}: model_type is {cfg.get('model_type')!r}, expected 'bert'")
    return cfg


def init_from_bert(model: SuperTransformer, folder: str | Path) -> InitReport:
    """Load a BERT checkpoint (`model.safetensors` + `config.json`) into a classification supernet whose
    largest architecture has exactly the checkpoint's shape."""
    folder = Path(folder)
    if model.task != "classification":
        raise UserInputError("a BERT checkpoint seeds a classification (encoder) supernet")
    cfg = _bert_config(folder)
    largest = model.space.largest()
    expected = (cfg["num_hidden_layers"], cfg["hidden_size"], cfg["num_attention_heads"], cfg["intermediate_size"])
    actual = (largest.depth, largest.embed_dim, largest.layers[0].heads, largest.layers[0].ffn_dim)
    if expected != actual or largest.head_dim * cfg["num_attention_heads"] != cfg["hidden_size"]:
        raise UserInputError(f"{folder}: checkpoint shape (layers, hidden, heads, ffn) = {expected}, but the space's "
                             f"largest is {actual} with head_dim {largest.head_dim}")
    weights_path = folder / "model.safetensors"
    if not weights_path.is_file():
        raise UserInputError(f"{folder}: no model.safetensors")
    checkpoint = {k.removeprefix("bert."): v for k, v in load_file(str(weights_path)).items()}
    state = model.state_dict()
    loaded, updates = [], {}
    for ours, theirs in _bert_names(largest.depth).items():
        if theirs not in checkpoint:
            continue
        tensor = checkpoint[theirs]
        if tuple(tensor.shape) != tuple(state[ours].shape):
            raise UserInputError(f"{weights_path}: {theirs} has shape {tuple(tensor.shape)}, the supernet's {ours} "
                                 f"has {tuple(state[ours].shape)}")
        updates[ours] = tensor
        loaded.append(ours)
    with torch.no_grad():
        for name, tensor in updates.items():
            state[name].copy_(tensor)
    used = set(_bert_names(largest.depth).values())
    unused = sorted(k for k in checkpoint if k not in used and k not in IGNORED)
    initialised = sorted(set(state) - set(loaded))
    return InitReport(sorted(loaded), initialised, unused)
