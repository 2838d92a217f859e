"""A sub-network as a Hugging Face `PreTrainedModel`: what exports that no stock class can hold become.

This file imports only torch, transformers and, relatively, `layers.py` and `elastic.py` (which import only
torch): `hwnas export --format hf` copies the three next to the weights (this one as `modeling_hwnas.py`), so that
`AutoModelForCausalLM.from_pretrained(DIR, trust_remote_code=True)` (or the sequence-classification equivalent)
works in a process that has never heard of hwnas. The model is the supernet's own stack (`layers.Backbone`) built
at the sub-network's shapes and laid out by the block description its config carries (`block`: norm kind and
position, activation and gating, positions, biases, token types, final norm, causal), so the supernet and its
exports cannot drift apart.
"""
from __future__ import annotations

from types import SimpleNamespace

import torch
import torch.nn.functional as F
from transformers import PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import CausalLMOutput, SequenceClassifierOutput

from .elastic import ElasticEmbedding, ElasticLayerNorm, ElasticLinear, ElasticRMSNorm
from .layers import Backbone


class HwnasConfig(PretrainedConfig):
    model_type = "hwnas"

    def __init__(self, task: str = "causal_lm", vocab_size: int = 256, embed_dim: int = 256, head_dim: int = 64,
                 layers: list | None = None, max_position_embeddings: int = 512, block: dict | None = None,
                 **kwargs):
        self.task = task
        self.vocab_size = vocab_size
        self.embed_dim = embed_dim
        self.hidden_size = embed_dim
        self.head_dim = head_dim
        self.layers = [dict(layer) for layer in (layers or [{"heads": 4, "ffn_dim": 1024}])]
        self.num_hidden_layers = len(self.layers)
        self.max_position_embeddings = max_position_embeddings
        self.block = dict(block) if block else None  # supernet.family.BlockDescription.to_dict()
        super().__init__(**kwargs)  # num_labels / id2label are PretrainedConfig's

    @property
    def is_decoder_task(self) -> bool:
        return self.task == "causal_lm"

    def block_description(self) -> SimpleNamespace:
        if not self.block:
            raise ValueError("this config has no block description (`block`); export it again with hwnas")
        return SimpleNamespace(**self.block)


class HwnasPreTrainedModel(PreTrainedModel):
    config_class = HwnasConfig
    base_model_prefix = "model"

    def hidden_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """The last block's output (after the final norm, where the family has one), before any head."""
        return self.model(input_ids, self.config.embed_dim, _shapes(self.config), attention_mask)

    def _init_weights(self, module):
        if isinstance(module, (ElasticLinear, ElasticEmbedding)):
            module.weight.data.normal_(0.0, 0.02)
            if isinstance(module, ElasticLinear) and module.bias is not None:
                module.bias.data.zero_()
        elif isinstance(module, (ElasticLayerNorm, ElasticRMSNorm)):
            module.weight.data.fill_(1.0)
            if isinstance(module, ElasticLayerNorm):
                module.bias.data.zero_()


class HwnasForCausalLM(HwnasPreTrainedModel):
    def __init__(self, config: HwnasConfig):
        super().__init__(config)
        self.model = _backbone(config)
        self.post_init()

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, **kwargs):
        hidden = self.hidden_states(input_ids, attention_mask)
        logits = self.model.logits(hidden)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1))
        return CausalLMOutput(loss=loss, logits=logits)


class HwnasForSequenceClassification(HwnasPreTrainedModel):
    def __init__(self, config: HwnasConfig):
        super().__init__(config)
        self.model = _backbone(config)
        self.pooler = ElasticLinear(config.embed_dim, config.embed_dim)
        self.classifier = ElasticLinear(config.embed_dim, config.num_labels)
        self.post_init()

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, **kwargs):
        hidden = self.hidden_states(input_ids, attention_mask)
        d = self.config.embed_dim
        logits = self.classifier(torch.tanh(self.pooler(hidden[:, 0], d)), self.config.num_labels)
        loss = F.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


def _shapes(config: HwnasConfig) -> list[tuple[int, int, int]]:
    return [(layer["heads"], layer.get("kv_heads") or layer["heads"], layer["ffn_dim"]) for layer in config.layers]


def _backbone(config: HwnasConfig) -> Backbone:
    """The supernet's stack at this sub-network's shapes (parameter names match the supernet's one to one)."""
    return Backbone(config.block_description(), config.vocab_size, config.max_position_embeddings,
                    config.embed_dim, config.head_dim, _shapes(config))
