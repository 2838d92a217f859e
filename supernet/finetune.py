"""Training an exported sub-network on its own, to see how far inherited weights are from trained ones.

The fine-tuned model is written as a complete `hf` export (weights, modelling file or stock class, tokenizer,
label names, `export.json`), atomically, so it loads exactly as the export it came from did.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from userfiles import UserInputError, atomic_write_json, load_mapping, refuse_overwriting_inputs, validate
from supernet.evaluate import SubnetEvaluator
from supernet.export import save_hf
from userfiles.folders import atomic_folder, check_target
from supernet.tasks import forward, load_task_data, task_loss
from supernet.train_config import resolve_paths
from supernet.train import lr_factor
from supernet.train_config import SupernetTrainConfig


class _Standalone(nn.Module):
    """Gives an exported model the supernet's call signature, so the same evaluator scores both."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, ids, arch=None, attention_mask=None):
        return self.model(ids, attention_mask=attention_mask).logits


def _load_export(folder: Path, record: dict):
    """The exported model: hwnas's own classes for its modelling file (this is hwnas's code, so nothing from the
    folder runs), the stock `transformers` class otherwise."""
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    from supernet.hf_modeling import HwnasForCausalLM, HwnasForSequenceClassification

    lm = record["task"] == "causal_lm"
    if record.get("stock"):
        return (AutoModelForCausalLM if lm else AutoModelForSequenceClassification).from_pretrained(folder)
    return (HwnasForCausalLM if lm else HwnasForSequenceClassification).from_pretrained(folder)


def default_out(folder: str | Path) -> Path:
    """Where `finetune` writes by default: `FOLDER-finetuned` beside the export, never inside it."""
    folder = Path(folder).resolve() if Path(folder).name in ("", "..") else Path(folder)  # `.`, `..`: named
    return folder.parent / f"{folder.name}-finetuned"


def finetune(folder: str | Path, steps: int, lr: float | None = None, out: str | Path | None = None,
             data: str | None = None, on_step: Callable[[int, float], None] | None = None) -> dict:
    """Fine-tune the `hf` export in `folder` for `steps` steps on the data it was searched with (or `data`);
    writes the model, with inherited against fine-tuned quality in its `export.json` (key `finetune`), to `out`
    (default: the sibling folder `FOLDER-finetuned`). Nothing is written into `folder`: the export stays as its
    manifest vouches for it. `on_step(step, loss)` follows progress. Relative data paths in the export's record
    are read from the run's folder first, where the run config put them."""
    folder = Path(folder)
    record = load_mapping(folder / "export.json") if (folder / "export.json").is_file() else None
    if record is None:
        raise UserInputError(f"{folder}: not an hwnas export (no export.json)")
    if record.get("format") != "hf" or record.get("task") not in ("causal_lm", "classification"):
        raise UserInputError(f"{folder}: fine-tuning needs an export with --format hf")
    if not isinstance(record.get("train"), dict):
        raise UserInputError(f"{folder}: export.json does not say which data the network was searched with")
    cfg = validate(SupernetTrainConfig, record["train"], f"{folder / 'export.json'}: train")
    cfg = resolve_paths(cfg, Path(str(record.get("run") or folder)))
    updates = {"steps": steps, "warmup_steps": min(cfg.warmup_steps, steps // 10)}
    if lr is not None:
        updates["lr"] = lr
    if data is not None:
        updates["data"] = data
    cfg = cfg.model_copy(update=updates)
    out = Path(out) if out is not None else default_out(folder)
    # the export is read whole, so `out` may be neither it, nor a folder around it, nor inside it (a new folder
    # there would be a file its manifest does not list); a data file inside `out` would be deleted by the
    # replacement
    refuse_overwriting_inputs(out, cfg.data if Path(cfg.data).exists() else None, folders=(folder,))
    check_target(out)
    task_data = load_task_data(cfg)
    try:
        model = _Standalone(_load_export(folder, record))
    except (OSError, ValueError) as exc:
        raise UserInputError(f"{folder}: cannot load the exported model ({str(exc).splitlines()[0]})") from None
    evaluator = SubnetEvaluator(model, task_data, cfg.seq_len, cfg.batch_size, cfg.eval_windows)
    (inherited,) = evaluator.evaluate([None])
    torch.manual_seed(cfg.seed)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, cfg))
    for step in range(steps):
        batch = task_data.batch(np.random.default_rng([cfg.seed, 10**6 + step]), cfg.batch_size, cfg.seq_len)
        optimizer.zero_grad(set_to_none=True)
        loss = task_loss(forward(model, batch, None, task_data), batch, task_data)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        scheduler.step()
        if on_step:
            on_step(step + 1, float(loss))
    (finetuned,) = evaluator.evaluate([None])
    result = {"steps": steps, "lr": cfg.lr, "data": cfg.data, "out": str(out), "inherited": inherited,
              "finetuned": finetuned}
    with atomic_folder(out) as tmp:
        save_hf(model.model, tmp, cfg.tokenizer)
        # the weights moved away from the supernet's, so the export's check against it no longer applies
        atomic_write_json(tmp / "export.json", {**record, "train": cfg.model_dump(), "finetune": result,
                                                "finetuned_from": str(folder), "max_abs_diff": None, "checked": False})
    return result
