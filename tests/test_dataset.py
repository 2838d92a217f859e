import json
from pathlib import Path

import pandas as pd
import pytest

from predictors.learned.dataset import (archs_of, build_dataset, dataset_complete, import_measured_csv, load_dataset,
                                meta_path, sample_archs)
from predictors.accelerator.hardware import AcceleratorConfig
from predictors.accelerator.systolic import SystolicSimulator
from predictors.accelerator.workload import Workload
from userfiles import UserInputError
from supernet.space import SearchSpace, nas_case_study_space

from conftest import one_line_error

SPACE = nas_case_study_space()
HW = AcceleratorConfig.preset("gemmini-ibert")
PREFILL = Workload(seq_len=128)


def test_sampling_is_deterministic_covers_corners_and_depths_and_extends():
    first = sample_archs(SPACE, 120, seed=3)
    assert first == sample_archs(SPACE, 120, seed=3)
    assert len({a.key for a in first}) == 120
    assert SPACE.largest() in first and SPACE.smallest() in first
    assert {a.depth for a in first} == set(SPACE.depth)
    assert sample_archs(SPACE, 200, seed=3)[:120] == first
    assert sample_archs(SPACE, 120, seed=4) != first


def test_sampling_a_tiny_space_stops():
    tiny = SearchSpace(depth=[1], embed_dim=[64], heads=[1, 2], ffn_dim=[64], head_dim=32)
    assert len(sample_archs(tiny, 50, seed=0)) == 2


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_build_writes_table_features_and_metadata(tmp_path, suffix):
    out = tmp_path / f"data{suffix}"
    frame = build_dataset(SPACE, HW, PREFILL, 40, out, seed=1, chunk_size=16)
    assert len(frame) == 40 and frame["key"].is_unique
    assert {"arch", "latency_ms", "energy_mj", "cycles", "f_depth", "f_ffn_macs_per_token"} <= set(frame.columns)
    meta = json.loads(meta_path(out).read_text())
    assert meta["hardware_fingerprint"] == HW.fingerprint() and meta["space_fingerprint"] == SPACE.fingerprint()
    assert meta["workload_fingerprint"] == PREFILL.fingerprint() and meta["seed"] == 1
    assert "numpy" in meta["versions"]
    arch = archs_of(frame)[5]
    assert frame.latency_ms[5] == pytest.approx(SystolicSimulator(HW).simulate(arch, PREFILL).latency_ms)


def test_interrupted_build_resumes_without_duplicates(tmp_path):
    out = tmp_path / "data.parquet"
    calls = []

    def dies_after_two_chunks(fn, jobs):
        for job in jobs:
            if len(calls) == 2:
                raise KeyboardInterrupt
            calls.append(job)
            yield fn(job)

    with pytest.raises(KeyboardInterrupt):
        build_dataset(SPACE, HW, PREFILL, 50, out, seed=2, map_fn=dies_after_two_chunks, chunk_size=10)
    partial, _ = load_dataset(out)
    assert len(partial) == 20
    resumed = build_dataset(SPACE, HW, PREFILL, 50, out, seed=2, chunk_size=10)
    straight = build_dataset(SPACE, HW, PREFILL, 50, tmp_path / "straight.parquet", seed=2, chunk_size=10)
    assert resumed["key"].is_unique and len(resumed) == 50
    pd.testing.assert_frame_equal(resumed.sort_values("key").reset_index(drop=True),
                                  straight.sort_values("key").reset_index(drop=True))


def test_existing_dataset_for_other_hardware_is_refused(tmp_path):
    out = tmp_path / "data.parquet"
    build_dataset(SPACE, HW, PREFILL, 12, out, seed=0)
    with pytest.raises(UserInputError, match="another hardware"):
        build_dataset(SPACE, AcceleratorConfig.preset("gemmini-default"), PREFILL, 12, out, seed=0)


def test_measured_csv_import_reports_bad_rows_by_line(tmp_path):
    good = json.dumps(SPACE.smallest().to_dict())
    other = json.dumps(SPACE.largest().to_dict())
    outside = json.dumps({"embed_dim": 100, "layers": [{"heads": 4, "ffn_dim": 768}] * 3})
    csv = tmp_path / "measured.csv"
    pd.DataFrame({"arch": [good, "{not json", outside, other, good], "latency_ms": [1.5, 2.0, 3.0, "fast", -1]}).to_csv(
        csv, index=False)
    report = import_measured_csv(csv, tmp_path / "m.parquet", SPACE, "pixel-8", PREFILL)
    assert report.rows == 1
    assert [p.split(": ")[0] for p in report.skipped] == [f"{csv}:3", f"{csv}:4", f"{csv}:5", f"{csv}:6"]
    assert "embed_dim=100" in report.skipped[1] and "latency_ms must be a positive number" in report.skipped[3]
    frame, meta = load_dataset(tmp_path / "m.parquet")
    assert meta["hardware_fingerprint"] == "measured:pixel-8" and frame.latency_ms.tolist() == [1.5]
    with pytest.raises(UserInputError, match=r"measured.csv:3: "):
        import_measured_csv(csv, tmp_path / "s.parquet", SPACE, "pixel-8", PREFILL, strict=True)


def test_missing_columns_and_files(tmp_path):
    csv = tmp_path / "measured.csv"
    csv.write_text("architecture,ms\n")
    with pytest.raises(UserInputError, match="no column 'arch'"):
        import_measured_csv(csv, tmp_path / "m.parquet", SPACE, "dev", PREFILL)
    with pytest.raises(UserInputError, match="dataset not found"):
        load_dataset(tmp_path / "nothing.parquet")


TINY = SearchSpace(depth=[1, 2], embed_dim=[64], heads=[1, 2], ffn_dim=[64, 128], head_dim=32)  # 4 + 16 archs


def test_sampling_returns_min_of_samples_and_space_size_exactly():
    assert TINY.size() == 20
    whole = sample_archs(TINY, 10_000, seed=0)
    assert sorted(a.key for a in whole) == sorted(a.key for a in TINY.enumerate())
    almost = sample_archs(TINY, 19, seed=0)
    assert len({a.key for a in almost}) == 19
    assert sample_archs(TINY, 5, seed=0) == sample_archs(TINY, 5, seed=0)


def test_a_space_smaller_than_samples_is_simulated_once_and_marked_complete(tmp_path):
    out = tmp_path / "tiny.parquet"
    frame = build_dataset(TINY, HW, PREFILL, 500, out, seed=0)
    assert len(frame) == 20 and json.loads(meta_path(out).read_text())["complete"] is True
    assert dataset_complete(out, 500)

    def must_not_simulate(fn, jobs):
        jobs = list(jobs)
        assert jobs == [], "a complete dataset was simulated again"
        return []

    again = build_dataset(TINY, HW, PREFILL, 500, out, seed=0, map_fn=must_not_simulate)
    pd.testing.assert_frame_equal(again, frame)


def test_dataset_complete_only_when_nothing_more_can_be_added(tmp_path):
    out = tmp_path / "part.parquet"
    assert not dataset_complete(out, 10)
    build_dataset(TINY, HW, PREFILL, 8, out, seed=0)
    assert json.loads(meta_path(out).read_text())["complete"] is False
    assert dataset_complete(out, 8) and not dataset_complete(out, 9) and not dataset_complete(out, 500)
    build_dataset(TINY, HW, PREFILL, 500, out, seed=0)  # extends to the whole space
    assert dataset_complete(out, 500) and len(load_dataset(out)[0]) == 20


def measured_args(csv, out):
    return ["latency-data", "--from-csv", csv, "--device", "orin", "--out", out]


def test_measured_csv_that_cannot_be_read_is_one_line(tmp_path):
    good = json.dumps(SPACE.smallest().to_dict()).replace('"', '""')
    header_and_row = f'arch,latency_ms\n"{good}",1.5\n'.encode()
    out = tmp_path / "m.parquet"
    latin = tmp_path / "latin1.csv"
    latin.write_bytes(header_and_row + b'"caf\xe9",2.0\n')
    assert "latin1.csv: not UTF-8 text (byte " in one_line_error(measured_args(latin, out))
    huge = tmp_path / "huge.csv"
    huge.write_bytes(header_and_row + b'"' + b"x" * 200_000 + b'",2.0\n')
    line = one_line_error(measured_args(huge, out))
    assert "huge.csv:3: not a readable CSV row (field larger than field limit" in line
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    assert one_line_error(measured_args(folder, out)) == f"error: {folder}: is a directory, expected a CSV file"
    good_csv = tmp_path / "good.csv"
    good_csv.write_bytes(header_and_row)
    assert "is a directory; --out takes a file name" in one_line_error(measured_args(good_csv, tmp_path))
    assert "a parent of it is a file" in one_line_error(measured_args(good_csv, good_csv / "m.parquet"))
    assert not out.exists()


@pytest.mark.skipif(not Path("/proc/self/clear_refs").is_file(), reason="needs Linux's /proc")
def test_unreadable_measured_csv_is_one_line(tmp_path):
    """A regular file that refuses reads from everyone, root included (EACCES for its owner, EINVAL for root)."""
    csv = tmp_path / "locked.csv"
    csv.symlink_to("/proc/self/clear_refs")
    line = one_line_error(measured_args(csv, tmp_path / "m.parquet"))
    assert "locked.csv: cannot read it (" in line


def test_rows_with_too_few_or_too_many_fields_are_reported_by_line(tmp_path):
    good = json.dumps(SPACE.smallest().to_dict()).replace('"', '""')
    csv = tmp_path / "ragged.csv"
    csv.write_text(f'arch,latency_ms\n"{good}",1.5\n"{good}"\n"{good}",1.0,extra\n')
    report = import_measured_csv(csv, tmp_path / "m.parquet", SPACE, "orin", PREFILL)
    assert report.rows == 1
    assert report.skipped == [f"{csv}:3: fewer fields than the header: no latency_ms",
                              f"{csv}:4: more fields than the header's 2"]


def test_damaged_dataset_files_are_one_line(tmp_path):
    out = tmp_path / "data.parquet"
    build_dataset(SPACE, HW, PREFILL, 12, out, seed=0)
    meta_path(out).write_text("[]")
    with pytest.raises(UserInputError, match="data.parquet.meta.json: expected a JSON object"):
        load_dataset(out)
    meta_path(out).write_text("{" * 100_000)
    with pytest.raises(UserInputError, match="data.parquet.meta.json: not valid JSON"):
        load_dataset(out)
    with pytest.raises(UserInputError, match="is a directory, expected a dataset file"):
        load_dataset(tmp_path)
    frame = pd.DataFrame({"arch": ['{"embed_dim": 64}']})
    with pytest.raises(UserInputError, match=r"data.csv: row 0: arch: architecture is missing 'layers'"):
        archs_of(frame, "data.csv")
