"""Process ids written into names and files (a lock file's owner, a temporary file's `.NAME.tmpPID` tail), read
back, and asked whether their process still runs.

Such text may be anything (a damaged lock file, a name someone made by hand), so it is parsed strictly: ASCII
digits only (`str.isdigit()` also takes '²', which `int()` refuses) and at most `MAX_PID_DIGITS` of them (a pid
past what `os.kill` takes raises OverflowError). Every reader of a pid goes through `parse_pid` and `pid_alive`.
"""
from __future__ import annotations

import os
import re

# Linux pids stop at 2**22 (4,194,304); nine digits leave room for any system and stay far below the C int
# `os.kill` takes.
MAX_PID_DIGITS = 9
_PID = re.compile(rf"[0-9]{{1,{MAX_PID_DIGITS}}}")


def parse_pid(text: str) -> int | None:
    """The positive pid that `text` is (ASCII digits, nothing else), or None when it is not one."""
    if not _PID.fullmatch(text):
        return None
    pid = int(text)
    return pid if pid > 0 else None


def pid_alive(pid: int) -> bool:
    """Whether a process `pid` runs on this host (in this pid namespace); another user's live process counts as
    running, and a pid no process can have (0, negative, too large) as not."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    except OverflowError:  # no such process can exist
        return False
    return True
