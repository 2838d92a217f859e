import hashlib
import json
import re
import subprocess
import sys

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV

from predictors.learned.dataset import archs_of, build_dataset, meta_path, split_indices
from predictors.learned.evaluation import train_from_dataset
from predictors.accelerator.hardware import AcceleratorConfig
from predictors.learned.latency_predictor import LatencyPredictor, PredictorFileError, regression_metrics
from predictors.accelerator.workload import Workload
from supernet.space import nas_case_study_space

from conftest import one_line_error

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
        p = LatencyPredictor("gbm", target).fit([archs[i] for i in train], y[train])
        m = regression_metrics(y[test], p.predict([archs[i] for i in test]))
        assert m["mape"] <= 0.01 and m["kendall_tau"] >= 0.98 and m["within_5pct"] >= 0.99, (target, m)


def test_mlp_and_ensemble_learn_and_report_spread(ibert_data):
    archs, frame, meta = ibert_data
    y = frame.latency_ms.to_numpy()
    mlp = LatencyPredictor("mlp").fit(archs[:300], y[:300])
    assert regression_metrics(y[600:], mlp.predict(archs[600:]))["mape"] < 0.03
    ens = LatencyPredictor("ensemble", ensemble_size=3).fit(archs[:300], y[:300])
    mean, std = ens.predict_with_std(archs[600:])
    assert np.all(std > 0) and np.mean(np.abs(mean - y[600:]) / y[600:]) < 0.03


def test_save_load_round_trip_gives_identical_predictions(ibert_data, tmp_path):
    archs, frame, meta = ibert_data
    p = LatencyPredictor("gbm", max_depth=6).fit(archs[:400], frame.latency_ms[:400])
    p.save(tmp_path / "pred", meta=meta)
    q = LatencyPredictor.load(tmp_path / "pred", expect=meta)
    assert np.array_equal(p.predict(archs[400:]), q.predict(archs[400:]))
    assert (q.model, q.target, q.max_depth) == ("gbm", "latency_ms", 6)


def test_loading_for_other_hardware_is_refused(ibert_data, tmp_path):
    archs, frame, meta = ibert_data
    LatencyPredictor("gbm").fit(archs[:200], frame.latency_ms[:200]).save(tmp_path / "pred", meta=meta)
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
    folder = LatencyPredictor("gbm").fit(archs[:200], frame.latency_ms[:200]).save(tmp_path / "pred", meta=meta)
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
        LatencyPredictor("forest").fit(archs[:20], frame.latency_ms[:20])
    with pytest.raises(NotFittedError):
        LatencyPredictor("gbm").predict(archs[:2])


def _edit_card(folder, change):
    card = json.loads((folder / "predictor.json").read_text())
    (folder / "predictor.json").write_text(json.dumps(change(card)))


CARD_DAMAGE = {
    "not an object": (lambda f: (f / "predictor.json").write_text("[1, 2]"), "expected a JSON object"),
    "not UTF-8": (lambda f: (f / "predictor.json").write_bytes(b'{"model": "\xff"}'), "not valid JSON"),
    "missing sha256": (lambda f: _edit_card(f, lambda c: {k: v for k, v in c.items() if k != "sha256"}),
                       "sha256: missing required key"),
    "seed a string": (lambda f: _edit_card(f, lambda c: dict(c, seed="zero")), "seed: Input should be a valid integer"),
    "unknown model": (lambda f: _edit_card(f, lambda c: dict(c, model="forest")), "model: Input should be"),
    "meta a list": (lambda f: _edit_card(f, lambda c: dict(c, meta=[])), "meta: Input should be a valid dictionary"),
    "huge max_depth": (lambda f: _edit_card(f, lambda c: dict(c, max_depth=10**9)), "not this hwnas's feature layout"),
    "features edited": (lambda f: _edit_card(f, lambda c: dict(c, features=c["features"][::-1])),
                        "not this hwnas's feature layout"),
    "future format": (lambda f: _edit_card(f, lambda c: dict(c, format_version=99)), "format version 99"),
    "ensemble card, one model": (lambda f: _edit_card(f, lambda c: dict(c, model="ensemble", ensemble_size=3)),
                                 "does not hold the ensemble predictor"),
    "model not a zip, checksum fixed": (
        lambda f: ((f / "model.skops").write_bytes(b"garbage" * 10),
                   _edit_card(f, lambda c: dict(c, sha256=hashlib.sha256(b"garbage" * 10).hexdigest()))),
        "not a readable skops file"),
    "model a directory": (lambda f: ((f / "model.skops").unlink(), (f / "model.skops").mkdir()),
                          "not a predictor folder"),
}


@pytest.mark.parametrize("damage", sorted(CARD_DAMAGE))
def test_damaged_predictor_folders_are_one_line_errors(ibert_data, tmp_path, damage):
    archs, frame, meta = ibert_data
    folder = LatencyPredictor("gbm").fit(archs[:100], frame.latency_ms[:100]).save(tmp_path / "pred", meta=meta)
    data = tmp_path / "data.parquet"
    frame.to_parquet(data)
    meta_path(data).write_text(json.dumps(meta))
    spoil, expected = CARD_DAMAGE[damage]
    spoil(folder)
    with pytest.raises(PredictorFileError, match=re.escape(expected)):
        LatencyPredictor.load(folder)
    assert expected in one_line_error(["predictor", "eval", folder, "--data", data])


def test_training_on_too_few_rows_names_the_file_and_the_minimum(ibert_data, tmp_path):
    archs, frame, meta = ibert_data
    data = tmp_path / "five.parquet"
    frame.head(5).to_parquet(data)
    meta_path(data).write_text(json.dumps(meta))
    line = one_line_error(["predictor", "train", "--data", data, "--out", tmp_path / "pred"])
    assert f"{data}: 5 rows with latency_ms" in line and "at least 20" in line
    assert not (tmp_path / "pred").exists()


def test_training_at_the_minimum_rows_works_for_every_model(ibert_data, tmp_path):
    archs, frame, meta = ibert_data
    data = tmp_path / "twenty.parquet"
    frame.head(20).to_parquet(data)
    meta_path(data).write_text(json.dumps(meta))
    for model in ("gbm", "mlp", "ensemble"):
        metrics = train_from_dataset(data, tmp_path / model, model)
        assert metrics["n_train"] == 16 and metrics["test"]["n"] == 2
        assert LatencyPredictor.load(tmp_path / model, expect=meta).max_depth_ == SPACE.max_depth


def test_a_real_process_refuses_a_damaged_card_without_traceback(ibert_data, tmp_path):
    archs, frame, meta = ibert_data
    folder = LatencyPredictor("gbm").fit(archs[:100], frame.latency_ms[:100]).save(tmp_path / "pred", meta=meta)
    (folder / "predictor.json").write_text('"just a string"')
    data = tmp_path / "data.parquet"
    frame.to_parquet(data)
    meta_path(data).write_text(json.dumps(meta))
    out = subprocess.run([sys.executable, "-m", "nas.cli", "predictor", "eval", str(folder), "--data", str(data)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip() == f"error: {folder / 'predictor.json'}: corrupt predictor card (expected a JSON " \
                                 "object of keys to values)"


# ---- the scikit-learn estimator contract -------------------------------------------------------------------
def test_params_round_trip_and_clone_gives_an_unfitted_copy(ibert_data):
    archs, frame, _ = ibert_data
    p = LatencyPredictor("gbm", "energy_mj", seed=3, max_depth=6)
    assert p.get_params() == {"model": "gbm", "target": "energy_mj", "seed": 3, "ensemble_size": 5, "max_depth": 6,
                              "hardware_space": None, "workload": None}
    assert p.set_params(model="mlp", seed=4) is p and (p.model, p.seed) == ("mlp", 4)
    p.set_params(model="gbm").fit(archs[:100], frame.energy_mj[:100])
    copy = clone(p)
    assert copy.get_params() == p.get_params() and not hasattr(copy, "estimators_")
    with pytest.raises(NotFittedError):
        copy.predict(archs[:3])


def test_score_is_r2_and_grid_search_picks_a_model(ibert_data):
    archs, frame, _ = ibert_data
    y = frame.latency_ms.to_numpy()
    p = LatencyPredictor("gbm").fit(archs[:300], y[:300])
    score = p.score(archs[600:], y[600:])
    assert isinstance(score, float)
    assert score == pytest.approx(regression_metrics(y[600:], p.predict(archs[600:]))["r2"]) and score > 0.95
    search = GridSearchCV(LatencyPredictor(seed=1, max_depth=6), {"model": ["gbm", "mlp"]}, cv=3)
    search.fit(archs[:150], y[:150])
    assert search.best_params_["model"] in ("gbm", "mlp")
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert search.best_score_ > 0.9
    assert search.best_estimator_.score(archs[600:], y[600:]) > 0.9
