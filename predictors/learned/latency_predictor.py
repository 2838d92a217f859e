"""`LatencyPredictor`: a learned latency/energy model over `ArchConfig`s, and a scikit-learn estimator.

The search calls its cost model thousands of times; a predictor answers for a batch of 10,000 architectures in
milliseconds. Models: an MLP (HAT's predictor: 3 hidden layers of 400), gradient-boosted trees, or an ensemble of
MLPs whose spread is an uncertainty estimate. Each is the correction factor of a
`LinearTimesCorrection` over the features of `supernet.features`, fitted on log ratios, so errors are relative,
as users judge them. Being a scikit-learn estimator (`get_params`, `set_params`, `clone`, `score` as R^2), it can
be tuned with `GridSearchCV` like any regressor; `regression_metrics` is the table users of HAT and nn-Meter read.

A saved predictor is a folder: `model.skops` and `predictor.json` (the model kind, target, feature layout, the
fingerprints of the space, hardware and workload it was trained for, and the SHA-256 of the model file), written
whole and atomically with a manifest, so that saving replaces only a folder hwnas wrote. Folders of earlier
releases (no manifest) still load; saving over one is refused, as over any folder hwnas cannot vouch for.
Predictor folders are shared between users, so `load` treats them as hostile: the card is validated key by key,
the checksum is checked, and the skops file may hold only the exact types our own predictors are made of
(`TRUSTED_TYPES`). A skops file can describe any importable callable, and a scikit-learn estimator that holds one
(say a `TransformedTargetRegressor` whose inverse function is `numpy.vectorize(eval)`) runs it at predict time;
the SHA-256 cannot help, since whoever wrote the file wrote the card too.
"""
from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Callable, Literal, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr
from scipy.stats import kendalltau
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.compose import TransformedTargetRegressor
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression
from sklearn.metrics import mean_absolute_percentage_error, mean_squared_error, r2_score
from sklearn.neural_network import MLPRegressor
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from predictors.learned.dataset import FINGERPRINTS
from predictors.accelerator.hardware import AcceleratorConfig
from predictors.learned.hardware_features import pair_feature_names, pair_features
from predictors.accelerator.hardware_space import HardwareSpace
from predictors.accelerator.workload import Workload
from userfiles import UserInputError, atomic_write, atomic_write_json, validate
from userfiles.folders import atomic_folder
from supernet.features import ADDED_FEATURES, arch_features, feature_names
from supernet.space import ArchConfig

ModelKind = Literal["mlp", "gbm", "ensemble"]
MODEL_KINDS = ("mlp", "gbm", "ensemble")
FORMAT_VERSION = 2
# Format 1 is format 2 saved before `predictors/learned.py` became the package `predictors.learned`: its skops file
# names our one class by the old module path, which `predictors.learned` still exports (see its __init__).
READABLE_VERSIONS = (1, 2)
MODEL_FILE, CARD_FILE, METRICS_FILE = "model.skops", "predictor.json", "metrics.json"
MIN_FIT_ROWS = 10  # below this the models' own early-stopping splits are empty
# The largest value a sound predictor answers (ms, mJ, a perplexity): 1e15 ms is some 30,000 years, beyond any
# setting hwnas can simulate or measure and far below overflow. Above it (or NaN, infinite, not positive) the model
# is broken, and a search ranking networks by it would rank them by noise.
MAX_PREDICTION = 1e15
# Every type a predictor file of ours contains, and nothing else: collected by saving each model kind we offer
# (gbm, mlp, ensemble) with skops and listing the types in its schema. Exact names, never prefixes: "numpy." or
# "builtins." would admit `numpy.vectorize` and `builtins.eval`, which is all an attacker needs. A new
# scikit-learn version that stores a new type makes `load` refuse our own files, loudly; add the type here
# after checking that it is plain data.
TRUSTED_TYPES = frozenset({
    "builtins.dict", "builtins.list", "builtins.str", "builtins.tuple",  # skops stores numbers and None as JSON
    "numpy.float32", "numpy.float64", "numpy.ndarray", "numpy.uint64",
    "numpy.random._generator.Generator", "numpy.random.mtrand.RandomState",
    "predictors.learned.latency_predictor.LinearTimesCorrection",
    "sklearn._loss._loss.CyHalfSquaredError", "sklearn._loss.link.IdentityLink", "sklearn._loss.link.Interval",
    "sklearn._loss.loss.HalfSquaredError",
    "sklearn.compose._target.TransformedTargetRegressor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingRegressor",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.linear_model._base.LinearRegression",
    "sklearn.neural_network._multilayer_perceptron.MLPRegressor",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.preprocessing._data.StandardScaler",
})
TRUSTED_BY_VERSION = {1: TRUSTED_TYPES - {"predictors.learned.latency_predictor.LinearTimesCorrection"}
                      | {"predictors.learned.LinearTimesCorrection"}, 2: TRUSTED_TYPES}


class PredictorFileError(UserInputError):
    """A predictor folder that is missing, corrupt, truncated, or made for another setting."""


class PredictorOutputError(UserInputError):
    """A predictor whose answer is not a positive finite number within `MAX_PREDICTION`: a damaged model."""


class PredictorKindError(UserInputError):
    """A hardware-conditioned predictor used where a plain one is expected, or the other way round."""


Pair = tuple[ArchConfig, AcceleratorConfig]


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


class LatencyPredictor(RegressorMixin, BaseEstimator):
    """Predicts one target (`latency_ms` or `energy_mj`) of architectures (`X`, a sequence of `ArchConfig`) on
    the accelerator it was trained for, or, conditioned on hardware, of (architecture, accelerator) pairs.

    Parameters are stored as given and checked in `fit`, as scikit-learn requires for `clone` and `set_params`.
    `max_depth` is the depth the per-layer features are padded to; None takes the deepest training architecture,
    so give the space's deepest depth when the predictor must serve architectures deeper than its training set.

    With `hardware_space` (and the `workload` the latencies are for), `X` holds (arch, accelerator) pairs and the
    features are those of `predictors.learned.hardware_features`: the architecture's, the accelerator's, and work over
    rate for each op group. Such a predictor answers for accelerators it never saw, but only inside the space it
    was trained on: any other is refused (`OutsideHardwareSpace`, naming the field), since nothing it learned
    says how far its error grows outside.
    """

    # files that hwnas writes into a predictor's folder before it is saved there, kept by `save` (none here)
    KEPT_FILES: tuple[str, ...] = ()

    def __init__(self, model: ModelKind = "mlp", target: str = "latency_ms", seed: int = 0, ensemble_size: int = 5,
                 max_depth: int | None = None, hardware_space: HardwareSpace | None = None,
                 workload: Workload | None = None):
        self.model = model
        self.target = target
        self.seed = seed
        self.ensemble_size = ensemble_size
        self.max_depth = max_depth
        self.hardware_space = hardware_space
        self.workload = workload

    @property
    def hardware_conditioned(self) -> bool:
        return self.hardware_space is not None

    # ---- estimator API ------------------------------------------------------------------------------------
    def fit(self, X: Sequence[ArchConfig] | Sequence[Pair], y: Sequence[float]) -> "LatencyPredictor":
        if (self.hardware_space is None) != (self.workload is None):
            raise ValueError("a predictor conditioned on hardware needs both hardware_space and workload")
        if self.model not in MODEL_KINDS:
            raise ValueError(f"model must be 'mlp', 'gbm' or 'ensemble', got {self.model!r}")
        if self.model == "ensemble" and self.ensemble_size < 1:
            raise ValueError(f"ensemble_size must be at least 1, got {self.ensemble_size}")
        y = np.asarray(y, dtype=float)
        if len(X) != len(y):
            raise ValueError(f"{len(X)} architectures but {len(y)} targets")
        if len(X) < MIN_FIT_ROWS:
            raise ValueError(f"need at least {MIN_FIT_ROWS} architectures to fit a predictor, got {len(X)}")
        if not np.all(np.isfinite(y) & (y > 0)):
            raise ValueError(f"{self.target} must be positive and finite for every architecture")
        self.max_depth_ = self.max_depth or max(a.depth for a in self._archs(X))
        self.features_ = self._layout()
        features = self._features(X)
        if self.model == "gbm":
            members = [_gbm(self.seed)]
        elif self.model == "mlp":
            members = [_mlp(self.seed)]
        else:
            members = [_mlp(self.seed + i) for i in range(self.ensemble_size)]
        rng = np.random.default_rng(self.seed)
        for member in members:
            rows = rng.choice(len(y), len(y)) if self.model == "ensemble" else np.arange(len(y))
            member.fit(features[rows], y[rows])
        self.estimators_ = members
        self.meta_: dict = {}  # the setting (fingerprints) is known only for a loaded predictor, from its card
        return self

    def predict(self, X: Sequence[ArchConfig] | Sequence[Pair]) -> np.ndarray:
        return self.predict_with_std(X)[0]

    def predict_with_std(self, X: Sequence[ArchConfig] | Sequence[Pair]) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation over the ensemble (std is zero for a single model)."""
        check_is_fitted(self, "estimators_")
        features = self._features(X)
        with np.errstate(over="ignore", invalid="ignore"):  # an overflow is reported below, as one line
            preds = np.stack([m.predict(features) for m in self.estimators_])
        bad = np.argwhere(~_sound(preds))
        if len(bad):
            member, row = bad[0]
            raise PredictorOutputError(
                f"{getattr(self, 'source_', 'predictor')}: predicted {self.target} = {preds[member, row]:g} for "
                f"item {row} of {len(features)}{f' (ensemble member {member})' if len(preds) > 1 else ''}; a sound "
                f"predictor answers a positive finite number up to {MAX_PREDICTION:g} (a damaged model; train the "
                "predictor again)")
        return preds.mean(axis=0), preds.std(axis=0)

    def _archs(self, X) -> list[ArchConfig]:
        """The architectures of `X`, after checking that `X` holds what this predictor takes."""
        pairs = [isinstance(x, tuple) for x in X]
        if self.hardware_conditioned and not all(pairs):
            raise PredictorKindError("this predictor is conditioned on hardware: give it (architecture, "
                                     "accelerator) pairs, not architectures alone")
        if not self.hardware_conditioned and any(pairs):
            raise PredictorKindError("this predictor is for the one accelerator it was trained on: give it "
                                     "architectures, not (architecture, accelerator) pairs (a predictor over pairs "
                                     "is trained with hardware_space, on `latency-data --hardware-space` data)")
        return [x[0] for x in X] if self.hardware_conditioned else list(X)

    def _features(self, X) -> np.ndarray:
        """The feature columns this predictor was fitted on (`features_`, by name)."""
        archs = self._archs(X)
        if not self.hardware_conditioned:
            full = arch_features(archs, self.max_depth_)
        else:
            hws = [hw for _, hw in X]
            for hw in {id(hw): hw for hw in hws}.values():
                self.hardware_space.check(hw)
            full = pair_features(archs, hws, self.workload, self.max_depth_)
        layout = self._layout()
        return full if self.features_ == layout else full[:, [layout.index(name) for name in self.features_]]

    def _layout(self) -> list[str]:
        return (pair_feature_names if self.hardware_conditioned else feature_names)(self.max_depth_)

    def feature_names(self) -> list[str]:
        return list(self.features_)

    # ---- compatibility ------------------------------------------------------------------------------------
    def check_setting(self, meta: dict) -> None:
        """Refuse to serve a space, hardware or workload other than the one this predictor was trained for, and
        a setting of one accelerator with a predictor over a hardware space, or the other way round."""
        if self.hardware_conditioned != ("hardware_space" in meta):
            raise PredictorKindError(
                "this predictor is conditioned on hardware (trained over a hardware space), and the data or run "
                "is for one accelerator" if self.hardware_conditioned else
                f"this predictor is for one accelerator ({self.meta_.get('hardware') or 'unnamed'}), and the data "
                "or run is over a hardware space; train one with `hwnas predictor train` on `hwnas latency-data "
                "--hardware-space` data")
        for key in FINGERPRINTS:
            ours, theirs = self.meta_.get(key), meta.get(key)
            if ours and theirs and ours != theirs:
                what = key.removesuffix("_fingerprint")
                raise PredictorFileError(
                    f"this predictor was trained for {what} {_describe_meta(self.meta_, what)} ({ours}), not for "
                    f"{_describe_meta(meta, what)} ({theirs}); train one for it with `hwnas predictor train`")

    # ---- persistence --------------------------------------------------------------------------------------
    def save(self, path: str | Path, *, meta: dict | None = None, metrics: dict | None = None,
             extra: Callable[[Path], None] | None = None) -> Path:
        """Write the predictor folder `path` whole (`userfiles.folders.atomic_folder`): `model.skops`,
        `predictor.json`, `metrics.json` when `metrics` are given, and whatever `extra(folder)` adds (a plot). An
        existing folder is replaced only when hwnas wrote it (its manifest lists every file in it, unchanged): a
        folder of the user's is refused in one line, untouched. `meta` is the dataset's metadata (the setting
        `load` checks against); a loaded predictor keeps the one it was loaded with."""
        check_is_fitted(self, "estimators_")
        import skops.io as sio  # here, not at import: it takes seconds, and most commands never save

        blob = sio.dumps(self.estimators_)
        card = {"format_version": FORMAT_VERSION, "model": self.model, "target": self.target, "seed": self.seed,
                "ensemble_size": self.ensemble_size, "max_depth": self.max_depth_,
                "features": self.feature_names(), "sha256": hashlib.sha256(blob).hexdigest(),
                "meta": self.meta_ if meta is None else meta, "metrics": metrics or {}}
        if self.hardware_conditioned:
            card |= {"hardware_space": self.hardware_space.to_record(),
                     "workload": self.workload.model_dump(mode="json")}
        with atomic_folder(path, keep=self.KEPT_FILES) as tmp:
            atomic_write(tmp / MODEL_FILE, lambda file: file.write_bytes(blob))
            atomic_write_json(tmp / CARD_FILE, card)
            if metrics is not None:
                atomic_write_json(tmp / METRICS_FILE, metrics)
            if extra is not None:
                extra(tmp)
        return Path(path)

    @classmethod
    def load(cls, path: str | Path, expect: dict | None = None,
             hardware_conditioned: bool | None = None) -> "LatencyPredictor":
        """A saved predictor; with `expect` (a dataset's or run's metadata), also check it is for that setting,
        and with `hardware_conditioned`, that it is (or is not) a predictor over (arch, accelerator) pairs.
        Anything wrong with the folder is a `PredictorFileError` naming the file and what is wrong with it."""
        folder = Path(path)
        card_path, model_path = folder / CARD_FILE, folder / MODEL_FILE
        if not card_path.is_file() or not model_path.is_file():
            raise PredictorFileError(f"{folder}: not a predictor folder (needs {CARD_FILE} and {MODEL_FILE})")
        card = _read_card(card_path)
        blob = _read_bytes(model_path)
        if hashlib.sha256(blob).hexdigest() != card.sha256:
            raise PredictorFileError(f"{model_path}: corrupt or truncated (its checksum does not match {CARD_FILE})")
        estimators = _load_estimators(model_path, blob, card.format_version)
        members = 1 if card.model != "ensemble" else card.ensemble_size
        if (not isinstance(estimators, list) or len(estimators) != members
                or not all(isinstance(e, LinearTimesCorrection) for e in estimators)
                or any(getattr(getattr(e, "scaler_", None), "n_features_in_", None) != len(card.features)
                       for e in estimators)):
            raise PredictorFileError(f"{model_path}: does not hold the {card.model} predictor that {CARD_FILE} "
                                     f"describes ({members} model(s) over {len(card.features)} features)")
        space = workload = None
        if card.hardware_space is not None:
            try:
                space = HardwareSpace.from_record(card.hardware_space, f"{card_path}: hardware_space")
                workload = validate(Workload, card.workload, f"{card_path}: workload")
            except UserInputError as exc:
                raise PredictorFileError(f"{exc} (a damaged predictor card; train the predictor again)") from None
        for i, estimator in enumerate(estimators):
            damage = _damage(estimator, len(card.features))
            if damage:
                raise PredictorFileError(f"{model_path}: model {i}: {damage} (a damaged model; train the predictor "
                                         "again)")
        predictor = cls(card.model, card.target, card.seed, card.ensemble_size, card.max_depth, space, workload)
        predictor.max_depth_, predictor.meta_, predictor.estimators_ = card.max_depth, card.meta, estimators
        predictor.features_, predictor.source_ = card.features, str(folder)
        if hardware_conditioned is not None and hardware_conditioned != predictor.hardware_conditioned:
            raise PredictorKindError(
                f"{folder}: a predictor conditioned on hardware (over a hardware space), where one for a single "
                "accelerator is expected" if predictor.hardware_conditioned else
                f"{folder}: a predictor for a single accelerator, where one conditioned on hardware (trained on "
                "`latency-data --hardware-space` data) is expected")
        if expect is not None:
            predictor.check_setting(expect)
        return predictor


class _Card(BaseModel):
    """What `predictor.json` must hold; extra keys (notes a user added) are ignored."""

    model_config = ConfigDict(extra="ignore")
    format_version: StrictInt
    model: ModelKind
    target: StrictStr
    seed: StrictInt
    ensemble_size: StrictInt = Field(ge=1)
    max_depth: StrictInt = Field(ge=1)
    features: list[StrictStr]
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    meta: dict
    metrics: dict
    hardware_space: dict | None = None  # set for a predictor conditioned on hardware, with its workload
    workload: dict | None = None


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise PredictorFileError(f"{path}: cannot read it ({exc.strerror})") from None


def _read_card(path: Path) -> _Card:
    try:
        data = json.loads(_read_bytes(path).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise PredictorFileError(f"{path}: corrupt predictor card (not valid JSON)") from None
    if not isinstance(data, dict):
        raise PredictorFileError(f"{path}: corrupt predictor card (expected a JSON object of keys to values)")
    if data.get("format_version") not in READABLE_VERSIONS or isinstance(data.get("format_version"), bool):
        raise PredictorFileError(f"{path}: format version {data.get('format_version')!r}, "
                                 f"this hwnas reads {' and '.join(map(str, READABLE_VERSIONS))}")
    try:
        card = validate(_Card, data, str(path))
    except UserInputError as exc:
        raise PredictorFileError(f"{exc} (a damaged predictor card; train the predictor again)") from None
    # Each layer adds several features, so a genuine card lists more features than layers; checking that first
    # keeps an edited `max_depth: 1000000000` from building a billion feature names.
    if (card.hardware_space is None) != (card.workload is None):
        raise PredictorFileError(f"{path}: hardware_space and workload go together (a damaged card; train the "
                                 "predictor again)")
    layout = feature_names if card.hardware_space is None else pair_feature_names
    if card.max_depth >= len(card.features) or card.features not in (
            layout(card.max_depth), [name for name in layout(card.max_depth) if name not in ADDED_FEATURES]):
        raise PredictorFileError(f"{path}: features: not this hwnas's feature layout for depth {card.max_depth} "
                                 "(a damaged card, or a predictor from another version; train it again)")
    return card


def _types_in(blob: bytes) -> set[str]:
    """Every type and function a skops file names, read from its schema without building anything."""
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        schema = json.loads(archive.read("schema.json"))
    found, stack = set(), [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "__module__" in node and "__class__" in node:
                found.add(f"{node['__module__']}.{node['__class__']}")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def _load_estimators(path: Path, blob: bytes, version: int) -> object:
    """The skops file's content, after refusing any type outside the exact list trusted for its format version. skops's own check
    (`get_untrusted_types`) is applied too, so a node kind it knows and we did not walk is covered as well."""
    import skops.io as sio  # here, not at import: it takes seconds, and most commands never load a predictor

    try:
        named = _types_in(blob) | set(sio.get_untrusted_types(data=blob))
    except Exception:  # noqa: BLE001 - whatever fails to parse is not a predictor file
        raise PredictorFileError(f"{path}: not a readable skops file") from None
    refused = sorted(named - TRUSTED_BY_VERSION[version])
    if refused:
        raise PredictorFileError(f"{path}: refused, it holds types a predictor never contains, which could run "
                                 f"code: {', '.join(refused)}")
    try:
        return sio.loads(blob, trusted=sorted(named))
    except Exception:  # noqa: BLE001 - a well-formed archive with inconsistent content is still a damaged file
        raise PredictorFileError(f"{path}: not a readable skops file (damaged content)") from None

def _sound(values: np.ndarray) -> np.ndarray:
    """Which predictions a working model could give: positive, finite, at most `MAX_PREDICTION`."""
    return np.isfinite(values) & (values > 0) & (values <= MAX_PREDICTION)


def _finite_floats(value: object, shape: tuple[int, ...] | None) -> bool:
    """`value` is a float array (of `shape`, when given) holding finite numbers only."""
    return (isinstance(value, np.ndarray) and value.dtype.kind == "f" and (shape is None or value.shape == shape)
            and bool(np.all(np.isfinite(value))))


def _damage(estimator: LinearTimesCorrection, n_features: int) -> str | None:
    """What is wrong with a loaded `LinearTimesCorrection`, or None. The skops file holds only trusted types,
    but their attributes are whatever the file says: a floor that is a string, NaN or infinite, a scaler
    without its arrays, a NaN coefficient. Each is checked here by what `predict` reads, then the model
    answers for the zero feature vector, so that what slips past the checks (a tree's damaged node) fails now,
    as one line, and not as a traceback in the middle of a search."""
    floor = getattr(estimator, "floor_", None)
    if isinstance(floor, bool) or not isinstance(floor, (int, float, np.floating)) \
            or not (np.isfinite(floor) and floor > 0):
        return f"floor_ = {floor!r}, expected a positive finite number"
    scaler, linear = getattr(estimator, "scaler_", None), getattr(estimator, "linear_", None)
    if not isinstance(scaler, StandardScaler) or not isinstance(linear, LinearRegression):
        return "expected a fitted StandardScaler (scaler_) and LinearRegression (linear_)"
    checks = {"scaler_.mean_": (getattr(scaler, "mean_", None), (n_features,)),
              "scaler_.scale_": (getattr(scaler, "scale_", None), (n_features,)),
              "linear_.coef_": (getattr(linear, "coef_", None), (n_features,)),
              "linear_.intercept_": (np.asarray(getattr(linear, "intercept_", None)), ())}
    for name, (value, shape) in checks.items():
        if not _finite_floats(value, shape):
            return f"{name}: expected {shape[0] if shape else 'one'} finite float(s), got {_short(value)}"
    if not np.all(checks["scaler_.scale_"][0] > 0):
        return "scaler_.scale_: expected positive scales"
    if not isinstance(getattr(estimator, "correction_", None), (TransformedTargetRegressor,
                                                                 HistGradientBoostingRegressor)):
        return "correction_: expected a fitted MLP or boosted-trees model"
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            probe = estimator.predict(np.zeros((1, n_features)))
    except Exception as exc:  # noqa: BLE001 - whatever a damaged model raises, it is the file's fault
        return f"cannot predict ({type(exc).__name__}: {' '.join(str(exc).split())[:200]})"
    if not (isinstance(probe, np.ndarray) and probe.shape == (1,) and _sound(probe).all()):
        return f"predicts {_short(probe)} for the zero feature vector, not a positive finite number"
    return None


def _short(value: object) -> str:
    """A value as a user reads it in one line: arrays by their type, shape and first items."""
    if isinstance(value, np.ndarray):
        return f"array of {value.dtype} {value.shape} {np.array2string(value.ravel()[:3], precision=4)}"
    return repr(value)[:80]


def _describe_meta(meta: dict, what: str) -> str:
    value = meta.get(what)
    if what == "hardware_space" and isinstance(value, dict):  # a record: its choices say it, the base is long
        value = value.get("space")
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


__all__ = ["LatencyPredictor", "PredictorFileError", "TRUSTED_TYPES", "regression_metrics"]
