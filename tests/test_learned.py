import json

import numpy as np
import pytest

from predictors.dataset import archs_of, build_dataset, meta_path, split_indices
from predictors.hardware import AcceleratorConfig
from predictors.learned import LatencyPredictor, PredictorFileError
from predictors.workload import Workload
from supernet.space import nas_case_study_space

SPACE = nas_case_study_space()


@pytest.fixture(scope="module")
def ibert_data(tmp_path_factory):
    out = tmp_path_factory.mktemp("data") / "ibert.parquet"
    frame = build_dataset(SPACE, AcceleratorConfig.preset("gemmini-ibert"), Workload(seq_len=512), 700, out, seed=0)
    return archs_of(frame), frame, json.loads(meta_path(out).read_text())


def test_gbm_predictor_meets_the_accuracy_bar(ibert_data):
    archs, frame, meta = ibert_data
    train, _, test = split_indices(len(archs), seed=0)
    for target in ("latency_ms", "energy_mj"):
        y = frame[target].to_numpy()
        p = LatencyPredictor("gbm", target).fit([archs[i] for i in train], y[train], meta)
        m = p.score([archs[i] for i in test], y[test])
        assert m["mape"] <= 0.01 and m["kendall_tau"] >= 0.98 and m["within_5pct"] >= 0.99, (target, m)


def test_mlp_and_ensemble_learn_and_report_spread(ibert_data):
    archs, frame, meta = ibert_data
    y = frame.latency_ms.to_numpy()
    mlp = LatencyPredictor("mlp").fit(archs[:300], y[:300], meta)
    assert mlp.score(archs[600:], y[600:])["mape"] < 0.03
    ens = LatencyPredictor("ensemble", ensemble_size=3).fit(archs[:300], y[:300], meta)
    mean, std = ens.predict_with_std(archs[600:])
    assert np.all(std > 0) and np.mean(np.abs(mean - y[600:]) / y[600:]) < 0.03


def test_save_load_round_trip_gives_identical_predictions(ibert_data, tmp_path):
    archs, frame, meta = ibert_data
    p = LatencyPredictor("gbm").fit(archs[:400], frame.latency_ms[:400], meta)
    p.save(tmp_path / "pred")
    q = LatencyPredictor.load(tmp_path / "pred", expect=meta)
    assert np.array_equal(p.predict(archs[400:]), q.predict(archs[400:]))
    assert (q.model, q.target, q.max_depth) == ("gbm", "latency_ms", 6)


def test_loading_for_other_hardware_is_refused(ibert_data, tmp_path):
    archs, frame, meta = ibert_data
    LatencyPredictor("gbm").fit(archs[:200], frame.latency_ms[:200], meta).save(tmp_path / "pred")
    other = dict(meta, hardware="gemmini-default",
                 hardware_fingerprint=AcceleratorConfig.preset("gemmini-default").fingerprint())
    with pytest.raises(PredictorFileError, match="trained for hardware 'gemmini-ibert'.*not for 'gemmini-default'"):
        LatencyPredictor.load(tmp_path / "pred", expect=other)
    decode = dict(meta, workload_fingerprint=Workload(phase="decode", seq_len=512).fingerprint())
    with pytest.raises(PredictorFileError, match="trained for workload"):
        LatencyPredictor.load(tmp_path / "pred", expect=decode)


@pytest.mark.parametrize("damage", ["truncate", "flip", "card"])
def test_corrupt_or_truncated_files_are_refused(ibert_data, tmp_path, damage):
    archs, frame, meta = ibert_data
    folder = LatencyPredictor("gbm").fit(archs[:200], frame.latency_ms[:200], meta).save(tmp_path / "pred")
    model = folder / "model.skops"
    blob = model.read_bytes()
    if damage == "truncate":
        model.write_bytes(blob[: len(blob) // 2])
    elif damage == "flip":
        model.write_bytes(blob[:100] + bytes([blob[100] ^ 0xFF]) + blob[101:])
    else:
        (folder / "predictor.json").write_text("{ broken")
    with pytest.raises(PredictorFileError, match="corrupt"):
        LatencyPredictor.load(folder)


def test_fit_validates_its_input(ibert_data):
    archs, frame, _ = ibert_data
    with pytest.raises(ValueError, match="positive"):
        LatencyPredictor("gbm").fit(archs[:20], [-1.0] * 20)
    with pytest.raises(ValueError, match="20 architectures but 3 targets"):
        LatencyPredictor("gbm").fit(archs[:20], [1.0] * 3)
    with pytest.raises(ValueError, match="model must be"):
        LatencyPredictor("forest")
