import json
import subprocess
import sys
from pathlib import Path

import pytest

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
    (["simulate", "--arch", "bad_arch.json"], "bad_arch.json: layers[0]: expected exactly the keys"),
    (["simulate", "--model", "gpt2", "--hardware", "bad_hw.yaml"], "bad_hw.yaml: dataflow: Input should be"),
    (["hardware", "show", "tpu-v9"], "unknown hardware preset 'tpu-v9'"),
])
def test_user_mistakes_give_one_line_and_exit_2(tmp_path, args, expected):
    (tmp_path / "bad_arch.json").write_text('{"embed_dim": 64, "layers": [{"heads": 2}]}')
    (tmp_path / "bad_hw.yaml").write_text("extends: gemmini-default\ndataflow: diagonal\n")
    out = run(*args, cwd=tmp_path)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], out.stderr
