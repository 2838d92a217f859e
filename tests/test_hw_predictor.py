"""A latency predictor conditioned on hardware: held-out accelerators, refusals, round trip, the CLI."""
from __future__ import annotations

import numpy as np
import pytest

from predictors.learned.dataset import build_joint_dataset, dataset_hardware_space, load_dataset, pairs_of, split_by_group
from predictors.accelerator.hardware_space import HardwareSpace, OutsideHardwareSpace
from predictors.learned.latency_predictor import LatencyPredictor, PredictorKindError, regression_metrics
from predictors.accelerator.workload import Workload
from supernet.space import SearchSpace
from tests.conftest import one_line_error

SPACE = SearchSpace(depth=[2, 3], embed_dim=[128, 192], heads=[2, 4], ffn_dim=[256, 512], head_dim=32, max_seq_len=64)
WORKLOAD = Workload(phase="prefill", seq_len=64)
HW_SPACE = {"extends": "gemmini-default", "rows": [8, 16], "cols": [8, 16], "dataflow": ["ws", "os"],
            "dram_bytes_per_cycle": [8, 16], "vector_units": {"softmax": {"where": ["host", "accelerator"]}}}


@pytest.fixture(scope="module")
def joint(tmp_path_factory):
    path = tmp_path_factory.mktemp("joint") / "data.csv"
    designs = HardwareSpace.from_mapping(HW_SPACE, "test")
    frame = build_joint_dataset(SPACE, designs, WORKLOAD, 240, path, seed=0)
    return path, frame, designs


def test_held_out_accelerators_are_predicted_within_bounds(joint):
    _, frame, designs = joint
    pairs, y = pairs_of(frame, designs), frame["latency_ms"].to_numpy()
    train, _, test = split_by_group(frame["hardware"], seed=0, fractions=(0.8, 0.0, 0.2))
    assert not set(frame["hardware"].iloc[train]) & set(frame["hardware"].iloc[test])
    p = LatencyPredictor("gbm", hardware_space=designs, workload=WORKLOAD, max_depth=3)
    p.fit([pairs[i] for i in train], y[train])
    m = regression_metrics(y[test], p.predict([pairs[i] for i in test]))
    assert m["mape"] < 0.02 and m["kendall_tau"] > 0.98 and m["within_5pct"] > 0.95


def test_refusals_and_round_trip(joint, tmp_path):
    path, frame, designs = joint
    pairs, y = pairs_of(frame, designs), frame["latency_ms"].to_numpy()
    p = LatencyPredictor("gbm", hardware_space=designs, workload=WORKLOAD, max_depth=3).fit(pairs, y)
    arch, hw = pairs[0]
    with pytest.raises(OutsideHardwareSpace, match=r"rows = 64 is not one of this space's choices \[8, 16\]"):
        p.predict([(arch, hw.model_copy(update={"rows": 64}))])
    with pytest.raises(PredictorKindError):
        p.predict([arch])
    _, meta = load_dataset(path)
    p.save(tmp_path / "p", meta=meta)
    q = LatencyPredictor.load(tmp_path / "p", expect=meta, hardware_conditioned=True)
    assert np.array_equal(q.predict(pairs), p.predict(pairs))
    with pytest.raises(PredictorKindError, match="conditioned on hardware"):
        LatencyPredictor.load(tmp_path / "p", hardware_conditioned=False)
    plain = LatencyPredictor("gbm").fit([a for a, _ in pairs], y)
    with pytest.raises(PredictorKindError, match="one accelerator"):
        plain.check_setting(meta)
    assert dataset_hardware_space(meta, path).fingerprint() == designs.fingerprint()


def test_cli_latency_data_resumes_and_refuses_bad_space(tmp_path, tmp_yaml):
    from typer.testing import CliRunner

    from nas.cli import app

    space = tmp_yaml("hardware_space:\n  extends: gemmini-default\n  rows: [8, 16]\n  cols: [8, 16]\n")
    args = ["latency-data", "--hardware-space", space, "--space", "nas-case-study", "--executor", "serial",
            "--workload", "phase=prefill,seq_len=64"]
    out = tmp_path / "d.csv"
    assert CliRunner().invoke(app, [str(a) for a in args + ["--out", out, "--samples", 20]]).exit_code == 0
    first, _ = load_dataset(out)
    assert CliRunner().invoke(app, [str(a) for a in args + ["--out", out, "--samples", 30]]).exit_code == 0
    grown, _ = load_dataset(out)
    fresh = tmp_path / "e.csv"
    assert CliRunner().invoke(app, [str(a) for a in args + ["--out", fresh, "--samples", 30]]).exit_code == 0
    assert list(grown["key"][:20]) == list(first["key"]) and list(grown["key"]) == list(load_dataset(fresh)[0]["key"])
    bad = tmp_yaml("hardware_space:\n  extends: gemmini-default\n  rows: []\n", "bad.yaml")
    line = one_line_error(["latency-data", "--hardware-space", bad, "--out", tmp_path / "x.csv"])
    assert "rows" in line
