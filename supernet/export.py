"""Sub-networks out of the supernet: standalone models with exactly their shapes and the inherited weights."""
from __future__ import annotations

import torch
from transformers import PreTrainedModel

from supernet.hf_modeling import HwnasConfig, HwnasForCausalLM, HwnasForSequenceClassification
from supernet.model import LAYER_NORM_EPS, SuperTransformer
from supernet.space import ArchConfig


def subnet_config(model: SuperTransformer, arch: ArchConfig) -> HwnasConfig:
    model.check(arch)
    return HwnasConfig(task=model.task, vocab_size=model.vocab_size, embed_dim=arch.embed_dim,
                       head_dim=arch.head_dim, layers=[{"heads": l.heads, "ffn_dim": l.ffn_dim} for l in arch.layers],
                       max_position_embeddings=model.max_len, layer_norm_eps=LAYER_NORM_EPS,
                       num_labels=model.num_classes)


def extract_subnet(model: SuperTransformer, arch: ArchConfig) -> PreTrainedModel:
    """A `transformers` model of `arch` holding the leading slices of the supernet's weights.

    Its outputs equal `model(ids, arch)`; `save_pretrained(DIR)` writes it in the Hugging Face format.
    """
    config = subnet_config(model, arch)
    sub = (HwnasForCausalLM if model.task == "causal_lm" else HwnasForSequenceClassification)(config)
    source = model.state_dict()
    weights = {}
    for name, target in sub.state_dict().items():
        if name not in source:
            raise KeyError(f"the supernet has no parameter {name!r} for the sub-network")
        tensor = source[name]
        if any(want > have for want, have in zip(target.shape, tensor.shape)) or target.dim() != tensor.dim():
            raise ValueError(f"{name}: sub-network shape {tuple(target.shape)} exceeds the supernet's {tuple(tensor.shape)}")
        weights[name] = tensor[tuple(slice(0, n) for n in target.shape)].detach().clone()
    sub.load_state_dict(weights, strict=True)
    return sub.eval()


@torch.no_grad()
def max_output_difference(model: SuperTransformer, sub: PreTrainedModel, arch: ArchConfig, ids: torch.Tensor) -> float:
    """Largest absolute difference between the supernet's and the exported sub-network's logits on `ids`."""
    model.eval()
    return float((model(ids, arch) - sub(ids).logits).abs().max())
