"""Training a `LatencyPredictor` from a dataset file and judging it honestly on held-out architectures."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from predictors.dataset import archs_of, dataset_space, load_dataset, split_indices  # noqa: E402
from predictors.learned import LatencyPredictor, ModelKind, regression_metrics  # noqa: E402
from userfiles import UserInputError, atomic_write, atomic_write_json  # noqa: E402


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
    the predictor, `metrics.json` and `scatter.png` (predicted against true on the test split) into `out`."""
    frame, meta = load_dataset(data)
    frame, y = _labelled(frame, target, data)
    if len(frame) < MIN_DATASET_ROWS:
        raise UserInputError(f"{data}: {len(frame)} rows with {target}; training a predictor needs at least "
                             f"{MIN_DATASET_ROWS} (make more with `hwnas latency-data --samples`)")
    archs = archs_of(frame, data)
    train, val, test = split_indices(len(frame), seed)
    if max_train is not None:
        train = train[:max_train]
    # features padded to the space's depth, so the predictor serves every architecture of the space
    predictor = LatencyPredictor(model, target, seed, max_depth=dataset_space(meta, data).max_depth)
    predictor.fit([archs[i] for i in train], y[train])
    metrics = {"model": model, "target": target, "seed": seed, "data": str(data), "n_train": int(len(train)),
               "hardware": meta.get("hardware"), "workload": meta.get("workload")}
    for name, rows in (("train", train), ("val", val), ("test", test)):  # each has 2+ rows at MIN_DATASET_ROWS
        metrics[name] = regression_metrics(y[rows], predictor.predict([archs[i] for i in rows]))
    out = Path(out)
    predictor.save(out, meta=meta, metrics=metrics)
    atomic_write_json(out / "metrics.json", metrics)
    scatter_plot(y[test], predictor.predict([archs[i] for i in test]), target, out / "scatter.png",
                 title=f"{model} predictor, {meta.get('hardware')}: test split")
    return metrics


def evaluate_on_dataset(predictor_dir: str | Path, data: str | Path) -> dict:
    """Metrics of a saved predictor on every row of a dataset made for the same setting."""
    frame, meta = load_dataset(data)
    predictor = LatencyPredictor.load(predictor_dir, expect=meta)
    frame, y = _labelled(frame, predictor.target, data)
    archs = archs_of(frame, data)
    try:
        predicted = predictor.predict(archs)
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
