"""Training a `LatencyPredictor` from a dataset file and judging it honestly on held-out architectures (and, for a
joint dataset of (architecture, accelerator) pairs, on held-out accelerators)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from predictors.learned.dataset import (archs_of, dataset_hardware_space, dataset_space, load_dataset, meta_path,  # noqa: E402
                                pairs_of, split_by_group, split_indices)
from predictors.learned.latency_predictor import LatencyPredictor, ModelKind, regression_metrics  # noqa: E402
from predictors.accelerator.workload import Workload  # noqa: E402
from userfiles import UserInputError, atomic_write, validate  # noqa: E402
from userfiles.folders import check_target  # noqa: E402


# An 80/10/10 split of 13 rows is the smallest that leaves the fit its 10 rows and the test split the two rows
# a rank correlation needs; 20 gives the validation split two rows as well.
MIN_DATASET_ROWS = 20


def _labelled(frame, target: str, path) -> tuple:
    """The rows that have a `target` value, and those values; refused (naming the file) when there are none or
    one is not a positive number."""
    if target not in frame.columns or frame[target].isna().all():
        raise UserInputError(f"{path}: has no {target!r} values to learn")
    frame = frame[frame[target].notna()].reset_index(drop=True)
    y = frame[target].to_numpy(dtype=float)
    bad = np.flatnonzero(~(np.isfinite(y) & (y > 0)))
    if len(bad):
        raise UserInputError(f"{path}: {target} must be a positive number in every row; row {bad[0]} holds {y[bad[0]]}")
    return frame, y


def train_from_dataset(data: str | Path, out: str | Path, model: ModelKind = "mlp", target: str = "latency_ms",
                       seed: int = 0, max_train: int | None = None) -> dict:
    """Fit on the train split (80%, or at most `max_train` rows of it), report val and test metrics, and write
    the predictor, `metrics.json` and `scatter.png` (predicted against true on the test split) as the folder `out`,
    whole and atomically: an existing `out` is replaced only when hwnas wrote it, and checked before any work.

    A joint dataset (`latency-data --hardware-space`) trains a predictor conditioned on hardware, and is split by
    accelerator: no accelerator of the validation or test split is in the training split."""
    check_target(out)  # a folder of the user's is refused before the fit, not after
    frame, meta = load_dataset(data)
    frame, y = _labelled(frame, target, data)
    if len(frame) < MIN_DATASET_ROWS:
        raise UserInputError(f"{data}: {len(frame)} rows with {target}; training a predictor needs at least "
                             f"{MIN_DATASET_ROWS} (make more with `hwnas latency-data --samples`)")
    hardware_space = dataset_hardware_space(meta, data)
    if hardware_space is None:
        X, (train, val, test) = archs_of(frame, data), split_indices(len(frame), seed)
        workload, setting = None, meta.get("hardware")
    else:
        X, (train, val, test) = pairs_of(frame, hardware_space, data), split_by_group(frame["hardware"], seed)
        workload = validate(Workload, meta.get("workload"), f"{meta_path(Path(data))}: workload")
        setting = f"hardware space {meta.get('hardware_space_fingerprint')}"
        if min(len(val), len(test)) < 2:
            raise UserInputError(f"{data}: {frame['hardware'].nunique()} accelerators are too few to hold some out "
                                 "for validation and test; sample more (`hwnas latency-data --samples`)")
    if max_train is not None:
        train = train[:max_train]
    # features padded to the space's depth, so the predictor serves every architecture of the space
    predictor = LatencyPredictor(model, target, seed, max_depth=dataset_space(meta, data).max_depth,
                                 hardware_space=hardware_space, workload=workload)
    predictor.fit([X[i] for i in train], y[train])
    metrics = {"model": model, "target": target, "seed": seed, "data": str(data), "n_train": int(len(train)),
               "hardware": setting, "workload": meta.get("workload"),
               "split": "by architecture" if hardware_space is None else "by accelerator"}
    for name, rows in (("train", train), ("val", val), ("test", test)):  # each has 2+ rows at MIN_DATASET_ROWS
        metrics[name] = regression_metrics(y[rows], predictor.predict([X[i] for i in rows]))
    predicted = predictor.predict([X[i] for i in test])
    predictor.save(out, meta=meta, metrics=metrics, extra=lambda folder: scatter_plot(
        y[test], predicted, target, folder / "scatter.png", title=f"{model} predictor, {setting}: test split"))
    return metrics


def evaluate_on_dataset(predictor_dir: str | Path, data: str | Path) -> dict:
    """Metrics of a saved predictor on every row of a dataset made for the same setting."""
    frame, meta = load_dataset(data)
    predictor = LatencyPredictor.load(predictor_dir, expect=meta)
    frame, y = _labelled(frame, predictor.target, data)
    hardware_space = dataset_hardware_space(meta, data)
    X = archs_of(frame, data) if hardware_space is None else pairs_of(frame, hardware_space, data)
    try:
        predicted = predictor.predict(X)
    except UserInputError:  # the predictor's own fault (a damaged model), named by its folder
        raise
    except ValueError as exc:  # an architecture deeper than the predictor's features: a dataset of another space
        raise UserInputError(f"{data}: {exc}") from None
    return regression_metrics(y, predicted)


def scatter_plot(y_true: np.ndarray, y_pred: np.ndarray, target: str, path: Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(4.8, 4.4), dpi=110)
    ax.scatter(y_true, y_pred, s=8, alpha=0.6)
    lo, hi = float(min(y_true.min(), y_pred.min())), float(max(y_true.max(), y_pred.max()))
    ax.plot([lo, hi], [lo, hi], color="black", lw=0.8)
    ax.fill_between([lo, hi], [lo * 0.95, hi * 0.95], [lo * 1.05, hi * 1.05], color="grey", alpha=0.2, label="±5%")
    m = regression_metrics(y_true, y_pred)
    ax.set_xlabel(f"true {target}")
    ax.set_ylabel(f"predicted {target}")
    ax.set_title(f"{title}\nMAPE {m['mape']:.2%}, Kendall tau {m['kendall_tau']:.3f}", fontsize=9)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)
