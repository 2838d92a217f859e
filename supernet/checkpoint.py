"""Training checkpoints: `out/checkpoints/step-NNNNNN/` folders and `out/latest`, read back only under the settings
they were written with.

A checkpoint holds the weights (safetensors), the optimizer, scheduler and RNG state (`torch.save`, read back with
`weights_only=True`, so no pickled code runs) and `trainer.json`: the step, the history and what the run was
(space, training settings, number of ranks). Each is written as a whole folder (temp + rename), and the previous
one is kept: a checkpoint damaged after the fact (a disk error, a truncated copy) falls back to the one before,
and says so.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors.torch import save_file

from userfiles import UserInputError, atomic_write_text, differences
from userfiles.folders import atomic_folder
from supernet.store import load_weights, read_weights
from supernet.train_config import SupernetTrainConfig

# Settings that do not change what is trained: a resumed run may change them freely.
RESUMABLE_CHANGES = ("checkpoint_every", "device", "eval_windows")


def _lookup(record: dict, path: str) -> Any:
    for part in path.split("."):
        record = record.get(part) if isinstance(record, dict) else record[int(part)] if isinstance(record, list) \
            and part.isdigit() and int(part) < len(record) else None
    return record


def _setting(record: dict, path: str) -> str:
    """A recorded setting as the refusal shows it: a training setting added later is recorded only away from its
    default, so its absence means the default."""
    name = path.removeprefix("train.")
    if path.startswith("train.") and name in SupernetTrainConfig.ADDED_LATER and _lookup(record, path) is None:
        return f"{SupernetTrainConfig.model_fields[name].default!r} (the default)"
    return repr(_lookup(record, path))


def _without_idle_later_settings(run: dict) -> dict:
    """A recorded run as `SupernetTrainConfig.identity` records it today."""
    train = run.get("train") if isinstance(run, dict) else None
    return {**run, "train": SupernetTrainConfig.without_idle_later(train)} if isinstance(train, dict) else run


class Checkpoints:
    """The checkpoints of one training run in `out`; `run` describes the run (space, settings, ranks)."""

    def __init__(self, out: Path, run: dict, keep: int = 2):
        self.root, self.run, self.keep = out / "checkpoints", run, keep
        self.latest_file = out / "latest"

    def save(self, step: int, model, optimizer, scheduler, history: list[dict]) -> None:
        name = f"step-{step:06d}"
        with atomic_folder(self.root / name, marker="trainer.json") as tmp:
            state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
            save_file(state, str(tmp / "model.safetensors"))
            torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                        "torch_rng": torch.get_rng_state()}, tmp / "state.pt")
            (tmp / "trainer.json").write_text(json.dumps({"step": step, "run": self.run, "history": history}))
        atomic_write_text(self.latest_file, name)
        older = sorted(p for p in self.root.glob("step-*") if p.name != name)
        for old in older[: max(0, len(older) - (self.keep - 1))]:
            shutil.rmtree(old, ignore_errors=True)

    def _candidates(self) -> list[Path]:
        """The latest checkpoint first, then the others, newest first."""
        folders = sorted(self.root.glob("step-*"), reverse=True) if self.root.is_dir() else []
        latest = self.root / self.latest_file.read_text().strip() if self.latest_file.is_file() else None
        return ([latest] if latest in folders else []) + [p for p in folders if p != latest]

    def resume(self, model, optimizer, scheduler, device, log: Callable[[str], None]) -> tuple[int, list[dict]]:
        """Load the newest usable checkpoint into model, optimizer and scheduler; (0, []) when there is none.
        A checkpoint of another run (other space or settings) is refused naming the first differing key; a
        damaged one is skipped for the one before, saying so; none usable is a one-line error."""
        problems = []
        for path in self._candidates():
            try:
                step, history = self._load(path, model, optimizer, scheduler, device)
            except _OtherRun:
                raise
            except UserInputError as exc:
                problems.append(str(exc))
                continue
            if problems:
                log(f"warning: {problems[0]}; resumed from the previous checkpoint {path.name} instead")
            return step, history
        if problems:
            raise UserInputError(f"no usable checkpoint in {self.root} ({problems[0]}); delete {self.root.parent} "
                                 "to start over")
        return 0, []

    def _load(self, path: Path, model, optimizer, scheduler, device) -> tuple[int, list[dict]]:
        try:
            trainer = json.loads((path / "trainer.json").read_text())
            step, history, run = trainer["step"], trainer["history"], trainer["run"]
        except (OSError, ValueError, KeyError, TypeError):
            raise UserInputError(f"{path / 'trainer.json'}: missing or corrupt") from None
        changed = [key for key in differences(_without_idle_later_settings(run), self.run)
                   if key.split(".")[-1] not in RESUMABLE_CHANGES]
        if changed:
            raise _OtherRun(f"{self.root.parent}: holds a supernet trained with other settings ({changed[0]}: "
                            f"{_setting(run, changed[0])} then, {_setting(self.run, changed[0])} now); use another "
                            f"output directory, or delete {self.root.parent} to start over")
        weights = read_weights(path / "model.safetensors", device)
        try:
            state = torch.load(path / "state.pt", map_location=device, weights_only=True)
            optimizer_state, scheduler_state, rng = state["optimizer"], state["scheduler"], state["torch_rng"]
        except Exception as exc:  # noqa: BLE001 - torch.load raises several types for damaged files
            raise UserInputError(f"{path / 'state.pt'}: cannot load ({(str(exc).splitlines() or [''])[0]})") from None
        load_weights(model, weights, path / "model.safetensors")
        optimizer.load_state_dict(optimizer_state)
        scheduler.load_state_dict(scheduler_state)
        torch.set_rng_state(rng.cpu())
        return step, history


class _OtherRun(UserInputError):
    """Not a damaged checkpoint but one of another run: never skipped for an older one."""
