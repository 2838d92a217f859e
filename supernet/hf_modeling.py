"""A plain transformer with per-layer shapes, as a Hugging Face `PreTrainedModel`: what sub-networks become.

This file imports only torch and transformers: `hwnas export --format hf` copies it next to the weights as
`modeling_hwnas.py`, so that `AutoModelForCausalLM.from_pretrained(DIR, trust_remote_code=True)` (or the
sequence-classification equivalent) works in a process that has never heard of hwnas.

Two block layouts share one set of module names: the encoder is BERT's (post-LN, exact GELU, learned positions,
token types, a tanh pooler on the first token), the decoder is GPT-2's (pre-LN, tanh GELU, a final LayerNorm, the
LM head tied to the token embedding). The supernet in `supernet/model.py` uses the same parameter names, so a
sub-network's weights are the leading slices of the supernet's tensors of the same name.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import CausalLMOutput, SequenceClassifierOutput


class HwnasConfig(PretrainedConfig):
    model_type = "hwnas"

    def __init__(self, task: str = "causal_lm", vocab_size: int = 256, embed_dim: int = 256, head_dim: int = 64,
                 layers: list | None = None, max_position_embeddings: int = 512, layer_norm_eps: float = 1e-12,
                 type_vocab_size: int = 2, **kwargs):
        self.task = task
        self.vocab_size = vocab_size
        self.embed_dim = embed_dim
        self.hidden_size = embed_dim
        self.head_dim = head_dim
        self.layers = [dict(layer) for layer in (layers or [{"heads": 4, "ffn_dim": 1024}])]
        self.num_hidden_layers = len(self.layers)
        self.max_position_embeddings = max_position_embeddings
        self.layer_norm_eps = layer_norm_eps
        self.type_vocab_size = type_vocab_size
        super().__init__(**kwargs)  # num_labels / id2label are PretrainedConfig's

    @property
    def is_decoder_task(self) -> bool:
        return self.task == "causal_lm"


def gelu_for(task: str):
    """BERT uses the exact GELU, GPT-2 the tanh approximation."""
    return (lambda x: F.gelu(x, approximate="tanh")) if task == "causal_lm" else F.gelu


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int, causal: bool,
           padding_mask: torch.Tensor | None) -> torch.Tensor:
    """Multi-head attention over (batch, seq, heads * head_dim) projections."""
    b, t, width = q.shape
    split = lambda x: x.view(b, t, heads, width // heads).transpose(1, 2)  # noqa: E731
    mask = None
    if padding_mask is not None:
        mask = padding_mask[:, None, None, :].bool()
        if causal:
            mask = mask & torch.ones(t, t, dtype=torch.bool, device=q.device).tril()
    out = F.scaled_dot_product_attention(split(q), split(k), split(v), attn_mask=mask, is_causal=causal and mask is None)
    return out.transpose(1, 2).reshape(b, t, width)


class HwnasEmbeddings(nn.Module):
    def __init__(self, config: HwnasConfig):
        super().__init__()
        d = config.embed_dim
        self.word = nn.Embedding(config.vocab_size, d)
        self.position = nn.Embedding(config.max_position_embeddings, d)
        self.encoder = not config.is_decoder_task
        if self.encoder:
            self.token_type = nn.Embedding(config.type_vocab_size, d)
            self.norm = nn.LayerNorm(d, eps=config.layer_norm_eps)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = self.word(input_ids) + self.position(positions)
        if self.encoder:
            x = self.norm(x + self.token_type.weight[0])
        return x


class HwnasAttention(nn.Module):
    def __init__(self, d: int, heads: int, head_dim: int):
        super().__init__()
        a = heads * head_dim
        self.heads = heads
        self.q, self.k, self.v, self.out = nn.Linear(d, a), nn.Linear(d, a), nn.Linear(d, a), nn.Linear(a, d)

    def forward(self, x, causal, padding_mask):
        return self.out(attend(self.q(x), self.k(x), self.v(x), self.heads, causal, padding_mask))


class HwnasFeedForward(nn.Module):
    def __init__(self, d: int, ffn_dim: int, task: str):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(d, ffn_dim), nn.Linear(ffn_dim, d)
        self.act = gelu_for(task)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class HwnasBlock(nn.Module):
    def __init__(self, config: HwnasConfig, heads: int, ffn_dim: int):
        super().__init__()
        d = config.embed_dim
        self.pre_ln = config.is_decoder_task
        self.attn = HwnasAttention(d, heads, config.head_dim)
        self.norm1 = nn.LayerNorm(d, eps=config.layer_norm_eps)
        self.ffn = HwnasFeedForward(d, ffn_dim, config.task)
        self.norm2 = nn.LayerNorm(d, eps=config.layer_norm_eps)

    def forward(self, x, padding_mask=None):
        if self.pre_ln:
            x = x + self.attn(self.norm1(x), True, padding_mask)
            return x + self.ffn(self.norm2(x))
        x = self.norm1(x + self.attn(x, False, padding_mask))
        return self.norm2(x + self.ffn(x))


class HwnasPreTrainedModel(PreTrainedModel):
    config_class = HwnasConfig
    base_model_prefix = "model"

    def _init_weights(self, module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            module.weight.data.normal_(0.0, 0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                module.bias.data.zero_()
        elif isinstance(module, nn.LayerNorm):
            module.weight.data.fill_(1.0)
            module.bias.data.zero_()


class HwnasModel(HwnasPreTrainedModel):
    def __init__(self, config: HwnasConfig):
        super().__init__(config)
        self.embeddings = HwnasEmbeddings(config)
        self.layers = nn.ModuleList(HwnasBlock(config, layer["heads"], layer["ffn_dim"]) for layer in config.layers)
        if config.is_decoder_task:
            self.final_norm = nn.LayerNorm(config.embed_dim, eps=config.layer_norm_eps)
        self.post_init()

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        x = self.embeddings(input_ids)
        for layer in self.layers:
            x = layer(x, attention_mask)
        return self.final_norm(x) if self.config.is_decoder_task else x


class HwnasForCausalLM(HwnasPreTrainedModel):
    def __init__(self, config: HwnasConfig):
        super().__init__(config)
        self.model = HwnasModel(config)
        self.post_init()

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, **kwargs):
        hidden = self.model(input_ids, attention_mask)
        logits = F.linear(hidden, self.model.embeddings.word.weight)  # tied to the token embedding
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1))
        return CausalLMOutput(loss=loss, logits=logits)


class HwnasForSequenceClassification(HwnasPreTrainedModel):
    def __init__(self, config: HwnasConfig):
        super().__init__(config)
        self.model = HwnasModel(config)
        self.pooler = nn.Linear(config.embed_dim, config.embed_dim)
        self.classifier = nn.Linear(config.embed_dim, config.num_labels)
        self.post_init()

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, **kwargs):
        hidden = self.model(input_ids, attention_mask)
        logits = self.classifier(torch.tanh(self.pooler(hidden[:, 0])))
        loss = F.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)
