"""`LatencyPredictor`: a learned latency/energy model over `ArchConfig`s, with the scikit-learn estimator shape.

The search calls its cost model thousands of times; a predictor answers for a batch of 10,000 architectures in
milliseconds. Models: an MLP (HAT's predictor: 3 hidden layers of 400), gradient-boosted trees, or an ensemble of
MLPs whose spread is an uncertainty estimate. Each is the correction factor of a
`LinearTimesCorrection` over the features of `supernet.features`, fitted on log ratios, so errors are relative,
as users judge them.

A saved predictor is a folder: `model.skops` (skops, never pickle; only scikit-learn and numpy types are accepted
when loading), and `predictor.json` with the model kind, target, feature layout, the fingerprints of the space,
hardware and workload it was trained for, and the SHA-256 of the model file, so that a corrupt or truncated file
is refused before it is read.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
import skops.io as sio
from scipy.stats import kendalltau
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.compose import TransformedTargetRegressor
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression
from sklearn.metrics import mean_absolute_percentage_error, mean_squared_error, r2_score
from sklearn.neural_network import MLPRegressor
from sklearn.preprocessing import StandardScaler

from predictors.dataset import FINGERPRINTS
from userfiles import UserInputError, atomic_write, atomic_write_json
from supernet.features import arch_features, feature_names
from supernet.space import ArchConfig

ModelKind = Literal["mlp", "gbm", "ensemble"]
FORMAT_VERSION = 1
MODEL_FILE, CARD_FILE = "model.skops", "predictor.json"
# What a predictor file may contain: estimators and arrays, nothing that can run code on load.
TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.", "builtins.", "predictors.learned.LinearTimesCorrection")


class PredictorFileError(UserInputError):
    """A predictor folder that is missing, corrupt, truncated, or made for another setting."""


class LinearTimesCorrection(RegressorMixin, BaseEstimator):
    """y = linear(x) * exp(g(x)): a least-squares line through the features, corrected by a learned factor.

    Latency and energy are sums over layers of terms close to linear in the MAC and element counts among the
    features; the line captures that additive structure exactly, and `correction` (an MLP or boosted trees) only
    learns the remaining relative effect of tiling, fill/drain and memory stalls, on log(y / line). This cuts
    the test error several-fold against learning log(y) from scratch with the same model and data.
    """

    def __init__(self, correction=None):
        self.correction = correction

    def fit(self, X, y):
        y = np.asarray(y, dtype=float)
        self.scaler_ = StandardScaler().fit(X)
        Xs = self.scaler_.transform(X)
        self.linear_ = LinearRegression().fit(Xs, y)
        self.floor_ = 0.05 * float(y.min())  # keeps the line positive far outside the training data
        ratio = np.log(y / self._line(Xs)).astype(np.float32)
        self.correction_ = clone(self.correction).fit(Xs.astype(np.float32), ratio)
        return self

    def _line(self, Xs):
        return np.maximum(self.linear_.predict(Xs), self.floor_)

    def predict(self, X):
        Xs = self.scaler_.transform(X)
        # float32 for the correction: 4x faster MLP inference, far below the precision that matters here
        return self._line(Xs) * np.exp(self.correction_.predict(Xs.astype(np.float32)).astype(np.float64))


def _mlp(seed: int) -> LinearTimesCorrection:
    """HAT's predictor shape: three hidden layers of 400."""
    mlp = MLPRegressor(hidden_layer_sizes=(400, 400, 400), learning_rate_init=1e-3, alpha=1e-4, max_iter=500,
                       early_stopping=True, validation_fraction=0.1, n_iter_no_change=20, random_state=seed)
    return LinearTimesCorrection(TransformedTargetRegressor(mlp, transformer=StandardScaler()))


def _gbm(seed: int) -> LinearTimesCorrection:
    return LinearTimesCorrection(HistGradientBoostingRegressor(
        max_iter=2000, learning_rate=0.05, early_stopping=True, validation_fraction=0.1, random_state=seed))


class LatencyPredictor:
    """Predicts one target (`latency_ms` or `energy_mj`) of architectures on one hardware under one workload."""

    def __init__(self, model: ModelKind = "mlp", target: str = "latency_ms", seed: int = 0, ensemble_size: int = 5):
        if model not in ("mlp", "gbm", "ensemble"):
            raise ValueError(f"model must be 'mlp', 'gbm' or 'ensemble', got {model!r}")
        self.model, self.target, self.seed, self.ensemble_size = model, target, seed, ensemble_size
        self.meta: dict = {}
        self.max_depth: int | None = None
        self.estimators_: list[LinearTimesCorrection] = []

    # ---- estimator API ------------------------------------------------------------------------------------
    def fit(self, archs: Sequence[ArchConfig], y: Sequence[float], meta: dict | None = None) -> "LatencyPredictor":
        y = np.asarray(y, dtype=float)
        if len(archs) != len(y):
            raise ValueError(f"{len(archs)} architectures but {len(y)} targets")
        if len(archs) < 10:
            raise ValueError("need at least 10 architectures to fit a predictor")
        if not np.all(np.isfinite(y) & (y > 0)):
            raise ValueError(f"{self.target} must be positive and finite for every architecture")
        self.meta = dict(meta or {})
        space_depths = self.meta.get("space", {}).get("depth")
        self.max_depth = max(space_depths) if space_depths else max(a.depth for a in archs)
        X = self._features(archs)
        if self.model == "gbm":
            members = [_gbm(self.seed)]
        elif self.model == "mlp":
            members = [_mlp(self.seed)]
        else:
            members = [_mlp(self.seed + i) for i in range(self.ensemble_size)]
        rng = np.random.default_rng(self.seed)
        for i, member in enumerate(members):
            rows = rng.choice(len(y), len(y)) if self.model == "ensemble" else np.arange(len(y))
            member.fit(X[rows], y[rows])
        self.estimators_ = members
        return self

    def predict(self, archs: Sequence[ArchConfig]) -> np.ndarray:
        return self.predict_with_std(archs)[0]

    def predict_with_std(self, archs: Sequence[ArchConfig]) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation over the ensemble (std is zero for a single model)."""
        if not self.estimators_:
            raise RuntimeError("this predictor is not fitted yet")
        X = self._features(archs)
        preds = np.stack([m.predict(X) for m in self.estimators_])
        return preds.mean(axis=0), preds.std(axis=0)

    def score(self, archs: Sequence[ArchConfig], y: Sequence[float]) -> dict[str, float]:
        """Held-out quality as users of HAT and nn-Meter report it."""
        return regression_metrics(np.asarray(y, dtype=float), self.predict(archs))

    def _features(self, archs: Sequence[ArchConfig]) -> np.ndarray:
        return arch_features(archs, self.max_depth)

    # ---- compatibility ------------------------------------------------------------------------------------
    def check_setting(self, meta: dict) -> None:
        """Refuse to serve a space, hardware or workload other than the one this predictor was trained for."""
        for key in FINGERPRINTS:
            ours, theirs = self.meta.get(key), meta.get(key)
            if ours and theirs and ours != theirs:
                what = key.removesuffix("_fingerprint")
                raise PredictorFileError(
                    f"this predictor was trained for {what} {self._describe(what)} ({ours}), not for "
                    f"{_describe_meta(meta, what)} ({theirs}); train one for it with `hwnas predictor train`")

    def _describe(self, what: str) -> str:
        return _describe_meta(self.meta, what)

    # ---- persistence --------------------------------------------------------------------------------------
    def save(self, path: str | Path, metrics: dict | None = None) -> Path:
        if not self.estimators_:
            raise RuntimeError("fit the predictor before saving it")
        folder = Path(path)
        blob = sio.dumps(self.estimators_)
        atomic_write(folder / MODEL_FILE, lambda tmp: tmp.write_bytes(blob))
        card = {"format_version": FORMAT_VERSION, "model": self.model, "target": self.target, "seed": self.seed,
                "ensemble_size": self.ensemble_size, "max_depth": self.max_depth,
                "features": feature_names(self.max_depth), "sha256": hashlib.sha256(blob).hexdigest(),
                "meta": self.meta, "metrics": metrics or {}}
        atomic_write_json(folder / CARD_FILE, card)
        return folder

    @classmethod
    def load(cls, path: str | Path, expect: dict | None = None) -> "LatencyPredictor":
        """A saved predictor; with `expect` (a dataset's or run's metadata), also check it is for that setting."""
        folder = Path(path)
        card_path, model_path = folder / CARD_FILE, folder / MODEL_FILE
        if not card_path.is_file() or not model_path.is_file():
            raise PredictorFileError(f"{folder}: not a predictor folder (needs {CARD_FILE} and {MODEL_FILE})")
        try:
            card = json.loads(card_path.read_text())
            expected_digest = card["sha256"]
        except (ValueError, KeyError):
            raise PredictorFileError(f"{card_path}: corrupt predictor card") from None
        if card.get("format_version") != FORMAT_VERSION:
            raise PredictorFileError(f"{card_path}: format version {card.get('format_version')}, "
                                     f"this hwnas reads {FORMAT_VERSION}")
        blob = model_path.read_bytes()
        if hashlib.sha256(blob).hexdigest() != expected_digest:
            raise PredictorFileError(f"{model_path}: corrupt or truncated (its checksum does not match {CARD_FILE})")
        try:
            untrusted = sio.get_untrusted_types(data=blob)
        except Exception:  # noqa: BLE001 - any parse failure means the file is not a predictor
            raise PredictorFileError(f"{model_path}: not a readable skops file") from None
        refused = [t for t in untrusted if not t.startswith(TRUSTED_PREFIXES)]
        if refused:
            raise PredictorFileError(f"{model_path}: refuses to load types outside scikit-learn/numpy: {refused}")
        estimators = sio.loads(blob, trusted=untrusted)
        predictor = cls(card["model"], card["target"], card["seed"], card["ensemble_size"])
        predictor.meta, predictor.max_depth, predictor.estimators_ = card["meta"], card["max_depth"], estimators
        if expect is not None:
            predictor.check_setting(expect)
        return predictor


def _describe_meta(meta: dict, what: str) -> str:
    value = meta.get(what)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return repr(value) if value is not None else "(unnamed)"


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """RMSE, MAPE, max relative error, Kendall tau, R^2 and the share of predictions within 5% and 10%."""
    rel = np.abs(y_pred - y_true) / np.abs(y_true)
    return {
        "n": int(len(y_true)),
        "rmse": float(np.sqrt(mean_squared_error(y_true, y_pred))),
        "mape": float(mean_absolute_percentage_error(y_true, y_pred)),
        "max_rel_error": float(rel.max()),
        "kendall_tau": float(kendalltau(y_true, y_pred).statistic),
        "r2": float(r2_score(y_true, y_pred)),
        "within_5pct": float(np.mean(rel <= 0.05)),
        "within_10pct": float(np.mean(rel <= 0.10)),
    }


__all__ = ["LatencyPredictor", "PredictorFileError", "regression_metrics"]
