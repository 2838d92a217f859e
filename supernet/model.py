"""`SuperTransformer`: one weight-shared network whose sub-networks are the architectures of a `SearchSpace`.

Read it top to bottom like nanoGPT: embeddings, a stack of blocks, a head. A forward pass takes the
architecture to run: the first `arch.depth` blocks, each with its own heads (and key/value heads) and FFN size, at
hidden size `arch.embed_dim`. `classification` is a BERT encoder (post-LN, exact GELU, token types, tanh pooler);
`causal_lm` is a GPT-2 decoder (pre-LN, tanh GELU, final LayerNorm, LM head tied to the token embedding), or the
space's `family` (`llama`: pre-RMSNorm, SwiGLU, rotary positions, grouped-query attention, tied head).
The stack is `supernet.layers`, the same modules an exported sub-network is built from, laid out by the task's
block description (`supernet.family`), so a sub-network exports by slicing each tensor of the same name.
"""
from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from supernet.elastic import ElasticLinear
from supernet.family import family_for
from supernet.layers import Backbone
from supernet.space import ArchConfig, SearchSpace

Task = Literal["causal_lm", "classification"]


class SuperTransformer(nn.Module):
    def __init__(self, space: SearchSpace, task: Task = "causal_lm", vocab_size: int = 256, num_classes: int = 2,
                 max_len: int | None = None):
        super().__init__()
        if task not in ("causal_lm", "classification"):
            raise ValueError(f"task must be 'causal_lm' or 'classification', got {task!r}")
        self.space, self.task = space, task
        self.vocab_size, self.num_classes = vocab_size, num_classes
        self.max_len = max_len or space.max_seq_len
        self.block = family_for(task, space.family)
        d = space.embed_dim[-1]
        kv = space.kv_heads[-1] if space.kv_heads else space.heads[-1]
        self.model = Backbone(self.block, vocab_size, self.max_len, d, space.head_dim,
                              [(space.heads[-1], kv, space.ffn_dim[-1])] * space.max_depth)
        if task == "classification":
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
        hidden = self.hidden_states(ids, arch, attention_mask)
        if self.task == "causal_lm":
            return self.model.logits(hidden)
        d = arch.embed_dim
        return self.classifier(torch.tanh(self.pooler(hidden[:, 0], d)), self.num_classes)

    def hidden_states(self, ids: torch.Tensor, arch: ArchConfig, attention_mask: torch.Tensor | None = None):
        """The last block's output (after the final norm, where the family has one), before any head."""
        return self.model(ids, arch.embed_dim, [(layer.heads, layer.kv, layer.ffn_dim) for layer in arch.layers],
                          attention_mask)

    # ---- sizes of a sub-network ---------------------------------------------------------------------------
    def num_params(self, arch: ArchConfig) -> int:
        """Parameters of the sub-network alone (what its exported model holds)."""
        return self.block.params(self.check(arch), self.vocab_size, self.max_len, self.num_classes)

    def macs(self, arch: ArchConfig, seq_len: int) -> int:
        """Multiply-accumulates of one forward pass over one sequence of `seq_len` tokens, head included."""
        return self.block.macs(self.check(arch), seq_len, self.vocab_size, self.num_classes)
