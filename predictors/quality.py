"""`QualityPredictor`: a sub-network's inherited-weight quality, learned from a few hundred supernet evaluations.

Scoring a candidate on the supernet is a pass over the validation windows: the most expensive objective of a
search, paid once per network. OFA and HAT fit an accuracy predictor on a few hundred such scores and search on it;
so does hwnas when a quality objective names `source: predictor`. The model, its features, its persistence and its
hostile-file checks are the latency predictor's (`LatencyPredictor`): only the target differs, and the setting it
is tied to is the supernet (its fingerprint), not an accelerator. The search re-scores its final front on the
supernet and reports this predictor's error there, as it does for latency on the simulator.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from predictors.dataset import split_indices
from predictors.learned import LatencyPredictor, ModelKind, PredictorFileError, regression_metrics
from supernet.space import ArchConfig

QUALITY_TARGETS = ("perplexity", "loss", "accuracy")


class QualityPredictor(LatencyPredictor):
    """Predicts `target` (perplexity, loss or accuracy) of architectures from their feature vector."""

    def __init__(self, model: ModelKind = "gbm", target: str = "perplexity", seed: int = 0, ensemble_size: int = 5,
                 max_depth: int | None = None):
        super().__init__(model, target, seed, ensemble_size, max_depth)

    def fit(self, X: Sequence[ArchConfig], y: Sequence[float]) -> "QualityPredictor":
        if self.target not in QUALITY_TARGETS:
            raise ValueError(f"target must be one of {', '.join(QUALITY_TARGETS)}, got {self.target!r}")
        return super().fit(X, y)

    @classmethod
    def load(cls, path: str | Path, expect: dict | None = None) -> "QualityPredictor":
        predictor = super().load(path, expect)
        if predictor.target not in QUALITY_TARGETS:
            raise PredictorFileError(f"{path}: a predictor of {predictor.target}, not of a sub-network's quality "
                                     f"({', '.join(QUALITY_TARGETS)})")
        return predictor


def fit_quality_predictor(archs: Sequence[ArchConfig], values: Sequence[float], target: str, *, model: ModelKind,
                          seed: int, max_depth: int) -> tuple[QualityPredictor, dict]:
    """Fit on 80% of the scored networks and measure on the other 20% (never seen in training): the metrics
    (Kendall tau above all: a search needs the order) say whether the predictor may stand in for the supernet.
    The predictor returned is then refitted on every network, so none of the scores paid for is wasted."""
    y = np.asarray(values, dtype=float)
    train, _, test = split_indices(len(archs), seed, (0.8, 0.0, 0.2))
    held_out = QualityPredictor(model, target, seed, max_depth=max_depth).fit([archs[i] for i in train], y[train])
    metrics = {"held_out": regression_metrics(y[test], held_out.predict([archs[i] for i in test])),
               "train_networks": int(len(train))}
    return QualityPredictor(model, target, seed, max_depth=max_depth).fit(archs, y), metrics
