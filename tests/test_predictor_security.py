"""A predictor folder is a file users share: loading one must never run code from it.

The gadget below is the attack of issue 9: a `TransformedTargetRegressor` whose inverse transform is
`numpy.vectorize(eval)`, fed a string by a `DummyRegressor`, so that predicting evaluates the string. Its card is
valid and its SHA-256 matches, as an attacker would make them. The string creates a marker file; every test
asserts that the refusal came before anything ran.
"""
import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest
import skops.io as sio
from sklearn.compose import TransformedTargetRegressor
from sklearn.dummy import DummyRegressor
from sklearn.preprocessing import FunctionTransformer

from predictors.learned.dataset import build_dataset
from predictors.accelerator.hardware import AcceleratorConfig
from predictors.learned.latency_predictor import LatencyPredictor, LinearTimesCorrection, PredictorFileError
from predictors.accelerator.workload import Workload
from supernet.features import feature_names
from supernet.space import nas_case_study_space

SPACE = nas_case_study_space()


def gadget_predictor(folder, marker):
    """A predictor folder whose predict runs `Path(marker).touch()`, with a card that passes every check."""
    n = len(feature_names(SPACE.max_depth))
    features = np.random.default_rng(0).random((20, n))
    member = LinearTimesCorrection(DummyRegressor()).fit(features, features.sum(axis=1) + 1)
    payload = DummyRegressor().fit(features[:2], [0.0, 0.0])
    payload.constant_ = np.array([[f"__import__('pathlib').Path({str(marker)!r}).touch() or 0.0"]])
    evil = TransformedTargetRegressor(regressor=DummyRegressor())
    evil.regressor_ = payload
    evil.transformer_ = FunctionTransformer(inverse_func=np.vectorize(eval), check_inverse=False).fit(np.zeros((2, 1)))
    evil._training_dim = 1
    member.correction_ = evil
    blob = sio.dumps([member])
    folder.mkdir(parents=True)
    (folder / "model.skops").write_bytes(blob)
    card = {"format_version": 1, "model": "gbm", "target": "latency_ms", "seed": 0, "ensemble_size": 5,
            "max_depth": SPACE.max_depth, "features": feature_names(SPACE.max_depth),
            "sha256": hashlib.sha256(blob).hexdigest(), "meta": {}, "metrics": {}}
    (folder / "predictor.json").write_text(json.dumps(card))
    return member


def test_the_gadget_is_real(tmp_path):
    """Guards the other tests: the gadget does run its payload when the objects are built and used."""
    marker = tmp_path / "ran"
    member = gadget_predictor(tmp_path / "evil", marker)
    member.predict(np.zeros((1, len(feature_names(SPACE.max_depth)))))
    assert marker.exists()


def test_load_refuses_the_gadget_before_anything_runs(tmp_path):
    marker = tmp_path / "ran"
    gadget_predictor(tmp_path / "evil", marker)
    with pytest.raises(PredictorFileError, match=r"model.skops: refused, .*builtins\.eval.*numpy\.vectorize"):
        LatencyPredictor.load(tmp_path / "evil")
    assert not marker.exists()


def test_cli_eval_refuses_the_gadget_with_one_line(tmp_path):
    marker = tmp_path / "ran"
    gadget_predictor(tmp_path / "evil", marker)
    data = tmp_path / "data.parquet"
    build_dataset(SPACE, AcceleratorConfig.preset("gemmini-ibert"), Workload(seq_len=128), 12, data)
    out = subprocess.run([sys.executable, "-m", "nas.cli", "predictor", "eval", str(tmp_path / "evil"),
                          "--data", str(data)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in out.stderr
    assert "refused" in lines[0] and "builtins.eval" in lines[0]
    assert not marker.exists()


def test_a_type_outside_the_list_is_refused_even_when_harmless(tmp_path):
    """Nothing is trusted by module prefix: a plain scikit-learn estimator our predictors never hold is refused."""
    member = LinearTimesCorrection(DummyRegressor()).fit(np.eye(3), [1.0, 2.0, 3.0])
    blob = sio.dumps([member])
    folder = tmp_path / "odd"
    folder.mkdir()
    (folder / "model.skops").write_bytes(blob)
    card = {"format_version": 1, "model": "gbm", "target": "latency_ms", "seed": 0, "ensemble_size": 1,
            "max_depth": 1, "features": feature_names(1), "sha256": hashlib.sha256(blob).hexdigest(),
            "meta": {}, "metrics": {}}
    (folder / "predictor.json").write_text(json.dumps(card))
    with pytest.raises(PredictorFileError, match=r"refused, .*sklearn\.dummy\.DummyRegressor"):
        LatencyPredictor.load(folder)
