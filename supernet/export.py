"""Sub-networks out of the supernet: standalone models with exactly their shapes and the inherited weights.

`extract_subnet` gives a `transformers.PreTrainedModel`; `export_subnet` writes it in one of three formats and
checks that the written model computes what the supernet computes for that architecture:

* `hf`: a sub-network whose layers are all alike is written as a stock class (no remote code at all; `stock=False`
  refuses that): `LlamaForCausalLM` for the llama family, and `BertForSequenceClassification` or `GPT2LMHeadModel`
  when the attention width also equals the hidden size.
  Any other shape has no stock class, and is written as `config.json` + `model.safetensors` + `modeling_hwnas.py`
  (this package's `hf_modeling.py`, which imports only torch, transformers and the two torch-only files it imports
  relatively, `layers.py` and `elastic.py`, copied beside it), registered in `auto_map`, so that
  `AutoModelForCausalLM.from_pretrained(DIR, trust_remote_code=True)` (or `AutoModelForSequenceClassification`)
  loads it without hwnas installed. Either way the folder holds the tokenizer the supernet was trained with and
  the label names of its data (`id2label`).
* `torch`: a `torch.export` program (`model.pt2`), loaded with `torch.export.load`, batch and length dynamic.
* `onnx`: `torch.onnx.export`, checked with onnxruntime when it is installed.

Every format is written into a temporary folder beside `out` and renamed into place once checked, so a killed
export leaves either no folder or a complete one (with `export.json` and the `.hwnas-manifest.json` of
`userfiles.folders`), never a partial model; an existing `out` is replaced only when it is an unchanged folder
hwnas wrote.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Sequence

import torch
from transformers import PreTrainedModel

from supernet import elastic, hf_modeling, layers
from supernet.data import save_tokenizer
from supernet.family import FAMILIES
from userfiles.folders import atomic_folder
from supernet.hf_modeling import HwnasConfig, HwnasForCausalLM, HwnasForSequenceClassification
from supernet.model import SuperTransformer
from supernet.pretrained import bert_names
from supernet.space import ArchConfig

TOLERANCE = 1e-5
AUTO_CLASS = {"causal_lm": "AutoModelForCausalLM", "classification": "AutoModelForSequenceClassification"}


def subnet_config(model: SuperTransformer, arch: ArchConfig, labels: Sequence[str] | None = None) -> HwnasConfig:
    """The sub-network's `transformers` config; `labels` (the data's class names, in class order) become
    `id2label`, which otherwise reads LABEL_0, LABEL_1, ..."""
    model.check(arch)
    if labels is not None and len(labels) != model.num_classes:
        raise ValueError(f"{len(labels)} label names for a supernet of {model.num_classes} classes")
    names = {"id2label": dict(enumerate(labels))} if labels is not None and model.task == "classification" else {}
    return HwnasConfig(task=model.task, vocab_size=model.vocab_size, embed_dim=arch.embed_dim,
                       head_dim=arch.head_dim, layers=[layer.to_dict() for layer in arch.layers],
                       max_position_embeddings=model.max_len, block=model.block.to_dict(),
                       num_labels=model.num_classes, **names)


def extract_subnet(model: SuperTransformer, arch: ArchConfig, labels: Sequence[str] | None = None) -> PreTrainedModel:
    """A `transformers` model of `arch` holding the leading slices of the supernet's weights.

    Its outputs equal `model(ids, arch)`; `save_pretrained(DIR)` writes it in the Hugging Face format.
    """
    config = subnet_config(model, arch, labels)
    sub = (HwnasForCausalLM if model.task == "causal_lm" else HwnasForSequenceClassification)(config)
    source = model.state_dict()
    weights = {}
    for name, target in sub.state_dict().items():
        if name not in source:
            raise KeyError(f"the supernet has no parameter {name!r} for the sub-network")
        tensor = source[name]
        if target.dim() != tensor.dim() or any(want > have for want, have in zip(target.shape, tensor.shape)):
            raise ValueError(f"{name}: sub-network shape {tuple(target.shape)} exceeds the supernet's {tuple(tensor.shape)}")
        weights[name] = tensor[tuple(slice(0, n) for n in target.shape)].detach().clone()
    sub.load_state_dict(weights, strict=True)
    return sub.eval()


@torch.no_grad()
def max_output_difference(model: SuperTransformer, sub, arch: ArchConfig, ids: torch.Tensor) -> float:
    """Largest absolute difference between the supernet's logits and a model's (`.logits` or a tensor) on `ids`."""
    model.eval()
    out = sub(ids)
    logits = out.logits if hasattr(out, "logits") else out[0] if isinstance(out, (tuple, list)) else out
    return float((model(ids, arch) - torch.as_tensor(logits)).abs().max())


# ---- stock transformers architectures ------------------------------------------------------------------------
def stock_incompatibility(arch: ArchConfig) -> str | None:
    """Why `arch` cannot be a stock BERT, GPT-2 or Llama (None when it can)."""
    kinds = {layer for layer in arch.layers}
    if len(kinds) > 1:
        return ("its layers differ in heads, key/value heads or FFN size; stock BERT, GPT-2 and Llama have one "
                "size for every layer")
    if _is_llama(arch):
        return None  # LlamaConfig carries head_dim and num_key_value_heads of its own
    if arch.layers[0].kv_heads is not None:
        return "it has grouped-query attention; stock BERT and GPT-2 have one key/value head per query head"
    heads = arch.layers[0].heads
    if heads * arch.head_dim != arch.embed_dim:
        return (f"its attention width ({heads} heads x {arch.head_dim} = {heads * arch.head_dim}) differs from its "
                f"hidden size ({arch.embed_dim}); stock BERT and GPT-2 tie the two")
    return None


def to_stock(sub: PreTrainedModel, arch: ArchConfig) -> PreTrainedModel:
    """The same network as a stock `BertForSequenceClassification`, `GPT2LMHeadModel` or `LlamaForCausalLM`."""
    reason = stock_incompatibility(arch)
    if reason:
        raise ValueError(f"no stock transformers format for {arch.describe()}: {reason}")
    cfg, state = sub.config, sub.state_dict()
    layer = arch.layers[0]
    if _is_llama(arch):
        stock, mapped = _to_llama(cfg, state, arch)
    elif cfg.task == "classification":
        from transformers import BertConfig, BertForSequenceClassification

        stock = BertForSequenceClassification(BertConfig(
            vocab_size=cfg.vocab_size, hidden_size=arch.embed_dim, num_hidden_layers=arch.depth,
            num_attention_heads=layer.heads, intermediate_size=layer.ffn_dim, hidden_act="gelu",
            max_position_embeddings=cfg.max_position_embeddings, type_vocab_size=layers.TOKEN_TYPES,
            layer_norm_eps=cfg.block["norm_eps"], id2label=cfg.id2label, hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0))
        mapped = {f"bert.{theirs}": state[ours] for ours, theirs in bert_names(arch.depth).items()
                  if not ours.startswith("pooler")}
        mapped["bert.pooler.dense.weight"], mapped["bert.pooler.dense.bias"] = state["pooler.weight"], state["pooler.bias"]
        mapped["classifier.weight"], mapped["classifier.bias"] = state["classifier.weight"], state["classifier.bias"]
    else:
        from transformers import GPT2Config, GPT2LMHeadModel

        stock = GPT2LMHeadModel(GPT2Config(
            vocab_size=cfg.vocab_size, n_positions=cfg.max_position_embeddings, n_embd=arch.embed_dim,
            n_layer=arch.depth, n_head=layer.heads, n_inner=layer.ffn_dim, activation_function="gelu_new",
            layer_norm_epsilon=cfg.block["norm_eps"], resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
            tie_word_embeddings=True, bos_token_id=None, eos_token_id=None))
        mapped = {"transformer.wte.weight": state["model.embeddings.word.weight"],
                  "transformer.wpe.weight": state["model.embeddings.position.weight"],
                  "transformer.ln_f.weight": state["model.final_norm.weight"],
                  "transformer.ln_f.bias": state["model.final_norm.bias"],
                  "lm_head.weight": state["model.embeddings.word.weight"]}
        for i in range(arch.depth):
            ours, theirs = f"model.layers.{i}.", f"transformer.h.{i}."
            # GPT-2's Conv1D stores (in, out): our nn.Linear weights transposed; q, k, v fused into c_attn
            mapped[theirs + "attn.c_attn.weight"] = torch.cat([state[ours + f"attn.{p}.weight"] for p in "qkv"]).T
            mapped[theirs + "attn.c_attn.bias"] = torch.cat([state[ours + f"attn.{p}.bias"] for p in "qkv"])
            mapped[theirs + "attn.c_proj.weight"] = state[ours + "attn.out.weight"].T
            mapped[theirs + "attn.c_proj.bias"] = state[ours + "attn.out.bias"]
            mapped[theirs + "mlp.c_fc.weight"] = state[ours + "ffn.fc1.weight"].T
            mapped[theirs + "mlp.c_fc.bias"] = state[ours + "ffn.fc1.bias"]
            mapped[theirs + "mlp.c_proj.weight"] = state[ours + "ffn.fc2.weight"].T
            mapped[theirs + "mlp.c_proj.bias"] = state[ours + "ffn.fc2.bias"]
            for n in (1, 2):
                for kind in ("weight", "bias"):
                    mapped[theirs + f"ln_{n}.{kind}"] = state[ours + f"norm{n}.{kind}"]
    return _load_checked(stock, mapped)


def _to_llama(cfg, state: dict, arch: ArchConfig) -> tuple[PreTrainedModel, dict]:
    """A stock `LlamaForCausalLM` and its weights; the names map one to one (no fusing, no transposes)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    layer, block = arch.layers[0], cfg.block
    stock = LlamaForCausalLM(LlamaConfig(
        vocab_size=cfg.vocab_size, hidden_size=arch.embed_dim, intermediate_size=layer.ffn_dim,
        num_hidden_layers=arch.depth, num_attention_heads=layer.heads, num_key_value_heads=layer.kv,
        head_dim=arch.head_dim, max_position_embeddings=cfg.max_position_embeddings, rms_norm_eps=block["norm_eps"],
        rope_theta=block["rope_theta"],
        tie_word_embeddings=block["tied_head"], attention_bias=False, mlp_bias=False, hidden_act="silu",
        bos_token_id=None, eos_token_id=None))
    mapped = {"model.embed_tokens.weight": state["model.embeddings.word.weight"],
              "model.norm.weight": state["model.final_norm.weight"],
              "lm_head.weight": state["model.embeddings.word.weight" if block["tied_head"] else "model.lm_head.weight"]}
    for i in range(arch.depth):
        at = f"model.layers.{i}."  # the same prefix in both
        for mine, proj in (("q", "q_proj"), ("k", "k_proj"), ("v", "v_proj"), ("out", "o_proj")):
            mapped[at + f"self_attn.{proj}.weight"] = state[at + f"attn.{mine}.weight"]
        for proj in ("gate", "up", "down"):
            mapped[at + f"mlp.{proj}_proj.weight"] = state[at + f"ffn.{proj}.weight"]
        mapped[at + "input_layernorm.weight"] = state[at + "norm1.weight"]
        mapped[at + "post_attention_layernorm.weight"] = state[at + "norm2.weight"]
    return stock, mapped


def _is_llama(arch: ArchConfig) -> bool:
    """A family that stock `LlamaForCausalLM` holds: pre-RMSNorm, SwiGLU, rotary positions, no biases."""
    if arch.family is None:
        return False
    block = FAMILIES[arch.family]
    return (block.norm, block.gated_ffn, block.positions, block.bias) == ("rmsnorm", True, "rope", False)


def _load_checked(stock: PreTrainedModel, mapped: dict) -> PreTrainedModel:
    """Load `mapped` into `stock`, refusing to leave any of its parameters at their random initial values."""
    expected = set(stock.state_dict())
    missing = sorted(k for k in expected - set(mapped) if not k.endswith((".attn.bias", ".attn.masked_bias",
                                                                          "position_ids")))
    if missing:
        raise ValueError(f"stock export left parameters unmapped: {missing[:5]}")
    stock.load_state_dict({k: v.contiguous() for k, v in mapped.items()}, strict=False)
    return stock.eval()


# ---- writing formats -----------------------------------------------------------------------------------------
def save_hf(model: PreTrainedModel, folder: Path, tokenizer: str | None) -> None:
    """`model.save_pretrained(folder)` plus what loading it elsewhere needs: `modeling_hwnas.py` (registered in
    `auto_map`) when it is not a stock class, and the tokenizer (`tokenizer`: a path, or None for bytes)."""
    if isinstance(model, hf_modeling.HwnasPreTrainedModel):
        model.config.auto_map = {"AutoConfig": "modeling_hwnas.HwnasConfig",
                                 AUTO_CLASS[model.config.task]: f"modeling_hwnas.{type(model).__name__}"}
        shutil.copyfile(hf_modeling.__file__, folder / "modeling_hwnas.py")
        for needed in (layers, elastic):  # what modeling_hwnas.py imports relatively
            shutil.copyfile(needed.__file__, folder / Path(needed.__file__).name)
    model.save_pretrained(folder)
    save_tokenizer(tokenizer, folder)


def export_subnet(model: SuperTransformer, arch: ArchConfig, out: str | Path, fmt: str = "hf",
                  stock: bool | None = None, extra: dict | None = None, labels: Sequence[str] | None = None) -> dict:
    """Write `arch` in `fmt` to `out`, load it back, compare with the supernet, and record the check in
    `out/export.json`. Raises if the outputs differ by more than 1e-5. `stock` (hf only): None writes a stock
    class when the shape has one, True demands one, False writes hwnas's modelling file. `extra["train"]` (the
    training settings) names the tokenizer to save; `labels` are the class names."""
    out = Path(out)
    if fmt not in ("hf", "torch", "onnx"):
        raise ValueError(f"format must be hf, torch or onnx, got {fmt!r}")
    stock = fmt == "hf" and (stock_incompatibility(arch) is None if stock is None else stock)
    sub = extract_subnet(model, arch, labels)
    ids = _probe_ids(model)
    with atomic_folder(out) as tmp:
        if fmt == "hf":
            written = to_stock(sub, arch) if stock else sub
            save_hf(written, tmp, ((extra or {}).get("train") or {}).get("tokenizer"))
            reloaded = type(written).from_pretrained(tmp).eval()
            diff = max_output_difference(model, reloaded, arch, ids)
        elif fmt == "torch":
            program = torch.export.export(sub, (ids,), dynamic_shapes=({0: torch.export.Dim("batch", max=1024),
                                                                        1: torch.export.Dim("length", max=model.max_len)},))
            torch.export.save(program, tmp / "model.pt2")
            loaded = torch.export.load(tmp / "model.pt2").module()
            diff = max_output_difference(model, lambda x: loaded(x).logits, arch, ids)
        else:
            diff = _export_onnx(model, sub, arch, ids, tmp / "model.onnx")
        if diff is not None and diff > TOLERANCE:
            raise RuntimeError(f"exported model differs from the supernet by {diff:.2e} (> {TOLERANCE:g})")
        record = {"format": fmt, "stock": stock, "arch": arch.to_dict(), "describe": arch.describe(),
                  "task": model.task, "params": model.num_params(arch), "max_abs_diff": diff,
                  "checked": diff is not None, "tolerance": TOLERANCE, **(extra or {})}
        (tmp / "export.json").write_text(json.dumps(record, indent=2))
    return record


def _probe_ids(model: SuperTransformer) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.randint(1, model.vocab_size, (2, min(16, model.max_len)), generator=generator)


class _LogitsOnly(torch.nn.Module):
    def __init__(self, sub: PreTrainedModel):
        super().__init__()
        self.sub = sub

    def forward(self, input_ids):
        return self.sub(input_ids).logits


def _export_onnx(model, sub, arch, ids, path: Path) -> float | None:
    """ONNX with dynamic batch and length; the difference is measured with onnxruntime when installed."""
    torch.onnx.export(_LogitsOnly(sub).eval(), (ids,), str(path), input_names=["input_ids"], output_names=["logits"],
                      dynamic_shapes=({0: torch.export.Dim("batch", max=1024),
                                       1: torch.export.Dim("length", max=model.max_len)},), dynamo=True)
    try:
        import onnxruntime
    except ImportError:
        return None
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (logits,) = session.run(["logits"], {"input_ids": ids.numpy()})
    return max_output_difference(model, lambda x: torch.from_numpy(logits), arch, ids)
