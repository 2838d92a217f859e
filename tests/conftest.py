import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# Tests never reach a hub: Hugging Face libraries stay offline whatever the machine allows.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"  # reference data the tests compare against; each file says where it came from in README.md there


@pytest.fixture
def tmp_yaml(tmp_path):
    def write(text: str, name: str = "hw.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


def load_without_hwnas(folder: Path, ids: list, auto: str = "AutoModelForCausalLM",
                       trust_remote_code: bool = False) -> dict:
    """Load an export with plain `transformers` in a fresh process that never imports hwnas, and run it on `ids`:
    its logits, its class name, and which hwnas modules it loaded (`leaked`, which should be none)."""
    script = f"""
import json, sys, torch, transformers
model = transformers.{auto}.from_pretrained({str(folder)!r}, trust_remote_code={trust_remote_code})
logits = model(torch.tensor({ids})).logits
leaked = sorted(m for m in sys.modules if m.split('.')[0] in ('nas', 'supernet', 'predictors'))
print(json.dumps({{"logits": logits.tolist(), "leaked": leaked, "cls": type(model).__name__}}))
"""
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH="")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=folder.parent, env=env,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


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


@pytest.fixture(scope="session")
def _ray_instance():
    """A local Ray instance started once, by a `RayExecutor` of two workers (as the tests ask for), for all the tests
    that use Ray: starting one costs seconds, and its workers stay warm. Executors made while it is up join it."""
    pytest.importorskip("ray")
    from nas.parallel import RayExecutor

    owner = RayExecutor(2)
    yield owner
    owner.close()


@pytest.fixture
def ray_local(_ray_instance, request):
    """The shared local Ray instance; shut down after the last test that uses it, not left idling."""
    yield _ray_instance
    items = request.session.items
    later = items[items.index(request.node) + 1:] if request.node in items else []
    if not any("ray_local" in getattr(item, "fixturenames", ()) for item in later):
        _ray_instance.close()
