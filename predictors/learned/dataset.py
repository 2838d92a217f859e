"""Latency datasets: sampled architectures with their simulated (or measured) latency, energy and cycles.

A dataset is a table (Parquet, or CSV when pyarrow is missing) plus a JSON sidecar `<file>.meta.json` holding the
fingerprints of the search space, hardware and workload it was made for, the seed and the package versions. A
predictor trained on it carries those fingerprints, so it cannot be used for another setting by mistake.

Building is resumable: the architectures to simulate are a deterministic function of (space, samples, seed), the
table is rewritten atomically after every chunk, and a rerun skips the architectures already in it. A kill leaves
at most a temp file of the write in progress, which the next run removes; SIGTERM unwinds like Ctrl-C, so that
nothing is left at all. A space smaller than the samples asked for is simulated whole, once, and its metadata
says `complete`, so that reruns know there is nothing more to add (`dataset_complete`).
"""
from __future__ import annotations

import csv
import json
import os
import platform
import random
import signal
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from predictors.accelerator.hardware import AcceleratorConfig, measured_fingerprint
from predictors.accelerator.hardware_space import HardwareSpace
from predictors.learned.jobs import JointSimulationJob, SimulationJob, simulate_job, simulate_joint_job
from predictors.accelerator.workload import QUANTISATION_SETTINGS, Workload
from userfiles import UserInputError, atomic_write, atomic_write_json, file_sha256, output_error, validate
from userfiles.processes import parse_pid, pid_alive
from supernet.features import arch_features, feature_names
from supernet.space import ArchConfig, SearchSpace, uniform_arch

TARGETS = ("latency_ms", "energy_mj", "cycles")
FORMAT_VERSION = 1


def sample_archs(space: SearchSpace, samples: int, seed: int) -> list[ArchConfig]:
    """The first `samples` distinct architectures of a stream fixed by (space, seed): the space's corners
    (smallest and largest widths at every depth), then draws of which every fourth is stratified (depths in
    turn) and the rest uniform. Asking for more extends the same list, which is what lets a dataset grow
    on rerun. Always exactly min(samples, space size) architectures: when the draws stop finding new ones
    (a space not much larger than `samples`) the rest come from enumerating the space, so a space smaller
    than `samples` is returned whole, after at most 20 draws per architecture it holds."""
    wanted = min(samples, space.size())
    rng = random.Random(seed)
    chosen: dict[str, ArchConfig] = {}
    for depth in space.depth:
        for embed in (space.embed_dim[0], space.embed_dim[-1]):
            for end in (0, -1):
                heads = space.heads[end]
                arch = uniform_arch(depth, embed, heads, space.ffn_dim[end], space.head_dim,
                                    space.kv_choices(heads)[end], space.family)
                chosen.setdefault(arch.key, arch)
    draws = 0
    while len(chosen) < wanted and draws < 20 * wanted:
        if draws % 4 == 0:
            arch = _sample_at_depth(space, rng, space.depth[(draws // 4) % len(space.depth)])
        else:
            arch = space.sample(rng)
        chosen.setdefault(arch.key, arch)
        draws += 1
    if len(chosen) < wanted:
        for arch in space.enumerate(limit=space.size()):  # lazy: stops as soon as the list is full
            chosen.setdefault(arch.key, arch)
            if len(chosen) == wanted:
                break
    return list(chosen.values())[:wanted]


def _sample_at_depth(space: SearchSpace, rng: random.Random, depth: int) -> ArchConfig:
    layers = tuple(space.sample_layer(rng) for _ in range(depth))
    return ArchConfig(rng.choice(space.embed_dim), layers, space.head_dim, space.family)


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


FINGERPRINTS = ("space_fingerprint", "hardware_fingerprint", "hardware_space_fingerprint", "workload_fingerprint")


def same_setting(a: dict, b: dict) -> str | None:
    """Which fingerprint differs between two metadata records (None when they describe the same setting)."""
    for key in FINGERPRINTS:
        if a.get(key) != b.get(key):
            return key.removesuffix("_fingerprint")
    return None


def meta_path(path: Path) -> Path:
    return path.with_name(path.name + ".meta.json")


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]


def pending_path(path: Path) -> Path:
    """Where the next table waits, whole, until its sidecar names it (`write_table`)."""
    return path.with_name(f".{path.name}.pending")


def write_table(frame: pd.DataFrame, path: Path, meta: dict) -> None:
    """The table and its sidecar, so that a kill at any moment leaves the old dataset or the new one whole:
    the new table is written whole to `pending_path` first, then the sidecar (naming that table by its sha256),
    then the table is renamed into place. Killed before the sidecar, the old pair stands; killed after it,
    `load_dataset` finishes the rename (the sidecar names the waiting table). Two files cannot be renamed at
    once; a table that waits, checksummed, can be."""
    def table(tmp: Path) -> None:
        if path.suffix == ".parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_csv(tmp, index=False)

    pending = pending_path(path)
    try:
        try:
            atomic_write(pending, table)
        except UserInputError as exc:  # name the file the user asked for, not the one it waits in
            raise UserInputError(str(exc).replace(str(pending), str(path))) from None
        sha = file_sha256(pending)
        atomic_write_json(meta_path(path), {**meta, "table_sha256": sha})
        try:
            os.replace(pending, path)
        except FileNotFoundError:  # a reader's `load_dataset` finished the rename for us
            if not (path.is_file() and file_sha256(path) == sha):
                raise
    except OSError as exc:
        raise UserInputError(f"{path}: cannot write the dataset ({exc.strerror or _first_line(exc)})") from None


def _finish_interrupted_write(path: Path, meta: dict) -> None:
    """A writer killed between the sidecar and the table's rename left the new table waiting: move it in."""
    pending, wanted = pending_path(path), meta.get("table_sha256")
    if not pending.is_file():
        return
    if wanted and file_sha256(pending) == wanted and (not path.is_file() or file_sha256(path) != wanted):
        try:
            os.replace(pending, path)
        except FileNotFoundError:  # the writer, still running, renamed it first
            pass
    elif path.is_file() and (not wanted or file_sha256(path) == wanted):
        pending.unlink(missing_ok=True)  # a table killed before its sidecar named it: the old pair stands


def _check_output(path: Path) -> None:
    """Refuse an --out that cannot become a dataset file before any work is done for it."""
    if path.is_dir():
        raise UserInputError(f"{path}: is a directory; --out takes a file name ending in .parquet or .csv")
    if any(parent.exists() and not parent.is_dir() for parent in path.parents):
        raise UserInputError(f"{path}: a parent of it is a file, not a directory")
    if (path.exists() or path.is_symlink()) and not meta_path(path).is_file():  # the sidecar: hwnas wrote `path`
        raise UserInputError(f"{path}: exists and is not a dataset hwnas wrote (no {meta_path(path).name} beside "
                             "it); writing the dataset would overwrite it, so choose another --out or move it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserInputError(output_error(path, exc)) from None


def remove_stale_temps(path: Path) -> list[Path]:
    """Delete the temp files that a killed writer of `path` or of its metadata left beside them.

    `atomic_write` names its temp file `.NAME.tmpPID`; SIGKILL (or a power cut) in the middle of a write leaves
    it behind. Only files whose PID is no longer running are removed, so a concurrent writer keeps its own."""
    removed = []
    if not path.parent.is_dir():
        return removed
    prefixes = [f".{name}.tmp" for name in (path.name, meta_path(path).name, pending_path(path).name)]
    for candidate in path.parent.iterdir():
        for prefix in prefixes:
            pid = parse_pid(candidate.name.removeprefix(prefix)) if candidate.name.startswith(prefix) else None
            if pid is not None and pid != os.getpid() and not pid_alive(pid):
                candidate.unlink(missing_ok=True)
                removed.append(candidate)
    return removed


def load_dataset(path: str | Path) -> tuple[pd.DataFrame, dict]:
    """The table and its metadata; anything unreadable or malformed is one line naming the file."""
    path = Path(path)
    if path.is_dir():
        raise UserInputError(f"{path}: is a directory, expected a dataset file from `hwnas latency-data`")
    sidecar = meta_path(path)
    if not path.is_file() and not pending_path(path).is_file():
        raise UserInputError(f"{path}: dataset not found")
    if not sidecar.is_file():
        raise UserInputError(f"{path}: its metadata {sidecar.name} is missing")
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as exc:
        raise UserInputError(f"{sidecar}: not valid JSON ({_first_line(exc)})") from None
    except OSError as exc:
        raise UserInputError(f"{sidecar}: cannot read it ({exc.strerror})") from None
    if not isinstance(meta, dict):
        raise UserInputError(f"{sidecar}: expected a JSON object of keys to values")
    try:
        _finish_interrupted_write(path, meta)
    except OSError as exc:
        raise UserInputError(f"{path}: cannot finish the write a killed run began ({exc.strerror})") from None
    if not path.is_file():
        raise UserInputError(f"{path}: dataset not found")
    try:
        frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except (ValueError, OSError) as exc:
        raise UserInputError(f"{path}: cannot read the dataset ({_first_line(exc)})") from None
    missing = {"key", "arch", "latency_ms"} - set(frame.columns)
    if missing:
        raise UserInputError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
    return frame, meta


def dataset_space(meta: dict, path: str | Path) -> SearchSpace:
    """The search space a dataset was made for, as its metadata records it."""
    return validate(SearchSpace, meta.get("space"), f"{meta_path(Path(path))}: space")


def dataset_hardware_space(meta: dict, path: str | Path) -> HardwareSpace | None:
    """The hardware space a joint dataset was sampled from (None for a dataset of one accelerator)."""
    if "hardware_space" not in meta:
        return None
    return HardwareSpace.from_record(meta["hardware_space"], f"{meta_path(Path(path))}: hardware_space")


def pairs_of(frame: pd.DataFrame, hardware_space: HardwareSpace,
             source: str | Path = "dataset") -> list[tuple[ArchConfig, AcceleratorConfig]]:
    """A joint dataset's rows as (architecture, accelerator) pairs; rows of one accelerator share one object
    (which is what lets feature code describe each accelerator once). A malformed label names its row."""
    if "hardware" not in frame.columns:
        raise UserInputError(f"{source}: no hardware column; not a dataset from `latency-data --hardware-space`")
    designs: dict[str, AcceleratorConfig] = {}
    hws = []
    for row, label in enumerate(frame["hardware"]):
        hw = designs.get(label)
        if hw is None:
            try:
                hw = designs[label] = hardware_space.decode([int(g) for g in str(label).split("-")])
            except ValueError as exc:
                raise UserInputError(f"{source}: row {row}: hardware {label!r}: {_first_line(exc)}") from None
        hws.append(hw)
    return list(zip(archs_of(frame, source), hws))


def dataset_complete(path: str | Path, samples: int) -> bool:
    """Whether `path` is a dataset that a run asking for `samples` architectures needs nothing more from: it
    holds at least `samples` rows, or its space is smaller and it holds all of it (its metadata says
    `complete`). What a pipeline's done-check should ask, so that a small space is not rebuilt on every rerun."""
    if not Path(path).is_file() and not pending_path(Path(path)).is_file():
        return False
    frame, meta = load_dataset(path)
    return len(frame) >= samples or meta.get("complete") is True


def archs_of(frame: pd.DataFrame, source: str | Path = "dataset") -> list[ArchConfig]:
    """The `arch` column as `ArchConfig`s; a malformed entry is one line naming `source` and its row."""
    archs = []
    for row, text in enumerate(frame["arch"]):
        try:
            archs.append(ArchConfig.from_dict(json.loads(text)))
        except (TypeError, ValueError, RecursionError) as exc:
            raise UserInputError(f"{source}: row {row}: arch: {_first_line(exc)}") from None
    return archs


def _with_features(frame: pd.DataFrame, space: SearchSpace) -> pd.DataFrame:
    names = feature_names(space.max_depth)
    feats = pd.DataFrame(arch_features(archs_of(frame, "new rows"), space.max_depth), columns=[f"f_{n}" for n in names])
    base = frame.drop(columns=[c for c in frame.columns if c.startswith("f_")])
    return pd.concat([base.reset_index(drop=True), feats], axis=1)


def build_dataset(space: SearchSpace, hw: AcceleratorConfig, workload: Workload, samples: int, out: str | Path,
                  seed: int = 0, map_fn: Callable[[Callable, Iterable], Iterable] = map, chunk_size: int = 50,
                  progress: Callable[[int], None] | None = None) -> pd.DataFrame:
    """Simulate `samples` sampled architectures into `out`, resuming from what `out` already holds."""
    workload.check_widths(hw)
    meta = dataset_meta(space, hw.fingerprint(), hw.name, workload, seed, source="simulator")

    def jobs(todo: list[ArchConfig]) -> list[SimulationJob]:
        return [SimulationJob(hw.model_dump(mode="json"), meta["workload"],
                              tuple(a.to_dict() for a in todo[i:i + chunk_size]))
                for i in range(0, len(todo), chunk_size)]

    return _simulate_into(Path(out), meta, space, samples, space.size(), lambda: {
        a.key: a for a in sample_archs(space, samples, seed)}, jobs, simulate_job, map_fn, progress)


def sample_pairs(space: SearchSpace, hardware_space: HardwareSpace, samples: int,
                 seed: int) -> dict[str, tuple[ArchConfig, str, AcceleratorConfig]]:
    """The first `samples` distinct (architecture, accelerator) pairs of a stream fixed by the spaces and `seed`,
    keyed as their dataset rows are: the architectures of `sample_archs`, in its order (again from the start
    when the space holds fewer), each with an accelerator drawn uniformly from `hardware_space`, named by its
    genes (`hardware_label`). Both draws extend their own streams, so asking for more extends the same list."""
    archs = sample_archs(space, samples, seed)
    rng = random.Random(f"hardware-{seed}")
    choices = hardware_space.gene_choices()
    pairs: dict[str, tuple[ArchConfig, str, AcceleratorConfig]] = {}
    draws = 0
    while len(pairs) < samples and draws < 20 * samples:
        arch = archs[draws % len(archs)]
        hw = hardware_space.decode([rng.randrange(n) for n in choices])
        label = hardware_label(hardware_space, hw)
        pairs.setdefault(f"{arch.key}@{label}", (arch, label, hw))
        draws += 1
    return pairs


def hardware_label(hardware_space: HardwareSpace, hw: AcceleratorConfig) -> str:
    """An accelerator of `hardware_space` as its genes, `1-0-2-...`: what a joint dataset's `hardware` column
    holds (ignored genes are 0, so one design has one label)."""
    return "-".join(str(g) for g in hardware_space.encode(hw))


def build_joint_dataset(space: SearchSpace, hardware_space: HardwareSpace, workload: Workload, samples: int,
                        out: str | Path, seed: int = 0, map_fn: Callable[[Callable, Iterable], Iterable] = map,
                        chunk_size: int = 50, progress: Callable[[int], None] | None = None) -> pd.DataFrame:
    """Simulate `samples` (architecture, accelerator) pairs sampled jointly from the two spaces into `out`,
    resuming like `build_dataset`. The metadata records the hardware space (with its base inline, see
    `HardwareSpace.to_record`) where a plain dataset records one accelerator."""
    quantised = [name for name in QUANTISATION_SETTINGS if getattr(workload, name) is not None]
    if quantised:
        raise UserInputError(f"workload: {' and '.join(quantised)} are not yet in the features of a predictor over a "
                             "hardware space (they change the widths its features assume); leave them out with "
                             "--hardware-space")
    meta = dataset_meta(space, None, None, workload, seed, source="simulator")
    meta |= {"hardware_space": hardware_space.to_record(), "hardware_space_fingerprint": hardware_space.fingerprint()}

    def jobs(todo: list[tuple[ArchConfig, str, AcceleratorConfig]]) -> list[JointSimulationJob]:
        chunks = [todo[i:i + chunk_size] for i in range(0, len(todo), chunk_size)]
        return [JointSimulationJob(meta["workload"], {label: hw.model_dump(mode="json") for _, label, hw in chunk},
                                   tuple((label, arch.to_dict()) for arch, label, _ in chunk)) for chunk in chunks]

    return _simulate_into(Path(out), meta, space, samples, space.size() * hardware_space.size(),
                          lambda: sample_pairs(space, hardware_space, samples, seed), jobs, simulate_joint_job,
                          map_fn, progress)


def _simulate_into(out: Path, meta: dict, space: SearchSpace, samples: int, size: int, sample: Callable[[], dict],
                   make_jobs: Callable[[list], list], job_fn: Callable, map_fn: Callable,
                   progress: Callable[[int], None] | None) -> pd.DataFrame:
    """What both builders share: check `out`, resume from the rows it holds (refusing another setting), simulate
    the sampled items (`sample()`: row key -> item) that are missing chunk by chunk, and rewrite the table
    atomically after each chunk; `size` is how many rows the spaces hold in all (for `complete`)."""
    if samples < 1:
        raise UserInputError(f"--samples must be at least 1, got {samples}")
    _check_output(out)
    remove_stale_temps(out)
    frame, old_meta = pd.DataFrame(columns=["key", "arch", *TARGETS]), {}
    if out.exists() or pending_path(out).exists():
        frame, old_meta = load_dataset(out)
        differs = same_setting(old_meta, meta)
        if differs or old_meta.get("seed") != meta["seed"]:
            raise UserInputError(f"{out}: already holds a dataset for another {differs or 'seed'}; "
                                 "choose another --out or delete it")
    done = set(frame["key"])
    todo = [item for key, item in sample().items() if key not in done]
    if progress:
        progress(len(done))
    jobs = make_jobs(todo)
    parts = [frame] if len(frame) else []
    if not jobs and len(frame) >= size and not old_meta.get("complete"):
        write_table(frame, out, dict(old_meta, complete=True))  # made before `complete` was recorded
    with _sigterm_unwinds():
        for chunk_rows in map_fn(job_fn, jobs):
            parts.append(_with_features(pd.DataFrame(chunk_rows), space))
            table = pd.concat(parts, ignore_index=True)
            write_table(table, out, dict(meta, complete=len(table) >= size))
            if progress:
                progress(len(chunk_rows))
    frame, _ = load_dataset(out)
    return frame


@contextmanager
def _sigterm_unwinds():
    """Turn SIGTERM into SystemExit(143) while a dataset is written. SIGTERM's default action ends the process on
    the spot, leaving the temp file of a write in progress and the pool's workers; an exception unwinds instead,
    as Ctrl-C does: `atomic_write` removes its temp file and the executor shuts its pool down. Only from the main
    thread (where Python runs signal handlers), and only when nobody installed a SIGTERM handler already."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    def unwind(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, unwind)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


@dataclass
class ImportReport:
    rows: int
    skipped: list[str]


def import_measured_csv(csv_path: str | Path, out: str | Path, space: SearchSpace, device: str,
                        workload: Workload, latency_column: str = "latency_ms", strict: bool = False) -> ImportReport:
    """Measured latencies from real hardware: a CSV with an `arch` column (ArchConfig JSON) and a latency column
    (optionally `energy_mj`). Malformed rows are reported by line number and skipped, or refused with `strict`.
    Rows that measure one architecture alike count once; rows that disagree are all skipped (or refused), since
    keeping any one of them would pass one measurement off as the truth. A byte-order mark (what spreadsheet
    programs write in front of "UTF-8 CSV") is read as nothing, not as part of the first column's name."""
    csv_path, out = Path(csv_path), Path(out)
    if csv_path.is_dir():
        raise UserInputError(f"{csv_path}: is a directory, expected a CSV file")
    if not csv_path.is_file():
        raise UserInputError(f"{csv_path}: file not found")
    _check_output(out)
    remove_stale_temps(out)
    rows, lines, problems, reader = [], [], [], None
    try:
        with csv_path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            for column in ("arch", latency_column):
                if column not in (reader.fieldnames or []):
                    raise UserInputError(
                        f"{csv_path}: no column {column!r} (columns: {', '.join(reader.fieldnames or [])})")
            for record in reader:
                try:
                    rows.append(_measured_row(record, space, latency_column))
                    lines.append(reader.line_num)
                except (ValueError, TypeError, RecursionError) as exc:
                    problem = f"{csv_path}:{reader.line_num}: {_first_line(exc)}"
                    if strict:
                        raise UserInputError(problem) from None
                    problems.append(problem)
    except UnicodeDecodeError as exc:
        raise UserInputError(f"{csv_path}: not UTF-8 text (byte {exc.start}: {exc.reason}); "
                             "save it as UTF-8 CSV") from None
    except csv.Error as exc:
        # the csv module stops for good on these (a field over its size limit, a NUL byte): no row after it
        # could be trusted to start where it seems to, so the file is refused rather than skipped past
        where = f"{csv_path}:{reader.line_num + 1}" if reader else str(csv_path)  # the line it could not read
        raise UserInputError(f"{where}: not a readable CSV row ({_first_line(exc)})") from None
    except OSError as exc:
        raise UserInputError(f"{csv_path}: cannot read it ({exc.strerror or _first_line(exc)})") from None
    rows, conflicts = _agreeing(rows, lines, csv_path, latency_column)
    if conflicts and strict:
        raise UserInputError(conflicts[0])
    problems += conflicts
    if not rows:
        raise UserInputError(f"{csv_path}: no usable rows")
    frame = pd.DataFrame(rows)
    fingerprint = measured_fingerprint(device)
    meta = dataset_meta(space, fingerprint, device, workload, None, source=f"measured ({csv_path.name})")
    write_table(_with_features(frame, space), out, meta)
    return ImportReport(len(frame), problems)


def _measured_row(record: dict, space: SearchSpace, latency_column: str) -> dict:
    """One CSV record as a dataset row; ValueError says what is wrong with it."""
    if None in record:
        raise ValueError(f"more fields than the header's {len(record) - 1}")
    missing = [column for column, value in record.items() if value is None]
    if missing:
        raise ValueError(f"fewer fields than the header: no {', '.join(missing)}")
    arch = space.check(ArchConfig.from_dict(json.loads(record["arch"])))
    latency = float(record[latency_column])
    if not np.isfinite(latency) or latency <= 0:
        raise ValueError(f"{latency_column} must be a positive number, got {record[latency_column]!r}")
    energy = np.nan  # not measured
    if record.get("energy_mj") not in (None, ""):
        energy = float(record["energy_mj"])
        if not np.isfinite(energy) or energy <= 0:
            raise ValueError(f"energy_mj must be a positive number (or empty), got {record['energy_mj']!r}")
    return {"key": arch.key, "arch": arch.to_json(), "latency_ms": latency, "energy_mj": energy, "cycles": np.nan}


def _agreeing(rows: list[dict], lines: list[int], csv_path: Path, latency_column: str) -> tuple[list[dict], list[str]]:
    """One row per architecture: repeats that agree count once; every row of an architecture measured with
    different values is dropped, each with a problem naming the lines it disagrees with (one per row, so that
    the count of skipped rows is the count of problems)."""
    by_key: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        by_key.setdefault(row["key"], []).append(i)
    kept, conflicts = [], []
    for indices in by_key.values():
        values = {(rows[i]["latency_ms"], None if np.isnan(rows[i]["energy_mj"]) else rows[i]["energy_mj"])
                  for i in indices}
        if len(values) == 1:
            kept.append(rows[indices[0]])
            continue
        measured = " vs ".join(f"{rows[i]['latency_ms']:g}" for i in indices)
        for i in indices:
            others = ", ".join(str(lines[j]) for j in indices if j != i)
            plural = "s" if len(indices) > 2 else ""
            conflicts.append(f"{csv_path}:{lines[i]}: measures the architecture of line{plural} {others} with "
                             f"other values ({latency_column} {measured}, or energy_mj); all {len(indices)} rows "
                             "skipped: give one row per architecture (the median of repeated runs, say)")
    return kept, conflicts


def split_indices(n: int, seed: int, fractions: Sequence[float] = (0.8, 0.1, 0.1)) -> tuple[np.ndarray, ...]:
    """Train / validation / test indices, shuffled by `seed` (HAT's 80/10/10 by default)."""
    order = np.random.default_rng(seed).permutation(n)
    cut1 = int(round(fractions[0] * n))
    cut2 = cut1 + int(round(fractions[1] * n))
    return order[:cut1], order[cut1:cut2], order[cut2:]


def split_by_group(groups: Sequence, seed: int, fractions: Sequence[float] = (0.8, 0.1, 0.1)) -> tuple[np.ndarray, ...]:
    """Train / validation / test indices such that rows of one group (one accelerator of a joint dataset) fall
    in one split only: whole groups, shuffled by `seed`, fill the splits to about `fractions` of the rows. So
    the test error of a predictor conditioned on hardware is its error on accelerators it never saw."""
    labels, inverse = np.unique(np.asarray(groups, dtype=str), return_inverse=True)
    order = np.random.default_rng(seed).permutation(len(labels))
    rows_per_group = np.bincount(inverse, minlength=len(labels))[order]
    ends = np.cumsum(rows_per_group) / len(inverse)
    split_of_group = np.empty(len(labels), dtype=int)
    split_of_group[order] = np.searchsorted([fractions[0], fractions[0] + fractions[1]], ends, side="left")
    split = split_of_group[inverse]
    return tuple(np.flatnonzero(split == i) for i in range(3))
