"""The transformer, written once: embeddings, blocks and the stack, laid out by a block description.

Every module computes with the leading slice of its weights (`elastic.py`), so the same classes serve the supernet
(built at the largest shape, called with a sub-network's sizes) and an exported sub-network (built at its own
shape and called with those same sizes, which are then all of its weights). The description is any object with the
attributes of `supernet.family.BlockDescription` (`norm_position`, `activation`, `norm_eps`, `embedding_norm`,
`token_types`, `final_norm`, `causal`): the supernet passes the family itself, an exported model the copy in its
`config.json`. This file and `elastic.py` import only torch; an `hf` export copies both beside
`modeling_hwnas.py`, whose relative imports `transformers` follows when it loads the folder.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .elastic import ElasticEmbedding, ElasticLayerNorm, ElasticLinear

TOKEN_TYPES = 2  # BERT's segment embeddings; only the first is used, as for a single-segment input


def activation(name: str):
    """BERT's exact GELU (`gelu`) or GPT-2's tanh approximation (`gelu_tanh`)."""
    if name == "gelu_tanh":
        return lambda x: F.gelu(x, approximate="tanh")
    if name == "gelu":
        return F.gelu
    raise ValueError(f"unknown activation {name!r}")


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int, causal: bool,
           padding_mask: torch.Tensor | None) -> torch.Tensor:
    """Multi-head attention over (batch, seq, heads * head_dim) projections."""
    b, t, width = q.shape
    split = lambda x: x.view(b, t, heads, width // heads).transpose(1, 2)  # noqa: E731
    mask = None
    if padding_mask is not None:
        mask = padding_mask[:, None, None, :].bool()
        if causal:
            mask = mask & torch.ones(t, t, dtype=torch.bool, device=q.device).tril()
    out = F.scaled_dot_product_attention(split(q), split(k), split(v), attn_mask=mask, is_causal=causal and mask is None)
    return out.transpose(1, 2).reshape(b, t, width)


class Embeddings(nn.Module):
    def __init__(self, block: Any, vocab_size: int, max_len: int, dim: int):
        super().__init__()
        self.word = ElasticEmbedding(vocab_size, dim)
        self.position = ElasticEmbedding(max_len, dim)
        if block.token_types:
            self.token_type = ElasticEmbedding(TOKEN_TYPES, dim)
        if block.embedding_norm:
            self.norm = ElasticLayerNorm(dim, block.norm_eps)

    def forward(self, ids: torch.Tensor, d: int) -> torch.Tensor:
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = self.word(ids, d) + self.position(positions, d)
        if hasattr(self, "token_type"):
            x = x + self.token_type.weight[0, :d]
        return self.norm(x) if hasattr(self, "norm") else x


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int, head_dim: int):
        super().__init__()
        width = heads * head_dim
        self.head_dim = head_dim
        self.q, self.k, self.v = (ElasticLinear(dim, width) for _ in range(3))
        self.out = ElasticLinear(width, dim)

    def forward(self, x: torch.Tensor, heads: int, causal: bool, padding_mask: torch.Tensor | None) -> torch.Tensor:
        a = heads * self.head_dim  # the first `heads` heads
        ctx = attend(self.q(x, a), self.k(x, a), self.v(x, a), heads, causal, padding_mask)
        return self.out(ctx, x.shape[-1])


class FeedForward(nn.Module):
    def __init__(self, dim: int, ffn_dim: int, act: str):
        super().__init__()
        self.fc1, self.fc2 = ElasticLinear(dim, ffn_dim), ElasticLinear(ffn_dim, dim)
        self.act = activation(act)

    def forward(self, x: torch.Tensor, ffn_dim: int) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x, ffn_dim)), x.shape[-1])


class Block(nn.Module):
    """One block: `post` norms after each residual add (BERT), `pre` norms each branch's input (GPT-2)."""

    def __init__(self, block: Any, dim: int, heads: int, head_dim: int, ffn_dim: int):
        super().__init__()
        self.pre_norm, self.causal = block.norm_position == "pre", block.causal
        self.attn = Attention(dim, heads, head_dim)
        self.norm1 = ElasticLayerNorm(dim, block.norm_eps)
        self.ffn = FeedForward(dim, ffn_dim, block.activation)
        self.norm2 = ElasticLayerNorm(dim, block.norm_eps)

    def forward(self, x, heads: int, ffn_dim: int, padding_mask=None):
        if self.pre_norm:
            x = x + self.attn(self.norm1(x), heads, self.causal, padding_mask)
            return x + self.ffn(self.norm2(x), ffn_dim)
        x = self.norm1(x + self.attn(x, heads, self.causal, padding_mask))
        return self.norm2(x + self.ffn(x, ffn_dim))


class Backbone(nn.Module):
    """Embeddings, the blocks (`layers`: heads and FFN size of each, at their largest) and the final norm."""

    def __init__(self, block: Any, vocab_size: int, max_len: int, dim: int, head_dim: int,
                 layers: Sequence[tuple[int, int]]):
        super().__init__()
        self.embeddings = Embeddings(block, vocab_size, max_len, dim)
        self.layers = nn.ModuleList(Block(block, dim, heads, head_dim, ffn) for heads, ffn in layers)
        if block.final_norm:
            self.final_norm = ElasticLayerNorm(dim, block.norm_eps)

    def forward(self, ids: torch.Tensor, dim: int, layers: Sequence[tuple[int, int]],
                padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """The hidden states of the sub-network of hidden size `dim` whose blocks are the first `len(layers)`,
        each with its (heads, FFN size)."""
        x = self.embeddings(ids, dim)
        for block, (heads, ffn) in zip(self.layers, layers):
            x = block(x, heads, ffn, padding_mask)
        return self.final_norm(x) if hasattr(self, "final_norm") else x
