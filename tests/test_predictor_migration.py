"""Predictor folders saved before `predictors/` was split into rooms keep loading and predicting the same.

`tests/data/predictor-v1-gbm` was saved by the release before the split (format 1: its skops file names
`predictors.learned.LinearTimesCorrection`); the expected predictions were recorded by that release.
"""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from predictors.learned.latency_predictor import FORMAT_VERSION, LatencyPredictor, PredictorFileError
from supernet.space import ArchConfig

DATA = Path(__file__).parent / "data"


def test_a_format_1_folder_loads_and_predicts_what_it_did_when_saved():
    expected = json.loads((DATA / "predictor-v1-gbm.expected.json").read_text())
    predictor = LatencyPredictor.load(DATA / "predictor-v1-gbm")
    archs = [ArchConfig.from_dict(a) for a in expected["archs"]]
    np.testing.assert_allclose(predictor.predict(archs), expected["latency_ms"], rtol=1e-12)


def test_a_resaved_predictor_is_written_in_the_current_format_and_loads(tmp_path):
    predictor = LatencyPredictor.load(DATA / "predictor-v1-gbm")
    folder = predictor.save(tmp_path / "again")
    assert json.loads((folder / "predictor.json").read_text())["format_version"] == FORMAT_VERSION == 2
    assert b"predictors.learned.latency_predictor" in (folder / "model.skops").read_bytes()
    again = LatencyPredictor.load(folder, expect=predictor.meta_)
    archs = [ArchConfig.from_dict(a) for a in json.loads((DATA / "predictor-v1-gbm.expected.json").read_text())["archs"]]
    np.testing.assert_array_equal(again.predict(archs), predictor.predict(archs))


def test_the_old_class_path_is_refused_in_a_format_2_file(tmp_path):
    """The alias is trusted only for the format that needs it: a new file naming the old path was not written by us."""
    shutil.copytree(DATA / "predictor-v1-gbm", tmp_path / "p")
    card_path = tmp_path / "p" / "predictor.json"
    card = json.loads(card_path.read_text())
    card["format_version"] = 2
    card_path.write_text(json.dumps(card))
    with pytest.raises(PredictorFileError, match="predictors.learned.LinearTimesCorrection"):
        LatencyPredictor.load(tmp_path / "p")
