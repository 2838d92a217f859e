"""Malformed inputs through the real CLI, every command: each must end as exactly one line `error: ...` on stderr,
exit code 2, and no traceback (issue 9). The cases run in-process with typer's CliRunner (every one fails before
any heavy work); a few run as real processes, to prove what only a process shows: no traceback reaches the
terminal, and a broken run config is refused before torch is imported.

Each case is (id, files to write, arguments, a fragment the one line must contain). Files are written into a
fresh folder that is also the current directory; `bytes` contents are written as they are.
"""
from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from nas.cli import app

REPO = Path(__file__).resolve().parents[1]

# A run config that validates: each config case below changes one thing in it.
GOOD_RUN = {
    "name": "t", "space": {"depth": [1, 2], "embed_dim": [32, 64], "heads": [1, 2], "ffn_dim": [64, 128],
                           "head_dim": 16, "max_seq_len": 64},
    "supernet": {"steps": 2, "seq_len": 32, "batch_size": 2}, "hardware": "gemmini-ibert",
    "workload": {"phase": "prefill", "seq_len": 64}, "predictor": {"samples": 20},
    "search": {"population": 4, "generations": 1}, "executor": {"kind": "serial"}, "output": "out",
}
ARCH = {"embed_dim": 64, "layers": [{"heads": 2, "ffn_dim": 128}]}


def run_config(**changes) -> str:
    """GOOD_RUN with sections replaced or merged (a dict merges into the section), as JSON-flavoured YAML."""
    config = json.loads(json.dumps(GOOD_RUN))
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key].update(value)
        else:
            config[key] = value
    return json.dumps(config)


BILLION_LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(6))

BAD_UTF8 = b"rows: 16\ndescription: caf\xe9\n"
DUP_HW = "extends: gemmini-default\nrows: 16\ncols: 16\nrows: 32\n"
HW = "extends: gemmini-default\n"

# (id, files, args, expected fragment of the one line)
CASES = [
    # ---- malformed files ------------------------------------------------------------------------------------
    ("file/arch-json-nested-100k", {"deep.json": "[" * 100_000 + "]" * 100_000},
     ["simulate", "--arch", "deep.json"], "deep.json: not valid JSON: nested too deeply"),
    ("file/arch-json-nested-100", {"deep.json": '{"a": ' * 100 + "1" + "}" * 100},
     ["simulate", "--arch", "deep.json"], "nested more than 64 levels deep"),
    ("file/hardware-yaml-nested-100k", {"deep.yaml": "rows: " + "[" * 100_000 + "]" * 100_000},
     ["hardware", "show", "deep.yaml"], "deep.yaml: not valid YAML: nested too deeply"),
    ("file/space-yaml-nested-100k", {"space.yaml": "depth: " + "[" * 100_000 + "]" * 100_000},
     ["latency-data", "--out", "d.csv", "--space", "space.yaml"], "space.yaml: not valid YAML: nested too deeply"),
    ("file/run-config-nested-100k", {"run.yaml": "space: " + "[" * 100_000 + "]" * 100_000},
     ["search", "run.yaml"], "run.yaml: not valid YAML: nested too deeply"),
    ("file/yaml-billion-laughs", {"laughs.yaml": BILLION_LAUGHS},
     ["hardware", "show", "laughs.yaml"], "more than 200,000 values"),
    ("file/hardware-not-utf8", {"hw.yaml": BAD_UTF8}, ["hardware", "show", "hw.yaml"],
     "hw.yaml: not UTF-8 text (byte 0xe9 on line 2)"),
    ("file/arch-not-utf8", {"a.json": b'{"embed_dim": 64, "x": "\xff"}'}, ["simulate", "--arch", "a.json"],
     "a.json: not UTF-8 text"),
    ("file/run-config-not-utf8", {"run.yaml": b"name: \xc3\x28\n"}, ["run", "run.yaml"], "run.yaml: not UTF-8"),
    ("file/workload-file-not-utf8", {"w.yaml": b"phase: \xfe\n"},
     ["latency-data", "--out", "d.csv", "--workload", "w.yaml"], "w.yaml: not UTF-8 text"),
    ("file/arch-is-a-directory", {"archdir/keep": ""}, ["simulate", "--arch", "archdir"],
     "archdir: is a directory, expected a file"),
    ("file/hardware-is-a-directory", {"hw.yaml/keep": ""}, ["hardware", "show", "hw.yaml"],
     "hw.yaml: is a directory"),
    ("file/run-config-is-a-directory", {"conf.yaml/keep": ""}, ["search", "conf.yaml"],
     "conf.yaml: is a directory"),
    ("file/space-is-a-directory", {"s.yaml/keep": ""}, ["latency-data", "--out", "d.csv", "--space", "s.yaml"],
     "s.yaml: is a directory"),
    ("file/too-large", {"big.json": '{"embed_dim": 64, "pad": "' + "x" * (17 * 2**20) + '"}'},
     ["simulate", "--arch", "big.json"], "larger than the 16 MiB limit"),
    ("file/workload-list-value", {}, ["latency-data", "--out", "d.csv", "--workload", "seq_len=[1, 2]"],
     "seq_len: expected a single value"),
    ("file/workload-mapping-value", {}, ["latency-data", "--out", "d.csv", "--workload", "phase={a: 1}"],
     "phase: expected a single value"),
    ("file/workload-python-tag", {},
     ["latency-data", "--out", "d.csv", "--workload", "seq_len=!!python/object/apply:os.system ['touch pwned']"],
     "seq_len: expected a single value"),
    ("file/workload-python-name-tag", {},
     ["latency-data", "--out", "d.csv", "--workload", "phase=!!python/name:os.system"],
     "phase: expected a single value"),
    ("file/workload-unclosed-quote", {}, ["latency-data", "--out", "d.csv", "--workload", "phase='decode"],
     "phase: expected a single value"),
    ("file/workload-nan", {}, ["latency-data", "--out", "d.csv", "--workload", "seq_len=.nan"],
     "numbers must be finite"),
    ("file/workload-key-twice", {}, ["latency-data", "--out", "d.csv", "--workload", "seq_len=8,seq_len=16"],
     "seq_len is given twice"),
    ("file/workload-file-python-tag", {"w.yaml": "phase: !!python/object/apply:os.system ['touch pwned']\n"},
     ["latency-data", "--out", "d.csv", "--workload", "w.yaml"], "w.yaml: not valid YAML"),
    ("file/extends-cycle-through-dotdot", {"hw/a.yaml": "extends: ../hw/a.yaml\nrows: 8\n"},
     ["hardware", "show", "hw/a.yaml"], "extends itself"),
    ("file/extends-two-file-cycle", {"x/a.yaml": "extends: ../y/b.yaml\n", "y/b.yaml": "extends: ../x/a.yaml\n"},
     ["simulate", "--model", "gpt2", "--hardware", "x/a.yaml"], "a cycle of extends"),
    ("file/extends-a-directory", {"a.yaml": "extends: sub\n", "sub/keep": ""}, ["hardware", "show", "a.yaml"],
     "extends: 'sub' is a directory"),
    ("file/extends-cycle-in-run-config", {"hw/a.yaml": "extends: ../hw/./a.yaml\n", "run.yaml": run_config(
        hardware="hw/a.yaml")}, ["search", "run.yaml"], "run.yaml: hardware: hw/a.yaml: extends:"),
    ("file/hardware-empty-name", {}, ["simulate", "--model", "gpt2", "--hardware", ""],
     "hardware: empty name; expected a preset"),
    ("file/hardware-is-a-device", {}, ["hardware", "show", "/dev/zero"], "/dev/zero: not a regular file"),
    ("file/arch-top-level-list", {"a.json": "[1, 2]"}, ["simulate", "--arch", "a.json"],
     "expected a mapping of keys to values"),
    # ---- silently accepted until now --------------------------------------------------------------------------
    ("accepted/duplicate-yaml-key-hardware", {"hw.yaml": DUP_HW}, ["hardware", "show", "hw.yaml"],
     "duplicate key 'rows' (line 4, column 1)"),
    ("accepted/duplicate-yaml-key-run-config", {"run.yaml": "name: a\nname: b\n"}, ["run", "run.yaml"],
     "duplicate key 'name'"),
    ("accepted/duplicate-json-key-arch", {"a.yaml": "embed_dim: 64\nembed_dim: 128\nlayers: []\n"},
     ["simulate", "--arch", "a.yaml"], "duplicate key 'embed_dim'"),
    ("accepted/depth-bool", {"run.yaml": run_config(space={"depth": [True, 2]})}, ["search", "run.yaml"],
     "space.depth.0: Input should be a valid integer"),
    ("accepted/heads-float", {"s.yaml": "depth: [1]\nembed_dim: [64]\nheads: [2.0]\nffn_dim: [64]\n"},
     ["latency-data", "--out", "d.csv", "--space", "s.yaml"], "heads.0: Input should be a valid integer"),
    ("accepted/clock-inf", {"hw.yaml": HW + "clock_mhz: .inf\n"}, ["hardware", "show", "hw.yaml"],
     "clock_mhz: inf is not allowed; numbers must be finite"),
    ("accepted/lanes-1e-300", {"hw.yaml": HW + "vector_units: {softmax: {where: accelerator, lanes: 1.0e-300}}\n"},
     ["simulate", "--model", "gpt2", "--hardware", "hw.yaml"],
     "vector_units.softmax.lanes: Input should be greater than or equal to 0.001"),
    ("accepted/rows-nan", {"hw.yaml": HW + "rows: .nan\n"}, ["hardware", "show", "hw.yaml"],
     "rows: nan is not allowed"),
    ("accepted/energy-nan", {"hw.yaml": HW + "energy: {mac_pj: .NaN}\n"},
     ["simulate", "--model", "gpt2", "--hardware", "hw.yaml"], "energy.mac_pj: nan is not allowed"),
    ("accepted/json-nan-in-arch", {"a.json": '{"embed_dim": NaN, "layers": []}'}, ["simulate", "--arch", "a.json"],
     "NaN is not allowed"),
    ("accepted/json-infinity-in-hardware", {"hw.json": '{"extends": "gemmini-default", "clock_mhz": Infinity}'},
     ["hardware", "show", "hw.json"], "Infinity is not allowed"),
    ("accepted/lr-nan-in-run-config", {"run.yaml": run_config(supernet={"lr": float("nan")}).replace(
        "NaN", ".nan")}, ["supernet", "train", "run.yaml"], "supernet.lr: nan is not allowed"),
    ("accepted/constraint-inf", {"run.yaml": run_config(constraints=[{"objective": "latency_ms", "op": "<=",
                                                                     "value": 1e999}]).replace("Infinity", ".inf")},
     ["search", "run.yaml"], "constraints.0.value: inf is not allowed"),
    ("accepted/workload-seq-len-float", {"w.yaml": "phase: prefill\nseq_len: 64.5\n"},
     ["latency-data", "--out", "d.csv", "--workload", "w.yaml"], "seq_len: Input should be a valid integer"),
    ("accepted/workload-batch-bool", {}, ["latency-data", "--out", "d.csv", "--workload", "batch=true"],
     "batch: Input should be a valid integer"),
    # ---- bounds on what can be asked for --------------------------------------------------------------------------
    ("bounds/max-seq-len-1e9", {"run.yaml": run_config(space={"max_seq_len": 10**9})}, ["run", "run.yaml"],
     "space.max_seq_len: Input should be less than or equal to 131072"),
    ("bounds/max-seq-len-1e9-float", {"run.yaml": run_config(space={"max_seq_len": 1e9})}, ["run", "run.yaml"],
     "space.max_seq_len: Input should be a valid integer"),
    ("bounds/ffn-range-30-million", {"run.yaml": run_config(space={"ffn_dim": {"min": 1, "max": 30_000_000,
                                                                             "step": 1}})},
     ["search", "run.yaml"], "has 30,000,000 choices, more than the limit of 1,024"),
    ("bounds/ffn-list-2000", {"s.json": json.dumps({"depth": [1], "embed_dim": [64], "heads": [1],
                                                    "ffn_dim": list(range(1, 2001))})},
     ["latency-data", "--out", "d.csv", "--space", "s.json"], "2,000 choices is more than the limit of 1,024"),
    ("bounds/ffn-value", {"run.yaml": run_config(space={"ffn_dim": [64, 10**7]})}, ["search", "run.yaml"],
     "space.ffn_dim: 10,000,000 is more than the limit of 262,144"),
    ("bounds/depth-value", {"run.yaml": run_config(space={"depth": [1, 1000]})}, ["run", "run.yaml"],
     "space.depth: 1,000 is more than the limit of 256"),
    ("bounds/new-tokens-1048576", {}, ["simulate", "--model", "gpt2", "--phase", "generate", "--seq-len", "0",
                                       "--new-tokens", "1048576"], "--new-tokens: Input should be less than or equal to 8192"),
    ("bounds/seq-len-plus-new-tokens", {}, ["simulate", "--model", "gpt2", "--phase", "generate", "--seq-len",
                                            "1048000", "--new-tokens", "8000"], "limit of 1,048,576 tokens of context"),
    ("bounds/seq-len", {}, ["simulate", "--model", "gpt2", "--seq-len", "2000000"],
     "--seq-len: Input should be less than or equal to 1048576"),
    ("bounds/batch", {}, ["simulate", "--model", "gpt2", "--batch", "100000"],
     "--batch: Input should be less than or equal to 65536"),
    ("bounds/vocab", {}, ["simulate", "--model", "gpt2", "--head", "lm", "--vocab-size", "1000000000"],
     "--vocab-size: Input should be less than or equal to 4194304"),
    ("bounds/scratchpad-quarter-kib", {"hw.yaml": HW + "scratchpad_kib: 0.25\n"}, ["hardware", "show", "hw.yaml"],
     "scratchpad_kib=0.25 cannot hold one tile (16x16 and 16x16 operands of 8 bits, double-buffered: half of the "
     "SRAM is usable): it needs at least 1 KiB"),
    ("bounds/array-4096", {"hw.yaml": HW + "rows: 4096\ncols: 4096\n"}, ["hardware", "show", "hw.yaml"],
     "accumulator_kib=64 cannot hold one tile (4096x4096 partial sums"),
    ("bounds/array-4096-in-simulate", {"hw.yaml": HW + "rows: 4096\ncols: 4096\n"},
     ["simulate", "--model", "gpt2", "--hardware", "hw.yaml"], "cannot hold one tile"),
    ("bounds/array-4096-inline-in-run-config", {"run.yaml": run_config(
        hardware={"extends": "gemmini-ibert", "rows": 4096, "cols": 4096})}, ["run", "run.yaml"],
     "run.yaml: hardware: accumulator_kib=256 cannot hold one tile"),
    ("bounds/rows-over-4096", {"hw.yaml": HW + "rows: 5000\n"}, ["hardware", "show", "hw.yaml"],
     "rows: Input should be less than or equal to 4096"),
    ("bounds/clock-zero", {"hw.yaml": HW + "clock_mhz: 0.000001\n"}, ["hardware", "show", "hw.yaml"],
     "clock_mhz: Input should be greater than or equal to 1"),
    ("bounds/dram-bandwidth-tiny", {"hw.yaml": HW + "dram_bytes_per_cycle: 1.0e-300\n"},
     ["hardware", "show", "hw.yaml"], "dram_bytes_per_cycle: Input should be greater than or equal to 0.001"),
    ("bounds/arch-embed-dim", {"a.json": json.dumps({"embed_dim": 10**9, "layers": [{"heads": 1, "ffn_dim": 1}]})},
     ["simulate", "--arch", "a.json"], "embed_dim=1,000,000,000 is more than the limit of 65,536"),
    ("bounds/arch-1000-layers", {"a.json": json.dumps({"embed_dim": 64, "layers": [{"heads": 1, "ffn_dim": 64}]
                                                       * 1000})},
     ["simulate", "--arch", "a.json"], "1000 layers is more than the limit of 256"),
    ("bounds/workload-option-seq-len", {}, ["latency-data", "--out", "d.csv", "--workload", "seq_len=2000000"],
     "seq_len: Input should be less than or equal to 1048576"),
    # ---- options that do not apply are refused, not ignored ------------------------------------------------
    ("ignored/vocab-without-lm-head", {}, ["simulate", "--model", "gpt2", "--vocab-size", "100"],
     "--vocab-size sizes the output layer of --head lm; this simulation has no head"),
    ("ignored/classes-with-lm-head", {}, ["simulate", "--model", "gpt2", "--head", "lm", "--num-classes", "3"],
     "--num-classes sizes the output layer of --head classifier; this simulation has --head lm"),
    ("ignored/strict-when-simulating", {}, ["latency-data", "--out", "d.csv", "--strict"],
     "--strict: does not apply here (without --from-csv the rows are simulated)"),
    ("ignored/latency-column-when-simulating", {}, ["latency-data", "--out", "d.csv", "--latency-column", "ms"],
     "--latency-column: does not apply here"),
    ("ignored/device-when-simulating", {}, ["latency-data", "--out", "d.csv", "--device", "jetson"],
     "--device: does not apply here"),
    ("ignored/seed-when-importing", {"m.csv": "latency_ms\n"},
     ["latency-data", "--out", "d.csv", "--from-csv", "m.csv", "--device", "d", "--seed", "3"],
     "--seed: does not apply here (--from-csv imports measured rows)"),
    ("ignored/workers-when-importing", {"m.csv": "latency_ms\n"},
     ["latency-data", "--out", "d.csv", "--from-csv", "m.csv", "--device", "d", "--workers", "2"],
     "--workers: does not apply here"),
    ("ignored/workers-with-serial", {}, ["latency-data", "--out", "d.csv", "--executor", "serial", "--workers", "2"],
     "--workers: --executor serial runs in this process"),
    ("ignored/ray-address-without-ray", {}, ["latency-data", "--out", "d.csv", "--ray-address", "auto"],
     "--ray-address: names a Ray cluster; it applies only with --executor ray, not process"),
    # ---- usage mistakes (click's usage box, now one line) ---------------------------------------------------
    ("usage/workers-minus-one", {}, ["latency-data", "--out", "d.csv", "--workers", "-1"],
     "Invalid value for '--workers'"),
    ("usage/workers-zero", {}, ["latency-data", "--out", "d.csv", "--workers", "0", "--samples", "20"],
     "Invalid value for '--workers'"),
    ("usage/seq-len-not-a-number", {}, ["simulate", "--model", "gpt2", "--seq-len", "abc"],
     "Invalid value for '--seq-len'"),
    ("usage/unknown-option", {}, ["simulate", "--colour"], "No such option: --colour"),
    ("usage/unknown-command", {}, ["simulat"], "No such command 'simulat'"),
    ("usage/missing-argument", {}, ["hardware", "show"], "Missing argument"),
    ("usage/missing-option", {}, ["predictor", "train", "--out", "p"], "Missing option '--data'"),
    ("usage/finetune-steps-zero", {}, ["finetune", "nowhere", "--steps", "0"], "Invalid value for '--steps'"),
    # ---- output paths --------------------------------------------------------------------------------------------
    ("output/dev-full", {}, ["latency-data", "--out", "/dev/full", "--samples", "20", "--executor", "serial"],
     "/dev/full"),
    ("output/under-proc", {}, ["latency-data", "--out", "/proc/hwnas/d.csv", "--samples", "20",
                               "--executor", "serial"], "/proc/hwnas/d.csv: cannot write"),
    ("output/file-where-a-folder-goes", {"taken": "a file"},
     ["latency-data", "--out", "taken/d.csv", "--samples", "20", "--executor", "serial"], "taken"),
    ("output/a-directory-as-the-file", {"d.csv/keep": ""},
     ["latency-data", "--out", "d.csv", "--samples", "20", "--executor", "serial"], "d.csv"),
    # ---- other commands: a broken input refused before any work -----------------------------------------------
    ("config/population-one", {"run.yaml": run_config(search={"population": 1})}, ["search", "run.yaml"],
     "run.yaml: search.population: Input should be greater than or equal to 2"),
    ("config/missing-data-file", {"run.yaml": run_config(supernet={"data": "corpus.txt"})}, ["run", "run.yaml"],
     "run.yaml: supernet.data: corpus.txt: data file not found"),
    ("config/data-is-a-directory", {"run.yaml": run_config(supernet={"data": "corpus"}), "corpus/keep": ""},
     ["supernet", "train", "run.yaml"], "supernet.data: corpus: is a directory"),
    ("config/missing-tokenizer", {"run.yaml": run_config(supernet={"tokenizer": "tok/bert"})},
     ["supernet", "train", "run.yaml"], "run.yaml: supernet.tokenizer: tok/bert: no such tokenizer folder"),
    ("config/missing-tokenizer-eval", {"run.yaml": run_config(supernet={"tokenizer": "./my-tokenizer"})},
     ["supernet", "eval", "run.yaml"], "supernet.tokenizer: my-tokenizer: no such tokenizer folder"),
    ("config/missing-init-from", {"run.yaml": run_config(supernet={"task": "classification", "init_from": "bert"},
                                                          objectives=["accuracy", "latency_ms"])},
     ["run", "run.yaml"], "supernet.init_from: bert: no such checkpoint folder"),
    ("config/hardware-duplicate-key-in-run", {"hw.yaml": DUP_HW, "run.yaml": run_config(hardware="hw.yaml")},
     ["run", "run.yaml"], "run.yaml: hardware: hw.yaml: not valid YAML: duplicate key 'rows'"),
    ("config/resume-not-a-run", {}, ["search", "--resume", "nowhere"], "nowhere: not a run directory"),
    ("export/not-a-run-directory", {}, ["export", "nowhere", "--pick", "0", "--out", "x"],
     "nowhere: not a run directory"),
    ("export/pick-and-arch", {}, ["export", "nowhere", "--pick", "0", "--arch", "a.json", "--out", "x"],
     "give exactly one of --pick N and --arch FILE.json"),
    ("predictor/train-missing-data", {}, ["predictor", "train", "--data", "none.parquet", "--out", "p"],
     "none.parquet: dataset not found"),
    ("predictor/eval-missing-data", {}, ["predictor", "eval", "nowhere", "--data", "none.parquet"],
     "none.parquet: dataset not found"),
    ("predictor/train-bad-model", {}, ["predictor", "train", "--data", "d.parquet", "--out", "p", "--model", "svm"],
     "--model: expected mlp, gbm or ensemble"),
    # ---- trust round 3 (issue 21): every field of every file, and options that do not apply -------------------
    ("accepted/scratchpad-true", {"hw.yaml": HW + "scratchpad_kib: true\n"}, ["hardware", "show", "hw.yaml"],
     "hw.yaml: scratchpad_kib: Input should be a valid number"),
    ("accepted/clock-true", {"hw.yaml": HW + "clock_mhz: true\n"}, ["simulate", "--model", "gpt2", "--hardware",
                                                                    "hw.yaml"], "clock_mhz: Input should be a valid number"),
    ("accepted/static-mw-true", {"hw.yaml": HW + "energy: {static_mw: true}\n"}, ["hardware", "show", "hw.yaml"],
     "energy.static_mw: Input should be a valid number"),
    ("accepted/clock-string", {"hw.yaml": HW + "clock_mhz: '1000'\n"}, ["hardware", "show", "hw.yaml"],
     "clock_mhz: Input should be a valid number"),
    ("accepted/lanes-true", {"hw.yaml": HW + "vector_units: {softmax: {where: accelerator, lanes: true}}\n"},
     ["hardware", "show", "hw.yaml"], "vector_units.softmax.lanes: Input should be a valid number"),
    ("accepted/double-buffered-string", {"hw.yaml": HW + "double_buffered: 'yes'\n"}, ["hardware", "show", "hw.yaml"],
     "double_buffered: Input should be a valid boolean"),
    ("accepted/fused-string", {"hw.yaml": "extends: gemmini-ibert\nvector_units: {gelu: {where: accelerator, "
                                          "fused: 'true'}}\n"}, ["hardware", "show", "hw.yaml"],
     "vector_units.gelu.fused: Input should be a valid boolean"),
    ("accepted/fusion-attention-one", {"hw.yaml": "extends: gemmini-ibert\nfusion: {attention: 1}\n"},
     ["hardware", "show", "hw.yaml"], "fusion.attention: Input should be a valid boolean"),
    ("accepted/acc-bits-one", {"hw.yaml": HW + "acc_bits: 1\n"}, ["hardware", "show", "hw.yaml"],
     "acc_bits=1 cannot hold one product of two 8-bit inputs (input_bits=8): acc_bits must be at least 16"),
    ("accepted/acc-bits-under-wide-inputs", {"hw.yaml": HW + "input_bits: 16\nacc_bits: 24\n"},
     ["simulate", "--model", "gpt2", "--hardware", "hw.yaml"], "acc_bits must be at least 32"),
    ("accepted/fused-softmax", {"hw.yaml": HW + "vector_units: {softmax: {where: accelerator, fused: true}}\n"},
     ["simulate", "--model", "gpt2", "--hardware", "hw.yaml"],
     "vector_units.softmax.fused: true applies only to gelu, silu, quantize"),
    ("accepted/fused-layernorm", {"hw.yaml": HW + "vector_units: {layernorm: {where: accelerator, fused: true}}\n"},
     ["hardware", "show", "hw.yaml"], "vector_units.layernorm.fused: true applies only to"),
    ("accepted/fused-residual-add", {"hw.yaml": "extends: gemmini-ibert\nvector_units: {residual_add: "
                                                "{where: accelerator, fused: true}}\n"},
     ["hardware", "show", "hw.yaml"], "residual_add needs passes of its own or a second operand"),
    ("accepted/space-scratchpad-string", {"s.yaml": "extends: gemmini-default\nscratchpad_kib: ['256', 512]\n"},
     ["latency-data", "--out", "d.csv", "--hardware-space", "s.yaml"],
     "s.yaml: scratchpad_kib.0: Input should be a valid number"),
    ("accepted/space-rows-float", {"s.yaml": "extends: gemmini-default\nrows: [16.0, 32]\n"},
     ["latency-data", "--out", "d.csv", "--hardware-space", "s.yaml"], "rows.0: Input should be a valid integer"),
    ("accepted/space-lanes-true", {"s.yaml": "extends: gemmini-ibert\nrows: [16, 32]\n"
                                             "vector_units: {softmax: {where: [accelerator], lanes: [true, 16]}}\n"},
     ["latency-data", "--out", "d.csv", "--hardware-space", "s.yaml"],
     "vector_units.softmax.lanes.0: Input should be a valid number"),
    ("accepted/kv-cache-bits-on-an-encoder", {}, ["simulate", "--model", "bert-base", "--kv-cache-bits", "4"],
     ("--kv-cache-bits: applies to phase decode or generate only: a prefill (an encoder, or a decoder's prompt) "
      "reads no KV cache")),
    ("accepted/kv-cache-bits-on-a-prompt", {}, ["simulate", "--model", "gpt2", "--phase", "prefill",
                                                 "--kv-cache-bits", "8"], "--kv-cache-bits: applies to phase decode"),
    ("accepted/kv-cache-bits-in-a-workload", {}, ["latency-data", "--out", "d.csv", "--workload",
                                                  "phase=prefill,seq_len=64,kv_cache_bits=4"],
     "kv_cache_bits: applies to phase decode or generate only"),
    ("accepted/plot-jpg", {}, ["simulate", "--model", "gpt2", "--plot", "roof.jpg"],
     "--plot roof.jpg: the roofline is written as png, pdf, svg, by the file's extension; .jpg is none of them"),
    ("accepted/plot-no-extension", {}, ["simulate", "--model", "gpt2", "--plot", "roof"], "no extension is none"),
    ("accepted/weight-bits-wider-than-inputs", {"hw.yaml": HW + "input_bits: 4\nacc_bits: 16\n"},
     ["simulate", "--model", "gpt2", "--hardware", "hw.yaml", "--weight-bits", "8"],
     "--weight-bits: weight_bits=8 is wider than the width the array computes in (int4 on accelerator 'hw')"),
    ("accepted/weight-bits-wider-in-latency-data", {"hw.yaml": HW + "input_bits: 4\nacc_bits: 16\n"},
     ["latency-data", "--out", "d.csv", "--hardware", "hw.yaml", "--workload", "weight_bits=8", "--samples", "20",
      "--executor", "serial"], "weight_bits=8 is wider than the width the array computes in (int4"),
    ("accepted/from-csv-with-hardware", {"m.csv": "arch,latency_ms\n"},
     ["latency-data", "--out", "d.csv", "--from-csv", "m.csv", "--device", "pixel", "--hardware", "gemmini-default"],
     "--hardware names a simulated accelerator; measured latencies (--from-csv) are the device's"),
    # ---- the memory system and the datapath ------------------------------------------------------------------
    ("accepted/memory-unknown-technology", {"hw.yaml": HW + "memory: {technology: ddr9}\n"},
     ["hardware", "show", "hw.yaml"], "hw.yaml: memory.technology: unknown memory technology 'ddr9'; expected one "
                                      "of ddr4, lpddr4x, lpddr5, lpddr5x, hbm2e, hbm3"),
    ("accepted/memory-channels-of-hbm", {"hw.yaml": HW + "memory: {technology: hbm3, channels: 2}\n"},
     ["simulate", "--model", "gpt2", "--hardware", "hw.yaml"], "memory: hbm3 is counted in stacks, not channels"),
    ("bounds/memory-zero-channels", {"hw.yaml": HW + "memory: {technology: lpddr5, channels: 0}\n"},
     ["hardware", "show", "hw.yaml"], "memory.channels: Input should be greater than 0"),
    ("accepted/memory-beside-another-bus", {"hw.yaml": HW + "memory: {technology: lpddr5, channels: 2}\n"
                                                            "dram_bytes_per_cycle: 32\n"},
     ["hardware", "show", "hw.yaml"], "dram_bytes_per_cycle=32 conflicts with memory (2 lpddr5 channels: 25.6 GB/s"),
    ("bounds/model-larger-than-memory", {"hw.yaml": HW + "memory: {technology: lpddr4x, channels: 1}\n"},
     ["simulate", "--model", "llama-3.2-1b", "--hardware", "hw.yaml", "--phase", "decode", "--seq-len", "2048",
      "--head", "lm"], "the model needs 1.18 GiB of DRAM (weights 1.15, KV cache 0.03, activations 0.00) but its "
                       "memory (1 lpddr4x channel: 8.5 GB/s, 1 GiB"),
    ("accepted/precision-not-in-datapath", {}, ["simulate", "--model", "gpt2", "--hardware", "gemmini-default",
                                                "--precision", "int4"],
     "--precision: precision int4 is not in the datapath of accelerator 'gemmini-default' (datapath: int8)"),
    ("accepted/datapath-beside-another-width", {"hw.yaml": HW + "datapath: [int4]\ninput_bits: 8\n"},
     ["hardware", "show", "hw.yaml"], "input_bits=8 conflicts with datapath ['int4'], which gives 4"),
]


def write_files(root: Path, files: dict) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


def assert_one_line(exit_code: int, stderr: str, expected: str) -> None:
    assert "Traceback" not in stderr, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), stderr
    assert expected in lines[0], stderr
    assert exit_code == 2, (exit_code, stderr)


@pytest.mark.parametrize("files, args, expected", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_input_gives_one_line(tmp_path, monkeypatch, request, files, args, expected):
    write_files(tmp_path, files)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, args)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a bug, not a user mistake: show its traceback
    assert_one_line(result.exit_code, result.stderr, expected)
    if not request.node.callspec.id.startswith("output/"):  # a bad output path is met when the work is written
        assert result.stdout == "", "nothing on stdout for a refused input"
    assert not (tmp_path / "pwned").exists()


def test_at_least_sixty_cases_in_every_family():
    families = {case[0].split("/")[0] for case in CASES}
    assert len(CASES) >= 60 and {"file", "accepted", "bounds", "usage", "output", "config"} <= families


# What no user can read or write, root included (CI runs as root, who reads and writes whatever the permission
# bits say): /proc/self/clear_refs is a regular file that refuses reads (EACCES for its owner, EINVAL for root),
# and /proc takes no new files.
UNREADABLE = Path("/proc/self/clear_refs")


@pytest.mark.skipif(not UNREADABLE.is_file(), reason="needs Linux's /proc")
@pytest.mark.parametrize("args, expected", [
    (["simulate", "--arch", "locked.json"], "locked.json: cannot read ("),
    (["hardware", "show", "locked.yaml"], "locked.yaml: cannot read ("),
    (["latency-data", "--out", "/proc/d.csv", "--samples", "20", "--executor", "serial"], "/proc/d.csv"),
], ids=["arch-unreadable", "hardware-unreadable", "output-read-only-folder"])
def test_permissions_give_one_line(tmp_path, monkeypatch, args, expected):
    for name in ("locked.json", "locked.yaml"):
        (tmp_path / name).symlink_to(UNREADABLE)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, args)
    assert_one_line(result.exit_code, result.stderr, expected)


# ---- real processes -----------------------------------------------------------------------------------------------
def hwnas(*args: str, cwd: Path, preexec=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nas.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120, preexec_fn=preexec, env={**os.environ, "PYTHONPATH": str(REPO)})


@pytest.mark.parametrize("files, args, expected", [
    ({"deep.json": "[" * 200_000 + "]" * 200_000}, ["simulate", "--arch", "deep.json"], "nested too deeply"),
    ({"hw/a.yaml": "extends: ../hw/a.yaml\n"}, ["hardware", "show", "hw/a.yaml"], "extends itself"),
    ({}, ["simulate", "--model", "gpt2", "--seq-len", "abc"], "Invalid value for '--seq-len'"),
], ids=["recursion", "extends-cycle", "usage"])
def test_a_real_process_prints_one_line_and_no_traceback(tmp_path, files, args, expected):
    write_files(tmp_path, files)
    out = hwnas(*args, cwd=tmp_path)
    assert_one_line(out.returncode, out.stderr, expected)


def test_disk_full_while_writing_gives_one_line(tmp_path):
    """A file size limit makes every write past 1 KiB fail as a full disk would (EFBIG instead of ENOSPC)."""
    def small_disk():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))

    out = hwnas("latency-data", "--out", "d.csv", "--samples", "20", "--executor", "serial", "--space",
                "nas-case-study", cwd=tmp_path, preexec=small_disk)
    assert_one_line(out.returncode, out.stderr, "d.csv")
    assert "file too large" in out.stderr
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".d.csv.tmp")]


@pytest.mark.parametrize("command", ["run", "search", "supernet train", "supernet eval"])
def test_a_broken_run_config_is_refused_before_torch_is_imported(tmp_path, command):
    (tmp_path / "run.yaml").write_text(run_config(space={"max_seq_len": 10**9}))
    probe = ("import sys\nfrom nas.cli import app\n"
             "try:\n    app(sys.argv[1:])\nexcept SystemExit as exc:\n    code = exc.code\n"
             "print(code, sorted(m for m in ('torch', 'pandas', 'sklearn', 'transformers') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", probe, *command.split(), "run.yaml"], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.stdout.split() == ["2", "[]"], out.stdout + out.stderr
    assert_one_line(2, out.stderr, "space.max_seq_len: Input should be less than or equal to 131072")


# ---- the helpers every file goes through --------------------------------------------------------------------------
def test_finite_json_never_writes_infinity_or_nan():
    from userfiles import finite_json

    text = finite_json({"a": float("inf"), "b": [1.5, float("nan")], "c": (float("-inf"),)})
    assert json.loads(text) == {"a": None, "b": [1.5, None], "c": [None]} and "Infinity" not in text


def test_the_safe_loader_stays_safe_and_refuses_duplicates():
    import yaml

    from userfiles import safe_load

    assert safe_load("a: 1\nb: {c: [1, 2]}\n<<: {d: 4}\n") == {"a": 1, "b": {"c": [1, 2]}, "d": 4}
    with pytest.raises(yaml.YAMLError, match="could not determine a constructor"):
        safe_load("a: !!python/object/apply:os.system ['touch pwned']")
    with pytest.raises(yaml.YAMLError, match="duplicate key 'b'"):
        safe_load("a: {b: 1, b: 2}")


def test_atomic_write_refuses_devices_and_folders_and_leaves_nothing(tmp_path):
    from userfiles import UserInputError, atomic_write_text

    with pytest.raises(UserInputError, match="/dev/null: not a regular file"):
        atomic_write_text("/dev/null", "x")
    (tmp_path / "folder").mkdir()
    with pytest.raises(UserInputError, match="folder: is a directory"):
        atomic_write_text(tmp_path / "folder", "x")
    (tmp_path / "file").write_text("")
    with pytest.raises(UserInputError, match="file is a file, not a folder"):
        atomic_write_text(tmp_path / "file" / "out.json", "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "folder"]


# ---- trust round 3 (issue 21) ---------------------------------------------------------------------------------
def test_a_space_at_the_choice_limit_validates_in_seconds():
    """64 choices each of rows, cols and both SRAMs: 16.8 million size combinations, checked by the hardest one."""
    import time

    from predictors.accelerator.hardware_space import MAX_CHOICES, HardwareSpace

    start = time.perf_counter()
    space = HardwareSpace.from_mapping({
        "extends": "gemmini-default", "rows": list(range(1, 65)), "cols": list(range(1, 65)),
        "scratchpad_kib": [256.0 + i for i in range(64)], "accumulator_kib": [64.0 + i for i in range(64)]}, "s.yaml")
    assert time.perf_counter() - start < 10
    assert MAX_CHOICES == 64 and space.size() == 64 ** 4
    from userfiles import UserInputError

    with pytest.raises(UserInputError, match="a 64x64 array with a 8 KiB scratchpad and a 64 KiB accumulator cannot "
                                             "hold one tile"):
        HardwareSpace.from_mapping({"extends": "gemmini-default", "rows": [16, 64], "cols": [16, 64],
                                    "scratchpad_kib": [8, 256]}, "s.yaml")


def test_hardware_show_json_reads_back_as_a_hardware_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    shown = runner.invoke(app, ["hardware", "show", "gemmini-ibert", "--json"])
    assert shown.exit_code == 0, shown.stderr
    (tmp_path / "out.json").write_text(shown.stdout)
    again = runner.invoke(app, ["hardware", "show", "out.json", "--json"])
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout) == json.loads(shown.stdout)
    from predictors.accelerator.hardware import AcceleratorConfig

    ibert = AcceleratorConfig.preset("gemmini-ibert").fingerprint()
    assert json.loads(again.stdout)["fingerprint"] == ibert  # computed again from out.json, not read from it
    simulated = runner.invoke(app, ["simulate", "--model", "gpt2", "--seq-len", "32", "--hardware", "out.json",
                                    "--json"])
    assert simulated.exit_code == 0, simulated.stderr
    assert json.loads(simulated.stdout)["hardware_fingerprint"] == ibert
    edited = json.loads(shown.stdout) | {"rows": 8, "cols": 8, "area": "stale, ignored"}
    (tmp_path / "edited.json").write_text(json.dumps(edited))
    assert json.loads(runner.invoke(app, ["hardware", "show", "edited.json", "--json"]).stdout)["rows"] == 8


@pytest.mark.parametrize("name, magic", [("roof.pdf", b"%PDF"), ("roof.svg", b"<?xml"), ("roof.PNG", b"\x89PNG")])
def test_the_roofline_format_follows_the_extension(tmp_path, monkeypatch, name, magic):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["simulate", "--model", "gpt2", "--seq-len", "32", "--plot", name])
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / name).read_bytes().startswith(magic)


def measured_csv(rows: list[tuple], bom: bool = False) -> str:
    """A measured CSV of (arch, latency_ms[, energy_mj]) rows, archs as ArchConfig JSON (quoted as CSV needs)."""
    import csv
    import io

    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["arch", "latency_ms", "energy_mj"])
    for arch, *values in rows:
        writer.writerow([json.dumps(arch.to_dict()), *values, *[""] * (2 - len(values))])
    return ("\ufeff" if bom else "") + text.getvalue()


def case_study_archs():
    from supernet.space import resolve_space

    space = resolve_space("nas-case-study")
    return space.smallest(), space.largest()


@pytest.mark.parametrize("values, expected", [
    (("0", ""), "latency_ms must be a positive number, got '0'"),
    (("inf", ""), "latency_ms must be a positive number, got 'inf'"),
    (("1.5", "nan"), "energy_mj must be a positive number (or empty), got 'nan'"),
    (("1.5", "-inf"), "energy_mj must be a positive number (or empty), got '-inf'"),
    (("1.5", "-2"), "energy_mj must be a positive number (or empty), got '-2'"),
    (("1.5", "0"), "energy_mj must be a positive number (or empty), got '0'"),
], ids=["latency-zero", "latency-inf", "energy-nan", "energy-minus-inf", "energy-negative", "energy-zero"])
def test_measured_csv_refuses_impossible_values_by_line(tmp_path, monkeypatch, values, expected):
    small, large = case_study_archs()
    (tmp_path / "m.csv").write_text(measured_csv([(large, "2.0", "1.0"), (small, *values)]))
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["latency-data", "--out", "d.csv", "--from-csv", "m.csv", "--device", "pixel",
                                      "--strict"])
    assert_one_line(result.exit_code, result.stderr, f"m.csv:3: {expected}")
    assert not (tmp_path / "d.csv").exists()


def test_measured_csv_with_conflicting_rows_skips_them_all_and_says_so(tmp_path, monkeypatch):
    small, large = case_study_archs()
    (tmp_path / "m.csv").write_text(measured_csv([(small, "1.5"), (large, "2.0", "0.5"), (small, "1.9"),
                                                  (large, "2.0", "0.5")]))
    monkeypatch.chdir(tmp_path)
    strict = CliRunner().invoke(app, ["latency-data", "--out", "d.csv", "--from-csv", "m.csv", "--device", "pixel",
                                      "--strict"])
    assert_one_line(strict.exit_code, strict.stderr, "m.csv:2: measures the architecture of line 4 with other "
                                                     "values (latency_ms 1.5 vs 1.9, or energy_mj); all 2 rows skipped")
    lenient = CliRunner().invoke(app, ["latency-data", "--out", "d.csv", "--from-csv", "m.csv", "--device", "pixel"])
    assert lenient.exit_code == 0, lenient.stderr
    assert [line.split(": ")[0] for line in lenient.stderr.splitlines()] == ["skipped m.csv:2", "skipped m.csv:4"]
    assert "1 measured architectures (2 rows skipped)" in lenient.stdout  # the agreeing repeat counts once
    from predictors.learned.dataset import load_dataset

    frame, _ = load_dataset(tmp_path / "d.csv")
    assert frame.latency_ms.tolist() == [2.0] and frame.energy_mj.tolist() == [0.5]


def test_measured_csv_with_a_byte_order_mark_is_read(tmp_path, monkeypatch):
    small, large = case_study_archs()
    (tmp_path / "m.csv").write_bytes(measured_csv([(small, "1.5", "0.25"), (large, "2.5")], bom=True).encode())
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["latency-data", "--out", "d.csv", "--from-csv", "m.csv", "--device", "pixel",
                                      "--strict"])
    assert result.exit_code == 0, result.stderr
    from predictors.learned.dataset import load_dataset

    frame, meta = load_dataset(tmp_path / "d.csv")
    assert sorted(frame.latency_ms.tolist()) == [1.5, 2.5] and meta["hardware_fingerprint"] == "measured:pixel"


@pytest.fixture(scope="module")
def trained_predictor(tmp_path_factory):
    """A real gbm latency predictor and the dataset it was trained on (20 BERT-style networks at seq_len 64)."""
    from predictors.accelerator.hardware import AcceleratorConfig
    from predictors.accelerator.workload import Workload
    from predictors.learned.dataset import build_dataset
    from predictors.learned.evaluation import train_from_dataset
    from supernet.space import resolve_space

    root = tmp_path_factory.mktemp("predictor")
    build_dataset(resolve_space("nas-case-study"), AcceleratorConfig.preset("gemmini-ibert"),
                  Workload(seq_len=64), 20, root / "d.csv")
    train_from_dataset(root / "d.csv", root / "p", model="gbm")
    return root


def _set(path: str, value):
    """A mutation of the first model: `floor_`, or `linear_.coef_`, set to `value` (a callable gets the old one)."""
    def mutate(model):
        owner = model
        *parents, name = path.split(".")
        for parent in parents:
            owner = getattr(owner, parent)
        setattr(owner, name, value(getattr(owner, name)) if callable(value) else value)
    return mutate


def _absurd_line(scale: float):
    """A line that is sound at the zero feature vector (the load check's probe) and absurd on real networks:
    centred at zero, with a huge slope on every (non-negative) feature."""
    def mutate(model):
        model.scaler_.mean_ = np.zeros_like(model.scaler_.mean_)
        model.linear_.coef_ = np.full_like(model.linear_.coef_, scale)
    return mutate



@pytest.mark.parametrize("mutate, expected", [
    (_set("floor_", "0.05"), "model 0: floor_ = '0.05', expected a positive finite number"),
    (_set("floor_", float("nan")), "model 0: floor_ = nan, expected a positive finite number"),
    (_set("floor_", float("inf")), "model 0: floor_ = inf"),
    (_set("floor_", True), "model 0: floor_ = True"),
    (_set("floor_", -1.0), "model 0: floor_ = -1.0"),
    (_set("linear_.coef_", lambda c: np.where(np.arange(len(c)) == 0, np.nan, c)),
     "model 0: linear_.coef_: expected"),
    (_set("linear_.intercept_", "1.0"), "model 0: linear_.intercept_: expected one finite float(s)"),
    (_set("scaler_.scale_", lambda s: np.zeros_like(s)), "model 0: scaler_.scale_: expected positive scales"),
    (_set("scaler_.mean_", lambda m: m[:3]), "model 0: scaler_.mean_: expected"),
    (_set("correction_", "a string"), "model 0: correction_: expected a fitted MLP or boosted-trees model"),
    (_absurd_line(1e290), "predicted latency_ms = "),
    (_absurd_line(1e308), "predicted latency_ms = inf"),
], ids=["floor-string", "floor-nan", "floor-inf", "floor-bool", "floor-negative", "coef-nan", "intercept-string",
        "scale-zero", "mean-short", "correction-string", "predicts-1e290", "predicts-inf"])
def test_a_damaged_predictor_is_refused_in_one_line(trained_predictor, tmp_path, monkeypatch, mutate, expected):
    """A predictor file made only of trusted types, with attributes no fit gives: refused at load (attributes) or
    at predict time (what it answers), never a traceback or a NaN ranking."""
    import hashlib
    import shutil

    import skops.io as sio

    from predictors.learned.latency_predictor import LatencyPredictor

    folder = tmp_path / "p"
    shutil.copytree(trained_predictor / "p", folder)
    estimators = LatencyPredictor.load(folder).estimators_
    mutate(estimators[0])
    blob = sio.dumps(estimators)
    (folder / "model.skops").write_bytes(blob)
    card = json.loads((folder / "predictor.json").read_text())
    (folder / "predictor.json").write_text(json.dumps(card | {"sha256": hashlib.sha256(blob).hexdigest()}))
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["predictor", "eval", "p", "--data", str(trained_predictor / "d.csv")])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert_one_line(result.exit_code, result.stderr, expected)
    assert "a sound predictor answers a positive finite number up to 1e+15" in result.stderr \
        or "(a damaged model; train the predictor again)" in result.stderr


def test_the_trained_predictor_itself_evaluates(trained_predictor, tmp_path, monkeypatch):
    result = CliRunner().invoke(app, ["predictor", "eval", str(trained_predictor / "p"), "--data",
                                      str(trained_predictor / "d.csv")])
    assert result.exit_code == 0, result.stderr
