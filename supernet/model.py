"""`SuperTransformer`: one weight-shared network whose sub-networks are the architectures of a `SearchSpace`.

Read it top to bottom like nanoGPT: embeddings, a stack of blocks, a head. A forward pass takes the
architecture to run: the first `arch.depth` blocks, each with its own heads and FFN size, at hidden size
`arch.embed_dim`. `classification` is a BERT encoder (post-LN, exact GELU, token types, tanh pooler);
`causal_lm` is a GPT-2 decoder (pre-LN, tanh GELU, final LayerNorm, LM head tied to the token embedding).
Module and parameter names are those of `supernet.hf_modeling`, so a sub-network exports by slicing.
"""
from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from supernet.family import family_for
from supernet.elastic import ElasticEmbedding, ElasticLayerNorm, ElasticLinear
from supernet.hf_modeling import attend, gelu_for
from supernet.space import ArchConfig, SearchSpace

Task = Literal["causal_lm", "classification"]
LAYER_NORM_EPS = 1e-12


class SuperEmbeddings(nn.Module):
    def __init__(self, vocab_size: int, max_len: int, max_dim: int, encoder: bool):
        super().__init__()
        self.word = ElasticEmbedding(vocab_size, max_dim)
        self.position = ElasticEmbedding(max_len, max_dim)
        self.encoder = encoder
        if encoder:
            self.token_type = ElasticEmbedding(2, max_dim)
            self.norm = ElasticLayerNorm(max_dim, LAYER_NORM_EPS)

    def forward(self, ids: torch.Tensor, d: int) -> torch.Tensor:
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = self.word(ids, d) + self.position(positions, d)
        if self.encoder:
            x = self.norm(x + self.token_type.weight[0, :d])
        return x


class SuperAttention(nn.Module):
    def __init__(self, max_dim: int, max_heads: int, head_dim: int):
        super().__init__()
        width = max_heads * head_dim
        self.head_dim = head_dim
        self.q, self.k, self.v = (ElasticLinear(max_dim, width) for _ in range(3))
        self.out = ElasticLinear(width, max_dim)

    def forward(self, x: torch.Tensor, heads: int, causal: bool, padding_mask: torch.Tensor | None) -> torch.Tensor:
        a = heads * self.head_dim  # the first `heads` heads
        ctx = attend(self.q(x, a), self.k(x, a), self.v(x, a), heads, causal, padding_mask)
        return self.out(ctx, x.shape[-1])


class SuperFeedForward(nn.Module):
    def __init__(self, max_dim: int, max_ffn: int, task: Task):
        super().__init__()
        self.fc1, self.fc2 = ElasticLinear(max_dim, max_ffn), ElasticLinear(max_ffn, max_dim)
        self.act = gelu_for(task)

    def forward(self, x: torch.Tensor, ffn_dim: int) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x, ffn_dim)), x.shape[-1])


class SuperBlock(nn.Module):
    def __init__(self, space: SearchSpace, task: Task):
        super().__init__()
        d = space.embed_dim[-1]
        self.pre_ln = task == "causal_lm"
        self.attn = SuperAttention(d, space.heads[-1], space.head_dim)
        self.norm1 = ElasticLayerNorm(d, LAYER_NORM_EPS)
        self.ffn = SuperFeedForward(d, space.ffn_dim[-1], task)
        self.norm2 = ElasticLayerNorm(d, LAYER_NORM_EPS)

    def forward(self, x, heads: int, ffn_dim: int, padding_mask=None):
        if self.pre_ln:
            x = x + self.attn(self.norm1(x), heads, True, padding_mask)
            return x + self.ffn(self.norm2(x), ffn_dim)
        x = self.norm1(x + self.attn(x, heads, False, padding_mask))
        return self.norm2(x + self.ffn(x, ffn_dim))


class SuperBackbone(nn.Module):
    """Embeddings and blocks; named like `hf_modeling.HwnasModel` so that weights map one to one."""

    def __init__(self, space: SearchSpace, task: Task, vocab_size: int, max_len: int):
        super().__init__()
        self.embeddings = SuperEmbeddings(vocab_size, max_len, space.embed_dim[-1], encoder=task != "causal_lm")
        self.layers = nn.ModuleList(SuperBlock(space, task) for _ in range(space.max_depth))
        if task == "causal_lm":
            self.final_norm = ElasticLayerNorm(space.embed_dim[-1], LAYER_NORM_EPS)

    def forward(self, ids, arch: ArchConfig, padding_mask=None):
        x = self.embeddings(ids, arch.embed_dim)
        for block, layer in zip(self.layers, arch.layers):
            x = block(x, layer.heads, layer.ffn_dim, padding_mask)
        return self.final_norm(x) if hasattr(self, "final_norm") else x


class SuperTransformer(nn.Module):
    def __init__(self, space: SearchSpace, task: Task = "causal_lm", vocab_size: int = 256, num_classes: int = 2,
                 max_len: int | None = None):
        super().__init__()
        if task not in ("causal_lm", "classification"):
            raise ValueError(f"task must be 'causal_lm' or 'classification', got {task!r}")
        self.space, self.task = space, task
        self.vocab_size, self.num_classes = vocab_size, num_classes
        self.max_len = max_len or space.max_seq_len
        self.model = SuperBackbone(space, task, vocab_size, self.max_len)
        if task == "classification":
            d = space.embed_dim[-1]
            self.pooler = ElasticLinear(d, d)
            self.classifier = ElasticLinear(d, num_classes)
        self._checked: set[ArchConfig] = set()

    def check(self, arch: ArchConfig) -> ArchConfig:
        """The arch, if it is inside the space; otherwise a ValueError naming the layer and field."""
        if arch not in self._checked:
            self.space.check(arch)
            self._checked.add(arch)
        return arch

    def forward(self, ids: torch.Tensor, arch: ArchConfig, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Logits of sub-network `arch`: (batch, seq, vocab) for causal_lm, (batch, classes) for classification."""
        self.check(arch)
        if ids.shape[1] > self.max_len:
            raise ValueError(f"sequence of {ids.shape[1]} tokens is longer than max_len={self.max_len}")
        hidden = self.model(ids, arch, attention_mask)
        if self.task == "causal_lm":
            return torch.nn.functional.linear(hidden, self.model.embeddings.word.weight[:, : arch.embed_dim])
        d = arch.embed_dim
        return self.classifier(torch.tanh(self.pooler(hidden[:, 0], d)), self.num_classes)

    # ---- sizes of a sub-network ---------------------------------------------------------------------------
    def num_params(self, arch: ArchConfig) -> int:
        """Parameters of the sub-network alone (what its exported model holds)."""
        self.check(arch)
        d, block = arch.embed_dim, family_for(self.task)
        layers = sum(block.layer_params(d, layer.heads * arch.head_dim, layer.ffn_dim) for layer in arch.layers)
        return layers + block.outer_params(d, self.vocab_size, self.max_len, self.num_classes)

    def macs(self, arch: ArchConfig, seq_len: int) -> int:
        """Multiply-accumulates of one forward pass over one sequence of `seq_len` tokens, head included."""
        self.check(arch)
        d, block = arch.embed_dim, family_for(self.task)
        layers = sum(block.layer_macs(d, layer.heads * arch.head_dim, layer.ffn_dim, seq_len, seq_len)
                     for layer in arch.layers)
        return layers + block.head_macs(d, seq_len, self.vocab_size, self.num_classes)
