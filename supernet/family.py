"""What a transformer block *is*, written once: `BlockDescription` and the named `FAMILIES`.

A block is its norm (kind and position), its activation and whether it gates the feed-forward (SwiGLU), its
attention (grouped-query where the architecture has fewer key/value heads than query heads), its positions (a
learned table or rotary), whether its linears have biases, and whether the head is tied to the token embedding. The
supernet's modules, the exported modelling file (which reads the description from its `config.json`),
`predictors.accelerator.workload.lower`, the feature vector and the parameter / MAC counts all read this one description, so a
new family is one new row in `FAMILIES`, not five files kept in sync by hand.

Pure Python with no torch: the counting functions are plain arithmetic, so they take ints or numpy arrays alike (the
feature vector evaluates them over thousands of architectures at once).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
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
    adds the raw residual (GPT-2, Llama), which then needs a final norm after the last block. `norm`: LayerNorm
    (scale and shift) or RMSNorm (scale only, no centring). `gated_ffn`: `down(act(gate(x)) * up(x))` (SwiGLU
    with `silu`) instead of `fc2(act(fc1(x)))`. `positions`: a learned table added to the embeddings, or rotary
    embeddings (`rope_theta`) applied to queries and keys in every block.
    """

    family: str
    norm_position: Literal["pre", "post"]
    activation: Literal["gelu", "gelu_tanh", "silu"]
    norm_eps: float
    embedding_norm: bool
    token_types: bool
    final_norm: bool
    tied_head: bool
    causal: bool
    norm: Literal["layernorm", "rmsnorm"] = "layernorm"
    gated_ffn: bool = False
    positions: Literal["learned", "rope"] = "learned"
    rope_theta: float = 10_000.0
    bias: bool = True

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def norm_params(self) -> int:
        """Parameters per feature of one norm: LayerNorm's scale and shift, RMSNorm's scale."""
        return 2 if self.norm == "layernorm" else 1

    def linears(self, d, a, f, kv=None) -> tuple[LinearShape, ...]:
        """The weight matrices of one block at hidden size `d`, attention width `a`, key/value width `kv`
        (`a` unless the attention is grouped-query) and FFN size `f`."""
        kv = a if kv is None else kv
        attention = (
            LinearShape("q_proj", d, a, "mha_projections"),
            LinearShape("k_proj", d, kv, "mha_projections"),
            LinearShape("v_proj", d, kv, "mha_projections"),
            LinearShape("out_proj", a, d, "mha_projections"),
        )
        if self.gated_ffn:
            return attention + (LinearShape("ffn_gate", d, f, "ffn"), LinearShape("ffn_up", d, f, "ffn"),
                                LinearShape("ffn_down", f, d, "ffn"))
        return attention + (LinearShape("ffn1", d, f, "ffn"), LinearShape("ffn2", f, d, "ffn"))

    def layer_params(self, d, a, f, kv=None):
        """Weights (and biases, where the family has them) of one block, its two norms included."""
        linears = self.linears(d, a, f, kv)
        weights = sum(m.fan_in * m.fan_out for m in linears)
        biases = sum(m.fan_out for m in linears) if self.bias else 0
        return weights + biases + 2 * self.norm_params * d

    def layer_macs(self, d, a, f, tokens, ctx, kv=None):
        """Multiply-accumulates of one block over `tokens` queries, each attending to `ctx` keys (every query
        head scores every key, however many heads share the keys)."""
        weights = sum(m.fan_in * m.fan_out for m in self.linears(d, a, f, kv))
        return tokens * weights + 2 * tokens * ctx * a

    def outer_params(self, d, vocab_size: int, max_len: int, num_classes: int):
        """Everything outside the blocks: embeddings, their norm, the final norm and the head."""
        total = (vocab_size + (max_len if self.positions == "learned" else 0)) * d
        if self.token_types:
            total += 2 * d
        if self.embedding_norm:
            total += self.norm_params * d
        if self.final_norm:
            total += self.norm_params * d
        if not self.causal:  # a tanh pooler on the first token, then the classifier
            total += (d * d + d) + (d * num_classes + num_classes)
        elif not self.tied_head:
            total += d * vocab_size
        return total

    def head_macs(self, d, tokens, vocab_size: int, num_classes: int):
        """The LM head over every position, or the pooler and classifier over the first token."""
        return tokens * d * vocab_size if self.causal else d * d + d * num_classes

    def params(self, arch, vocab_size: int, max_len: int, num_classes: int = 2) -> int:
        """Parameters of a whole model of this family with the shape of `arch` (a `supernet.space.ArchConfig`)."""
        d, hd = arch.embed_dim, arch.head_dim
        blocks = sum(self.layer_params(d, layer.heads * hd, layer.ffn_dim, layer.kv * hd) for layer in arch.layers)
        return blocks + self.outer_params(d, vocab_size, max_len, num_classes)

    def macs(self, arch, seq_len: int, vocab_size: int, num_classes: int = 2) -> int:
        """Multiply-accumulates of one forward pass of `arch` over one sequence of `seq_len` tokens, head included."""
        d, hd = arch.embed_dim, arch.head_dim
        blocks = sum(self.layer_macs(d, layer.heads * hd, layer.ffn_dim, seq_len, seq_len, layer.kv * hd)
                     for layer in arch.layers)
        return blocks + self.head_macs(d, seq_len, vocab_size, num_classes)


FAMILIES: dict[str, BlockDescription] = {
    # BERT: post-LN, exact GELU, learned positions, token types, a LayerNorm on the embeddings, a tanh pooler.
    "bert": BlockDescription("bert", norm_position="post", activation="gelu", norm_eps=1e-12, embedding_norm=True,
                             token_types=True, final_norm=False, tied_head=False, causal=False),
    # GPT-2: pre-LN, tanh GELU, learned positions, a final LayerNorm, the LM head tied to the token embedding.
    "gpt2": BlockDescription("gpt2", norm_position="pre", activation="gelu_tanh", norm_eps=1e-12,
                             embedding_norm=False, token_types=False, final_norm=True, tied_head=True, causal=True),
    # Llama (and Qwen2, SmolLM): pre-RMSNorm, SwiGLU, rotary positions, no biases, grouped-query attention where
    # the architecture has fewer key/value heads, a final RMSNorm; the head is tied as in the small models
    # (Llama 3.2 1B, Qwen2.5 0.5B, SmolLM 135M; docs/sources.md section 6). Epsilon and theta are Llama 3.2's; an
    # export's config carries the values it was built with, a trained supernet reads them from here.
    "llama": BlockDescription("llama", norm_position="pre", activation="silu", norm_eps=1e-5, embedding_norm=False,
                              token_types=False, final_norm=True, tied_head=True, causal=True, norm="rmsnorm",
                              gated_ffn=True, positions="rope", rope_theta=500_000.0, bias=False),
}
# The larger Llamas (3.1 8B and up) keep a head of their own.
FAMILIES["llama-untied"] = replace(FAMILIES["llama"], family="llama-untied", tied_head=False)

TASK_FAMILY: dict[str, str] = {"classification": "bert", "causal_lm": "gpt2"}


def family_for(task: str, family: str | None = None) -> BlockDescription:
    """The block a task's supernet is built from: `family` when given (it must suit the task), else a BERT
    encoder for classification and a GPT-2 decoder for LMs."""
    if task not in TASK_FAMILY:
        raise ValueError(f"task must be one of {', '.join(TASK_FAMILY)}, got {task!r}")
    if family is None:
        return FAMILIES[TASK_FAMILY[task]]
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {', '.join(FAMILIES)}, got {family!r}")
    block = FAMILIES[family]
    if block.causal != (task == "causal_lm"):
        kind = "a causal decoder" if block.causal else "an encoder"
        raise ValueError(f"family {family!r} is {kind}; task {task!r} needs one of "
                         + ", ".join(name for name, b in FAMILIES.items() if b.causal == (task == "causal_lm")))
    return block
