"""Training the supernet once, so that every sub-network inherits usable weights.

Sandwich rule (BigNAS, the survey's NAS case study): every step trains the largest sub-network on the labels, and
the smallest plus `sandwich_random` random ones on a mix of the labels and the largest's predictions (in-place
distillation, weight `distill`), gradients averaged over the members. The default weight is 0 (labels only): on the
offline corpus it gave a better supernet than 0.5, by KL or by AlphaNet's alpha-divergence, in loss and in ranking
(README.md, "Can the supernet's ranking be trusted?"), and pure distillation (weight 1)
collapses from a random start, the members agreeing with a teacher that has not learned anything yet. AdamW with
linear warm-up and cosine decay, gradient clipping, bf16 autocast on GPU.

Nothing is lost: a checkpoint (`supernet.checkpoint`) is written atomically every `checkpoint_every` steps and on
Ctrl-C, and a rerun resumes from the latest one, only under the same space and settings (another `lr` or
`embed_dim` is refused naming the key, since it would not be a resume). Batches and architectures are drawn from
generators seeded by (seed, step, rank), so a resumed run is exactly the uninterrupted one. The tasks' batches and
losses live in `supernet.tasks`, the trained supernet's files in `supernet.store`. A step whose loss or weights
are not finite (a learning rate far too high) ends the run with a one-line error before anything of it is saved:
the checkpoints keep the last good state, and no supernet of NaN is ever written.

Under `torchrun --nproc_per_node=N` (DDP; gloo on CPU, NCCL on GPU) every rank runs the whole sandwich, the same
architectures, on its own batch; gradients are averaged across ranks once per step, at the last member's backward.
"""
from __future__ import annotations

import math
import os
import random
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist

from userfiles import UserInputError, atomic_write_json
from supernet.checkpoint import Checkpoints
from supernet.data import ClassificationData, TaskData
from supernet.model import SuperTransformer
from supernet.space import ArchConfig, SearchSpace
from supernet.store import save_supernet
from supernet.tasks import build_supernet, distill_loss, forward, load_task_data, task_loss
from supernet.train_config import SupernetTrainConfig


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


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


SIZE_BANDS = 4  # bands of log parameter count that `sampling: by_size` draws from in turn
BAND_TRIES = 64  # uniform draws per member before the nearest one to its band is taken


def sandwich(space: SearchSpace, cfg: SupernetTrainConfig, step: int,
             size: Callable[[ArchConfig], float] | None = None) -> list[ArchConfig]:
    """Largest first (the teacher), then smallest, then the random members of this step. Uniform draws favour
    middling sizes (a sum of per-layer choices concentrates); `by_size` (which needs `size`, the parameter count)
    gives every band of sizes its turn, so the small and large ends of the space get trained as often."""
    rng = random.Random(f"{cfg.seed}/{step}")
    largest, smallest = space.largest(), space.smallest()
    if cfg.sampling == "uniform":
        return [largest, smallest] + [space.sample(rng) for _ in range(cfg.sandwich_random)]
    if size is None:
        raise ValueError("sampling by_size needs the size of an architecture")
    low, high = math.log(size(smallest)), math.log(size(largest))
    members = [largest, smallest]
    for i in range(cfg.sandwich_random):
        band = (step * cfg.sandwich_random + i) % SIZE_BANDS
        centre = low + (band + 0.5) * (high - low) / SIZE_BANDS
        draws = [space.sample(rng) for _ in range(BAND_TRIES)]
        members.append(min(draws, key=lambda a: abs(math.log(size(a)) - centre)))
    return members


def _device(cfg: SupernetTrainConfig, local_rank: int) -> torch.device:
    if cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise UserInputError("supernet.device=cuda but no CUDA device is available")
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def train_supernet(space: SearchSpace, cfg: SupernetTrainConfig, out: str | Path,
                   on_step: Callable[[dict], None] | None = None, data: TaskData | None = None,
                   stop_after: int | None = None, log: Callable[[str], None] = _stderr) -> TrainResult:
    """Train (or resume training) a supernet into `out`; `stop_after` ends early after that many steps in
    this call (a planned interruption: the state is checkpointed, and a later call resumes). `log` receives what
    the user should know besides the steps: the report of `init_from`, a damaged checkpoint skipped."""
    out = Path(out)
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    rank = local_rank = 0
    if distributed:
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if not dist.is_initialized():
            backend = "nccl" if cfg.device != "cpu" and torch.cuda.is_available() else "gloo"
            dist.init_process_group(backend)
        rank = dist.get_rank()
    say = log if rank == 0 else (lambda message: None)
    world = dist.get_world_size() if distributed else 1
    device = _device(cfg, local_rank)
    data = data or load_task_data(cfg)
    torch.manual_seed(cfg.seed)
    model = build_supernet(space, cfg, data).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, cfg))
    settings = cfg.identity()
    checkpoints = Checkpoints(out, {"space": space.to_dict(), "train": settings, "ranks": world})
    start, history = checkpoints.resume(model, optimizer, scheduler, device, say)
    if start == 0 and cfg.init_from:
        from supernet.pretrained import init_from_bert

        say(init_from_bert(model, cfg.init_from).summary())
    net = torch.nn.parallel.DistributedDataParallel(model, find_unused_parameters=True) if distributed else model
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext())
    save = lambda: _save(checkpoints, rank, step, model, optimizer, scheduler, history, distributed)  # noqa: E731
    step = start
    try:
        while step < cfg.steps and (stop_after is None or step - start < stop_after):
            record = _train_step(net, model, optimizer, scheduler, data, space, cfg, step, rank, device, autocast)
            problem = _non_finite(record, model)
            if problem:
                kept = (f"the last good checkpoint, {checkpoints.newest}, is kept in {checkpoints.root}"
                        if checkpoints.newest else "no checkpoint had been written yet")
                raise UserInputError(f"supernet training diverged at step {step + 1}: {problem}; nothing of it "
                                     f"was saved ({kept}); lower supernet.lr or supernet.grad_clip and train into "
                                     "a new output directory")
            record["tokens_per_s"] *= world
            history.append(record)
            step += 1
            if rank == 0 and on_step:
                on_step(record)
            if step % cfg.checkpoint_every == 0 or step == cfg.steps:
                save()
    except KeyboardInterrupt:
        save()
        raise
    if step < cfg.steps:
        save()
    if rank == 0 and step == cfg.steps:
        labels = {"labels": data.label_names} if isinstance(data, ClassificationData) else {}
        save_supernet(model, out, {"train": settings, "steps": step, **labels})
        atomic_write_json(out / "history.json", history)
    return TrainResult(model.eval(), history)


def _non_finite(record: dict, model: torch.nn.Module) -> str | None:
    """What in a step is not finite, its losses first, then its weights (one device sync for all of them); None
    when everything is. Under DDP a non-finite gradient reaches every rank, so all of them stop at the same step."""
    for key, what in (("loss_largest", "the largest sub-network's loss"), ("loss_smallest", "the smallest's loss"),
                      ("loss_mean", "a random member's loss")):
        if not math.isfinite(record[key]):
            return f"{what} is {record[key]}"
    names, params = zip(*model.named_parameters())
    finite = torch.stack([torch.isfinite(p.detach()).all() for p in params]).cpu()
    if bool(finite.all()):
        return None
    return f"the weights are not finite ({names[int((~finite).nonzero()[0])]} first)"


def _save(checkpoints, rank, step, model, optimizer, scheduler, history, distributed) -> None:
    if rank == 0 and step > 0:
        checkpoints.save(step, model, optimizer, scheduler, history)
    if distributed:
        dist.barrier()


def sandwich_backward(net, batch, members: list[ArchConfig], data: TaskData, distill: float,
                      autocast=nullcontext(), divergence: str = "kl") -> list[float]:
    """Accumulate the gradients of one sandwich into `net` (a model or its DDP wrapper) and return each member's
    loss. The first member is the teacher of the others (weight `distill`); under DDP, gradients are averaged
    across ranks once, at the last member's backward, the earlier ones accumulating under `no_sync`."""
    losses, teacher = [], None
    for i, arch in enumerate(members):
        sync = nullcontext() if i == len(members) - 1 or not hasattr(net, "no_sync") else net.no_sync()
        with sync:
            with autocast:
                logits = forward(net, batch, arch, data)
            loss = task_loss(logits, batch, data)
            if teacher is not None and distill > 0:
                loss = (1 - distill) * loss + distill * distill_loss(logits, teacher, divergence)
            if i == 0:
                teacher = logits.detach()
            (loss / len(members)).backward()
        losses.append(loss.item())
    return losses


def _train_step(net, model, optimizer, scheduler, data, space, cfg, step, rank, device, autocast) -> dict:
    started = time.perf_counter()
    generator = np.random.default_rng([cfg.seed, step, rank])
    batch = data.batch(generator, cfg.batch_size, cfg.seq_len)
    batch = batch.to(device) if isinstance(batch, torch.Tensor) else tuple(t.to(device) for t in batch)
    members = sandwich(space, cfg, step, model.num_params)
    optimizer.zero_grad(set_to_none=True)
    distill = cfg.distill if step >= cfg.distill_after else 0.0
    losses = sandwich_backward(net, batch, members, data, distill, autocast, cfg.distill_divergence)
    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    optimizer.step()
    scheduler.step()
    tokens = cfg.batch_size * cfg.seq_len * len(members)
    return {"step": step + 1, "loss_largest": losses[0], "loss_smallest": losses[1],
            "loss_mean": float(np.mean(losses)), "lr": scheduler.get_last_lr()[0],
            "tokens_per_s": tokens / (time.perf_counter() - started)}
