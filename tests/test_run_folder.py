"""Run folders: one of the previous release resumes, a folder that is not a run's is never written into, the
co-design designs folder keeps what hwnas did not write, and damaged files of a run are one line naming them.

Each refusal runs the real CLI and checks exit code 2, one `error:` line and that every file under the test folder
is byte-identical afterwards (`test_data_safety.refused`)."""
import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from nas.cli import app
from nas.config import load_run_config
from nas.pipeline.stages import _read_scores
from userfiles import UserInputError

from test_data_safety import ok, refused, tree

SPACE = {"depth": [1, 2], "embed_dim": [32, 48], "heads": [1, 2], "ffn_dim": [64, 96], "head_dim": 16,
         "max_seq_len": 128}
# Costed by the simulator and by shape: no latency data, no predictor, no supernet; a search takes seconds.
FAST = {"objectives": [{"name": "latency_ms", "source": "simulator"}, "params"],
        "workload": {"phase": "prefill", "seq_len": 32}, "search": {"population": 8, "generations": 2, "seed": 1},
        "executor": {"kind": "serial"}, "export": {"pick": "none"}}
DSE_SPACE = {"extends": "gemmini-default", "rows": [8, 16], "cols": [8, 16]}
DSE = {"arch": {"embed_dim": 64, "head_dim": 32, "layers": [{"heads": 2, "ffn_dim": 128}]},
       "workload": {"phase": "prefill", "seq_len": 32, "causal": False},
       "objectives": ["latency_ms", "area_mm2"], "search": {"population": 6, "generations": 2, "seed": 1},
       "executor": {"kind": "serial"}, "export": {"pick": "none"}}


def config(root: Path, name: str = "c", **changes) -> Path:
    data = {"name": "r", "space": SPACE, **FAST, "output": "out", **changes}
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def dse(root: Path, name: str = "d", **changes) -> Path:
    data = {"name": "d", "hardware_space": DSE_SPACE, **DSE, "output": "out", **changes}
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def invoke(root: Path, args: list):
    import os

    cwd = os.getcwd()
    os.chdir(root)
    try:
        return CliRunner().invoke(app, [str(a) for a in args])
    finally:
        os.chdir(cwd)


def as_previous_release(folder: Path, mapper: str = "gemmini", objective: str = "cycles",
                        section: str = "hardware") -> None:
    """Rewrite `config.yaml` as hwnas bb8c7a4 stored it: no `mapping:` section, the mapper in the hardware."""
    stored = yaml.safe_load((folder / "config.yaml").read_text())
    stored.pop("mapping", None)
    stored[section] = {**stored[section], "mapper": mapper, "mapper_objective": objective}
    (folder / "config.yaml").write_text(yaml.safe_dump(stored, sort_keys=False))


# ---- 1. a run folder of the previous release ---------------------------------------------------------------
def test_a_run_folder_of_the_previous_release_resumes_and_another_mapper_is_refused(tmp_path):
    path = config(tmp_path)
    ok(tmp_path, ["search", path])
    front = json.loads((tmp_path / "out" / "pareto.json").read_text())
    as_previous_release(tmp_path / "out")
    resumed = invoke(tmp_path, ["search", path])
    assert resumed.exit_code == 0, resumed.output
    assert "[search] up to date" not in resumed.output and "holds a run of another config" not in resumed.output
    assert json.loads((tmp_path / "out" / "pareto.json").read_text()) == front
    assert "mapping" in yaml.safe_load((tmp_path / "out" / "config.yaml").read_text())  # rewritten as now
    assert "mapper" not in yaml.safe_load((tmp_path / "out" / "config.yaml").read_text())["hardware"]

    as_previous_release(tmp_path / "out", mapper="search")
    line = refused(tmp_path, ["search", path], "mapping.mapper differs", "search in the run folder",
                   "stored as hardware.mapper", "gemmini now")
    assert line.startswith("error: out: holds a run of another config")
    as_previous_release(tmp_path / "out", objective="energy")
    refused(tmp_path, ["search", path], "mapping.objective differs", "energy in the run folder", "cycles now")
    # the run that maps as that folder did resumes it
    ok(tmp_path, ["search", config(tmp_path, mapping={"mapper": "gemmini", "objective": "energy"})])


def test_a_codesign_folder_of_the_previous_release_with_the_mapper_in_its_hardware_space_resumes(tmp_path):
    path = dse(tmp_path)
    ok(tmp_path, ["search", path])
    as_previous_release(tmp_path / "out", section="hardware_space")
    ok(tmp_path, ["search", path])
    as_previous_release(tmp_path / "out", mapper="search", section="hardware_space")
    refused(tmp_path, ["search", path], "mapping.mapper differs", "stored as hardware_space.mapper")


# ---- 2. the designs folder ---------------------------------------------------------------------------------
def test_a_users_file_in_the_designs_folder_is_kept_and_the_run_refused_before_searching(tmp_path):
    path = dse(tmp_path)
    ok(tmp_path, ["search", path])
    designs = tmp_path / "out" / "hardware"
    ranks = {row["rank"] for row in json.loads((tmp_path / "out" / "pareto.json").read_text())["front"]}
    assert {p.name for p in designs.glob("*.yaml")} == {f"{r}.yaml" for r in ranks}
    (designs / "mine.yaml").write_text("rows: 4\n")
    refused(tmp_path, ["search", path], "out/hardware: holds mine.yaml, which hwnas did not write")
    (designs / "mine.yaml").unlink()
    (designs / f"{min(ranks)}.yaml").write_text("# my notes\n")
    refused(tmp_path, ["search", path], f"{min(ranks)}.yaml changed since hwnas wrote it")


def test_a_rerun_replaces_its_own_designs_only(tmp_path):
    path = dse(tmp_path)
    ok(tmp_path, ["search", path])
    ok(tmp_path, ["search", dse(tmp_path, search={"population": 4, "generations": 1, "seed": 5})])
    ranks = {row["rank"] for row in json.loads((tmp_path / "out" / "pareto.json").read_text())["front"]}
    assert {p.name for p in (tmp_path / "out" / "hardware").glob("*.yaml")} == {f"{r}.yaml" for r in ranks}


def test_an_extends_file_inside_the_output_is_refused(tmp_path):
    (tmp_path / "out" / "hardware").mkdir(parents=True)
    hw = yaml.safe_load((Path(__file__).parents[1] / "predictors" / "accelerator" / "presets"
                         / "gemmini-default.yaml").read_text())
    (tmp_path / "out" / "hardware" / "base.yaml").write_text(yaml.safe_dump(hw))
    path = dse(tmp_path, hardware_space={**DSE_SPACE, "extends": "out/hardware/base.yaml"})
    refused(tmp_path, ["search", path], "output: out: holds an input of this command", "base.yaml")


# ---- 3. folders that are not a run's -----------------------------------------------------------------------
def test_a_users_folder_is_not_written_into(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "report.md").write_text("# my own report\n")
    (tmp_path / "out" / "config.yaml").write_text("mine: true\n")
    line = refused(tmp_path, ["search", config(tmp_path)], "out: is not an hwnas run folder", "holds config.yaml")
    assert line.count("error:") == 1
    refused(tmp_path, ["run", config(tmp_path)], "is not an hwnas run folder")


@pytest.mark.parametrize("where, key", [("hardware", "hw.yaml"), ("arch", "arch.json"), ("data", "train.txt")])
def test_an_output_holding_an_input_of_the_run_is_refused(tmp_path, where, key):
    out = tmp_path / "out"
    out.mkdir()
    if where == "hardware":
        hw = yaml.safe_load((Path(__file__).parents[1] / "predictors" / "accelerator" / "presets"
                             / "gemmini-default.yaml").read_text())
        (out / key).write_text(yaml.safe_dump(hw))
        path = config(tmp_path, hardware=f"out/{key}")
    elif where == "arch":
        (out / key).write_text(json.dumps(DSE["arch"]))
        path = dse(tmp_path, arch=f"out/{key}")
    else:
        (out / key).write_text("some text to train on\n" * 50)
        path = config(tmp_path, supernet={"data": f"out/{key}", "steps": 2, "seq_len": 16})
    refused(tmp_path, ["search", path], "output: out: holds an input of this command", key)


def test_a_supernet_trained_into_the_output_is_reused_by_the_run(tmp_path):
    """`hwnas supernet train` fills `<output>/supernet` before any run folder exists: not someone's folder."""
    (tmp_path / "out" / "supernet").mkdir(parents=True)
    ok(tmp_path, ["search", config(tmp_path)])
    assert (tmp_path / "out" / "meta.json").is_file()


# ---- 4. damaged files of a run -----------------------------------------------------------------------------
@pytest.mark.parametrize("name, text, fragment", [
    ("stages.json", "{", "damaged stage record (not valid JSON"),
    ("stages.json", "[1, 2]", "damaged stage record (not a mapping"),
    ("stages.json", '{"search": 3}', "damaged stage record (search: expected a fingerprint"),
    ("stages.json", '{"search": {"fingerprint": NaN}}', "damaged stage record"),
    ("config.yaml", "a: 1\na: 2\n", "damaged run config (not valid YAML: duplicate key"),
    ("config.yaml", "- 1\n", "damaged run config (not a mapping"),
])
def test_a_damaged_run_file_is_one_line_naming_it(tmp_path, name, text, fragment):
    path = config(tmp_path)
    ok(tmp_path, ["search", path])
    (tmp_path / "out" / name).write_text(text)
    refused(tmp_path, ["search", path], f"out/{name}: {fragment}")


def test_a_config_yaml_that_is_not_utf8_is_one_line(tmp_path):
    path = config(tmp_path)
    ok(tmp_path, ["search", path])
    (tmp_path / "out" / "config.yaml").write_bytes(b"name: \xff\n")
    refused(tmp_path, ["search", path], "config.yaml: damaged run config (not UTF-8")


@pytest.mark.parametrize("saved, why", [
    ("{", "not valid JSON"),
    ('{"fingerprint": "f", "scores": {"a": 1.0}, "seconds": "soon"}', "seconds is not a finite number"),
    ('{"fingerprint": "f", "scores": {"a": Infinity}, "seconds": 1}', "Infinity is not allowed"),
    ('{"fingerprint": "f", "scores": {"a": null}, "seconds": 1}', "the score of a is not a finite number"),
    ('{"fingerprint": "f", "scores": [], "seconds": 1}', "not a score record"),
])
def test_damaged_saved_scores_are_ignored_with_a_log_line_and_rescored(tmp_path, saved, why):
    path = tmp_path / "scores.json"
    path.write_text(saved)
    lines = []
    assert _read_scores(path, "f", lines.append) == {"fingerprint": "f", "scores": {}, "seconds": 0.0}
    assert len(lines) == 1 and why in lines[0] and str(path) in lines[0], lines


def test_saved_scores_of_the_same_scoring_are_kept(tmp_path):
    path = tmp_path / "scores.json"
    path.write_text('{"fingerprint": "f", "scores": {"a": 3, "b": 1.5}, "seconds": 2}')
    assert _read_scores(path, "f", pytest.fail) == {"fingerprint": "f", "scores": {"a": 3.0, "b": 1.5},
                                                    "seconds": 2.0}
    assert _read_scores(path, "g", pytest.fail)["scores"] == {}  # another scoring's: quietly not used


@pytest.mark.parametrize("card, fragment", [
    ('{"target": "latency_ms", "meta": []}', "damaged predictor card"),
    ('{"meta": {}}', "damaged predictor card"),
    ("{", "not valid JSON"),
])
def test_a_damaged_predictor_card_is_one_line(tmp_path, card, fragment):
    (tmp_path / "pred").mkdir()
    (tmp_path / "pred" / "predictor.json").write_text(card)
    path = config(tmp_path, predictor={"path": "pred"},
                  objectives=["params", {"name": "latency_ms", "source": "predictor"}])
    refused(tmp_path, ["search", path], "predictor.json", fragment)
    with pytest.raises(UserInputError, match="predictor.json"):
        load_run_config(path)


def test_damaged_predictor_metrics_are_one_line_naming_them(tmp_path):
    path = config(tmp_path, objectives=["params", {"name": "latency_ms", "source": "predictor"}],
                  predictor={"samples": 30})
    ok(tmp_path, ["search", path])
    metrics = tmp_path / "out" / "latency" / "predictor_latency_ms" / "metrics.json"
    data = json.loads(metrics.read_text())
    data["test"]["mape"] = "low"
    metrics.write_text(json.dumps(data))
    result = invoke(tmp_path, ["search", path])
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and "Traceback" not in result.output, result.output
    assert f"{metrics.relative_to(tmp_path)}: damaged predictor metrics (test.mape: expected a finite number" \
        in lines[0].replace(str(tmp_path) + "/", "")
    assert tree(tmp_path)  # the folder is still there


def test_a_damaged_export_record_is_one_line_naming_it(tmp_path):
    supernet = {"steps": 4, "seq_len": 16, "batch_size": 2, "eval_windows": 2}
    path = config(tmp_path, supernet=supernet, objectives=["perplexity", {"name": "latency_ms", "source": "simulator"}],
                  export={"pick": "best", "format": "torch"})
    ok(tmp_path, ["run", path])
    record = tmp_path / "out" / "subnets" / "chosen" / "export.json"
    assert json.loads(record.read_text())["format"] == "torch"
    record.write_text('{"format": "torch", "checked": true, "max_abs_diff": "tiny"}')
    result = invoke(tmp_path, ["run", path])
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and "Traceback" not in result.output, result.output
    assert "out/subnets/chosen/export.json: damaged export record" in lines[0], lines[0]
    assert record.read_text() == '{"format": "torch", "checked": true, "max_abs_diff": "tiny"}'


# ---- 5. the mapping objective ------------------------------------------------------------------------------
def test_the_mapping_objective_is_derived_for_the_search_mapper_only(tmp_path):
    energy = {"objectives": [{"name": "energy_mj", "source": "simulator"}, "params"]}
    assert load_run_config(config(tmp_path, **energy)).mapping_objective == "cycles"  # gemmini, as before
    searched = load_run_config(config(tmp_path, **energy, mapping={"mapper": "search"}))
    assert searched.mapping_objective == "energy" and searched.simulator(searched.accelerator()).objective == "energy"
    given = load_run_config(config(tmp_path, **energy, mapping={"mapper": "gemmini", "objective": "energy"}))
    assert given.simulator(given.accelerator()).objective == "energy"  # its fallback tiles for it
