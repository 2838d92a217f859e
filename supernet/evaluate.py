"""Scoring many sub-networks with inherited weights on one fixed validation subset.

The data and the validation batches are loaded once; each architecture is a pass over the same batches, so scores
are comparable across architectures (and across processes given the same settings).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch

from supernet.data import LMData, TaskData
from supernet.model import SuperTransformer
from supernet.space import ArchConfig
from supernet.tasks import forward, task_loss


class SubnetEvaluator:
    def __init__(self, model: SuperTransformer, data: TaskData, seq_len: int, batch_size: int = 16,
                 windows: int = 64, device: str | torch.device = "cpu"):
        self.model = model.to(device).eval()
        self.data, self.device = data, torch.device(device)
        batches = data.val_batches(seq_len, batch_size, windows)
        move = lambda b: b.to(self.device) if isinstance(b, torch.Tensor) else tuple(t.to(self.device) for t in b)  # noqa: E731
        self.batches = [move(b) for b in batches]

    @torch.no_grad()
    def evaluate(self, archs: Sequence[ArchConfig]) -> list[dict]:
        """Per architecture: `loss` (mean over the subset) and `perplexity` (LM) or `accuracy` (classification)."""
        results = []
        for arch in archs:
            total, correct, count = 0.0, 0, 0
            for batch in self.batches:
                logits = forward(self.model, batch, arch, self.data)
                n = batch.shape[0] * (batch.shape[1] - 1) if isinstance(self.data, LMData) else batch[1].shape[0]
                total += float(task_loss(logits, batch, self.data)) * n
                count += n
                if not isinstance(self.data, LMData):
                    correct += int((logits.argmax(-1) == batch[1]).sum())
            loss = total / count
            result = {"loss": loss}
            if isinstance(self.data, LMData):
                result["perplexity"] = math.exp(loss)
            else:
                result["accuracy"] = correct / count
            results.append(result)
        return results
