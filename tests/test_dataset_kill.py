"""A killed `hwnas latency-data` leaves no workers running and no temp files, and a rerun completes the dataset.

These run the real command as a process with a pool of two workers and kill it after its first chunk is written,
while the pool is still busy.
"""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from predictors.learned.dataset import load_dataset, meta_path

pytestmark = pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads child processes from /proc")

SAMPLES = 1500


def start(out: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "nas.cli", "latency-data", "--samples", str(SAMPLES),
                             "--workers", "2", "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def children(pid: int) -> set[int]:
    found = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(c) for c in (task / "children").read_text().split()}
    return found


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie waits for a reaper that a container may not have)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return "\nState:\tZ" not in status


def wait_mid_run(proc: subprocess.Popen, out: Path) -> set[int]:
    """Wait until the first chunk is on disk and both workers are up; return the process's children."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"finished before it could be killed: {proc.stderr.read()}"
        kids = children(proc.pid)
        if out.exists() and len(kids) >= 2:
            return kids
        time.sleep(0.05)
    raise AssertionError("latency-data wrote nothing within 60 s")


def wait_gone(pids: set[int], seconds: float = 10) -> set[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(running(p) for p in pids):
        time.sleep(0.05)
    return {p for p in pids if running(p)}


def temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp" in p.name)


def test_sigkill_leaves_no_workers_and_a_rerun_completes_without_temp_files(tmp_path):
    out = tmp_path / "data.parquet"
    proc = start(out)
    workers = wait_mid_run(proc, out)
    proc.kill()
    proc.wait(timeout=10)
    assert wait_gone(workers) == set(), "worker processes outlived the killed latency-data"
    assert len(load_dataset(out)[0]) < SAMPLES
    # what a SIGKILL during a write leaves: the temp files of the table and of its metadata, named by the pid
    stale = [tmp_path / f".{out.name}.tmp{proc.pid}", tmp_path / f".{meta_path(out).name}.tmp{proc.pid}"]
    for path in stale:
        path.write_bytes(b"half a table")
    from typer.testing import CliRunner

    from nas.cli import app

    # the rerun: the same CLI in-process (its pool of two is still real processes)
    rerun = CliRunner().invoke(app, ["latency-data", "--samples", str(SAMPLES), "--workers", "2", "--out", str(out)])
    assert rerun.exit_code == 0, (rerun.output, rerun.exception)
    frame, _ = load_dataset(out)
    assert len(frame) == SAMPLES and frame["key"].is_unique
    assert temps(tmp_path) == []


def test_sigterm_stops_cleanly_keeping_what_was_done(tmp_path):
    out = tmp_path / "data.parquet"
    proc = start(out)
    workers = wait_mid_run(proc, out)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    assert "Traceback" not in proc.stderr.read()
    assert wait_gone(workers) == set()
    assert temps(tmp_path) == []
    frame, _ = load_dataset(out)
    assert 0 < len(frame) < SAMPLES and frame["key"].is_unique


def test_stale_temp_files_of_running_processes_are_kept(tmp_path):
    """Only a dead writer's temp file is stale; a live one (here: this test's own process) may be mid-write."""
    from predictors.learned.dataset import remove_stale_temps

    out = tmp_path / "data.parquet"
    live = tmp_path / f".{out.name}.tmp{os.getpid()}"
    unrelated = tmp_path / f".{out.name}.tmpfoo"
    live.write_text("x")
    unrelated.write_text("x")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".{out.name}.tmp{dead.pid}"
    stale.write_text("x")
    assert remove_stale_temps(out) == [stale]
    assert live.exists() and unrelated.exists() and not stale.exists()
