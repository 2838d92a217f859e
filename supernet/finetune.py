"""Training an exported sub-network on its own, to see how far inherited weights are from trained ones."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from userfiles import UserInputError, atomic_write_json
from supernet.evaluate import SubnetEvaluator
from supernet.hf_modeling import HwnasForCausalLM, HwnasForSequenceClassification
from supernet.train import SupernetTrainConfig, forward, load_task_data, lr_factor, task_loss


class _Standalone(nn.Module):
    """Gives an exported model the supernet's call signature, so the same evaluator scores both."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, ids, arch=None, attention_mask=None):
        return self.model(ids, attention_mask=attention_mask).logits


def finetune(folder: str | Path, steps: int, lr: float | None = None) -> dict:
    """Fine-tune the `hf` export in `folder` for `steps` steps on the data it was searched with; writes the
    model to `folder/finetuned/` and inherited against fine-tuned quality to `folder/finetune.json`."""
    folder = Path(folder)
    record_path = folder / "export.json"
    if not record_path.is_file():
        raise UserInputError(f"{folder}: not an hwnas export (no export.json)")
    record = json.loads(record_path.read_text())
    if record.get("format") != "hf" or record.get("stock"):
        raise UserInputError(f"{folder}: fine-tuning needs an export with --format hf (without --stock)")
    if "train" not in record:
        raise UserInputError(f"{folder}: export.json does not say which data the network was searched with")
    cfg = SupernetTrainConfig.model_validate(record["train"])
    if lr is not None:
        cfg = cfg.model_copy(update={"lr": lr})
    cfg = cfg.model_copy(update={"steps": steps, "warmup_steps": min(cfg.warmup_steps, steps // 10)})
    cls = HwnasForCausalLM if record["task"] == "causal_lm" else HwnasForSequenceClassification
    model = _Standalone(cls.from_pretrained(folder))
    data = load_task_data(cfg)
    evaluator = SubnetEvaluator(model, data, cfg.seq_len, cfg.batch_size, cfg.eval_windows)
    (inherited,) = evaluator.evaluate([None])
    torch.manual_seed(cfg.seed)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, cfg))
    for step in range(steps):
        batch = data.batch(np.random.default_rng([cfg.seed, 10**6 + step]), cfg.batch_size, cfg.seq_len)
        optimizer.zero_grad(set_to_none=True)
        task_loss(forward(model, batch, None, data), batch, data).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        scheduler.step()
    (finetuned,) = evaluator.evaluate([None])
    model.model.save_pretrained(folder / "finetuned")
    result = {"steps": steps, "lr": cfg.lr, "inherited": inherited, "finetuned": finetuned}
    atomic_write_json(folder / "finetune.json", result)
    return result
