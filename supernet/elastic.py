"""Weight-shared modules: each holds the largest shape and computes with its leading slice.

The weight-sharing scheme of HAT, AutoFormer and OFA: a sub-network with hidden size d, attention width a and FFN
size f uses `weight[:out, :in]` of every matrix, the first d entries of every norm and embedding column, and the
first `heads` heads of attention (and the first `kv_heads` key/value heads, where they are grouped). Called with
their full sizes they are plain modules, which is what an exported sub-network uses them as (`supernet.layers`,
`supernet.hf_modeling`). Imports only torch: exports ship it.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ElasticLinear(nn.Module):
    def __init__(self, max_in: int, max_out: int, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(max_out, max_in))
        self.bias = nn.Parameter(torch.zeros(max_out)) if bias else None
        nn.init.normal_(self.weight, std=0.02)

    def forward(self, x: torch.Tensor, out_features: int) -> torch.Tensor:
        bias = None if self.bias is None else self.bias[:out_features]
        return F.linear(x, self.weight[:out_features, : x.shape[-1]], bias)


class ElasticLayerNorm(nn.Module):
    def __init__(self, max_dim: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(max_dim))
        self.bias = nn.Parameter(torch.zeros(max_dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = x.shape[-1]
        return F.layer_norm(x, (d,), self.weight[:d], self.bias[:d], self.eps)


class ElasticRMSNorm(nn.Module):
    """Llama's RMSNorm over the first d features: no centring, no shift; computed in float32 as Hugging Face's
    `LlamaRMSNorm` does, so that an export into the stock class computes the same numbers."""

    def __init__(self, max_dim: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(max_dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = x.shape[-1]
        x32 = x.to(torch.float32)
        normed = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight[:d] * normed.to(x.dtype)


class ElasticEmbedding(nn.Module):
    def __init__(self, num: int, max_dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num, max_dim))
        nn.init.normal_(self.weight, std=0.02)

    def forward(self, ids: torch.Tensor, dim: int) -> torch.Tensor:
        return F.embedding(ids, self.weight[:, :dim])
