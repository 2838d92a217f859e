"""Training the supernet once, so that every sub-network inherits usable weights.

Sandwich rule (BigNAS, the survey's NAS case study): every step trains the largest sub-network on the labels, and
the smallest plus `sandwich_random` random ones on a mix of the labels and the largest's predictions (in-place
distillation, weight `distill`), gradients averaged over the members. The default weight is 0 (labels only): on the
offline corpus with 800 steps it gave a better supernet than 0.5 (validation loss of the largest 1.92 against 2.13,
ranking Kendall tau 0.64 against 0.60, `benchmarks/bench_supernet_ranking.py`), and pure distillation (weight 1)
collapses from a random start, the members agreeing with a teacher that has not learned anything yet. AdamW with linear warm-up and cosine decay, gradient clipping, bf16 autocast on GPU.

Nothing is lost: a checkpoint (weights in safetensors; optimizer, scheduler and RNG state via `torch.save`, read
back with `weights_only=True`) is written atomically every `checkpoint_every` steps and on Ctrl-C, and a rerun
resumes from the latest one. Batches and architectures are drawn from generators seeded by (seed, step, rank), so
a resumed run is exactly the uninterrupted one.

Under `torchrun --nproc_per_node=N` (DDP; gloo on CPU, NCCL on GPU) every rank runs the whole sandwich, the same
architectures, on its own batch; gradients are averaged across ranks once per step, at the last member's backward.
"""
from __future__ import annotations

import json
import math
import os
import random
import shutil
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from userfiles import UserInputError, atomic_write, atomic_write_json, atomic_write_text
from supernet.data import ClassificationData, LMData, TaskData, load_classification_data, load_lm_data
from supernet.model import SuperTransformer
from supernet.space import ArchConfig, SearchSpace
from supernet.train_config import SupernetTrainConfig  # noqa: F401 - defined there so configs validate without torch


def load_task_data(cfg: SupernetTrainConfig) -> TaskData:
    if cfg.task == "causal_lm":
        return load_lm_data(cfg.data, cfg.tokenizer)
    return load_classification_data(cfg.data, cfg.seq_len, cfg.tokenizer)


def build_supernet(space: SearchSpace, cfg: SupernetTrainConfig, data: TaskData) -> SuperTransformer:
    if cfg.seq_len > space.max_seq_len:
        raise UserInputError(f"supernet.seq_len={cfg.seq_len} exceeds space.max_seq_len={space.max_seq_len}")
    num_classes = data.num_classes if isinstance(data, ClassificationData) else 2
    return SuperTransformer(space, cfg.task, vocab_size=data.vocab_size, num_classes=num_classes)


# ---- saving and loading a trained supernet ----------------------------------------------------------------
SUPERNET_WEIGHTS, SUPERNET_CARD = "supernet.safetensors", "supernet.json"


def save_supernet(model: SuperTransformer, folder: Path, extra: dict | None = None) -> None:
    card = {"space": model.space.to_dict(), "task": model.task, "vocab_size": model.vocab_size,
            "num_classes": model.num_classes, "max_len": model.max_len, **(extra or {})}
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write(folder / SUPERNET_WEIGHTS, lambda tmp: save_file(state, str(tmp)))
    atomic_write_json(folder / SUPERNET_CARD, card)


def load_supernet(folder: str | Path, device: str = "cpu") -> SuperTransformer:
    folder = Path(folder)
    if not (folder / SUPERNET_CARD).is_file() or not (folder / SUPERNET_WEIGHTS).is_file():
        raise UserInputError(f"{folder}: no trained supernet ({SUPERNET_CARD} and {SUPERNET_WEIGHTS})")
    card = json.loads((folder / SUPERNET_CARD).read_text())
    model = SuperTransformer(SearchSpace.model_validate(card["space"]), card["task"], card["vocab_size"],
                             card["num_classes"], card["max_len"])
    try:
        model.load_state_dict(load_file(str(folder / SUPERNET_WEIGHTS), device=device))
    except Exception as exc:  # noqa: BLE001 - safetensors raises several types for damaged files
        raise UserInputError(f"{folder / SUPERNET_WEIGHTS}: cannot load ({str(exc).splitlines()[0]})") from None
    return model.to(device).eval()


# ---- the training loop -----------------------------------------------------------------------------------
@dataclass
class TrainResult:
    model: SuperTransformer
    history: list[dict] = field(default_factory=list)


def lr_factor(step: int, cfg: SupernetTrainConfig) -> float:
    """Linear warm-up, then cosine decay to `min_lr_ratio`; `step` counts from 0."""
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def sandwich(space: SearchSpace, cfg: SupernetTrainConfig, step: int) -> list[ArchConfig]:
    """Largest first (the teacher), then smallest, then the random members of this step."""
    rng = random.Random(f"{cfg.seed}/{step}")
    return [space.largest(), space.smallest()] + [space.sample(rng) for _ in range(cfg.sandwich_random)]


def _device(cfg: SupernetTrainConfig, local_rank: int) -> torch.device:
    if cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise UserInputError("supernet.device=cuda but no CUDA device is available")
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def task_loss(logits: torch.Tensor, batch, data: TaskData) -> torch.Tensor:
    """Next-token cross-entropy (LM: a batch is windows of seq_len + 1 tokens) or classification cross-entropy."""
    if isinstance(data, LMData):
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), batch[:, 1:].reshape(-1))
    return F.cross_entropy(logits.float(), batch[1])


def _distill_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """KL(teacher || student) per predicted distribution."""
    flat = lambda t: F.log_softmax(t.float(), -1).reshape(-1, t.shape[-1])  # noqa: E731
    return F.kl_div(flat(student), flat(teacher), log_target=True, reduction="batchmean")


def forward(net, batch, arch: ArchConfig, data: TaskData) -> torch.Tensor:
    """Logits of `arch` on a training or validation batch."""
    if isinstance(data, LMData):
        return net(batch[:, :-1], arch)
    ids = batch[0]
    return net(ids, arch, data.padding_mask(ids))


class _Checkpoints:
    """`out/checkpoints/step-NNNNNN/` folders written atomically (temp folder + rename), and `out/latest`."""

    def __init__(self, out: Path, keep: int = 2):
        self.root, self.keep = out / "checkpoints", keep
        self.latest_file = out / "latest"

    def latest(self) -> Path | None:
        if not self.latest_file.is_file():
            return None
        path = self.root / self.latest_file.read_text().strip()
        return path if path.is_dir() else None

    def save(self, step: int, model, optimizer, scheduler, history: list[dict], cfg: SupernetTrainConfig) -> None:
        name = f"step-{step:06d}"
        tmp = self.root / f".{name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(tmp / "model.safetensors"))
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "torch_rng": torch.get_rng_state()}, tmp / "state.pt")
        (tmp / "trainer.json").write_text(json.dumps({"step": step, "config": cfg.model_dump(), "history": history}))
        final = self.root / name
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        atomic_write_text(self.latest_file, name)
        older = sorted(p for p in self.root.glob("step-*") if p.name != name)
        for old in older[: max(0, len(older) - (self.keep - 1))]:
            shutil.rmtree(old, ignore_errors=True)

    @staticmethod
    def load(path: Path, model, optimizer, scheduler, device) -> tuple[int, list[dict]]:
        model.load_state_dict(load_file(str(path / "model.safetensors"), device=str(device)))
        state = torch.load(path / "state.pt", map_location=device, weights_only=True)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"].cpu())
        trainer = json.loads((path / "trainer.json").read_text())
        return trainer["step"], trainer["history"]


def train_supernet(space: SearchSpace, cfg: SupernetTrainConfig, out: str | Path,
                   on_step: Callable[[dict], None] | None = None, data: TaskData | None = None,
                   stop_after: int | None = None) -> TrainResult:
    """Train (or resume training) a supernet into `out`; `stop_after` ends early after that many steps in
    this call (a planned interruption: the state is checkpointed, and a later call resumes)."""
    out = Path(out)
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    rank = local_rank = 0
    if distributed:
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if not dist.is_initialized():
            backend = "nccl" if cfg.device != "cpu" and torch.cuda.is_available() else "gloo"
            dist.init_process_group(backend)
        rank = dist.get_rank()
    device = _device(cfg, local_rank)
    data = data or load_task_data(cfg)
    torch.manual_seed(cfg.seed)
    model = build_supernet(space, cfg, data)
    if cfg.init_from:
        from supernet.pretrained import init_from_bert

        init_from_bert(model, cfg.init_from)
    model = model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, cfg))
    checkpoints = _Checkpoints(out)
    start, history = 0, []
    latest = checkpoints.latest()
    if latest is not None:
        start, history = checkpoints.load(latest, model, optimizer, scheduler, device)
    net = torch.nn.parallel.DistributedDataParallel(model, find_unused_parameters=True) if distributed else model
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext())
    world = dist.get_world_size() if distributed else 1
    step = start
    try:
        while step < cfg.steps and (stop_after is None or step - start < stop_after):
            record = _train_step(net, model, optimizer, scheduler, data, space, cfg, step, rank, device, autocast)
            record["tokens_per_s"] *= world
            history.append(record)
            step += 1
            if rank == 0 and on_step:
                on_step(record)
            if step % cfg.checkpoint_every == 0 or step == cfg.steps:
                _save(checkpoints, rank, step, model, optimizer, scheduler, history, cfg, distributed)
    except KeyboardInterrupt:
        _save(checkpoints, rank, step, model, optimizer, scheduler, history, cfg, distributed)
        raise
    if step < cfg.steps:
        _save(checkpoints, rank, step, model, optimizer, scheduler, history, cfg, distributed)
    if rank == 0 and step == cfg.steps:
        save_supernet(model, out, {"train": cfg.model_dump(), "steps": step})
        atomic_write_json(out / "history.json", history)
    return TrainResult(model.eval(), history)


def _save(checkpoints, rank, step, model, optimizer, scheduler, history, cfg, distributed) -> None:
    if rank == 0 and step > 0:
        checkpoints.save(step, model, optimizer, scheduler, history, cfg)
    if distributed:
        dist.barrier()


def _train_step(net, model, optimizer, scheduler, data, space, cfg, step, rank, device, autocast) -> dict:
    started = time.perf_counter()
    generator = np.random.default_rng([cfg.seed, step, rank])
    batch = data.batch(generator, cfg.batch_size, cfg.seq_len)
    batch = batch.to(device) if isinstance(batch, torch.Tensor) else tuple(t.to(device) for t in batch)
    members = sandwich(space, cfg, step)
    optimizer.zero_grad(set_to_none=True)
    losses, teacher = [], None
    for i, arch in enumerate(members):
        sync = nullcontext() if i == len(members) - 1 or not hasattr(net, "no_sync") else net.no_sync()
        with sync:
            with autocast:
                logits = forward(net, batch, arch, data)
            loss = task_loss(logits, batch, data)
            if teacher is not None and cfg.distill > 0:
                loss = (1 - cfg.distill) * loss + cfg.distill * _distill_loss(logits, teacher)
            if i == 0:
                teacher = logits.detach()
            (loss / len(members)).backward()
        losses.append(loss.item())
    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    optimizer.step()
    scheduler.step()
    tokens = cfg.batch_size * cfg.seq_len * len(members)
    return {"step": step + 1, "loss_largest": losses[0], "loss_smallest": losses[1],
            "loss_mean": float(np.mean(losses)), "lr": scheduler.get_last_lr()[0],
            "tokens_per_s": tokens / (time.perf_counter() - started)}
