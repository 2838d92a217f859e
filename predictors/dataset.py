"""Latency datasets: sampled architectures with their simulated (or measured) latency, energy and cycles.

A dataset is a table (Parquet, or CSV when pyarrow is missing) plus a JSON sidecar `<file>.meta.json` holding the
fingerprints of the search space, hardware and workload it was made for, the seed and the package versions. A
predictor trained on it carries those fingerprints, so it cannot be used for another setting by mistake.

Building is resumable: the architectures to simulate are a deterministic function of (space, samples, seed), the
table is rewritten atomically after every chunk, and a rerun skips the architectures already in it.
"""
from __future__ import annotations

import csv
import json
import platform
import random
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from predictors.hardware import AcceleratorConfig
from predictors.jobs import SimulationJob, simulate_job
from predictors.workload import Workload
from userfiles import UserInputError, atomic_write, atomic_write_json
from supernet.features import arch_features, feature_names
from supernet.space import ArchConfig, LayerConfig, SearchSpace

TARGETS = ("latency_ms", "energy_mj", "cycles")
FORMAT_VERSION = 1


def sample_archs(space: SearchSpace, samples: int, seed: int) -> list[ArchConfig]:
    """The first `samples` distinct architectures of a stream fixed by (space, seed): the space's corners
    (smallest and largest widths at every depth), then draws of which every fourth is stratified (depths in
    turn) and the rest uniform. Asking for more extends the same list, which is what lets a dataset grow
    on rerun. A space with fewer architectures ends the sampling after a bounded number of draws."""
    rng = random.Random(seed)
    chosen: dict[str, ArchConfig] = {}
    for depth in space.depth:
        for embed in (space.embed_dim[0], space.embed_dim[-1]):
            for heads, ffn in ((space.heads[0], space.ffn_dim[0]), (space.heads[-1], space.ffn_dim[-1])):
                arch = ArchConfig(embed, tuple(LayerConfig(heads, ffn) for _ in range(depth)), space.head_dim)
                chosen.setdefault(arch.key, arch)
    draws = 0
    while len(chosen) < samples and draws < 20 * samples:
        if draws % 4 == 0:
            arch = _sample_at_depth(space, rng, space.depth[(draws // 4) % len(space.depth)])
        else:
            arch = space.sample(rng)
        chosen.setdefault(arch.key, arch)
        draws += 1
    return list(chosen.values())[:samples]


def _sample_at_depth(space: SearchSpace, rng: random.Random, depth: int) -> ArchConfig:
    layers = tuple(LayerConfig(rng.choice(space.heads), rng.choice(space.ffn_dim)) for _ in range(depth))
    return ArchConfig(rng.choice(space.embed_dim), layers, space.head_dim)


def dataset_meta(space: SearchSpace, hardware_fingerprint: str, hardware_name: str, workload: Workload,
                 seed: int | None, source: str) -> dict:
    try:
        hwnas_version = version("hwnas")
    except PackageNotFoundError:
        hwnas_version = "unknown"
    return {
        "format_version": FORMAT_VERSION,
        "source": source,
        "space": space.to_dict(),
        "space_fingerprint": space.fingerprint(),
        "hardware": hardware_name,
        "hardware_fingerprint": hardware_fingerprint,
        "workload": workload.model_dump(mode="json"),
        "workload_fingerprint": workload.fingerprint(),
        "seed": seed,
        "versions": {"hwnas": hwnas_version, "python": platform.python_version(), "numpy": np.__version__,
                     "pandas": pd.__version__, "scikit-learn": version("scikit-learn")},
    }


FINGERPRINTS = ("space_fingerprint", "hardware_fingerprint", "workload_fingerprint")


def same_setting(a: dict, b: dict) -> str | None:
    """Which fingerprint differs between two metadata records (None when they describe the same setting)."""
    for key in FINGERPRINTS:
        if a.get(key) != b.get(key):
            return key.removesuffix("_fingerprint")
    return None


def meta_path(path: Path) -> Path:
    return path.with_name(path.name + ".meta.json")


def write_table(frame: pd.DataFrame, path: Path, meta: dict) -> None:
    """Table first, then its sidecar, each by temp file + rename: a crash never leaves a half-written file."""
    if path.suffix == ".parquet":
        atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))
    else:
        atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False))
    atomic_write_json(meta_path(path), meta)


def load_dataset(path: str | Path) -> tuple[pd.DataFrame, dict]:
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"{path}: dataset not found")
    if not meta_path(path).is_file():
        raise UserInputError(f"{path}: its metadata {meta_path(path).name} is missing")
    try:
        meta = json.loads(meta_path(path).read_text())
        frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except (ValueError, OSError) as exc:
        raise UserInputError(f"{path}: cannot read the dataset ({str(exc).splitlines()[0]})") from None
    missing = {"key", "arch", "latency_ms"} - set(frame.columns)
    if missing:
        raise UserInputError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
    return frame, meta


def archs_of(frame: pd.DataFrame) -> list[ArchConfig]:
    return [ArchConfig.from_dict(json.loads(text)) for text in frame["arch"]]


def _with_features(frame: pd.DataFrame, space: SearchSpace) -> pd.DataFrame:
    names = feature_names(space.max_depth)
    feats = pd.DataFrame(arch_features(archs_of(frame), space.max_depth), columns=[f"f_{n}" for n in names])
    base = frame.drop(columns=[c for c in frame.columns if c.startswith("f_")])
    return pd.concat([base.reset_index(drop=True), feats], axis=1)


def build_dataset(space: SearchSpace, hw: AcceleratorConfig, workload: Workload, samples: int, out: str | Path,
                  seed: int = 0, map_fn: Callable[[Callable, Iterable], Iterable] = map, chunk_size: int = 50,
                  progress: Callable[[int], None] | None = None) -> pd.DataFrame:
    """Simulate `samples` sampled architectures into `out`, resuming from what `out` already holds."""
    if samples < 1:
        raise UserInputError(f"--samples must be at least 1, got {samples}")
    out = Path(out)
    meta = dataset_meta(space, hw.fingerprint(), hw.name, workload, seed, source="simulator")
    frame = pd.DataFrame(columns=["key", "arch", *TARGETS])
    if out.exists():
        frame, old_meta = load_dataset(out)
        differs = same_setting(old_meta, meta)
        if differs or old_meta.get("seed") != seed:
            raise UserInputError(f"{out}: already holds a dataset for another {differs or 'seed'}; "
                                 "choose another --out or delete it")
    done = set(frame["key"])
    todo = [a for a in sample_archs(space, samples, seed) if a.key not in done]
    if progress:
        progress(len(done))
    jobs = [SimulationJob(hw.model_dump(mode="json"), workload.model_dump(mode="json"),
                          tuple(a.to_dict() for a in todo[i:i + chunk_size]))
            for i in range(0, len(todo), chunk_size)]
    parts = [frame] if len(frame) else []
    for chunk_rows in map_fn(simulate_job, jobs):
        parts.append(_with_features(pd.DataFrame(chunk_rows), space))
        write_table(pd.concat(parts, ignore_index=True), out, meta)
        if progress:
            progress(len(chunk_rows))
    frame, _ = load_dataset(out)
    return frame


@dataclass
class ImportReport:
    rows: int
    skipped: list[str]


def import_measured_csv(csv_path: str | Path, out: str | Path, space: SearchSpace, device: str,
                        workload: Workload, latency_column: str = "latency_ms", strict: bool = False) -> ImportReport:
    """Measured latencies from real hardware: a CSV with an `arch` column (ArchConfig JSON) and a latency column
    (optionally `energy_mj`). Malformed rows are reported by line number and skipped, or refused with `strict`."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise UserInputError(f"{csv_path}: file not found")
    rows, problems = [], []
    with csv_path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        for column in ("arch", latency_column):
            if column not in (reader.fieldnames or []):
                raise UserInputError(f"{csv_path}: no column {column!r} (columns: {', '.join(reader.fieldnames or [])})")
        for record in reader:
            line = reader.line_num
            try:
                arch = space.check(ArchConfig.from_dict(json.loads(record["arch"])))
                latency = float(record[latency_column])
                if not np.isfinite(latency) or latency <= 0:
                    raise ValueError(f"{latency_column} must be a positive number, got {record[latency_column]!r}")
                energy = float(record["energy_mj"]) if record.get("energy_mj") not in (None, "") else np.nan
            except (ValueError, TypeError) as exc:
                problem = f"{csv_path}:{line}: {str(exc).splitlines()[0]}"
                if strict:
                    raise UserInputError(problem) from None
                problems.append(problem)
                continue
            rows.append({"key": arch.key, "arch": arch.to_json(), "latency_ms": latency, "energy_mj": energy,
                         "cycles": np.nan})
    if not rows:
        raise UserInputError(f"{csv_path}: no usable rows")
    frame = pd.DataFrame(rows).drop_duplicates("key", keep="last")
    fingerprint = f"measured:{device}"
    meta = dataset_meta(space, fingerprint, device, workload, None, source=f"measured ({csv_path.name})")
    write_table(_with_features(frame, space), Path(out), meta)
    return ImportReport(len(frame), problems)


def split_indices(n: int, seed: int, fractions: Sequence[float] = (0.8, 0.1, 0.1)) -> tuple[np.ndarray, ...]:
    """Train / validation / test indices, shuffled by `seed` (HAT's 80/10/10 by default)."""
    order = np.random.default_rng(seed).permutation(n)
    cut1 = int(round(fractions[0] * n))
    cut2 = cut1 + int(round(fractions[1] * n))
    return order[:cut1], order[cut1:cut2], order[cut2:]
