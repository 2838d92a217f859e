from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def tmp_yaml(tmp_path):
    def write(text: str, name: str = "hw.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write
