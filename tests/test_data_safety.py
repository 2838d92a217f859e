"""hwnas never deletes or overwrites what it did not write, and never writes over its own inputs (issue 21).

Each refusal runs the real CLI and checks exit code 2, exactly one `error:` line naming the path and why, no
traceback, and that every file under the test folder is byte-identical afterwards (the whole tree is hashed before
and after). The kill tests start the real command as a process, SIGKILL it partway, and check that the target is
the old one byte for byte or the new one complete, and that a rerun succeeds.
"""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from typer.testing import CliRunner

from nas.cli import app
from predictors.learned.dataset import build_dataset, load_dataset, meta_path, sample_archs
from predictors.accelerator.hardware import AcceleratorConfig
from predictors.accelerator.workload import Workload
from supernet.model import SuperTransformer
from supernet.space import SearchSpace, nas_case_study_space, uniform_arch
from supernet.store import save_supernet
from userfiles import UserInputError
from userfiles.folders import MANIFEST, atomic_folder, clean_stale, why_not_replaceable

from test_dataset_kill import temps

REPO = Path(__file__).resolve().parents[1]
SPACE = SearchSpace(depth=[1, 2], embed_dim=[32, 48], heads=[1, 2], ffn_dim=[64, 96], head_dim=16, max_seq_len=32)
ARCH = uniform_arch(2, 32, 2, 64, 16)


def tree(root: Path) -> dict[str, str]:
    """Every entry under `root` (hidden ones too): a file's sha256, a link's target, or 'folder'."""
    found = {}
    for here, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(here) / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                found[rel] = f"link -> {os.readlink(path)}"
            elif path.is_dir():
                found[rel] = "folder"
            else:
                found[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def refused(root: Path, args: list, *fragments: str) -> str:
    """Run `hwnas ARGS` in `root`; assert a one-line refusal holding every fragment and that nothing under `root`
    changed. Returns the line."""
    before = tree(root)
    cwd = os.getcwd()
    os.chdir(root)
    try:
        result = CliRunner().invoke(app, [str(a) for a in args])
    finally:
        os.chdir(cwd)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a bug: show its traceback
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert tree(root) == before, "a refused command changed files"
    return lines[0]


def ok(root: Path, args: list) -> None:
    cwd = os.getcwd()
    os.chdir(root)
    try:
        result = CliRunner().invoke(app, [str(a) for a in args])
    finally:
        os.chdir(cwd)
    assert result.exit_code == 0, (result.output, result.exception)


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Path:
    """A run folder with a random classification supernet, an architecture file, an hwnas export of it, a
    simulated dataset and a measured CSV: copied into each test's folder."""
    root = tmp_path_factory.mktemp("made")
    run = root / "run"
    run.mkdir()
    config = {"space": SPACE.to_dict(), "output": str(run), "objectives": ["accuracy", "params"],
              "supernet": {"task": "classification", "seq_len": 16, "device": "cpu"}}
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    torch.manual_seed(0)
    save_supernet(SuperTransformer(SPACE, "classification", num_classes=4), run / "supernet",
                  {"labels": ["a", "b", "c", "d"]})
    (root / "arch.json").write_text(json.dumps(ARCH.to_dict()))
    ok(root, ["export", "run", "--arch", "arch.json", "--out", "exp"])
    build_dataset(nas_case_study_space(), AcceleratorConfig.preset("gemmini-ibert"), Workload(seq_len=128), 12,
                  root / "d.parquet", seed=0)
    good = json.dumps(nas_case_study_space().smallest().to_dict()).replace('"', '""')
    (root / "m.csv").write_text(f'arch,latency_ms\n"{good}",1.5\n')
    return root


@pytest.fixture
def here(made, tmp_path) -> Path:
    root = tmp_path / "w"
    shutil.copytree(made, root, symlinks=True)
    return root


def measured(out, csv="m.csv"):
    return ["latency-data", "--from-csv", csv, "--device", "orin", "--out", out]


# ---- export: folders hwnas did not write, or that it reads --------------------------------------------------
def test_export_refuses_a_user_folder_holding_export_json_and_a_thesis(here):
    (here / "mine").mkdir()
    (here / "mine" / "export.json").write_text("{}")
    (here / "mine" / "thesis.txt").write_text("four years of work")
    refused(here, ["export", "run", "--arch", "arch.json", "--out", "mine"], "mine: was not written by hwnas")


def test_export_refuses_the_run_folder(here):
    refused(here, ["export", "run", "--arch", "arch.json", "--out", "run"], "--out run: holds an input",
            "config.yaml")


def test_export_refuses_the_run_folder_spelled_otherwise(here):
    refused(here, ["export", "run", "--arch", "arch.json", "--out", "exp/../run/."], "holds an input")


def test_export_refuses_a_folder_holding_the_run(here):
    refused(here, ["export", "run", "--arch", "arch.json", "--out", "."], "holds an input")


def test_export_refuses_the_supernet_folder(here):
    refused(here, ["export", "run", "--arch", "arch.json", "--out", "run/supernet"], "is also an input")


def test_export_refuses_a_folder_inside_the_supernet(here):
    refused(here, ["export", "run", "--arch", "arch.json", "--out", "run/supernet/sub"],
            "is inside run/supernet, which this command reads")


def test_export_refuses_the_architecture_file(here):
    refused(here, ["export", "run", "--arch", "arch.json", "--out", "arch.json"], "--out arch.json: is also an input")


def test_export_refuses_an_export_with_a_file_added(here):
    (here / "exp" / "notes.md").write_text("my results")
    refused(here, ["export", "run", "--arch", "arch.json", "--out", "exp"],
            "exp: holds notes.md, which hwnas did not write there")


def test_export_refuses_an_export_with_a_changed_file(here):
    config = here / "exp" / "config.json"
    config.write_text(config.read_text().replace("{", '{"edited": true, ', 1))
    refused(here, ["export", "run", "--arch", "arch.json", "--out", "exp"], "config.json changed since hwnas wrote it")


def test_export_refuses_an_export_with_a_folder_added(here):
    (here / "exp" / "plots").mkdir()
    refused(here, ["export", "run", "--arch", "arch.json", "--out", "exp"], "holds the folder plots")


def test_export_refuses_an_export_with_a_file_added_in_a_subfolder(here):
    (here / "exp" / "deep" / "er").mkdir(parents=True)
    (here / "exp" / "deep" / "er" / "x.txt").write_text("x")
    refused(here, ["export", "run", "--arch", "arch.json", "--out", "exp"], "holds the folder deep")


def test_export_refuses_an_export_with_a_damaged_manifest(here):
    (here / "exp" / MANIFEST).write_text("{not json")
    refused(here, ["export", "run", "--arch", "arch.json", "--out", "exp"], f"no valid {MANIFEST}")


def test_export_refuses_an_export_of_an_older_hwnas_without_a_manifest(here):
    (here / "exp" / MANIFEST).unlink()
    refused(here, ["export", "run", "--arch", "arch.json", "--out", "exp"], "exp: was not written by hwnas")


def test_export_refuses_a_manifest_that_lists_a_link_as_a_file(here):
    manifest = json.loads((here / "exp" / MANIFEST).read_text())
    (here / "exp" / "config.json").unlink()
    (here / "exp" / "config.json").symlink_to(here / "arch.json")
    (here / "exp" / MANIFEST).write_text(json.dumps(manifest))
    refused(here, ["export", "run", "--arch", "arch.json", "--out", "exp"], "holds config.json, which hwnas did not")


def test_export_refuses_a_link_to_a_folder(here):
    (here / "thesis").mkdir()
    (here / "thesis" / "ch1.tex").write_text("chapter one")
    (here / "link").symlink_to(here / "thesis")
    refused(here, ["export", "run", "--arch", "arch.json", "--out", "link"], "link: is a symbolic link")


def test_export_refuses_an_existing_file(here):
    (here / "model.bin").write_bytes(b"weights of mine")
    refused(here, ["export", "run", "--arch", "arch.json", "--out", "model.bin"], "model.bin: is a file")


def test_export_under_a_file_is_one_line(here):
    refused(here, ["export", "run", "--arch", "arch.json", "--out", "arch.json/sub"], "arch.json is a file")


def test_export_into_proc_is_one_line_even_as_root(here):
    refused(here, ["export", "run", "--arch", "arch.json", "--out", "/proc/hwnas-export"],
            "/proc/hwnas-export: cannot write")


# ---- finetune: the export it reads, and folders it did not write --------------------------------------------
def test_finetune_refuses_to_write_over_the_export_it_reads(here):
    refused(here, ["finetune", "exp", "--steps", "1", "--out", "exp"], "--out exp: is also an input")


def test_finetune_refuses_a_folder_holding_the_export(here):
    refused(here, ["finetune", "exp", "--steps", "1", "--out", "."], "holds an input")


def test_finetune_refuses_a_user_folder_before_training(here):
    (here / "ft").mkdir()
    (here / "ft" / "thesis.txt").write_text("mine")
    refused(here, ["finetune", "exp", "--steps", "1", "--out", "ft"], "ft: was not written by hwnas")


def test_finetune_refuses_an_output_holding_its_data(here):
    (here / "ft").mkdir()
    (here / "ft" / "corpus.txt").write_text("the quick brown fox " * 100)
    refused(here, ["finetune", "exp", "--steps", "1", "--out", "ft", "--data", "ft/corpus.txt"], "holds an input",
            "corpus.txt")


def test_finetune_refuses_an_existing_file(here):
    refused(here, ["finetune", "exp", "--steps", "1", "--out", "m.csv"], "m.csv: is a file")


# ---- latency-data: its inputs, and files that are not datasets hwnas wrote ----------------------------------
def test_latency_data_refuses_to_write_over_the_csv_it_imports(here):
    refused(here, measured("m.csv"), "--out m.csv: is also an input")


def test_latency_data_refuses_the_csv_spelled_otherwise(here):
    refused(here, measured("./run/../m.csv"), "is also an input")


def test_latency_data_refuses_a_link_to_the_csv(here):
    (here / "out.csv").symlink_to(here / "m.csv")
    refused(here, measured("out.csv"), "is also an input")


def test_latency_data_refuses_a_file_that_is_not_an_hwnas_dataset(here):
    (here / "thesis.csv").write_text("a,b\n1,2\n")
    refused(here, measured("thesis.csv"), "thesis.csv: exists and is not a dataset hwnas wrote",
            "thesis.csv.meta.json")


def test_simulated_latency_data_refuses_a_file_that_is_not_an_hwnas_dataset(here):
    (here / "thesis.parquet").write_bytes(b"PAR1 my own table")
    refused(here, ["latency-data", "--out", "thesis.parquet", "--samples", "5", "--executor", "serial"],
            "thesis.parquet: exists and is not a dataset hwnas wrote")


def test_latency_data_refuses_its_hardware_file(here):
    (here / "hw.yaml").write_text("extends: gemmini-default\n")
    refused(here, ["latency-data", "--hardware", "hw.yaml", "--out", "hw.yaml", "--samples", "5"],
            "--out hw.yaml: is also an input")


def test_latency_data_refuses_its_hardware_space_file(here):
    (here / "hs.yaml").write_text("base: gemmini-default\nrows: [8, 16]\n")
    refused(here, ["latency-data", "--hardware-space", "hs.yaml", "--out", "hs.yaml", "--samples", "5"],
            "--out hs.yaml: is also an input")


def test_latency_data_refuses_its_space_and_workload_files(here):
    (here / "space.yaml").write_text(yaml.safe_dump(SPACE.to_dict()))
    (here / "w.yaml").write_text("phase: prefill\nseq_len: 32\n")
    refused(here, ["latency-data", "--space", "space.yaml", "--out", "space.yaml"], "--out space.yaml: is also")
    refused(here, ["latency-data", "--workload", "w.yaml", "--out", "w.yaml"], "--out w.yaml: is also an input")


# ---- predictor train ----------------------------------------------------------------------------------------
def test_predictor_train_refuses_to_write_over_its_dataset(here):
    refused(here, ["predictor", "train", "--data", "d.parquet", "--out", "d.parquet"], "--out d.parquet: is also")


# ---- what is still allowed ----------------------------------------------------------------------------------
def test_an_empty_folder_is_filled_and_an_unchanged_export_replaced(here):
    (here / "empty").mkdir()
    ok(here, ["export", "run", "--arch", "arch.json", "--format", "torch", "--out", "empty"])
    assert json.loads((here / "empty" / "export.json").read_text())["format"] == "torch"
    assert why_not_replaceable(here / "empty") is None
    ok(here, ["export", "run", "--arch", "arch.json", "--format", "torch", "--out", "exp"])  # was hf
    listed = json.loads((here / "exp" / MANIFEST).read_text())["files"]
    assert sorted(listed) == ["export.json", "model.pt2"]
    assert sorted(p.name for p in (here / "exp").iterdir()) == [MANIFEST, "export.json", "model.pt2"]


def test_an_hwnas_dataset_is_replaced_by_a_new_import(here):
    ok(here, measured("new.parquet"))
    ok(here, measured("new.parquet"))
    assert len(load_dataset(here / "new.parquet")[0]) == 1


def test_clean_stale_removes_only_dead_writers_folders(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    target = tmp_path / "out"
    keep = [tmp_path / f".out.tmp{os.getppid()}", tmp_path / ".out.tmpfoo", tmp_path / ".out.tmp²",
            tmp_path / f".outx.tmp{dead.pid}", tmp_path / f".out.tmp{dead.pid}0000000000", tmp_path / ".out.tmp0"]
    for path in keep:
        path.mkdir()
    a_file = tmp_path / f".out.old{dead.pid}"  # hwnas moves folders aside, never files: not its own
    a_file.write_text("x")
    stale = tmp_path / f".out.tmp{dead.pid}"
    stale.mkdir()
    (stale / "half.bin").write_bytes(b"half")
    clean_stale(target)
    assert not stale.exists() and not target.exists()
    assert all(path.is_dir() for path in keep) and a_file.read_text() == "x"


def test_a_moved_aside_folder_of_a_killed_writer_is_put_back(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    target = tmp_path / "out"
    with atomic_folder(target) as tmp:
        (tmp / "a.txt").write_text("old")
    os.replace(target, tmp_path / f".out.old{dead.pid}")  # as a writer killed between its two renames left it
    clean_stale(target)
    assert (target / "a.txt").read_text() == "old" and why_not_replaceable(target) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


# ---- kill -9 partway: the old state or the new one, complete ------------------------------------------------
def _start(args, cwd) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "nas.cli", *args], cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(REPO)})


def test_a_killed_export_leaves_the_old_export_or_the_new_one_complete(here):
    old = tree(here / "exp")
    args = ["export", "run", "--arch", "arch.json", "--format", "torch", "--out", "exp"]  # the old one is hf
    for delay in (0.0, 0.2, 1.0):
        process = _start(args, here)
        while process.poll() is None and not list(here.glob(".exp.*")):
            time.sleep(0.005)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        now = tree(here / "exp")
        if now != old:  # then it is the new export, whole
            assert why_not_replaceable(here / "exp") is None
            assert json.loads((here / "exp" / "export.json").read_text())["format"] == "torch"
            torch.export.load(here / "exp" / "model.pt2")
            return _rerun(here, args)
    _rerun(here, args)


def _rerun(here: Path, args: list) -> None:
    """The rerun after a kill: the same CLI, in-process (only the killed one needs to be a process)."""
    ok(here, args)
    assert why_not_replaceable(here / "exp") is None and list(here.glob(".exp.*")) == []


def test_a_killed_import_leaves_the_old_dataset_or_the_new_one_complete(here):
    ok(here, measured("data.parquet"))
    names = ("data.parquet", "data.parquet.meta.json")
    old = {name: (here / name).read_bytes() for name in names}
    stats = lambda: [(here / name).stat().st_mtime_ns for name in names]  # noqa: E731
    before = stats()
    good = [json.dumps(a.to_dict()).replace('"', '""') for a in sample_archs(nas_case_study_space(), 40, seed=1)]
    (here / "many.csv").write_text("arch,latency_ms\n" + "".join(f'"{a}",{i + 1}.5\n' for i, a in enumerate(good)))
    args = measured("data.parquet", "many.csv")
    process = _start(args, here)
    # killed at the first sign of writing (a temp file, or either file replaced): mid-write, not mid-import
    while process.poll() is None and not temps(here) and stats() == before:
        time.sleep(0.001)
    process.send_signal(signal.SIGKILL)
    process.wait()
    now = {name: (here / name).read_bytes() for name in old}
    frame, meta = load_dataset(here / "data.parquet")
    if now != old:
        assert len(frame) == len(set(good)) and meta["source"] == "measured (many.csv)"
    else:
        assert len(frame) == 1 and meta["source"] == "measured (m.csv)"
    ok(here, args)  # the rerun: the same CLI, in-process
    assert len(load_dataset(here / "data.parquet")[0]) == len(set(good)) and temps(here) == []
    assert meta_path(here / "data.parquet").is_file()


# ---- predictor train: the predictor folder is written whole, replacing only what hwnas wrote -----------------
@pytest.fixture(scope="module")
def trainable(tmp_path_factory) -> Path:
    """A simulated dataset big enough to train a predictor on (`MIN_DATASET_ROWS`)."""
    root = tmp_path_factory.mktemp("trainable")
    build_dataset(nas_case_study_space(), AcceleratorConfig.preset("gemmini-ibert"), Workload(seq_len=128), 24,
                  root / "d24.parquet", seed=0)
    return root


def _with_dataset(here: Path, trainable: Path) -> list:
    for path in trainable.iterdir():
        shutil.copy(path, here / path.name)
    return ["predictor", "train", "--data", "d24.parquet", "--model", "gbm", "--out"]


def test_predictor_train_refuses_a_user_folder_holding_metrics_json(here, trainable):
    train = _with_dataset(here, trainable)
    (here / "mine").mkdir()
    (here / "mine" / "metrics.json").write_text('{"accuracy": 0.93, "note": "my thesis numbers"}')
    (here / "mine" / "scatter.png").write_bytes(b"my own plot")
    refused(here, train + ["mine"], "mine: was not written by hwnas")  # every file byte-identical


def test_predictor_train_replaces_a_predictor_it_wrote_and_refuses_one_a_user_added_to(here, trainable):
    from predictors.learned.latency_predictor import LatencyPredictor

    train = _with_dataset(here, trainable)
    ok(here, train + ["pred"])
    written = sorted(p.name for p in (here / "pred").iterdir())
    assert written == sorted([MANIFEST, "metrics.json", "model.skops", "predictor.json", "scatter.png"])
    assert why_not_replaceable(here / "pred") is None
    ok(here, train + ["pred", "--seed", "3"])  # retraining into a folder hwnas wrote
    assert json.loads((here / "pred" / "metrics.json").read_text())["seed"] == 3
    assert LatencyPredictor.load(here / "pred").seed == 3 and why_not_replaceable(here / "pred") is None
    assert list(here.glob(".pred.*")) == []
    (here / "pred" / "notes.md").write_text("the seed-3 predictor is the one for the paper")
    refused(here, train + ["pred"], "pred: holds notes.md, which hwnas did not write there")
    (here / "pred" / "notes.md").unlink()
    metrics = here / "pred" / "metrics.json"
    metrics.write_text(metrics.read_text().replace('"seed": 3', '"seed": 3, "edited": true'))
    refused(here, train + ["pred"], "metrics.json changed since hwnas wrote it")


def test_a_predictor_folder_of_the_previous_release_loads_but_is_not_replaced(here, trainable):
    from predictors.learned.latency_predictor import LatencyPredictor

    train = _with_dataset(here, trainable)
    shutil.copytree(REPO / "tests" / "data" / "predictor-v1-gbm", here / "v1")
    assert LatencyPredictor.load(here / "v1").model == "gbm"  # loading is not replacing: no manifest needed
    refused(here, train + ["v1"], "v1: was not written by hwnas")


def test_a_quality_predictor_save_keeps_the_runs_scores_in_its_folder(tmp_path):
    """The pipeline saves its scores in the quality predictor's folder as it scores, then saves the predictor
    there and writes metrics.json again: the scores are carried over unchanged, the folder stays replaceable."""
    from predictors.learned.quality import SCORES_FILE, QualityPredictor
    from userfiles import atomic_write_json

    archs = sample_archs(SPACE, 16, seed=0)
    values = [10.0 + i % 5 for i in range(len(archs))]
    folder = tmp_path / "quality" / "predictor"
    folder.mkdir(parents=True)
    scores = '{"fingerprint": "f", "scores": {"a": 12.5}, "seconds": 3.0}'
    (folder / SCORES_FILE).write_text(scores)
    predictor = QualityPredictor("gbm", "perplexity").fit(archs, values)
    predictor.save(folder, meta={"space_fingerprint": SPACE.fingerprint()}, metrics={"held_out": {"n": 3}})
    assert (folder / SCORES_FILE).read_text() == scores
    atomic_write_json(folder / "metrics.json", {"held_out": {"n": 3}})  # what the pipeline does after saving
    assert why_not_replaceable(folder) is None
    (folder / SCORES_FILE).write_text(scores.replace("3.0", "4.0"))  # a rerun scores again
    predictor.save(folder, metrics={"held_out": {"n": 3}})
    assert json.loads((folder / SCORES_FILE).read_text())["seconds"] == 4.0
    assert QualityPredictor.load(folder).target == "perplexity"
    (folder / "notes.txt").write_text("mine")
    before = tree(tmp_path)
    with pytest.raises(UserInputError, match="holds notes.txt, which hwnas did not write there"):
        predictor.save(folder)
    assert tree(tmp_path) == before


# ---- finetune: the export it reads is left as it was ---------------------------------------------------------
def test_finetune_leaves_every_file_of_the_export_byte_identical(here):
    before = tree(here / "exp")
    ok(here, ["finetune", "exp", "--steps", "1"])
    assert tree(here / "exp") == before and why_not_replaceable(here / "exp") is None
    record = json.loads((here / "exp-finetuned" / "export.json").read_text())
    assert record["finetune"]["steps"] == 1 and record["finetune"]["out"] == "exp-finetuned"
    assert set(record["finetune"]) >= {"inherited", "finetuned", "lr", "data"}
    assert why_not_replaceable(here / "exp-finetuned") is None
    refused(here, ["finetune", "exp", "--steps", "1", "--out", "exp/ft"], "is inside exp, which this command reads")


# ---- pids read from lock files and temporary names ------------------------------------------------------------
def test_pids_are_parsed_strictly_and_an_impossible_pid_is_not_running():
    from userfiles.processes import parse_pid, pid_alive

    assert [parse_pid(text) for text in ("123", "²", "1²", "0", "-5", " 7", "10" * 10, "")] == \
        [123, None, None, None, None, None, None, None]
    assert pid_alive(os.getpid()) and not pid_alive(10**20) and not pid_alive(0) and not pid_alive(-1)


def test_a_lock_file_holding_a_superscript_pid_is_taken_over(tmp_path):
    from userfiles.locks import LOCK_FILE, folder_lock, read_owner

    (tmp_path / "run").mkdir()
    (tmp_path / "run" / LOCK_FILE).write_text("² elsewhere\n")
    assert read_owner(tmp_path / "run" / LOCK_FILE) == (None, "elsewhere")
    (tmp_path / "run" / LOCK_FILE).write_text(f"{10**20} elsewhere\n")
    assert read_owner(tmp_path / "run" / LOCK_FILE) == (None, "elsewhere")
    with folder_lock(tmp_path / "run") as path:
        assert read_owner(path)[0] == os.getpid()
    assert not (tmp_path / "run" / LOCK_FILE).exists()


def test_temporary_names_with_odd_pids_are_left_alone(tmp_path):
    from predictors.learned.dataset import remove_stale_temps

    odd = [".d.parquet.tmp²", f".d.parquet.tmp{10**20}", ".d.parquet.tmp0"]
    for name in odd:
        (tmp_path / name).write_text("not ours to judge")
    (tmp_path / f".x{'.tmp'}{10**20}").mkdir()
    assert remove_stale_temps(tmp_path / "d.parquet") == []
    clean_stale(tmp_path / "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(odd + [f".x.tmp{10**20}"])


# ---- the lock: only the flock decides -----------------------------------------------------------------------
def test_a_held_lock_is_refused_even_when_its_recorded_pid_is_not_visible(tmp_path):
    """A writer in another pid namespace records a pid this one cannot see; its flock is held all the same, so
    the lock is refused (naming that pid) and left in place, and taken over once the holder lets go."""
    import socket

    from userfiles.locks import LOCK_FILE, folder_lock

    lock = tmp_path / "run" / LOCK_FILE
    lock.parent.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, socket, sys\n"
        f"fd = os.open({str(lock)!r}, os.O_RDWR | os.O_CREAT, 0o644)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "os.write(fd, f'999999999 {socket.gethostname()}\\n'.encode())\n"
        "print('held', flush=True)\n"
        "sys.stdin.read()\n")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        before = tree(tmp_path)
        said = []
        with pytest.raises(UserInputError, match=r"run: another hwnas \(pid 999999999\) is writing this run folder"):
            with folder_lock(tmp_path / "run", said.append):
                pass
        assert tree(tmp_path) == before and lock.read_text() == f"999999999 {socket.gethostname()}\n"
        assert said == []
    finally:
        holder.communicate("", timeout=60)
    said = []
    with folder_lock(tmp_path / "run", said.append):
        assert lock.read_text().split()[0] == str(os.getpid())
    assert said == [f"[lock] {tmp_path / 'run'}: took over the stale lock of pid 999999999 (no longer running)"]


def test_supernet_train_refuses_a_run_folder_whose_lock_is_held(here):
    from userfiles.locks import folder_lock

    config = yaml.safe_load((here / "run" / "config.yaml").read_text())
    (here / "sn.yaml").write_text(yaml.safe_dump({**config, "output": "run"}))
    with folder_lock(here / "run"):
        refused(here, ["supernet", "train", "sn.yaml"], f"run: another hwnas (pid {os.getpid()}) is writing this run "
                                                         "folder")


# ---- checksums cannot be switched off by deleting them from the file ------------------------------------------
def test_a_supernet_card_of_this_version_without_its_checksum_is_refused(tmp_path):
    from supernet.store import load_supernet

    torch.manual_seed(0)
    save_supernet(SuperTransformer(SPACE, "causal_lm"), tmp_path / "sn")
    card = json.loads((tmp_path / "sn" / "supernet.json").read_text())
    assert card["format"] == 1 and len(card["weights_sha256"]) == 64
    del card["weights_sha256"]
    (tmp_path / "sn" / "supernet.json").write_text(json.dumps(card))
    with pytest.raises(UserInputError, match=r"supernet\.json: not a supernet card, or a damaged one \(weights_sha256:"
                                             r" missing, and a card of format 1 always records it\)"):
        load_supernet(tmp_path / "sn")
    del card["format"]  # a card of the release before checksums: loads as it did
    (tmp_path / "sn" / "supernet.json").write_text(json.dumps(card))
    assert load_supernet(tmp_path / "sn").task == "causal_lm"


def test_a_checkpoint_of_this_version_without_its_checksums_is_skipped(tmp_path):
    from supernet.train import train_supernet
    from test_weight_safety import cfg

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog. " * 200)
    out = tmp_path / "train"
    train_supernet(SPACE, cfg(corpus), out, stop_after=4)
    records = [out / "checkpoints" / f"step-00000{n}" / "trainer.json" for n in (4, 2)]
    newest = json.loads(records[0].read_text())
    assert newest["format"] == 1 and sorted(newest["sha256"]) == ["model.safetensors", "state.pt"]
    del newest["sha256"]["model.safetensors"]
    records[0].write_text(json.dumps(newest))
    said = []
    train_supernet(SPACE, cfg(corpus), out, log=said.append, stop_after=2)  # resumes at 2, saves 4 again
    warned = [line for line in said if line.startswith("warning:")]
    assert len(warned) == 1, said
    assert "step-000004/trainer.json: damaged: records no sha256 for model.safetensors" in warned[0]
    assert warned[0].endswith("resumed from the previous checkpoint step-000002 instead")
    for path in records:  # as the release before checksums wrote them: resumed as before, unchecked
        old = json.loads(path.read_text())
        del old["format"], old["sha256"]
        path.write_text(json.dumps(old))
    said = []
    result = train_supernet(SPACE, cfg(corpus), out, log=said.append)
    assert [line for line in said if line.startswith("warning:")] == [] and result.history[-1]["step"] == 6
