"""Co-design runs: one network over a hardware space (DSE), through the CLI, with kill-and-resume."""
import json
import subprocess
import sys

import pytest
import yaml
from typer.testing import CliRunner

from nas.cli import app
from nas.config import load_run_config
from predictors.area import estimate_area
from predictors.hardware import AcceleratorConfig
from predictors.systolic import SystolicSimulator
from predictors.workload import Workload
from supernet.space import ArchConfig
from userfiles import UserInputError

from conftest import kill_at_generation

ARCH = {"embed_dim": 256, "head_dim": 64, "layers": [{"heads": 4, "ffn_dim": 1024}] * 2}
SPACE = {"extends": "gemmini-default", "rows": [8, 16, 32], "cols": [8, 16, 32], "dataflow": ["ws", "os"],
         "scratchpad_kib": [64, 128, 256], "accumulator_kib": [32, 64, 256],
         "vector_units": {"softmax": {"where": ["host", "accelerator"], "lanes": [8, 16]},
                          "layernorm": {"where": ["host", "accelerator"], "lanes": [8, 16]},
                          "gelu": {"where": ["host", "accelerator", "fused"]},
                          "quantize": {"where": ["host", "accelerator", "fused"]}}}


def dse_config(folder, name="dse", **changes):
    config = {"name": name, "arch": ARCH, "hardware_space": SPACE,
              "workload": {"phase": "prefill", "seq_len": 128, "causal": False},
              "objectives": ["latency_ms", "energy_mj", "area_mm2"], "constraints": ["area_mm2 <= 0.6"],
              "search": {"population": 12, "generations": 4, "seed": 1}, "executor": {"kind": "serial"},
              "export": {"pick": "none"}, "output": name, **changes}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_a_hardware_only_search_writes_designs_that_simulate_to_its_numbers(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["run", str(dse_config(tmp_path))])
    assert result.exit_code == 0, result.output
    pareto = json.loads((tmp_path / "dse" / "pareto.json").read_text())
    assert pareto["front"] and pareto["largest"]["hardware"]["name"] == "gemmini-default"
    arch, workload = ArchConfig.from_dict(ARCH), Workload(seq_len=128, causal=False)
    for row in pareto["front"]:
        hw = AcceleratorConfig.from_yaml(tmp_path / "dse" / "hardware" / f"{row['rank']}.yaml")
        report = SystolicSimulator(hw).simulate(arch, workload)
        assert row["objectives"]["latency_ms"] == pytest.approx(report.latency_ms, rel=1e-12)
        assert row["objectives"]["energy_mj"] == pytest.approx(report.energy_mj, rel=1e-12)
        assert row["objectives"]["area_mm2"] == row["area_mm2"] == pytest.approx(estimate_area(hw).total_mm2)
        assert row["area_mm2"] <= 0.6
    report = (tmp_path / "dse" / "report.md").read_text()
    assert "## Designs against the baseline `gemmini-default`" in report and "moved to the accelerator" in report


def test_sigkill_mid_codesign_search_then_resume_gives_the_same_front(tmp_path):
    search = {"population": 16, "generations": 80, "seed": 2}
    for name in ("straight", "killed"):
        dse_config(tmp_path, name, search=search)
    straight = subprocess.run([sys.executable, "-m", "nas.cli", "search", "straight.yaml"], cwd=tmp_path,
                              capture_output=True, text=True)
    assert straight.returncode == 0, straight.stderr
    proc = subprocess.Popen([sys.executable, "-m", "nas.cli", "search", "killed.yaml"], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    generation = kill_at_generation(proc, tmp_path / "killed" / "search_state.json", 3)
    assert 3 <= generation < 80, "the search finished before it could be killed"
    resumed = subprocess.run([sys.executable, "-m", "nas.cli", "search", "--resume", "killed"], cwd=tmp_path,
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    front = lambda name: json.loads((tmp_path / name / "pareto.json").read_text())["front"]  # noqa: E731
    assert front("killed") == front("straight")
    assert sorted(p.name for p in (tmp_path / "killed" / "hardware").iterdir()) == \
        sorted(p.name for p in (tmp_path / "straight" / "hardware").iterdir())


@pytest.mark.parametrize("changes, message", [
    ({"arch": None}, "space: give either space (a supernet's networks) or arch (one fixed network)"),
    ({"hardware_space": None}, "arch: a fixed network needs a hardware_space to search"),
    ({"hardware": "gemmini-ibert"}, "hardware: with a hardware_space, the accelerator is searched"),
    ({"objectives": [{"name": "latency_ms", "source": "predictor"}, "area_mm2"]},
     "objectives.0: latency_ms: a hardware space is costed by the simulator"),
    ({"objectives": ["perplexity", "latency_ms"]}, "objectives.0: perplexity does not vary with one fixed network"),
    ({"hardware_space": {**SPACE, "rows": []}}, "hardware_space: rows: Tuple should have at least 1 item"),
    ({"hardware_space": {**SPACE, "colour": [1]}}, "hardware_space: colour: unknown key"),
    ({"hardware_space": {**SPACE, "rows": [4096]}}, "hardware_space: rows: accumulator_kib=64 cannot hold one tile"),
    ({"arch": "no-such-net.json"}, "no-such-net.json: file not found"),
    ({"constraints": ["power_mw <= 5"]}, "constraints.0: 'power_mw' is not an objective of this run"),
])
def test_a_broken_codesign_config_is_one_line_naming_the_key(tmp_path, changes, message):
    path = dse_config(tmp_path, **changes)
    with pytest.raises(UserInputError) as err:
        config = load_run_config(path)
        config.check_files(path.parent)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_area_and_power_are_refused_on_one_accelerator(tmp_path):
    path = tmp_path / "nas.yaml"
    path.write_text(yaml.safe_dump({"space": {"depth": [1, 2], "embed_dim": [64], "heads": [2], "ffn_dim": [128],
                                              "head_dim": 32, "max_seq_len": 64},
                                    "objectives": ["params", "area_mm2"]}))
    with pytest.raises(UserInputError, match="objectives.1: area_mm2 does not vary on one accelerator"):
        load_run_config(path)
