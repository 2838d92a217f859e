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
from typing import Literal, Optional, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from predictors.accelerator.precision import Format
from predictors.accelerator.vector_ops import VectorKind
from userfiles import UserInputError, load_mapping, safe_load, validate
from supernet.family import FAMILIES, BlockDescription, family_for
from supernet.space import ArchConfig


# FLOPs per element of the non-linear ops, fitted so that the survey's "other" group of BERT-Base (its Table 3:
# 0.42 GFLOPs at seq 512, 11.85 at 4096) is reproduced within 2%: softmax = max, subtract, exp, sum + one
# normalising multiply shared per row; LayerNorm = mean, centre, square, variance, scale, shift, affine;
# GELU (tanh form) about ten; residual add one. Llama's ops by the same counting: RMSNorm = square, mean,
# scale, affine; SiLU = exp, add, divide, multiply; the gating product one; a rotation two multiplies and an add.
# Quantisation is not counted: the survey's convention is 8-bit everywhere, so (de)quantisation is a hardware
# artefact that only the simulator costs.
FLOPS_PER_ELEMENT = {VectorKind.softmax: 4, VectorKind.layernorm: 7, VectorKind.gelu: 10, VectorKind.residual_add: 1,
                     VectorKind.rmsnorm: 4, VectorKind.silu: 4, VectorKind.multiply: 1, VectorKind.rope: 3}
# Bytes moved per element at 8 bits: read and write; a residual add and the gating product read two operands.
MOPS_PER_ELEMENT = {VectorKind.softmax: 2, VectorKind.layernorm: 2, VectorKind.gelu: 2, VectorKind.residual_add: 3,
                    VectorKind.rmsnorm: 2, VectorKind.silu: 2, VectorKind.multiply: 3, VectorKind.rope: 2}
# The vector op that follows a block's activation function and its norm, by the family's names.
ACTIVATION_KIND = {"gelu": VectorKind.gelu, "gelu_tanh": VectorKind.gelu, "silu": VectorKind.silu}
NORM_KIND = {"layernorm": VectorKind.layernorm, "rmsnorm": VectorKind.rmsnorm}


Operand = Literal["weights", "kv_cache", "activations"]


@dataclass(frozen=True)
class Gemm:
    """`count` independent (m x k) @ (k x n) products. `group` is the survey's op group.

    `b_operand` says what B is: a layer's weights, the keys or values of the KV cache (attention while
    decoding), or activations computed just before (attention over a prompt). `b_bits` is its width in memory
    (None: the accelerator's input width), which is how weight-only quantisation and a narrower KV cache cut
    traffic; A and C stay at the input width.

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
    b_operand: Operand = "weights"
    b_bits: int | None = None
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


QUANTISATION_SETTINGS = ("weight_bits", "kv_cache_bits", "precision")


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
    weight_bits: Optional[Literal[4, 8]] = Field(
        None, description="weight-only quantisation: weights stored at 4 or 8 bits and widened on chip "
        "(default: the width of the format the array computes in)")
    precision: Optional[Format] = Field(
        None, description="the operand format the array computes in, one of the accelerator's datapath formats "
        "(default: its native one, the first listed)")
    kv_cache_bits: Optional[Literal[4, 8, 16]] = Field(
        None, description="width of the keys and values read from the KV cache while decoding (4, 8 or 16; "
        "default: the width of the format the array computes in)")

    @field_validator("kv_cache_bits")
    @classmethod
    def _a_kv_cache_is_read(cls, bits: int | None, info: ValidationInfo) -> int | None:
        """Only a decode step reads keys and values from a KV cache; a prefill (an encoder's pass, or a decoder's
        prompt) scores the keys it has just computed, so the width would change nothing, silently."""
        phase = info.data.get("phase")
        if bits is not None and phase == "prefill":
            raise ValueError("applies to phase decode or generate only: a prefill (an encoder, or a decoder's "
                             "prompt) reads no KV cache")
        return bits

    def check_widths(self, hw) -> None:
        """Refuse a precision the accelerator's datapath lacks (`AcceleratorConfig.operand_format` names both),
        and weights stored wider than the array computes: weight-only quantisation narrows weights in memory and
        widens them on chip; wider weights would have to be cut on chip, which the model does not do (it would
        cost them at their own width and compute at the narrower one)."""
        bits = hw.operand_format(self.precision).bits
        if self.weight_bits is not None and self.weight_bits > bits:
            raise UserInputError(f"weight_bits={self.weight_bits} is wider than the width the array computes in "
                                 f"({hw.operand_format(self.precision).name} on accelerator {hw.name!r}); "
                                 f"weight-only quantisation stores weights at {bits} bits or fewer")

    def runs_on(self, hw) -> bool:
        """Whether `hw`'s datapath can run this workload (what `check_widths` refuses, as a yes or no)."""
        try:
            self.check_widths(hw)
        except UserInputError:
            return False
        return True

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
        """The quantisation settings count only when set, so that every workload written before they existed
        (and the datasets and predictors keyed by it) keeps its fingerprint."""
        unset = {name for name in QUANTISATION_SETTINGS if getattr(self, name) is None}
        data = self.model_dump(mode="json", exclude=unset)
        return hashlib.sha1(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]

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


def _layer_ops(arch: ArchConfig, block: BlockDescription, layer: int, workload: Workload, tokens: int, queries: int,
               ctx: int, seqs: int, steps: int = 1, decoding: bool = False, causal: bool = False) -> list[Op]:
    """One transformer block over `seqs` sequences of `queries` new tokens each, attending to `ctx` keys.

    `tokens = seqs * queries`; `steps` repeats identical work (decode steps share every shape but attention).
    The projections and the FFN take every sequence's tokens as rows of one GEMM, so a batched decode step
    reads each weight once for the whole batch; attention runs per sequence and head (`count`), so each
    sequence reads its own KV cache.
    The ops follow the data: GEMM outputs are rescaled to int8 (`*.requant`), and every float result of a
    non-linear op is quantised before the GEMM that reads it (`*.quant`). Grouped-query attention scores the
    `heads / kv_heads` query heads of a group against their shared keys as one GEMM, so each key and value is
    read once per group, as a GQA kernel reads them. While `decoding`, the keys and values come from the KV cache
    (at `kv_cache_bits`); over a prompt they are the activations just computed.
    """
    spec = arch.layers[layer]
    d, f, hd = arch.embed_dim, spec.ffn_dim, arch.head_dim
    h, kv = spec.heads, spec.kv
    a, group = h * hd, h // kv
    attention_b: Operand = "kv_cache" if decoding else "activations"
    attention_bits = workload.kv_cache_bits if attention_b == "kv_cache" else None
    gemms = []
    for linear in block.linears(d, a, f, kv * hd):
        gemms.append(Gemm(linear.name, tokens, linear.fan_out, linear.fan_in, steps, layer, linear.group,
                          b_bits=workload.weight_bits))
        if linear.name == "v_proj":
            # Under a causal mask the rows must be positions, so a prompt is scored head by head; one new query
            # sees the whole cache, and a decode step stacks the group's query heads against their shared keys.
            masked = causal and queries > 1
            rows, pairs = (queries, seqs * h * steps) if masked else (queries * group, seqs * kv * steps)
            gemms.append(Gemm("attn_qk", rows, ctx, hd, pairs, layer, "attention_matmuls", attention_b,
                              attention_bits, causal_axis="n" if masked else None))
            gemms.append(Gemm("attn_av", rows, hd, ctx, pairs, layer, "attention_matmuls", attention_b,
                              attention_bits, causal_axis="k" if masked else None))
    norm, act = NORM_KIND[block.norm], ACTIVATION_KIND[block.activation]
    per_token, per_ffn = tokens * d * steps, tokens * f * steps

    def vector(name: str, kind: VectorKind, elements: int, after: str | None = None) -> VectorWork:
        return VectorWork(name, kind, elements, layer, after=after)

    follow: dict[str, list[VectorWork]] = {
        "attn_qk": [vector("softmax", VectorKind.softmax, queries * ctx * seqs * h * steps, "attn_qk"),
                    vector("softmax.quant", VectorKind.quantize, queries * ctx * seqs * h * steps)],
        "out_proj": [vector("residual_attn", VectorKind.residual_add, per_token),
                     vector("ln_attn", norm, per_token, "out_proj"),
                     vector("ln_attn.quant", VectorKind.quantize, per_token)],
        "ffn1": [vector(act.value, act, per_ffn, "ffn1"), vector(f"{act.value}.quant", VectorKind.quantize, per_ffn)],
        "ffn2": [vector("residual_ffn", VectorKind.residual_add, per_token),
                 vector("ln_ffn", norm, per_token, "ffn2"), vector("ln_ffn.quant", VectorKind.quantize, per_token)],
        "ffn_gate": [vector(act.value, act, per_ffn, "ffn_gate")],
        "ffn_up": [vector("gating", VectorKind.multiply, per_ffn),
                   vector("gating.quant", VectorKind.quantize, per_ffn)],
    }
    follow["ffn_down"] = follow["ffn2"]
    if block.positions == "rope":  # queries and keys are rotated before they are scored
        rotated = tokens * (a + kv * hd) * steps
        follow["k_proj"] = [vector("rope", VectorKind.rope, rotated),
                            vector("rope.quant", VectorKind.quantize, rotated)]
    ops: list[Op] = []
    for g in gemms:
        ops.append(g)
        ops.append(VectorWork(f"{g.name}.requant", VectorKind.quantize, g.m * g.n * g.count, layer, after=g.name))
        ops += follow.get(g.name, [])
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
            gemm = Gemm("lm_head", rows, workload.vocab_size, arch.embed_dim, count, None, "head",
                        b_bits=workload.weight_bits)
        else:
            gemm = Gemm("classifier", b, workload.num_classes, arch.embed_dim, count, None, "head",
                        b_bits=workload.weight_bits)
        phases.append((phase, [gemm, VectorWork(f"{gemm.name}.requant", VectorKind.quantize, gemm.m * gemm.n * count,
                                                None, after=gemm.name)]))
    return phases


def lower_head(arch: ArchConfig, workload: Workload) -> list[Op]:
    """The output head's ops, phases in order."""
    return [op for _, ops in lower_head_phases(arch, workload) for op in ops]


def lower_layer_phases(arch: ArchConfig, layer: int, workload: Workload) -> list[tuple[Phase, list[Op]]]:
    """The ops of block `layer` under `workload` by phase: the prompt (prefill), then every decode step. A
    family's own attention decides whether a prompt is masked; an architecture without one follows the workload."""
    b, s, w = workload.batch, workload.seq_len, workload
    block = block_of(arch, workload)
    causal = block.causal if arch.family is not None else workload.is_causal
    if workload.phase == "prefill":
        return [("prefill", _layer_ops(arch, block, layer, w, tokens=b * s, queries=s, ctx=s, seqs=b,
                                       causal=causal))]
    if workload.phase == "decode":
        return [("decode", _layer_ops(arch, block, layer, w, tokens=b, queries=1, ctx=s, seqs=b, decoding=True))]
    # Projections, FFN and per-token vector ops have the same shape at every decode step, so they are
    # emitted once with `count` = new_tokens; attention grows with the cache and is emitted per step.
    prompt = _layer_ops(arch, block, layer, w, tokens=b * s, queries=s, ctx=s, seqs=b, causal=True) if s > 0 else []
    shared = _layer_ops(arch, block, layer, w, tokens=b, queries=1, ctx=1, seqs=b, steps=workload.new_tokens,
                        decoding=True)
    steps = [op for op in shared if not _depends_on_context(op)]
    for step in range(workload.new_tokens):
        per_step = _layer_ops(arch, block, layer, w, tokens=b, queries=1, ctx=s + step + 1, seqs=b, decoding=True)
        steps += [op for op in per_step if _depends_on_context(op)]
    return ([("prefill", prompt)] if prompt else []) + [("decode", steps)]


def lower_layer(arch: ArchConfig, layer: int, workload: Workload) -> list[Op]:
    """The ops of block `layer` under `workload` (for `generate`: the prompt, then every decode step)."""
    return [op for _, ops in lower_layer_phases(arch, layer, workload) for op in ops]


def block_of(arch: ArchConfig, workload: Workload) -> BlockDescription:
    """The architecture's own family, or (for an architecture without one) the BERT encoder or GPT-2 decoder
    that the workload's attention implies. A family's attention decides: a decoder family is costed causal."""
    if arch.family is not None:
        return FAMILIES[arch.family]
    return family_for("causal_lm" if workload.is_causal else "classification")


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
