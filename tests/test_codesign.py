"""Co-design runs: one network over a hardware space (DSE), through the CLI, with kill-and-resume."""
import json
import subprocess
import sys

import pytest
import yaml
from typer.testing import CliRunner

from nas.cli import app
from nas.config import load_run_config
from predictors.accelerator.area import estimate_area
from predictors.accelerator.hardware import AcceleratorConfig
from predictors.accelerator.systolic import SystolicSimulator
from predictors.accelerator.workload import Workload
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


def test_sigkill_mid_codesign_search_then_resume_gives_the_same_front(tmp_path, monkeypatch):
    """The killed search is a real process; the uninterrupted one and the resume run the same CLI in-process."""
    monkeypatch.chdir(tmp_path)
    search = {"population": 16, "generations": 25, "seed": 2}
    for name in ("straight", "killed"):
        dse_config(tmp_path, name, search=search)
    proc = subprocess.Popen([sys.executable, "-m", "nas.cli", "search", "killed.yaml"], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    generation = kill_at_generation(proc, tmp_path / "killed" / "search_state.json", 3)
    assert 3 <= generation < 25, "the search finished before it could be killed"
    straight = CliRunner().invoke(app, ["search", "straight.yaml"])
    assert straight.exit_code == 0, (straight.output, straight.exception)
    resumed = CliRunner().invoke(app, ["search", "--resume", "killed"])
    assert resumed.exit_code == 0, (resumed.output, resumed.exception)
    assert f"[search] resuming after generation {generation} of 25" in " ".join(resumed.output.split())
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
    ({"objectives": ["params", "latency_ms"]}, "objectives.0: params does not vary with one fixed network"),
    ({"constraints": ["area_mm2 <= 1e999"]}, "constraints.0.value: Input should be a finite number"),
    ({"hardware_space": {**SPACE, "rows": [True, 16]}}, "hardware_space: rows: choices must be numbers (or ws/os), not true/false"),
    ({"hardware_space": {"extends": "gemmini-default"}}, "hardware_space: offers a single design"),
    ({"search": {"generations": 10**12}}, "search.generations: Input should be less than or equal to 100000"),
])
def test_a_broken_codesign_config_is_one_line_naming_the_key(tmp_path, changes, message):
    path = dse_config(tmp_path, **changes)
    with pytest.raises(UserInputError) as err:
        load_run_config(path)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_hardware_objectives_of_a_hardware_space_default_to_the_simulator(tmp_path):
    config = load_run_config(dse_config(tmp_path, objectives=[{"name": "latency_ms"}, "power_mw", "area_mm2"],
                                        constraints=[]))
    assert [o.source for o in config.objectives] == ["simulator", "simulator", "area"]


def test_area_is_refused_on_one_accelerator(tmp_path):
    path = tmp_path / "nas.yaml"
    path.write_text(yaml.safe_dump({"space": {"depth": [1, 2], "embed_dim": [64], "heads": [2], "ffn_dim": [128],
                                              "head_dim": 32, "max_seq_len": 64},
                                    "objectives": ["params", "area_mm2"]}))
    with pytest.raises(UserInputError, match="objectives.1: area_mm2 does not vary on one accelerator"):
        load_run_config(path)


def test_a_joint_search_finds_networks_with_their_accelerators_and_exports_the_chosen_one(tmp_path, monkeypatch):
    """Network and accelerator together: a tiny supernet trained by the run, its quality scored once per network,
    the chosen pair's network exported and its accelerator written out."""
    monkeypatch.chdir(tmp_path)
    space = {"depth": [1, 2], "embed_dim": [32, 64], "heads": [1, 2], "ffn_dim": [64, 128], "head_dim": 16,
             "max_seq_len": 64}
    path = dse_config(tmp_path, "joint", arch=None, space=space,
                      supernet={"steps": 6, "seq_len": 32, "batch_size": 4, "eval_windows": 4, "checkpoint_every": 3},
                      workload={"phase": "prefill", "seq_len": 64},
                      objectives=["perplexity", "latency_ms", "area_mm2"], constraints=["area_mm2 <= 0.6"],
                      search={"population": 8, "generations": 2, "seed": 0},
                      export={"pick": "best", "format": "torch"})
    result = CliRunner().invoke(app, ["run", str(path)])
    assert result.exit_code == 0, result.output
    pareto = json.loads((tmp_path / "joint" / "pareto.json").read_text())
    networks = {json.dumps(row["arch"], sort_keys=True) for row in pareto["front"]}
    assert pareto["front"] and all(row["area_mm2"] <= 0.6 for row in pareto["front"])
    assert pareto["largest"]["hardware"]["name"] == "gemmini-default" and len(networks) >= 1
    best = min(pareto["front"], key=lambda row: row["objectives"]["perplexity"])
    exported = json.loads((tmp_path / "joint" / "subnets" / "chosen" / "export.json").read_text())
    assert ArchConfig.from_dict(exported["arch"]) == ArchConfig.from_dict(best["arch"])
    assert (tmp_path / "joint" / "hardware" / f"{best['rank']}.yaml").is_file()
    assert "(network, accelerator) pairs evaluated" in (tmp_path / "joint" / "report.md").read_text()
    assert exported["hardware"] == best["hardware"]  # the accelerator the network was found with
    picked = CliRunner().invoke(app, ["export", "joint", "--pick", "0", "--format", "torch", "--out", "again"])
    assert picked.exit_code == 0, picked.output
    assert json.loads((tmp_path / "again" / "export.json").read_text())["hardware"] == pareto["front"][0]["hardware"]
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("months of work")
    for out in ("joint", "mine"):  # a run directory, a folder of the user's own: never replaced by an export
        refused = CliRunner().invoke(app, ["export", "joint", "--pick", "0", "--format", "torch", "--out", out])
        why = "holds an input of this command" if out == "joint" else "was not written by hwnas"
        assert refused.exit_code == 2 and why in refused.stderr, refused.stderr
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "months of work"
    assert (tmp_path / "joint" / "pareto.json").is_file() and (tmp_path / "joint" / "supernet").is_dir()


@pytest.mark.parametrize("state", ["[1, 2]", '{"version": 2}', "{", '{"version": 2, "algorithm": "nsga2"}'])
def test_a_damaged_search_state_is_one_line(tmp_path, monkeypatch, state):
    monkeypatch.chdir(tmp_path)
    assert CliRunner().invoke(app, ["search", str(dse_config(tmp_path, search={"population": 6, "generations": 1,
                                                                                   "seed": 0}))]).exit_code == 0
    saved = json.loads((tmp_path / "dse" / "search_state.json").read_text())
    damaged = state if state != '{"version": 2}' else json.dumps({**saved, "rng": None})
    (tmp_path / "dse" / "search_state.json").write_text(damaged)
    result = CliRunner().invoke(app, ["search", "--resume", "dse"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "search_state.json:" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_joint_search_starts_from_the_networks_extremes_on_varied_accelerators():
    """A quarter of generation 0 holds the largest network and a quarter the smallest, each on its own random
    accelerator; random search, the baseline, draws uniformly."""
    from nas.codec import JointSpace
    from nas.evolution import EvolutionarySearch, RandomSearch
    from nas.objectives import Objective
    from predictors.accelerator.hardware_space import HardwareSpace
    from supernet.space import SearchSpace

    networks = SearchSpace(depth=[2, 3, 4], embed_dim=[128, 256], heads=[2, 4], ffn_dim={"min": 256, "max": 1024, "step": 128})
    codec = JointSpace(networks, HardwareSpace.from_mapping(SPACE, "hardware_space"))
    cheap = [Objective("params", lambda cs: [c.arch.depth * c.arch.embed_dim for c in cs]),
             Objective("rows", lambda cs: [c.hw.rows for c in cs])]
    for search, expected in ((EvolutionarySearch, 4), (RandomSearch, 0)):
        first = search(codec, cheap, population=16, generations=0, seed=3).run().evaluated.values()
        largest = [c.hw.fingerprint() for c, _ in first if c.arch == networks.largest()]
        smallest = [c.hw.fingerprint() for c, _ in first if c.arch == networks.smallest()]
        assert (len(largest), len(smallest)) == (expected, expected)
        assert len(set(largest)) == len(largest) and len(set(smallest)) == len(smallest)


@pytest.mark.parametrize("designs", [1, 2, 13_122])
def test_generation_zero_is_distinct_and_holds_both_extremes_whatever_the_hardware_side(designs):
    """A network search (one accelerator) and co-searches over 2 or many accelerators: the extremes appear as
    often as there are accelerators to pair them with, up to a quarter of the population, and nothing repeats."""
    from nas.codec import JointSpace
    from nas.evolution import EvolutionarySearch
    from nas.objectives import Objective
    from predictors.accelerator.hardware_space import HardwareSpace
    from supernet.space import SearchSpace

    networks = SearchSpace(depth=[2, 3, 4], embed_dim=[128, 256], heads=[2, 4], ffn_dim=[256, 512, 1024])
    if designs == 1:
        codec, arch_of = networks, (lambda c: c)
    else:
        hardware = HardwareSpace.from_mapping(SPACE if designs > 2 else {"extends": "gemmini-default",
                                                                          "rows": [8, 16]}, "hardware_space")
        assert hardware.size() == designs
        codec, arch_of = JointSpace(networks, hardware), (lambda c: c.arch)
    cheap = [Objective("params", lambda cs: [arch_of(c).depth for c in cs]),
             Objective("width", lambda cs: [arch_of(c).embed_dim for c in cs])]
    first = list(EvolutionarySearch(codec, cheap, population=16, generations=0, seed=1).run().evaluated.values())
    assert len(first) == 16  # distinct keys
    expected = min(4, designs)
    assert sum(arch_of(c) == networks.largest() for c, _ in first) == expected
    assert sum(arch_of(c) == networks.smallest() for c, _ in first) == expected
