"""Training a `LatencyPredictor` from a dataset file and judging it honestly on held-out architectures."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from predictors.dataset import archs_of, load_dataset, split_indices  # noqa: E402
from predictors.learned import LatencyPredictor, ModelKind, regression_metrics  # noqa: E402
from userfiles import UserInputError, atomic_write, atomic_write_json  # noqa: E402


def _target_values(frame, target: str, path) -> np.ndarray:
    if target not in frame.columns or frame[target].isna().all():
        raise UserInputError(f"{path}: has no {target!r} values to learn")
    return frame[target].to_numpy(dtype=float)


def train_from_dataset(data: str | Path, out: str | Path, model: ModelKind = "mlp", target: str = "latency_ms",
                       seed: int = 0, max_train: int | None = None) -> dict:
    """Fit on the train split (80%, or at most `max_train` rows of it), report val and test metrics, and write
    the predictor, `metrics.json` and `scatter.png` (predicted against true on the test split) into `out`."""
    frame, meta = load_dataset(data)
    frame = frame[frame[target].notna()].reset_index(drop=True) if target in frame.columns else frame
    y = _target_values(frame, target, data)
    archs = archs_of(frame)
    train, val, test = split_indices(len(frame), seed)
    if max_train is not None:
        train = train[:max_train]
    predictor = LatencyPredictor(model, target, seed).fit([archs[i] for i in train], y[train], meta)
    metrics = {"model": model, "target": target, "seed": seed, "data": str(data), "n_train": int(len(train)),
               "hardware": meta.get("hardware"), "workload": meta.get("workload")}
    for name, rows in (("train", train), ("val", val), ("test", test)):
        if len(rows):
            metrics[name] = regression_metrics(y[rows], predictor.predict([archs[i] for i in rows]))
    out = Path(out)
    predictor.save(out, metrics)
    atomic_write_json(out / "metrics.json", metrics)
    if len(test):
        scatter_plot(y[test], predictor.predict([archs[i] for i in test]), target, out / "scatter.png",
                     title=f"{model} predictor, {meta.get('hardware')}: test split")
    return metrics


def evaluate_on_dataset(predictor_dir: str | Path, data: str | Path) -> dict:
    """Metrics of a saved predictor on every row of a dataset made for the same setting."""
    frame, meta = load_dataset(data)
    predictor = LatencyPredictor.load(predictor_dir, expect=meta)
    y = _target_values(frame, predictor.target, data)
    keep = ~np.isnan(y)
    archs = [a for a, k in zip(archs_of(frame), keep) if k]
    return regression_metrics(y[keep], predictor.predict(archs))


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
