"""`QualityPredictor`: a sub-network's inherited-weight quality, learned from a few hundred supernet evaluations.

Scoring a candidate on the supernet is a pass over the validation windows: the most expensive objective of a
search, paid once per network. Once-for-All fits an accuracy predictor on such scores and searches on it (HAT does
the same for latency); so does hwnas when a quality objective names `source: predictor`. The model, its features,
its persistence and its hostile-file checks are the latency predictor's (`LatencyPredictor`): only the target
differs, and the setting it is tied to is the supernet (its fingerprint), not an accelerator. The search re-scores its final front on the
supernet and reports this predictor's error there, as it does for latency on the simulator.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from predictors.learned.dataset import split_indices
from predictors.learned.latency_predictor import MIN_FIT_ROWS, LatencyPredictor, ModelKind, PredictorFileError, regression_metrics
from supernet.space import ArchConfig
from userfiles import UserInputError

QUALITY_TARGETS = ("perplexity", "loss", "accuracy")
SCORES_FILE = "scores.json"  # the networks scored so far, which a run saves in the predictor's folder as it goes


class QualityPredictor(LatencyPredictor):
    """Predicts `target` (perplexity, loss or accuracy) of architectures from their feature vector."""

    KEPT_FILES = (SCORES_FILE,)  # `save` carries the run's scores into the folder it replaces

    def __init__(self, model: ModelKind = "gbm", target: str = "perplexity", seed: int = 0, ensemble_size: int = 5,
                 max_depth: int | None = None, hardware_space=None, workload=None):
        super().__init__(model, target, seed, ensemble_size, max_depth, hardware_space, workload)

    def fit(self, X: Sequence[ArchConfig], y: Sequence[float]) -> "QualityPredictor":
        if self.target not in QUALITY_TARGETS:
            raise ValueError(f"target must be one of {', '.join(QUALITY_TARGETS)}, got {self.target!r}")
        if self.hardware_space is not None or self.workload is not None:
            raise ValueError("a sub-network's quality does not depend on the accelerator or the workload")
        return super().fit(X, y)

    def check_setting(self, meta: dict) -> None:
        """The space (as any predictor) and the supernet whose scores it learned: another supernet ranks
        networks differently."""
        super().check_setting(meta)
        ours, theirs = self.meta_.get("supernet_fingerprint"), meta.get("supernet_fingerprint")
        if ours and theirs and ours != theirs:
            raise PredictorFileError(f"this quality predictor learned the scores of supernet {ours}, not of {theirs}")

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
    The predictor returned is then refitted on every network, so none of the scores paid for is wasted. Scores
    that are not positive and finite (an accuracy of 0, an overflowing perplexity), or too few networks, are a
    `UserInputError`: the setting, not the code, must change."""
    y = np.asarray(values, dtype=float)
    if not np.all(np.isfinite(y) & (y > 0)):
        raise UserInputError(f"quality_predictor: {target} is not positive and finite for every scored network "
                             f"(range {np.nanmin(y):.4g} to {np.nanmax(y):.4g}); a predictor cannot learn it: score "
                             "on the supernet (source: supernet) or train the supernet longer")
    if len(archs) < 2 * MIN_FIT_ROWS:
        raise UserInputError(f"quality_predictor: the space holds {len(archs)} networks; a quality predictor needs at "
                             f"least {2 * MIN_FIT_ROWS} (score them on the supernet instead: source: supernet)")
    train, _, test = split_indices(len(archs), seed, (0.8, 0.0, 0.2))
    held_out = QualityPredictor(model, target, seed, max_depth=max_depth).fit([archs[i] for i in train], y[train])
    metrics = {"held_out": regression_metrics(y[test], held_out.predict([archs[i] for i in test])),
               "scored_networks": len(archs), "held_out_fit_networks": int(len(train))}
    return QualityPredictor(model, target, seed, max_depth=max_depth).fit(archs, y), metrics
