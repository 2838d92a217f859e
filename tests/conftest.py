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
