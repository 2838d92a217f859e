"""Training checkpoints: `out/checkpoints/step-NNNNNN/` folders and `out/latest`, read back only under the settings
they were written with.

A checkpoint holds the weights (safetensors), the optimizer, scheduler and RNG state (`torch.save`, read back with
`weights_only=True`, so no pickled code runs) and `trainer.json`: the step, the history and what the run was
(space, training settings, number of ranks) and the sha256 of the other two files. Each is written as a whole
folder (temp + rename), and the previous one is kept: a checkpoint damaged after the fact (a disk error, a
truncated copy, a flipped bit, weights or optimizer state that are not finite) falls back to the one before, and
says so; so does a damaged `latest` pointer, which only names the newest checkpoint and is not needed to find it.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any, Callable

import torch

from userfiles import UserInputError, atomic_write_text, differences
from userfiles.folders import atomic_folder, why_not_replaceable
from supernet.store import (CARD_FORMAT, SHA256, check_finite, file_sha256, load_weights, read_weights, verify_sha256,
                            write_weights)
from supernet.train_config import SupernetTrainConfig

# Settings that do not change what is trained: a resumed run may change them freely.
RESUMABLE_CHANGES = ("checkpoint_every", "device", "eval_windows")
POINTER_BYTES = 64  # `latest` holds one folder name, "step-NNNNNN"
CHECKED_FILES = ("model.safetensors", "state.pt")  # the files whose sha256 trainer.json records


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
        self.newest: str | None = None  # the checkpoint this run last saved or resumed from

    def save(self, step: int, model, optimizer, scheduler, history: list[dict]) -> None:
        name = f"step-{step:06d}"
        with atomic_folder(self.root / name, allow_changed=True) as tmp:
            digests = {"model.safetensors": write_weights(model.state_dict(), tmp / "model.safetensors")}
            torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                        "torch_rng": torch.get_rng_state()}, tmp / "state.pt")
            digests["state.pt"] = file_sha256(tmp / "state.pt")
            (tmp / "trainer.json").write_text(json.dumps({"format": CARD_FORMAT, "step": step, "run": self.run,
                                                          "history": history, "sha256": digests}))
        atomic_write_text(self.latest_file, name)
        self.newest = name
        older = sorted(p for p in self.root.glob("step-*") if p.name != name)
        for old in older[: max(0, len(older) - (self.keep - 1))]:
            if why_not_replaceable(old, allow_changed=True) is None:  # a folder holding a file of someone else's
                shutil.rmtree(old, ignore_errors=True)                # stays, and so does all of it

    def _candidates(self) -> tuple[list[Path], str | None]:
        """The checkpoint `latest` names first, then the others, newest first; and what is wrong with `latest`
        when it exists but is damaged (not UTF-8, too long, naming no checkpoint folder), None otherwise."""
        folders = sorted(self.root.glob("step-*"), reverse=True) if self.root.is_dir() else []
        if not self.latest_file.exists():
            return folders, None
        try:
            with self.latest_file.open("rb") as handle:
                raw = handle.read(POINTER_BYTES + 1)
            name = raw.decode("utf-8").strip()
        except OSError as exc:
            return folders, f"{self.latest_file}: cannot read ({(exc.strerror or str(exc)).lower()})"
        except UnicodeDecodeError as exc:
            return folders, f"{self.latest_file}: damaged: not UTF-8 text (byte 0x{raw[exc.start]:02x})"
        if len(raw) > POINTER_BYTES:
            return folders, f"{self.latest_file}: damaged: longer than the name of a checkpoint"
        if self.root / name not in folders:
            return folders, f"{self.latest_file}: damaged: names {name!r}, which is no checkpoint in {self.root}"
        return [self.root / name] + [p for p in folders if p != self.root / name], None

    def resume(self, model, optimizer, scheduler, device, log: Callable[[str], None]) -> tuple[int, list[dict]]:
        """Load the newest usable checkpoint into model, optimizer and scheduler; (0, []) when there is none.
        A checkpoint of another run (other space or settings) is refused naming the first differing key; a
        damaged one is skipped for the one before, and a damaged `latest` pointer for the newest folder, saying
        so; none usable is a one-line error."""
        candidates, pointer = self._candidates()
        problems = [pointer] if pointer else []
        for path in candidates:
            try:
                step, history = self._load(path, model, optimizer, scheduler, device)
            except _OtherRun:
                raise
            except UserInputError as exc:
                problems.append(str(exc))
                continue
            if problems:
                for problem in problems[:-1]:
                    log(f"warning: {problem}")
                instead = "the newest checkpoint" if path == candidates[0] else "the previous checkpoint"
                log(f"warning: {problems[-1]}; resumed from {instead} {path.name} instead")
            self.newest = path.name
            return step, history
        if problems:
            raise UserInputError(f"no usable checkpoint in {self.root} ({problems[0]}); delete {self.root.parent} "
                                 "to start over")
        return 0, []

    def _load(self, path: Path, model, optimizer, scheduler, device) -> tuple[int, list[dict]]:
        try:
            trainer = json.loads((path / "trainer.json").read_text(encoding="utf-8"))
            step, history, run = trainer["step"], trainer["history"], trainer["run"]
            # absent only from checkpoints of earlier releases, which have no `format` either; a record with a
            # `format` always holds every checksum, so deleting one from the file does not switch its check off
            digests = trainer.get("sha256", {}) if "format" not in trainer else trainer["sha256"]
            if type(step) is not int or path.name != f"step-{step:06d}" or not isinstance(history, list) \
                    or not isinstance(digests, dict) \
                    or not all(re.fullmatch(SHA256, digests[name]) for name in CHECKED_FILES if name in digests):
                raise ValueError("a field of the wrong type")
            fmt = trainer.get("format")
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            raise UserInputError(f"{path / 'trainer.json'}: missing or corrupt") from None
        if fmt is not None and (type(fmt) is not int or not 1 <= fmt <= CARD_FORMAT):
            raise UserInputError(f"{path / 'trainer.json'}: format {fmt!r} is not one this hwnas reads")
        unlisted = [name for name in CHECKED_FILES if name not in digests] if fmt is not None else []
        if unlisted:
            raise UserInputError(f"{path / 'trainer.json'}: damaged: records no sha256 for {unlisted[0]}, which a "
                                 f"checkpoint of format {fmt} always records")
        changed = [key for key in differences(_without_idle_later_settings(run), self.run)
                   if key.split(".")[-1] not in RESUMABLE_CHANGES]
        if changed:
            raise _OtherRun(f"{self.root.parent}: holds a supernet trained with other settings ({changed[0]}: "
                            f"{_setting(run, changed[0])} then, {_setting(self.run, changed[0])} now); use another "
                            f"output directory, or delete {self.root.parent} to start over")
        for name in CHECKED_FILES:
            verify_sha256(path / name, digests.get(name), path / "trainer.json")
        weights = read_weights(path / "model.safetensors", device)
        try:
            state = torch.load(path / "state.pt", map_location=device, weights_only=True)
            optimizer_state, scheduler_state, rng = state["optimizer"], state["scheduler"], state["torch_rng"]
            moments = {f"{index}.{key}": value for index, slots in optimizer_state["state"].items()
                       for key, value in slots.items() if isinstance(value, torch.Tensor)}
        except Exception as exc:  # noqa: BLE001 - torch.load raises several types for damaged files
            raise UserInputError(f"{path / 'state.pt'}: cannot load ({(str(exc).splitlines() or [''])[0]})") from None
        load_weights(model, weights, path / "model.safetensors")
        check_finite(moments, path / "state.pt")  # NaN moments would turn the first resumed step's weights to NaN
        optimizer.load_state_dict(optimizer_state)
        scheduler.load_state_dict(scheduler_state)
        torch.set_rng_state(rng.cpu())
        return step, history


class _OtherRun(UserInputError):
    """Not a damaged checkpoint but one of another run: never skipped for an older one."""
