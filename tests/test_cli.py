import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from nas.cli import app

HWNAS = [sys.executable, "-m", "nas.cli"]


def run(*args, cwd=None):
    return subprocess.run(HWNAS + list(args), capture_output=True, text=True, cwd=cwd, timeout=120)


def test_simulate_json_report():
    out = run("simulate", "--hardware", "gemmini-ibert", "--model", "bert-base", "--seq-len", "128", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["hardware"] == "gemmini-ibert" and len(report["per_layer_cycles"]) == 12
    assert report["cycles"] == pytest.approx(sum(report["breakdown_cycles"].values()))
    assert 0 < report["utilization"] <= report["matmul_utilization"] <= 1


def test_simulate_table_and_custom_arch(tmp_path):
    arch = tmp_path / "arch.json"
    arch.write_text(json.dumps({"embed_dim": 672, "layers": [{"heads": 12, "ffn_dim": 1280}, {"heads": 6, "ffn_dim": 1280}]}))
    out = run("simulate", "--arch", str(arch), "--phase", "decode", "--seq-len", "256")
    assert out.returncode == 0, out.stderr
    assert "matmul" in out.stdout and "latency" in out.stdout


def test_hardware_list_and_show():
    listing = run("hardware", "list")
    assert listing.returncode == 0 and "gemmini-ibert" in listing.stdout
    shown = run("hardware", "show", "gemmini-rebalanced")
    assert shown.returncode == 0 and "accumulator_kib: 256.0" in shown.stdout


@pytest.mark.parametrize("args,expected", [
    (["simulate", "--model", "bert"], "--model: unknown model 'bert'"),
    (["simulate", "--model", "gpt2", "--hardware", "missing.yaml"], "missing.yaml: file not found"),
    (["simulate", "--model", "gpt2", "--seq-len", "-4"], "--seq-len: Input should be greater than or equal to 0"),
    (["simulate", "--model", "gpt2", "--phase", "sideways"], "--phase: Input should be 'prefill', 'decode' or 'generate'"),
    (["simulate", "--model", "gpt2", "--arch", "a.json"], "give exactly one of --model and --arch"),
    (["simulate", "--arch", "bad_arch.json"], "bad_arch.json: layers[0]: expected the keys 'heads' and 'ffn_dim'"),
    (["simulate", "--model", "gpt2", "--hardware", "bad_hw.yaml"], "bad_hw.yaml: dataflow: Input should be"),
    (["hardware", "show", "tpu-v9"], "unknown hardware preset 'tpu-v9'"),
    (["latency-data", "--out", "d.parquet", "--space", "tiny"], "unknown search space 'tiny'"),
    (["latency-data", "--out", "d.parquet", "--workload", "phase=decode,seq_len=0"], "needs seq_len >= 1"),
    (["latency-data", "--out", "d.parquet", "--workload", "seqlen=3"], "seqlen: unknown key"),
    (["latency-data", "--out", "d.parquet", "--executor", "mpi"], "--executor: expected serial, process or ray"),
    (["latency-data", "--out", "d.parquet", "--from-csv", "m.csv"], "--from-csv needs --device NAME"),
    (["predictor", "train", "--data", "nothing.parquet", "--out", "p"], "nothing.parquet: dataset not found"),
    (["predictor", "eval", "nowhere", "--data", "nothing.parquet"], "nothing.parquet: dataset not found"),
])
def test_user_mistakes_give_one_line_and_exit_2(tmp_path, monkeypatch, args, expected):
    (tmp_path / "bad_arch.json").write_text('{"embed_dim": 64, "layers": [{"heads": 2}]}')
    (tmp_path / "bad_hw.yaml").write_text("extends: gemmini-default\ndataflow: diagonal\n")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr


def test_a_real_process_prints_no_traceback(tmp_path):
    (tmp_path / "bad_hw.yaml").write_text("rows: [16\n")
    out = run("simulate", "--model", "gpt2", "--hardware", "bad_hw.yaml", cwd=tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip() == ("error: bad_hw.yaml: not valid YAML: while parsing a flow sequence: expected ',' or "
                                  "']', but got '<stream end>' (line 2, column 1)")


def test_latency_data_train_and_eval_round_trip(tmp_path):
    data, other = tmp_path / "ibert.parquet", tmp_path / "default.parquet"
    # the two datasets are made by real processes, side by side; training and evaluation run the same CLI in-process
    making = [subprocess.Popen(HWNAS + ["latency-data", "--out", str(out), "--samples", samples, *hardware, "--workload",
                                        "phase=decode,seq_len=256", "--executor", "serial"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for out, samples, hardware in ((data, "120", []), (other, "20", ["--hardware", "gemmini-default"]))]
    for made in making:
        _, stderr = made.communicate(timeout=120)
        assert made.returncode == 0, stderr
    runner = CliRunner()
    trained = runner.invoke(app, ["predictor", "train", "--data", str(data), "--out", str(tmp_path / "pred"),
                                  "--model", "gbm"])
    assert trained.exit_code == 0, (trained.output, trained.exception)
    metrics = json.loads((tmp_path / "pred" / "metrics.json").read_text())
    assert metrics["test"]["n"] == 12 and metrics["test"]["mape"] < 0.05
    assert (tmp_path / "pred" / "scatter.png").stat().st_size > 1000
    evaluated = runner.invoke(app, ["predictor", "eval", str(tmp_path / "pred"), "--data", str(data)])
    assert evaluated.exit_code == 0 and "all" in evaluated.stdout, (evaluated.output, evaluated.exception)
    refused = runner.invoke(app, ["predictor", "eval", str(tmp_path / "pred"), "--data", str(other)])
    assert refused.exit_code == 2 and "trained for hardware 'gemmini-ibert'" in refused.stderr


def _strict_json(text: str):
    """JSON as other tools read it: Python's `Infinity` / `NaN` extensions are refused."""
    def refuse(name):
        raise ValueError(f"not JSON: {name}")

    return json.loads(text, parse_constant=refuse)


def test_json_outputs_are_strict_json():
    runner = CliRunner()
    sim = runner.invoke(app, ["simulate", "--model", "gpt2", "--phase", "generate", "--seq-len", "0",
                              "--new-tokens", "4", "--head", "lm", "--json"])
    assert sim.exit_code == 0, sim.stderr
    assert _strict_json(sim.stdout)["workload"]["new_tokens"] == 4
    shown = runner.invoke(app, ["hardware", "show", "gemmini-ibert", "--json"])
    assert shown.exit_code == 0, shown.stderr
    settings = _strict_json(shown.stdout)
    assert settings["accumulator_kib"] == 256 and len(settings["fingerprint"]) == 12


def test_usage_mistakes_are_one_line_too():
    result = CliRunner().invoke(app, ["simulate", "--seq-len", "twelve"])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: Invalid value for '--seq-len'")
    assert CliRunner().invoke(app, ["--help"]).exit_code == 0


def test_simulate_names_the_dma_queue_and_draws_a_roofline(tmp_path):
    (tmp_path / "os32.yaml").write_text("extends: gemmini-ibert\nrows: 32\ncols: 32\ndataflow: os\n"
                                        "double_buffered: false\n")
    out = run("simulate", "--model", "bert-base", "--hardware", "os32.yaml", "--plot", "roof.png", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "bound by: the DMA queue" in " ".join(out.stdout.split())
    assert "16 requests x 64 B / 160 cycles = 6.40 B/cycle" in " ".join(out.stdout.split())
    assert (tmp_path / "roof.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    as_json = json.loads(run("simulate", "--model", "bert-base", "--hardware", "os32.yaml", "--json",
                             cwd=tmp_path).stdout)
    ffn2 = next(g for g in as_json["gemms"] if g["name"] == "ffn2")
    assert ffn2["limit"] == "dma_queue" and ffn2["layers"] == list(range(12))
    assert ffn2["mapping"]["tile_k"] > 0 and sum(as_json["energy_pj_by_component"].values()) > 0
