import os
from pathlib import Path

import pytest

# Tests never reach a hub: Hugging Face libraries stay offline whatever the machine allows.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def tmp_yaml(tmp_path):
    def write(text: str, name: str = "hw.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


def one_line_error(args) -> str:
    """Runs `hwnas ARGS` in-process; asserts exit code 2 and a single `error:` line, and returns that line."""
    from typer.testing import CliRunner

    from nas.cli import app

    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def kill_at_generation(proc, state: Path, generation: int, timeout: float = 120) -> int:
    """SIGKILL the search running in `proc` once its state file (written atomically) has reached `generation`;
    returns the generation the killed search had saved."""
    import json
    import signal
    import time

    deadline = time.time() + timeout
    while time.time() < deadline:
        if state.is_file() and json.loads(state.read_text())["generation"] >= generation:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return json.loads(state.read_text())["generation"]
