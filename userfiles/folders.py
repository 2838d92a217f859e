"""Whole folders written atomically: a reader (or a later run) sees the old folder or the new one, never half of one.

`userfiles.atomic_write` does this for single files; exports, fine-tunes and training checkpoints are folders of
several files (weights, config, tokenizer, a record), and a kill in the middle of writing them used to leave a
folder that looked finished but held a partial `model.pt2` or no `export.json`. Here the folder is written under a
temporary name beside the target, in the same file system, and renamed into place at the end.

Replacing a folder deletes what it held, so every folder written here carries `.hwnas-manifest.json`: the sha256 of
each file hwnas put in it. An existing folder is replaced only when it is empty, or holds exactly what its
manifest lists, unchanged; a run directory, a user's own files given as `--out` by mistake, or an export someone
edited or added notes to are refused, naming the file that would be lost.
"""
from __future__ import annotations

import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from userfiles import UserInputError, file_sha256, output_error
from userfiles.processes import parse_pid, pid_alive

TMP_MARK, OLD_MARK = ".tmp", ".old"
MANIFEST = ".hwnas-manifest.json"
MANIFEST_FORMAT = 1


def _left_behind(target: Path, mark: str) -> list[Path]:
    """Folders `.NAME.tmpPID` / `.NAME.oldPID` beside `target` whose writer is no longer running (a killed earlier
    run). Nothing else matches: not a file or link of that name (this writer makes real folders only), not a name
    whose tail is not a pid, not the folder of a writer that is still running."""
    prefix = f".{target.name}{mark}"
    if not target.parent.is_dir():
        return []
    found = []
    for path in sorted(target.parent.iterdir()):
        pid = parse_pid(path.name[len(prefix):]) if path.name.startswith(prefix) else None
        if pid is None or path.is_symlink() or not path.is_dir():
            continue
        if pid == os.getpid() or not pid_alive(pid):  # our own pid here is a reused one: not ours
            found.append(path)
    return found


def clean_stale(target: Path) -> None:
    """Remove what a killed writer of `target` left: its temporary folder, and the previous version it had moved
    aside, which is put back first when the kill came between the two renames (so nothing is lost)."""
    for old in _left_behind(target, OLD_MARK):
        if not target.exists() and not target.is_symlink():
            os.replace(old, target)
        else:
            shutil.rmtree(old, ignore_errors=True)
    for tmp in _left_behind(target, TMP_MARK):
        shutil.rmtree(tmp, ignore_errors=True)


def _tree(folder: Path) -> tuple[list[str], list[str]]:
    """The files and the folders under `folder`, as sorted relative POSIX paths; links count as files (they are
    never followed, and never something this writer made)."""
    files, folders = [], []

    def unreadable(exc: OSError) -> None:  # a folder that cannot be listed may hold anything: never skipped
        raise exc

    for root, dirs, names in os.walk(folder, onerror=unreadable):
        here = Path(root).relative_to(folder)
        for name in dirs:
            (files if (Path(root) / name).is_symlink() else folders).append((here / name).as_posix())
        files.extend((here / name).as_posix() for name in names)
    return sorted(files), sorted(folders)


def write_manifest(folder: Path) -> dict:
    """Record the sha256 of every file in `folder` in `folder/.hwnas-manifest.json` (the folder is the temporary
    one, not yet visible, so a plain write is atomic enough: the rename that publishes it comes after)."""
    files, _ = _tree(folder)
    manifest = {"format": MANIFEST_FORMAT, "written_by": "hwnas",
                "files": {name: file_sha256(folder / name) for name in files if name != MANIFEST}}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return manifest


def _listed_files(folder: Path) -> dict[str, str] | None:
    """The files (relative path -> sha256) that the manifest in `folder` lists; None when it has none hwnas wrote."""
    path = folder / MANIFEST
    if path.is_symlink() or not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    listed = manifest.get("files") if isinstance(manifest, dict) and manifest.get("written_by") == "hwnas" else None
    if not isinstance(listed, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in listed.items()):
        return None
    return listed


def _kept(folder: Path, keep: tuple[str, ...]) -> list[str]:
    """The names of `keep` that are regular files (not links) directly in `folder`: carried into its replacement."""
    return [name for name in keep if not (folder / name).is_symlink() and (folder / name).is_file()]


def why_not_replaceable(folder: Path, allow_changed: bool = False, keep: tuple[str, ...] = ()) -> str | None:
    """Why replacing the existing `folder` would lose something hwnas did not write, as the end of a one-line
    refusal (None when it would not): it has no manifest, holds a file or folder the manifest does not list, or a
    listed file no longer matches its sha256 (unless `allow_changed`). An empty folder is replaceable, and so is
    one whose listed file is gone (nothing of it is left to lose), and the files named in `keep` never count
    (`atomic_folder` carries them into the new folder unchanged)."""
    kept = set(_kept(folder, keep))
    if not any(path.name not in kept for path in folder.iterdir()):
        return None
    listed = _listed_files(folder)
    if listed is None:
        return (f"was not written by hwnas (no valid {MANIFEST} in it); replacing it would delete its files, so "
                "choose a new folder or empty this one")
    files, folders = _tree(folder)
    holding = {parent.as_posix() for name in listed for parent in Path(name).parents}
    for name in folders:
        if name not in holding:
            return (f"holds the folder {name}, which hwnas did not write there; replacing the folder would delete "
                    f"it, so choose a new folder or move {name} out")
    for name in files:
        path = folder / name
        if (name == MANIFEST and not path.is_symlink()) or name in kept:
            continue
        if name not in listed or path.is_symlink() or not path.is_file():
            return (f"holds {name}, which hwnas did not write there; replacing the folder would delete it, so "
                    f"choose a new folder or move {name} out")
        if not allow_changed and file_sha256(path) != listed[name]:
            return (f"{name} changed since hwnas wrote it; replacing the folder would lose that change, so choose "
                    f"a new folder or move {name} out")
    return None


def check_target(target: str | Path, allow_changed: bool = False, keep: tuple[str, ...] = ()) -> Path:
    """Refuse, in one line, a `target` that `atomic_folder` may not replace: a link, a file, a folder that
    `why_not_replaceable` says holds something hwnas did not write (or that cannot be read to tell). What a killed
    writer left beside it is cleaned up first (its moved-aside folder is put back, so it is what gets checked).
    A command whose work is long (fine-tuning) calls this before the work, so a refusal costs nothing."""
    target = Path(target)
    if target.is_symlink():
        raise UserInputError(f"{target}: is a symbolic link; give the folder itself (hwnas does not write through "
                             "links it would replace)")
    if target.exists() and not target.is_dir():
        raise UserInputError(f"{target}: is a file, expected a folder to write")
    try:
        clean_stale(target)
    except OSError as exc:
        raise UserInputError(output_error(target, exc)) from None
    if target.is_dir():
        try:
            why = why_not_replaceable(target, allow_changed, keep)
        except OSError as exc:
            raise UserInputError(f"{target}: cannot read what is in it, so replacing it could delete files hwnas "
                                 f"did not write ({(exc.strerror or str(exc)).lower()})") from None
        if why:
            raise UserInputError(f"{target}: {why}")
    return target


@contextmanager
def atomic_folder(target: str | Path, allow_changed: bool = False, keep: tuple[str, ...] = ()) -> Iterator[Path]:
    """Yield an empty temporary folder beside `target`; when the block ends without an exception its manifest is
    written and it replaces `target` (an existing one is moved aside, the new one renamed in, the old one
    deleted). On an exception the temporary folder is removed and `target` is untouched.

    A path that cannot hold a folder is a one-line `UserInputError`, and so is an existing folder that
    `check_target` refuses. `allow_changed` lets a folder whose listed files changed be replaced all the same (a
    training checkpoint damaged after it was written, which resume has skipped, is replaced by the new save of
    its step); a file the manifest does not list is never deleted. `keep` names files that hwnas writes into
    `target` by other means (a record saved while the work goes on): they are copied into the new folder as they
    are, unless the block wrote one of that name itself."""
    target = check_target(target, allow_changed, keep)
    tmp = target.with_name(f".{target.name}{TMP_MARK}{os.getpid()}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()
    except OSError as exc:
        raise UserInputError(output_error(target, exc)) from None
    try:
        yield tmp
        for name in _kept(target, keep) if target.is_dir() else []:
            if not (tmp / name).exists():
                shutil.copy2(target / name, tmp / name)
        write_manifest(tmp)
        old = target.with_name(f".{target.name}{OLD_MARK}{os.getpid()}")
        if target.exists():
            os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
