"""Seeding a supernet with a pretrained Hugging Face BERT: the checkpoint becomes the largest sub-network.

Every tensor is mapped by an explicit name table (the one the stock export uses in reverse); the load reports
which supernet parameters came from the checkpoint, which were newly initialised (a classification head the
checkpoint does not have), and which checkpoint tensors were left unused; training logs its `summary()`. Nothing is
missed silently: a checkpoint without one of the encoder's tensors, or with a shape other than the supernet's
largest, is an error naming the tensor. Only the pooler (absent from BERT checkpoints saved without one, such as
`BertForMaskedLM`) and the classifier may start fresh.

The name table is public because the stock BERT export reads it the other way round.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from userfiles import UserInputError, load_mapping
from supernet.model import SuperTransformer
from supernet.space import SearchSpace
from supernet.store import read_weights

IGNORED = ("embeddings.position_ids",)  # a buffer of 0..n-1, not a weight
MAY_START_FRESH = ("pooler.", "classifier.")  # hwnas names a BERT checkpoint may lack


def bert_names(layers: int) -> dict[str, str]:
    """hwnas name -> BERT name, for a model of `layers` layers."""
    names = {"model.embeddings.word.weight": "embeddings.word_embeddings.weight",
             "model.embeddings.position.weight": "embeddings.position_embeddings.weight",
             "model.embeddings.token_type.weight": "embeddings.token_type_embeddings.weight",
             "model.embeddings.norm.weight": "embeddings.LayerNorm.weight",
             "model.embeddings.norm.bias": "embeddings.LayerNorm.bias",
             "pooler.weight": "pooler.dense.weight", "pooler.bias": "pooler.dense.bias"}
    parts = {"attn.q": "attention.self.query", "attn.k": "attention.self.key", "attn.v": "attention.self.value",
             "attn.out": "attention.output.dense", "norm1": "attention.output.LayerNorm",
             "ffn.fc1": "intermediate.dense", "ffn.fc2": "output.dense", "norm2": "output.LayerNorm"}
    for i in range(layers):
        for ours, theirs in parts.items():
            for kind in ("weight", "bias"):
                names[f"model.layers.{i}.{ours}.{kind}"] = f"encoder.layer.{i}.{theirs}.{kind}"
    return names


@dataclass(frozen=True)
class InitReport:
    source: str
    loaded: list[str]
    initialised: list[str]
    unused: list[str]

    def summary(self) -> str:
        """One line for the log: what came from the checkpoint, what starts fresh, what was left out."""
        fresh = ", ".join(self.initialised) or "nothing"
        unused = f"; {len(self.unused)} checkpoint tensor(s) unused, e.g. {self.unused[0]}" if self.unused else ""
        return f"init_from {self.source}: {len(self.loaded)} tensors copied; newly initialised: {fresh}{unused}"


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
    cfg = load_mapping(path)
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
    checkpoint = {k.removeprefix("bert."): v for k, v in read_weights(weights_path).items()}
    state = model.state_dict()
    names = bert_names(largest.depth)
    absent = [theirs for ours, theirs in names.items() if theirs not in checkpoint and not ours.startswith(MAY_START_FRESH)]
    if absent:
        raise UserInputError(f"{weights_path}: not a complete BERT checkpoint: {len(absent)} tensor(s) missing, "
                             f"e.g. {absent[0]}")
    loaded, updates = [], {}
    for ours, theirs in names.items():
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
    used = set(names.values())
    unused = sorted(k for k in checkpoint if k not in used and k not in IGNORED)
    initialised = sorted(set(state) - set(loaded))
    return InitReport(str(folder), sorted(loaded), initialised, unused)
