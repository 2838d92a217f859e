"""User mistakes leave in one line with exit code 2; a bug keeps its traceback, even when it is an OSError."""
from pathlib import Path

import pytest
import typer

from nas.cli.base import user_errors
from userfiles import UserInputError


@user_errors
def reads(path: Path, internal: str = "") -> str:
    return Path(internal or path).read_text()


def test_an_oserror_on_a_path_the_user_named_is_one_line(tmp_path, capsys):
    with pytest.raises(typer.Exit) as stop:
        reads(tmp_path / "missing.yaml")
    assert stop.value.exit_code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {tmp_path / 'missing.yaml'}: no such file")


def test_an_oserror_inside_a_named_folder_or_on_its_way_is_one_line(tmp_path, capsys):
    (tmp_path / "blocker").write_text("a file where a folder goes")
    with pytest.raises(typer.Exit):
        reads(tmp_path / "blocker" / "run", internal=str(tmp_path / "blocker" / "run" / "x"))
    assert capsys.readouterr().err.startswith("error: ")


def test_an_oserror_on_a_path_of_our_own_is_a_bug_with_its_traceback(tmp_path):
    (tmp_path / "config.yaml").write_text("name: x\n")
    with pytest.raises(FileNotFoundError):
        reads(tmp_path / "config.yaml", internal="/nonexistent-hwnas-internal/presets/gemmini.yaml")


def test_a_user_input_error_is_one_line(capsys):
    @user_errors
    def refuses() -> None:
        raise UserInputError("demo.yaml: search.population: expected at least 4\nsecond line")

    with pytest.raises(typer.Exit) as stop:
        refuses()
    assert stop.value.exit_code == 2
    assert capsys.readouterr().err == "error: demo.yaml: search.population: expected at least 4 second line\n"


def test_a_run_folder_that_cannot_be_made_is_named_in_one_line(tmp_path):
    """The run config names its output folder: an OSError there is the user's path, though no argument named it."""
    import subprocess
    import sys

    config = tmp_path / "demo.yaml"
    text = (Path(__file__).parents[1] / "searches" / "demo.yaml").read_text()
    config.write_text("\n".join("output: /proc/hwnas-no-such/run" if line.startswith("output:") else line
                                for line in text.splitlines()) + "\n")
    out = subprocess.run([sys.executable, "-m", "nas.cli", "search", str(config)], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("error: /proc/hwnas-no-such")


def test_a_run_config_with_weights_wider_than_the_datapath_is_refused(tmp_path):
    """The same rule as `hwnas simulate --weight-bits`: weights stored wider than the accelerator computes."""
    from nas.config import load_run_config

    text = (Path(__file__).parents[1] / "searches" / "demo.yaml").read_text()
    lines = ["workload: {phase: prefill, seq_len: 128, weight_bits: 8}" if line.startswith("workload:") else
             "hardware: {extends: gemmini-ibert, input_bits: 4}" if line.startswith("hardware:") else line
             for line in text.splitlines()]
    (tmp_path / "w.yaml").write_text("\n".join(lines) + "\n")
    with pytest.raises(UserInputError, match=r"w.yaml: workload: weight_bits=8 is wider than the width the array "
                                             r"computes in \(int4 on accelerator"):
        load_run_config(tmp_path / "w.yaml")
