"""One writer per folder: `folder_lock(folder)` holds `folder/hwnas.lock` for as long as a command writes there.

The lock is `fcntl.flock` on the lock file, so the kernel releases it when its owner ends in any way (normal exit,
Ctrl-C, an exception, `kill -9`); the file also holds the owner's pid and host, so that a refused command can say
who holds it. Only the flock decides: a held one is refused (naming the recorded pid, even one not visible from
here, as from another pid namespace on the same host), and a lock file left behind by a process that died is
taken over, since flock on it succeeds. The file is removed when the owner lets go. Descriptors are close-on-exec
and the process pool spawns its workers, so a worker never keeps its parent's lock.
"""
from __future__ import annotations

import errno
import fcntl
import os
import socket
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from userfiles import UserInputError
from userfiles.processes import parse_pid

LOCK_FILE = "hwnas.lock"


def read_owner(path: Path) -> tuple[int | None, str | None]:
    """The pid and host written in a lock file, (None, None) when it holds neither (empty, garbled, gone); a first
    word that is no pid (`parse_pid`) gives no pid."""
    try:
        words = path.read_text(encoding="utf-8", errors="replace").split()
    except OSError:
        return None, None
    pid = parse_pid(words[0]) if words else None
    return pid, (words[1] if len(words) > 1 else None)


def _owner_words(pid: int | None, host: str | None) -> str:
    here = socket.gethostname()
    return f"pid {pid}" + (f" on {host}" if host and host != here else "")


@contextmanager
def folder_lock(folder: Path, log: Callable[[str], None] = lambda message: None) -> Iterator[Path]:
    """Hold the folder's lock for the body; refuse in one line (`UserInputError`) when another process holds it.
    Creates `folder` if it is missing (the command was about to write there)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    for _ in range(5):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            # the flock is the one authority: held means a writer is there, whatever the recorded pid looks like
            # from here (another pid namespace on this host, a forked child that kept the descriptor)
            pid, host = read_owner(path)
            owner = _owner_words(pid, host) if pid is not None else "pid unknown"
            raise UserInputError(f"{folder}: another hwnas ({owner}) is writing this run folder") from None
        try:  # the file we locked must still be the one at `path` (its owner may have removed it meanwhile)
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            os.close(fd)
            continue
        break
    else:
        raise UserInputError(f"{path}: could not take the lock (the file keeps being replaced)")
    try:
        stale_pid, stale_host = read_owner(path)
        if stale_pid is not None and stale_pid != os.getpid():
            log(f"[lock] {folder}: took over the stale lock of {_owner_words(stale_pid, stale_host)} "
                "(no longer running)")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        os.fsync(fd)
        yield path
    finally:
        try:
            path.unlink(missing_ok=True)  # while still holding it: a waiter that opened this file re-checks
        finally:
            os.close(fd)
