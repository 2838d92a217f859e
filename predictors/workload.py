"""What the accelerator must compute (Timeloop's "problem"): a `Workload` and the ops an architecture lowers to.

`lower(arch, workload)` lists every GEMM and every vector op with its shape or element count, independent of
any hardware. `count_work` totals FLOPs and memory operations per op group with the survey's conventions
(Kim et al. 2023, Section 2.2: 8-bit everything, 1 MAC = 2 FLOPs, unlimited local memory so every operand
is moved exactly once per op), so that its Table 3 and the GPT-2 totals can be checked against ours.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from predictors.vector_ops import VectorKind
from userfiles import UserInputError, load_mapping, safe_load, validate
from supernet.family import BlockDescription, family_for
from supernet.space import ArchConfig


# FLOPs per element of the non-linear ops, fitted so that the survey's "other" group of BERT-Base (its Table 3:
# 0.42 GFLOPs at seq 512, 11.85 at 4096) is reproduced within 2%: softmax = max, subtract, exp, sum + one
# normalising multiply shared per row; LayerNorm = mean, centre, square, variance, scale, shift, affine;
# GELU (tanh form) about ten; residual add one. Quantisation is not counted: the survey's convention is
# 8-bit everywhere, so (de)quantisation is a hardware artefact that only the simulator costs.
FLOPS_PER_ELEMENT = {VectorKind.softmax: 4, VectorKind.layernorm: 7, VectorKind.gelu: 10, VectorKind.residual_add: 1}
# Bytes moved per element at 8 bits: read and write; a residual add reads two operands.
MOPS_PER_ELEMENT = {VectorKind.softmax: 2, VectorKind.layernorm: 2, VectorKind.gelu: 2, VectorKind.residual_add: 3}


@dataclass(frozen=True)
class Gemm:
    """`count` independent (m x k) @ (k x n) products. `group` is the survey's op group.

    `causal_axis` marks attention under a causal mask: the m rows are the last m of the keys' positions, and
    the keys run along `n` (QK^T's columns) or `k` (attention x V's reduction); a key after its query is
    masked, so a causal kernel skips the tiles that are wholly masked. `macs` counts the full product all the
    same (the survey's convention, see `count_work`).
    """

    name: str
    m: int
    n: int
    k: int
    count: int
    layer: int | None
    group: str
    causal_axis: Literal["n", "k"] | None = None

    @property
    def macs(self) -> int:
        return self.m * self.n * self.k * self.count


@dataclass(frozen=True)
class VectorWork:
    """A vector op over `elements` values; `after` names the GEMM whose output it consumes (for fusion)."""

    name: str
    kind: VectorKind
    elements: int
    layer: int | None
    after: str | None = None

    @property
    def group(self) -> str:
        return "other"


Op = Union[Gemm, VectorWork]

# Bounds on what can be simulated, generous for real use; each is named in the error it gives. The simulator
# maps every decode step's attention separately, so `new_tokens` bounds the time of one simulation (8,192
# steps of GPT-2 take about 4 s).
MAX_SEQ_LEN = 1_048_576
MAX_BATCH = 65_536
MAX_NEW_TOKENS = 8_192
MAX_VOCAB = 4_194_304


class Workload(BaseModel):
    """How the model is run.

    `prefill`: the whole sequence of `seq_len` tokens at once (an encoder, or a decoder's prompt).
    `decode`: one new token per sequence attending to a KV cache of `seq_len` tokens (the new one included).
    `generate`: a prompt of `seq_len` tokens (0 for none), then `new_tokens` decode steps; the survey counts
    GPT-2 this way with no prompt. `head`: None counts the transformer blocks only (the survey's convention);
    `lm` adds the vocabulary projection, `classifier` a linear layer on the first token.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    phase: Literal["prefill", "decode", "generate"] = "prefill"
    seq_len: int = Field(512, ge=0, le=MAX_SEQ_LEN, description=f"tokens of the sequence, prompt or KV cache "
                         f"(up to {MAX_SEQ_LEN:,})")
    batch: int = Field(1, ge=1, le=MAX_BATCH, description=f"sequences run together (1 to {MAX_BATCH:,})")
    new_tokens: int = Field(0, ge=0, le=MAX_NEW_TOKENS, description=f"decode steps of phase generate (up to "
                            f"{MAX_NEW_TOKENS:,}: every step is simulated, about 0.5 ms each)")
    causal: bool | None = Field(None, description="decoder (causal) or encoder; default: encoder for prefill")
    head: Literal["lm", "classifier"] | None = None
    vocab_size: int = Field(50257, ge=1, le=MAX_VOCAB, description=f"output vocabulary of head lm (up to {MAX_VOCAB:,})")
    num_classes: int = Field(2, ge=1, le=MAX_VOCAB, description=f"classes of head classifier (up to {MAX_VOCAB:,})")

    @model_validator(mode="after")
    def _consistent(self) -> "Workload":
        if self.phase in ("decode", "generate") and self.causal is False:
            raise ValueError(f"phase={self.phase} needs a causal decoder (causal: true)")
        if self.phase == "generate" and self.new_tokens < 1:
            raise ValueError("phase=generate needs new_tokens >= 1")
        if self.phase in ("prefill", "decode") and self.seq_len < 1:
            raise ValueError(f"phase={self.phase} needs seq_len >= 1")
        if self.phase != "generate" and self.new_tokens:
            raise ValueError("new_tokens is only used with phase=generate")
        if self.seq_len + self.new_tokens > MAX_SEQ_LEN:
            raise ValueError(f"seq_len + new_tokens = {self.seq_len + self.new_tokens:,} is more than the limit of "
                             f"{MAX_SEQ_LEN:,} tokens of context")
        return self

    def fingerprint(self) -> str:
        return hashlib.sha1(json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()[:12]

    @classmethod
    def parse(cls, spec: str) -> "Workload":
        """A YAML file, or `key=value` pairs separated by commas: `phase=decode,seq_len=512,causal=true`."""
        if spec.endswith((".yaml", ".yml", ".json")):
            return validate(cls, load_mapping(spec), source=spec)
        if len(spec) > 1000:
            raise UserInputError(f"workload: {len(spec):,} characters of key=value pairs; a workload is a few keys")
        data = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            key, sep, value = part.partition("=")
            key = key.strip()
            if not sep or not key:
                raise UserInputError(f"workload {spec!r}: expected key=value pairs, got {part!r}")
            if key in data:
                raise UserInputError(f"workload {spec!r}: {key} is given twice")
            data[key] = _scalar(value, key, spec)
        return validate(cls, data, source=f"workload {spec!r}")

    @property
    def is_causal(self) -> bool:
        return self.causal if self.causal is not None else self.phase != "prefill"

    def describe(self) -> str:
        if self.phase == "generate":
            return f"generate {self.new_tokens} tokens after a {self.seq_len}-token prompt, batch {self.batch}"
        kind = "a decoder" if self.is_causal else "an encoder"
        return f"{self.phase} of {kind}, seq_len {self.seq_len}, batch {self.batch}"


def _scalar(text: str, key: str, spec: str) -> str | int | float | bool | None:
    """One `key=value` value read as a YAML scalar (`512`, `true`, `decode`); lists, mappings and tags such as
    `!!python/object` are refused (a safe loader builds no Python objects anyway)."""
    text = text.strip()
    try:
        value = safe_load(text) if text else None
    except yaml.YAMLError:
        value = _NOT_SCALAR
    if value is _NOT_SCALAR or text.startswith("!") or not isinstance(value, (str, int, float, bool, type(None))):
        raise UserInputError(f"workload {spec!r}: {key}: expected a single value (a number, true/false or a "
                             f"word), got {text!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise UserInputError(f"workload {spec!r}: {key}: {text!r} is not allowed; numbers must be finite")
    return value


_NOT_SCALAR = object()


def _layer_ops(arch: ArchConfig, block: BlockDescription, layer: int, tokens: int, queries: int, ctx: int, seqs: int,
               steps: int = 1, causal: bool = False) -> list[Op]:
    """One transformer block over `seqs` sequences of `queries` new tokens each, attending to `ctx` keys.

    `tokens = seqs * queries`; `steps` repeats identical work (decode steps share every shape but attention).
    The projections and the FFN take every sequence's tokens as rows of one GEMM, so a batched decode step
    reads each weight once for the whole batch; attention runs per sequence and head (`count`), so each
    sequence reads its own KV cache.
    The ops follow the data: GEMM outputs are rescaled to int8 (`*.requant`), and every float result of a
    non-linear op is quantised before the GEMM that reads it (`*.quant`).
    """
    d, f = arch.embed_dim, arch.layers[layer].ffn_dim
    h, hd = arch.layers[layer].heads, arch.head_dim
    a = h * hd
    gemms = []
    for linear in block.linears(d, a, f):
        gemms.append(Gemm(linear.name, tokens, linear.fan_out, linear.fan_in, steps, layer, linear.group))
        if linear.name == "v_proj":
            masked = causal and queries > 1  # one new query sees the whole cache
            gemms.append(Gemm("attn_qk", queries, ctx, hd, seqs * h * steps, layer, "attention_matmuls",
                              "n" if masked else None))
            gemms.append(Gemm("attn_av", queries, hd, ctx, seqs * h * steps, layer, "attention_matmuls",
                              "k" if masked else None))
    ops: list[Op] = []
    for g in gemms:
        ops.append(g)
        ops.append(VectorWork(f"{g.name}.requant", VectorKind.quantize, g.m * g.n * g.count, layer, after=g.name))
        if g.name == "attn_qk":
            scores = queries * ctx * seqs * h * steps
            ops.append(VectorWork("softmax", VectorKind.softmax, scores, layer, after="attn_qk"))
            ops.append(VectorWork("softmax.quant", VectorKind.quantize, scores, layer))
        elif g.name == "out_proj":
            ops.append(VectorWork("residual_attn", VectorKind.residual_add, tokens * d * steps, layer))
            ops.append(VectorWork("ln_attn", VectorKind.layernorm, tokens * d * steps, layer, after="out_proj"))
            ops.append(VectorWork("ln_attn.quant", VectorKind.quantize, tokens * d * steps, layer))
        elif g.name == "ffn1":
            ops.append(VectorWork("gelu", VectorKind.gelu, tokens * f * steps, layer, after="ffn1"))
            ops.append(VectorWork("gelu.quant", VectorKind.quantize, tokens * f * steps, layer))
        elif g.name == "ffn2":
            ops.append(VectorWork("residual_ffn", VectorKind.residual_add, tokens * d * steps, layer))
            ops.append(VectorWork("ln_ffn", VectorKind.layernorm, tokens * d * steps, layer, after="ffn2"))
            ops.append(VectorWork("ln_ffn.quant", VectorKind.quantize, tokens * d * steps, layer))
    return ops


Phase = Literal["prefill", "decode"]


def lower_head_phases(arch: ArchConfig, workload: Workload) -> list[tuple[Phase, list[Op]]]:
    """The output head by phase, if the workload has one: logits for every prompt position when scoring a
    prefill, for the newest token only when decoding or generating (once after the prompt, once per step)."""
    if workload.head is None:
        return []
    b, s = workload.batch, workload.seq_len
    if workload.phase == "prefill":
        runs = [("prefill", b * s, 1)]
    elif workload.phase == "decode":
        runs = [("decode", b, 1)]
    else:
        runs = ([("prefill", b, 1)] if s else []) + [("decode", b, workload.new_tokens)]
    phases = []
    for phase, rows, count in runs:
        if workload.head == "lm":
            gemm = Gemm("lm_head", rows, workload.vocab_size, arch.embed_dim, count, None, "head")
        else:
            gemm = Gemm("classifier", b, workload.num_classes, arch.embed_dim, count, None, "head")
        phases.append((phase, [gemm, VectorWork(f"{gemm.name}.requant", VectorKind.quantize, gemm.m * gemm.n * count,
                                                None, after=gemm.name)]))
    return phases


def lower_head(arch: ArchConfig, workload: Workload) -> list[Op]:
    """The output head's ops, phases in order."""
    return [op for _, ops in lower_head_phases(arch, workload) for op in ops]


def lower_layer_phases(arch: ArchConfig, layer: int, workload: Workload) -> list[tuple[Phase, list[Op]]]:
    """The ops of block `layer` under `workload` by phase: the prompt (prefill), then every decode step."""
    b, s = workload.batch, workload.seq_len
    block = family_for("causal_lm" if workload.is_causal else "classification")
    if workload.phase == "prefill":
        return [("prefill", _layer_ops(arch, block, layer, tokens=b * s, queries=s, ctx=s, seqs=b,
                                       causal=workload.is_causal))]
    if workload.phase == "decode":
        return [("decode", _layer_ops(arch, block, layer, tokens=b, queries=1, ctx=s, seqs=b))]
    # Projections, FFN and per-token vector ops have the same shape at every decode step, so they are
    # emitted once with `count` = new_tokens; attention grows with the cache and is emitted per step.
    prompt = _layer_ops(arch, block, layer, tokens=b * s, queries=s, ctx=s, seqs=b, causal=True) if s > 0 else []
    shared = _layer_ops(arch, block, layer, tokens=b, queries=1, ctx=1, seqs=b, steps=workload.new_tokens)
    steps = [op for op in shared if not _depends_on_context(op)]
    for step in range(workload.new_tokens):
        per_step = _layer_ops(arch, block, layer, tokens=b, queries=1, ctx=s + step + 1, seqs=b)
        steps += [op for op in per_step if _depends_on_context(op)]
    return ([("prefill", prompt)] if prompt else []) + [("decode", steps)]


def lower_layer(arch: ArchConfig, layer: int, workload: Workload) -> list[Op]:
    """The ops of block `layer` under `workload` (for `generate`: the prompt, then every decode step)."""
    return [op for _, ops in lower_layer_phases(arch, layer, workload) for op in ops]


def lower(arch: ArchConfig, workload: Workload) -> list[Op]:
    """Every GEMM and vector op of `arch` under `workload`, block by block, then the head."""
    ops = [op for layer in range(arch.depth) for op in lower_layer(arch, layer, workload)]
    return ops + lower_head(arch, workload)


_CONTEXT_OPS = {"attn_qk", "attn_av", "attn_qk.requant", "attn_av.requant", "softmax", "softmax.quant"}


def _depends_on_context(op: Op) -> bool:
    return op.name in _CONTEXT_OPS


@dataclass(frozen=True)
class GroupWork:
    flops: float
    mops: float

    @property
    def intensity(self) -> float:
        return self.flops / self.mops if self.mops else float("inf")


GROUPS = ("mha_projections", "attention_matmuls", "ffn", "other", "head")


def count_work(arch: ArchConfig, workload: Workload) -> dict[str, GroupWork]:
    """FLOPs and bytes moved per op group, and `total`, with the survey's counting conventions.

    A GEMM moves its A, B and C once each (the survey's unlimited-local-memory upper bound on intensity);
    in decode/generate every weight is re-read for every token, which is what makes decoding memory-bound.
    Causal attention is counted as the full matrices, as the survey counts it: the masked half of QK^T and
    attention x V is in these FLOPs and bytes, although the simulator skips its wholly masked tiles.
    """
    flops = dict.fromkeys(GROUPS, 0.0)
    mops = dict.fromkeys(GROUPS, 0.0)
    for op in lower(arch, workload):
        if isinstance(op, Gemm):
            flops[op.group] += 2 * op.macs
            mops[op.group] += (op.m * op.k + op.k * op.n + op.m * op.n) * op.count
        elif op.kind in FLOPS_PER_ELEMENT:
            flops["other"] += FLOPS_PER_ELEMENT[op.kind] * op.elements
            mops["other"] += MOPS_PER_ELEMENT[op.kind] * op.elements
    work = {g: GroupWork(flops[g], mops[g]) for g in GROUPS if flops[g] or mops[g]}
    work["total"] = GroupWork(sum(flops.values()), sum(mops.values()))
    return work
