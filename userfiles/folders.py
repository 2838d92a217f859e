"""Whole folders written atomically: a reader (or a later run) sees the old folder or the new one, never half of one.

`userfiles.atomic_write` does this for single files; exports, fine-tunes and training checkpoints are folders of
several files (weights, config, tokenizer, a record), and a kill in the middle of writing them used to leave a
folder that looked finished but held a partial `model.pt2` or no `export.json`. Here the folder is written under a
temporary name beside the target, in the same file system, and renamed into place at the end.
"""
from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from userfiles import UserInputError, output_error

TMP_MARK, OLD_MARK = ".tmp", ".old"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _left_behind(target: Path, mark: str) -> list[Path]:
    """Siblings `.NAME.tmpPID` / `.NAME.oldPID` whose writer is no longer running (a killed earlier run)."""
    prefix = f".{target.name}{mark}"
    found = []
    for path in target.parent.glob(f"{prefix}*"):
        pid = path.name[len(prefix):]
        if pid.isdigit() and (int(pid) == os.getpid() or not _pid_alive(int(pid))):
            found.append(path)
    return found


def clean_stale(target: Path) -> None:
    """Remove what a killed writer of `target` left: its temporary folder, and the previous version it had moved
    aside, which is put back first when the kill came between the two renames (so nothing is lost)."""
    for old in _left_behind(target, OLD_MARK):
        if not target.exists():
            os.replace(old, target)
        else:
            shutil.rmtree(old, ignore_errors=True)
    for tmp in _left_behind(target, TMP_MARK):
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def atomic_folder(target: str | Path, marker: str) -> Iterator[Path]:
    """Yield an empty temporary folder beside `target`; when the block ends without an exception it replaces
    `target` (an existing one is moved aside, the new one renamed in, the old one deleted). On an exception the
    temporary folder is removed and `target` is untouched. A path that cannot hold a folder is a one-line
    `UserInputError`, and so is an existing folder that is not empty and does not hold `marker` (the file every
    folder this writer produces holds): replacing means deleting, so only a folder this writer made is replaced,
    never a run directory or a user's own files given by mistake."""
    target = Path(target)
    if target.exists() and not target.is_dir():
        raise UserInputError(f"{target}: is a file, expected a folder to write")
    if target.is_dir() and not (target / marker).is_file() and any(target.iterdir()):
        raise UserInputError(f"{target}: exists and was not written here (no {marker}); replacing it would delete "
                             "its files, so choose a new folder or empty this one")
    tmp = target.with_name(f".{target.name}{TMP_MARK}{os.getpid()}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        clean_stale(target)
        tmp.mkdir()
    except OSError as exc:
        raise UserInputError(output_error(target, exc)) from None
    try:
        yield tmp
        old = target.with_name(f".{target.name}{OLD_MARK}{os.getpid()}")
        if target.exists():
            os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
