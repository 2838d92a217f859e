"""What a transformer block *is*, written once: `BlockDescription` and the named `FAMILIES`.

A block is its norm (kind and position), its activation, its attention, its positions and whether the head is
tied to the token embedding. The supernet's modules, the exported modelling file (which reads the description
from its `config.json`), `predictors.workload.lower`, the feature vector and the parameter / MAC counts all read
this one description, so a new family is one new row in `FAMILIES`, not five files kept in sync by hand.

Pure Python with no torch: the counting functions are plain arithmetic, so they take ints or numpy arrays alike
(the feature vector evaluates them over thousands of architectures at once).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal, NamedTuple

Task = Literal["causal_lm", "classification"]


class LinearShape(NamedTuple):
    """One weight matrix of a block: `fan_in -> fan_out`, and the survey's op group it belongs to."""

    name: str
    fan_in: object
    fan_out: object
    group: str


@dataclass(frozen=True)
class BlockDescription:
    """How every block of a family computes, and what surrounds the stack.

    `norm_position`: `post` adds the residual, then normalises (BERT); `pre` normalises the branch input and
    adds the raw residual (GPT-2), which then needs a final norm after the last block.
    """

    family: str
    norm_position: Literal["pre", "post"]
    activation: Literal["gelu", "gelu_tanh"]
    norm_eps: float
    embedding_norm: bool
    token_types: bool
    final_norm: bool
    tied_head: bool
    causal: bool

    def to_dict(self) -> dict:
        return asdict(self)

    def linears(self, d, a, f) -> tuple[LinearShape, ...]:
        """The weight matrices of one block at hidden size `d`, attention width `a` and FFN size `f`."""
        return (
            LinearShape("q_proj", d, a, "mha_projections"),
            LinearShape("k_proj", d, a, "mha_projections"),
            LinearShape("v_proj", d, a, "mha_projections"),
            LinearShape("out_proj", a, d, "mha_projections"),
            LinearShape("ffn1", d, f, "ffn"),
            LinearShape("ffn2", f, d, "ffn"),
        )

    def layer_params(self, d, a, f):
        """Weights and biases of one block, its two LayerNorms (scale and shift) included."""
        return sum(m.fan_in * m.fan_out + m.fan_out for m in self.linears(d, a, f)) + 2 * 2 * d

    def layer_macs(self, d, a, f, tokens, ctx):
        """Multiply-accumulates of one block over `tokens` queries, each attending to `ctx` keys."""
        weights = sum(m.fan_in * m.fan_out for m in self.linears(d, a, f))
        return tokens * weights + 2 * tokens * ctx * a

    def outer_params(self, d, vocab_size: int, max_len: int, num_classes: int):
        """Everything outside the blocks: embeddings, their norm, the final norm and the head."""
        total = (vocab_size + max_len) * d
        if self.token_types:
            total += 2 * d
        if self.embedding_norm:
            total += 2 * d
        if self.final_norm:
            total += 2 * d
        if not self.causal:  # a tanh pooler on the first token, then the classifier
            total += (d * d + d) + (d * num_classes + num_classes)
        elif not self.tied_head:
            total += d * vocab_size
        return total

    def head_macs(self, d, tokens, vocab_size: int, num_classes: int):
        """The LM head over every position, or the pooler and classifier over the first token."""
        return tokens * d * vocab_size if self.causal else d * d + d * num_classes


FAMILIES: dict[str, BlockDescription] = {
    # BERT: post-LN, exact GELU, learned positions, token types, a LayerNorm on the embeddings, a tanh pooler.
    "bert": BlockDescription("bert", norm_position="post", activation="gelu", norm_eps=1e-12, embedding_norm=True,
                             token_types=True, final_norm=False, tied_head=False, causal=False),
    # GPT-2: pre-LN, tanh GELU, learned positions, a final LayerNorm, the LM head tied to the token embedding.
    "gpt2": BlockDescription("gpt2", norm_position="pre", activation="gelu_tanh", norm_eps=1e-12,
                             embedding_norm=False, token_types=False, final_norm=True, tied_head=True, causal=True),
}

TASK_FAMILY: dict[str, str] = {"classification": "bert", "causal_lm": "gpt2"}


def family_for(task: str) -> BlockDescription:
    """The block a task's supernet is built from: a BERT encoder for classification, a GPT-2 decoder for LMs."""
    if task not in TASK_FAMILY:
        raise ValueError(f"task must be one of {', '.join(TASK_FAMILY)}, got {task!r}")
    return FAMILIES[TASK_FAMILY[task]]
