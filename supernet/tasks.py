"""What a task means for a network: the data it reads, the logits of a batch and the loss on them.

Training, evaluation and fine-tuning all go through these functions, so that a supernet and an exported model are
fed and scored identically: causal LM batches are windows of `seq_len + 1` tokens (inputs, then next-token
targets), classification batches are (ids, labels) with padding masked out.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from userfiles import UserInputError
from supernet.data import ClassificationData, LMData, TaskData, load_classification_data, load_lm_data
from supernet.model import SuperTransformer
from supernet.space import ArchConfig, SearchSpace
from supernet.store import MAX_CLASSES, MAX_VOCAB
from supernet.train_config import SupernetTrainConfig

def load_task_data(cfg: SupernetTrainConfig) -> TaskData:
    if cfg.task == "causal_lm":
        return load_lm_data(cfg.data, cfg.tokenizer, cfg.seq_len)
    return load_classification_data(cfg.data, cfg.seq_len, cfg.tokenizer)


def build_supernet(space: SearchSpace, cfg: SupernetTrainConfig, data: TaskData) -> SuperTransformer:
    if cfg.seq_len > space.max_seq_len:
        raise UserInputError(f"supernet.seq_len={cfg.seq_len} exceeds space.max_seq_len={space.max_seq_len}")
    num_classes = data.num_classes if isinstance(data, ClassificationData) else 2
    # the card of the trained supernet is read back within these bounds: a supernet beyond them could not be loaded
    if data.vocab_size > MAX_VOCAB:
        raise UserInputError(f"supernet.tokenizer: a vocabulary of {data.vocab_size:,} tokens is more than the limit "
                             f"of {MAX_VOCAB:,}")
    if num_classes > MAX_CLASSES:
        raise UserInputError(f"supernet.data: {num_classes:,} classes is more than the limit of {MAX_CLASSES:,}")
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


ALPHA_RATIO_CLIP = 5.0  # AlphaNet's iw_clip


def distill_loss(student: torch.Tensor, teacher: torch.Tensor, divergence: str = "kl") -> torch.Tensor:
    """How far the student's predicted distributions are from the teacher's, averaged over predictions.

    `kl`: KL(teacher || student). It punishes a student that is surer than the teacher where the teacher puts mass,
    but hardly one that spreads mass where the teacher puts little, so the student learns to over-estimate the
    teacher's uncertainty. `alpha`: AlphaNet's adaptive alpha-divergence (Wang et al., 2021), at each prediction the
    larger of D_alpha for alpha = +1 (the KL above) and alpha = -1 (which punishes the over-estimation), with q/p
    clipped at 5 on the alpha = -1 side to keep its gradient bounded. The value returned is that divergence; the
    gradient is AlphaNet's, with the ratio held constant as there. Ratios are formed in log space, so a student
    far surer than its teacher gives a large loss, not an overflow."""
    if divergence not in ("kl", "alpha"):
        raise ValueError(f"divergence: expected 'kl' or 'alpha', got {divergence!r}")
    log_q = F.log_softmax(student.float().reshape(-1, student.shape[-1]), -1)
    log_p = F.log_softmax(teacher.float().reshape(-1, teacher.shape[-1]), -1).detach()
    if divergence == "kl":
        return F.kl_div(log_q, log_p, log_target=True, reduction="batchmean")
    q, p = log_q.detach().exp(), log_p.exp()
    log_ratio = log_p - log_q.detach()
    forward_kl = (p * log_ratio).sum(-1)  # alpha = +1
    q_over_p = (-log_ratio).clamp(max=math.log(ALPHA_RATIO_CLIP)).exp()
    chi = (q * (q_over_p - 1) / 2).sum(-1)  # alpha = -1
    use_chi = chi > forward_kl
    value = torch.where(use_chi, chi, forward_kl)
    # AlphaNet's surrogate -sum(q * rho_f * log q): rho_f is p/q for alpha = +1 and 1/2 - q/p for alpha = -1
    surrogate = -(torch.where(use_chi[:, None], q * (0.5 - q_over_p), p) * log_q).sum(-1)
    return (value + surrogate - surrogate.detach()).mean()
