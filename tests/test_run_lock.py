"""One hwnas per run folder: a second `hwnas search` on a folder being written is refused in one line, a lock left
by a dead process is taken over, and a search killed with SIGKILL resumes on the next run."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import yaml
from typer.testing import CliRunner

from conftest import kill_at_generation, one_line_error
from nas.cli import app
from userfiles import UserInputError
from userfiles.locks import LOCK_FILE, folder_lock, read_owner

SPACE = {"depth": [1, 2, 3], "embed_dim": [64, 128, 192], "heads": [1, 2, 4], "ffn_dim": [128, 256, 384, 512],
         "head_dim": 32, "max_seq_len": 64}


def config(tmp_path, name, generations):
    """A search with no supernet and no predictor (latency simulated, size counted): it starts in a moment."""
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({
        "name": name, "space": SPACE, "supernet": {"steps": 8, "seq_len": 32, "batch_size": 4, "eval_windows": 8},
        "workload": {"phase": "prefill", "seq_len": 64},
        "objectives": [{"name": "latency_ms", "source": "simulator"}, "params"], "constraints": [],
        "search": {"population": 16, "generations": generations, "seed": 1}, "executor": {"kind": "serial"},
        "export": {"pick": "none"}, "output": name}))
    return path


def hwnas(tmp_path, *args):
    return subprocess.Popen([sys.executable, "-m", "nas.cli", *args], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for(path, timeout=120):
    deadline = time.time() + timeout
    while not path.is_file():
        assert time.time() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_second_search_on_a_folder_being_written_is_refused_in_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config(tmp_path, "x", generations=100_000)
    first = hwnas(tmp_path, "search", "x.yaml")
    try:
        wait_for(tmp_path / "x" / "search_state.json")  # well inside its run
        assert read_owner(tmp_path / "x" / LOCK_FILE) == (first.pid, socket.gethostname())
        second = hwnas(tmp_path, "search", "x.yaml")  # a real process, and meanwhile the same CLI in-process
        also = one_line_error(["search", "--resume", "x"])
        assert also == f"error: x: another hwnas (pid {first.pid}) is writing this run folder"
        _, stderr = second.communicate(timeout=120)
        assert second.returncode == 2, stderr
        assert stderr.strip().splitlines() == [f"error: x: another hwnas (pid {first.pid}) is writing this run folder"]
        assert first.poll() is None  # the first one is undisturbed
    finally:
        first.send_signal(signal.SIGINT)  # Ctrl-C: the lock goes with it
        first.communicate(timeout=120)
    assert first.returncode == 130
    assert not (tmp_path / "x" / LOCK_FILE).exists()


def test_a_stale_lock_of_a_dead_process_is_taken_over_and_removed_after(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config(tmp_path, "stale", generations=2)
    (tmp_path / "stale").mkdir()
    pid = dead_pid()
    (tmp_path / "stale" / LOCK_FILE).write_text(f"{pid} {socket.gethostname()}\n")
    result = CliRunner().invoke(app, ["search", "stale.yaml"])
    assert result.exit_code == 0, (result.output, result.exception)
    assert f"took over the stale lock of pid {pid}" in " ".join(result.output.split())
    assert not (tmp_path / "stale" / LOCK_FILE).exists() and (tmp_path / "stale" / "pareto.json").is_file()


def test_sigkill_mid_search_leaves_a_lock_that_the_rerun_takes_over_and_resumes(tmp_path, monkeypatch):
    """The killed search is a real process; the rerun runs the same CLI in-process."""
    monkeypatch.chdir(tmp_path)
    config(tmp_path, "killed", generations=25)
    proc = subprocess.Popen([sys.executable, "-m", "nas.cli", "search", "killed.yaml"], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    generation = kill_at_generation(proc, tmp_path / "killed" / "search_state.json", 3)
    assert 3 <= generation < 25, "the search finished before it could be killed"
    lock = tmp_path / "killed" / LOCK_FILE
    assert lock.is_file() and read_owner(lock)[0] == proc.pid  # kill -9 leaves the file, not the flock
    rerun = CliRunner().invoke(app, ["search", "killed.yaml"])
    assert rerun.exit_code == 0, (rerun.output, rerun.exception)
    log = " ".join(rerun.output.split())
    assert f"took over the stale lock of pid {proc.pid}" in log
    assert f"[search] resuming after generation {generation} of 25" in log
    assert not lock.exists()


def test_the_lock_is_released_on_an_exception_and_refuses_a_second_holder(tmp_path):
    folder = tmp_path / "run"
    with folder_lock(folder) as path:
        assert read_owner(path) == (os.getpid(), socket.gethostname())
        with pytest.raises(UserInputError, match=rf"another hwnas \(pid {os.getpid()}\) is writing this run folder"):
            with folder_lock(folder):
                pass
    assert not path.exists()
    with pytest.raises(RuntimeError):
        with folder_lock(folder):
            raise RuntimeError("boom")
    with folder_lock(folder):  # free again
        pass


def test_an_interrupted_in_process_search_releases_the_lock(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config(tmp_path, "ctrl-c", generations=50)

    def interrupt(entry):
        if entry["generation"] == 2:
            raise KeyboardInterrupt

    from nas.config import load_run_config
    from nas.pipeline import run_search

    with pytest.raises(KeyboardInterrupt):
        run_search(load_run_config(tmp_path / "ctrl-c.yaml"), tmp_path, log=lambda m: None, on_generation=interrupt)
    assert not (tmp_path / "ctrl-c" / LOCK_FILE).exists()
    assert json.loads((tmp_path / "ctrl-c" / "search_state.json").read_text())["generation"] >= 1
    result = CliRunner().invoke(app, ["search", "ctrl-c.yaml"])
    assert result.exit_code == 0, result.output
    assert "[search] resuming after generation" in result.output
