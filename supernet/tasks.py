"""What a task means for a network: the data it reads, the logits of a batch and the loss on them.

Training, evaluation and fine-tuning all go through these functions, so that a supernet and an exported model are
fed and scored identically: causal LM batches are windows of `seq_len + 1` tokens (inputs, then next-token
targets), classification batches are (ids, labels) with padding masked out.
"""
from __future__ import annotations


import torch
import torch.nn.functional as F

from userfiles import UserInputError
from supernet.data import ClassificationData, LMData, TaskData, load_classification_data, load_lm_data
from supernet.model import SuperTransformer
from supernet.space import ArchConfig, SearchSpace
from supernet.train_config import SupernetTrainConfig

def load_task_data(cfg: SupernetTrainConfig) -> TaskData:
    if cfg.task == "causal_lm":
        return load_lm_data(cfg.data, cfg.tokenizer, cfg.seq_len)
    return load_classification_data(cfg.data, cfg.seq_len, cfg.tokenizer)


def build_supernet(space: SearchSpace, cfg: SupernetTrainConfig, data: TaskData) -> SuperTransformer:
    if cfg.seq_len > space.max_seq_len:
        raise UserInputError(f"supernet.seq_len={cfg.seq_len} exceeds space.max_seq_len={space.max_seq_len}")
    num_classes = data.num_classes if isinstance(data, ClassificationData) else 2
    return SuperTransformer(space, cfg.task, vocab_size=data.vocab_size, num_classes=num_classes)


def forward(net, batch, arch: ArchConfig | None, data: TaskData) -> torch.Tensor:
    """Logits of `arch` (None for a standalone model) on a training or validation batch."""
    if isinstance(data, LMData):
        return net(batch[:, :-1], arch)
    ids = batch[0]
    return net(ids, arch, data.padding_mask(ids))


def task_loss(logits: torch.Tensor, batch, data: TaskData) -> torch.Tensor:
    """Next-token cross-entropy (LM: a batch is windows of seq_len + 1 tokens) or classification cross-entropy."""
    if isinstance(data, LMData):
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), batch[:, 1:].reshape(-1))
    return F.cross_entropy(logits.float(), batch[1])


def distill_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """KL(teacher || student) per predicted distribution."""
    flat = lambda t: F.log_softmax(t.float(), -1).reshape(-1, t.shape[-1])  # noqa: E731
    return F.kl_div(flat(student), flat(teacher), log_target=True, reduction="batchmean")
