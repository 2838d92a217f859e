"""The transformer, written once: embeddings, blocks and the stack, laid out by a block description.

Every module computes with the leading slice of its weights (`elastic.py`), so the same classes serve the supernet
(built at the largest shape, called with a sub-network's sizes) and an exported sub-network (built at its own shape
and called with those same sizes, which are then all of its weights). The description is any object with the
attributes of `supernet.family.BlockDescription` (`norm_position`, `norm`, `activation`, `gated_ffn`, `norm_eps`,
`positions`, `rope_theta`, `bias`, `embedding_norm`, `token_types`, `final_norm`, `causal`): the supernet passes the
family itself, an exported model the copy in its `config.json`. Attributes that later families added are read with
the earlier families' meaning as default, so a description written before them still builds the same model. This
file and `elastic.py` import only torch; an `hf` export copies both beside `modeling_hwnas.py`, whose relative
imports `transformers` follows when it loads the folder.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .elastic import ElasticEmbedding, ElasticLayerNorm, ElasticLinear, ElasticRMSNorm

TOKEN_TYPES = 2  # BERT's segment embeddings; only the first is used, as for a single-segment input


def activation(name: str):
    """BERT's exact GELU (`gelu`), GPT-2's tanh approximation (`gelu_tanh`) or Llama's SiLU (`silu`)."""
    if name == "gelu_tanh":
        return lambda x: F.gelu(x, approximate="tanh")
    if name == "gelu":
        return F.gelu
    if name == "silu":
        return F.silu
    raise ValueError(f"unknown activation {name!r}")


def norm(block: Any, dim: int) -> nn.Module:
    """The family's norm at width `dim`: LayerNorm (scale and shift) or RMSNorm (scale only)."""
    kind = getattr(block, "norm", "layernorm")
    if kind == "rmsnorm":
        return ElasticRMSNorm(dim, block.norm_eps)
    if kind == "layernorm":
        return ElasticLayerNorm(dim, block.norm_eps)
    raise ValueError(f"unknown norm {kind!r}")


def rotate(x: torch.Tensor, positions: torch.Tensor, theta: float) -> torch.Tensor:
    """Rotary position embedding of (batch, heads, seq, head_dim) queries or keys, in the half-split layout of
    Hugging Face's Llama (`rotate_half`), with frequencies computed in float32 as it computes them."""
    dim = x.shape[-1]
    inv_freq = 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.int64, device=x.device).float() / dim))
    angles = positions.float()[:, None] * inv_freq[None, :]
    angles = torch.cat((angles, angles), dim=-1)
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    half = dim // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated * sin


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int, kv_heads: int, causal: bool,
           padding_mask: torch.Tensor | None, rope_theta: float | None = None) -> torch.Tensor:
    """Attention over (batch, seq, heads * head_dim) queries and (batch, seq, kv_heads * head_dim) keys and
    values: query head i reads key/value head i // (heads / kv_heads), as Llama's `repeat_kv` lays them out.
    `rope_theta` rotates queries and keys first (None: positions were added to the embeddings)."""
    b, t, width = q.shape
    head_dim = width // heads
    split = lambda x, n: x.view(b, t, n, head_dim).transpose(1, 2)  # noqa: E731
    q, k, v = split(q, heads), split(k, kv_heads), split(v, kv_heads)
    if rope_theta is not None:
        positions = torch.arange(t, device=q.device)
        q, k = rotate(q, positions, rope_theta), rotate(k, positions, rope_theta)
    if kv_heads != heads:
        k, v = (x.repeat_interleave(heads // kv_heads, dim=1) for x in (k, v))
    mask = None
    if padding_mask is not None:
        mask = padding_mask[:, None, None, :].bool()
        if causal:
            mask = mask & torch.ones(t, t, dtype=torch.bool, device=q.device).tril()
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal and mask is None)
    return out.transpose(1, 2).reshape(b, t, width)


class Embeddings(nn.Module):
    """Token embeddings, plus a learned position table (none with rotary positions), token types and a norm
    where the family has them."""

    def __init__(self, block: Any, vocab_size: int, max_len: int, dim: int):
        super().__init__()
        self.word = ElasticEmbedding(vocab_size, dim)
        if getattr(block, "positions", "learned") == "learned":
            self.position = ElasticEmbedding(max_len, dim)
        if block.token_types:
            self.token_type = ElasticEmbedding(TOKEN_TYPES, dim)
        if block.embedding_norm:
            self.norm = norm(block, dim)

    def forward(self, ids: torch.Tensor, d: int) -> torch.Tensor:
        x = self.word(ids, d)
        if hasattr(self, "position"):
            x = x + self.position(torch.arange(ids.shape[1], device=ids.device), d)
        if hasattr(self, "token_type"):
            x = x + self.token_type.weight[0, :d]
        return self.norm(x) if hasattr(self, "norm") else x


class Attention(nn.Module):
    def __init__(self, block: Any, dim: int, heads: int, kv_heads: int, head_dim: int):
        super().__init__()
        bias = getattr(block, "bias", True)
        self.head_dim = head_dim
        self.rope_theta = block.rope_theta if getattr(block, "positions", "learned") == "rope" else None
        self.q = ElasticLinear(dim, heads * head_dim, bias)
        self.k, self.v = (ElasticLinear(dim, kv_heads * head_dim, bias) for _ in range(2))
        self.out = ElasticLinear(heads * head_dim, dim, bias)

    def forward(self, x: torch.Tensor, heads: int, kv_heads: int, causal: bool,
                padding_mask: torch.Tensor | None) -> torch.Tensor:
        a, kv = heads * self.head_dim, kv_heads * self.head_dim  # the first `heads` and `kv_heads` heads
        ctx = attend(self.q(x, a), self.k(x, kv), self.v(x, kv), heads, kv_heads, causal, padding_mask,
                     self.rope_theta)
        return self.out(ctx, x.shape[-1])


class FeedForward(nn.Module):
    """`fc2(act(fc1(x)))`, or with a gated family SwiGLU's `down(act(gate(x)) * up(x))`; gate and up are sliced
    to the same FFN size together."""

    def __init__(self, block: Any, dim: int, ffn_dim: int):
        super().__init__()
        bias = getattr(block, "bias", True)
        self.gated = getattr(block, "gated_ffn", False)
        if self.gated:
            self.gate, self.up = ElasticLinear(dim, ffn_dim, bias), ElasticLinear(dim, ffn_dim, bias)
            self.down = ElasticLinear(ffn_dim, dim, bias)
        else:
            self.fc1, self.fc2 = ElasticLinear(dim, ffn_dim, bias), ElasticLinear(ffn_dim, dim, bias)
        self.act = activation(block.activation)

    def forward(self, x: torch.Tensor, ffn_dim: int) -> torch.Tensor:
        if self.gated:
            return self.down(self.act(self.gate(x, ffn_dim)) * self.up(x, ffn_dim), x.shape[-1])
        return self.fc2(self.act(self.fc1(x, ffn_dim)), x.shape[-1])


class Block(nn.Module):
    """One block: `post` norms after each residual add (BERT), `pre` norms each branch's input (GPT-2, Llama)."""

    def __init__(self, block: Any, dim: int, heads: int, kv_heads: int, head_dim: int, ffn_dim: int):
        super().__init__()
        self.pre_norm, self.causal = block.norm_position == "pre", block.causal
        self.attn = Attention(block, dim, heads, kv_heads, head_dim)
        self.norm1 = norm(block, dim)
        self.ffn = FeedForward(block, dim, ffn_dim)
        self.norm2 = norm(block, dim)

    def forward(self, x, heads: int, kv_heads: int, ffn_dim: int, padding_mask=None):
        if self.pre_norm:
            x = x + self.attn(self.norm1(x), heads, kv_heads, self.causal, padding_mask)
            return x + self.ffn(self.norm2(x), ffn_dim)
        x = self.norm1(x + self.attn(x, heads, kv_heads, self.causal, padding_mask))
        return self.norm2(x + self.ffn(x, ffn_dim))


class Backbone(nn.Module):
    """Embeddings, the blocks (`layers`: heads, key/value heads and FFN size of each, at their largest), the
    final norm, and a decoder's LM head where it is not tied to the token embedding."""

    def __init__(self, block: Any, vocab_size: int, max_len: int, dim: int, head_dim: int,
                 layers: Sequence[tuple[int, int, int]]):
        super().__init__()
        self.embeddings = Embeddings(block, vocab_size, max_len, dim)
        self.layers = nn.ModuleList(Block(block, dim, heads, kv, head_dim, ffn) for heads, kv, ffn in layers)
        if block.final_norm:
            self.final_norm = norm(block, dim)
        if block.causal and not block.tied_head:
            self.lm_head = ElasticLinear(dim, vocab_size, bias=False)

    def forward(self, ids: torch.Tensor, dim: int, layers: Sequence[tuple[int, int, int]],
                padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """The hidden states of the sub-network of hidden size `dim` whose blocks are the first `len(layers)`,
        each with its (heads, key/value heads, FFN size)."""
        x = self.embeddings(ids, dim)
        for block, (heads, kv, ffn) in zip(self.layers, layers):
            x = block(x, heads, kv, ffn, padding_mask)
        return self.final_norm(x) if hasattr(self, "final_norm") else x

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """A decoder's next-token logits: its own head, or the token embedding it is tied to."""
        if hasattr(self, "lm_head"):
            return self.lm_head(hidden, self.lm_head.weight.shape[0])
        return F.linear(hidden, self.embeddings.word.weight[:, : hidden.shape[-1]])
