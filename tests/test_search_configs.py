"""Every config shipped in `searches/` loads: a user's first run must not fail on our file."""
from pathlib import Path

import pytest

from nas.config import load_run_config

SEARCHES = sorted((Path(__file__).parent.parent / "searches").glob("*.yaml"))


def _mode(config) -> str:
    if not config.codesign:
        return "nas"
    return "dse" if config.arch is not None else "joint"


def test_the_shipped_configs_cover_every_mode():
    assert {"nas", "dse", "joint"} <= {_mode(load_run_config(path)) for path in SEARCHES}


@pytest.mark.parametrize("path", SEARCHES, ids=lambda p: p.stem)
def test_a_shipped_config_loads(path):
    config = load_run_config(path)
    assert config.name == path.stem
    if config.codesign:
        assert config.accelerators(path.parent).size() > 1
