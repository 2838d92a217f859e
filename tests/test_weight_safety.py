"""Weights that are verified, and training that never keeps NaN: checksums, dtypes, shapes and finite values on
every load; a damaged card or `latest` pointer refused in one line; a diverging run stopped before it saves; a
SIGKILLed run that resumes to the same supernet."""
import json
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file

from conftest import REPO, one_line_error
from supernet.data import load_classification_data
from supernet.model import SuperTransformer
from supernet.space import SearchSpace, uniform_arch
from supernet.store import file_sha256, load_supernet, save_supernet, write_weights
from supernet.train import train_supernet
from supernet.train_config import SupernetTrainConfig
from userfiles import UserInputError

SPACE = SearchSpace(depth=[1, 2], embed_dim=[32, 48], heads=[1, 2], ffn_dim=[64, 96], head_dim=16, max_seq_len=32)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "corpus.txt"
    path.write_text("the quick brown fox jumps over the lazy dog. " * 200)
    return path


def cfg(corpus, **changes) -> SupernetTrainConfig:
    base = dict(data=str(corpus), steps=6, batch_size=2, seq_len=16, lr=3e-3, warmup_steps=1, checkpoint_every=2,
                sandwich_random=0, eval_windows=4, device="cpu")
    return SupernetTrainConfig(**{**base, **changes})


@pytest.fixture(scope="module")
def straight(tmp_path_factory, corpus) -> tuple[Path, list[float], dict]:
    """One uninterrupted run: its folder (read only), its losses and its final weights."""
    out = tmp_path_factory.mktemp("straight")
    result = train_supernet(SPACE, cfg(corpus), out)
    return out, [r["loss_mean"] for r in result.history], {k: v.clone() for k, v in result.model.state_dict().items()}


def assert_same_weights(model, expected: dict) -> None:
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, expected[name]), name


def copy_supernet(straight, tmp_path) -> Path:
    folder = tmp_path / "sn"
    folder.mkdir()
    for name in ("supernet.json", "supernet.safetensors"):
        shutil.copy(straight[0] / name, folder / name)
    return folder


def flip_bit(path: Path, from_end: int = 100) -> None:
    data = bytearray(path.read_bytes())
    data[-from_end] ^= 0x01  # in the last tensor's bytes: safetensors itself accepts the file
    path.write_bytes(bytes(data))


def header_dtypes_to_i32(path: Path) -> None:
    """Rewrite every F32 in the safetensors header as I32: the same sizes, so the file parses as before."""
    data = path.read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    header = data[8:8 + size].replace(b'"F32"', b'"I32"')
    path.write_bytes(data[:8] + header + data[8 + size:])


def rerecord(card: Path, weights: Path) -> None:
    """Record `weights`' sha256 in its card, as a writer that saved these very bytes would have."""
    record = json.loads(card.read_text())
    record["weights_sha256"] = file_sha256(weights)
    card.write_text(json.dumps(record))


def run_dir(tmp_path: Path, model: SuperTransformer, **supernet) -> tuple[Path, Path]:
    """A run directory (config.yaml, supernet/) holding `model`, and an architecture file of its space."""
    run = tmp_path / "run"
    run.mkdir()
    config = {"space": SPACE.to_dict(), "output": str(run), "objectives": ["perplexity", "params"],
              "supernet": {"seq_len": 16, "device": "cpu", **supernet}}
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    save_supernet(model, run / "supernet")
    arch = tmp_path / "arch.json"
    arch.write_text(json.dumps(uniform_arch(2, 32, 2, 64, 16).to_dict()))
    return run, arch


def nan_model() -> SuperTransformer:
    torch.manual_seed(0)
    model = SuperTransformer(SPACE, "causal_lm")
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.fill_(float("nan"))
    return model


# ---- the trained supernet ------------------------------------------------------------------------------------
def test_every_weights_file_written_records_its_sha256(straight):
    out = straight[0]
    card = json.loads((out / "supernet.json").read_text())
    assert card["weights_sha256"] == file_sha256(out / "supernet.safetensors")
    assert card["steps"] == 6 and card["vocab_size"] == 256 and card["max_len"] == 32
    for folder in sorted((out / "checkpoints").glob("step-*")):
        recorded = json.loads((folder / "trainer.json").read_text())["sha256"]
        assert recorded == {name: file_sha256(folder / name) for name in ("model.safetensors", "state.pt")}
    assert_same_weights(load_supernet(out), straight[2])


def test_a_flipped_bit_in_the_supernet_weights_is_refused(straight, tmp_path):
    folder = copy_supernet(straight, tmp_path)
    flip_bit(folder / "supernet.safetensors")
    with pytest.raises(UserInputError, match=r"sn/supernet\.safetensors: damaged: its sha256 is [0-9a-f]{16}\.\.\., "
                                             r"not the [0-9a-f]{16}\.\.\. that supernet\.json records for it"):
        load_supernet(folder)


def test_a_header_dtype_changed_from_f32_to_i32_is_refused(straight, tmp_path):
    folder = copy_supernet(straight, tmp_path)
    weights = folder / "supernet.safetensors"
    header_dtypes_to_i32(weights)
    assert load_file(str(weights))["model.final_norm.weight"].dtype == torch.int32  # safetensors takes it
    with pytest.raises(UserInputError, match="damaged: its sha256"):
        load_supernet(folder)
    rerecord(folder / "supernet.json", weights)  # the checksum agrees: the dtype check alone refuses it
    with pytest.raises(UserInputError, match=r"supernet\.safetensors: model\.embeddings\.(position|word)\.weight is "
                                             r"int32, expected float32"):
        load_supernet(folder)


def test_an_all_nan_supernet_is_refused_at_load_in_one_line(tmp_path):
    save_supernet(nan_model(), tmp_path)
    with pytest.raises(UserInputError) as refused:
        load_supernet(tmp_path)
    message = str(refused.value)
    assert "\n" not in message and "supernet.safetensors: model." in message
    assert "non-finite value(s) (NaN or infinity) of " in message and "written by a diverged run" in message


def test_export_of_an_all_nan_supernet_exits_2_not_nan_diff(tmp_path):
    run, arch = run_dir(tmp_path, nan_model())
    line = one_line_error(["export", run, "--arch", arch, "--format", "hf", "--out", tmp_path / "ex"])
    assert "supernet/supernet.safetensors: model." in line and "non-finite value(s)" in line
    assert not (tmp_path / "ex").exists()


def test_a_card_written_before_checksums_still_loads_and_is_still_checked(straight, tmp_path):
    folder = copy_supernet(straight, tmp_path)
    card = json.loads((folder / "supernet.json").read_text())
    del card["weights_sha256"], card["format"]  # as the release before checksums wrote it
    (folder / "supernet.json").write_text(json.dumps(card))
    assert_same_weights(load_supernet(folder), straight[2])
    header_dtypes_to_i32(folder / "supernet.safetensors")
    with pytest.raises(UserInputError, match="is int32, expected float32"):
        load_supernet(folder)


@pytest.mark.parametrize("key, value, problem", [
    ("vocab_size", 2**40, "vocab_size: Input should be less than or equal to 2097152"),
    ("vocab_size", -1, "vocab_size: Input should be greater than or equal to 1"),
    ("vocab_size", True, "vocab_size: Input should be a valid integer"),
    ("vocab_size", 256.0, "vocab_size: Input should be a valid integer"),
    ("max_len", -32, "max_len: Input should be greater than or equal to 1"),
    ("max_len", 2**31, "max_len: Input should be less than or equal to 131072"),
    ("num_classes", 0, "num_classes: Input should be greater than or equal to 1"),
    ("num_classes", 10**9, "num_classes: Input should be less than or equal to 65536"),
    ("steps", "6", "steps: Input should be a valid integer"),
    ("labels", ["only one"], "labels: 1 names for 2 classes"),
    ("weights_sha256", "f" * 63, "weights_sha256: String should match pattern"),
    ("task", "translation", "task: Input should be 'causal_lm' or 'classification'"),
    ("space", {**SPACE.to_dict(), "embed_dim": [32, 2**40]}, "space.embed_dim"),
    ("space", {**SPACE.to_dict(), "family": "bert"}, "family 'bert' is an encoder"),
    ("tokens", 1, "tokens: unknown key"),
])
def test_damaged_card_fields_are_refused_before_they_reach_torch(straight, tmp_path, key, value, problem):
    folder = copy_supernet(straight, tmp_path)
    card = json.loads((folder / "supernet.json").read_text())
    (folder / "supernet.json").write_text(json.dumps({**card, key: value}))
    with pytest.raises(UserInputError) as refused:
        load_supernet(folder)
    message = str(refused.value)
    assert message.startswith(f"{folder / 'supernet.json'}: not a supernet card, or a damaged one (")
    assert problem in message and "\n" not in message


def test_a_damaged_card_is_one_line_from_the_cli(tmp_path):
    torch.manual_seed(0)
    run, _ = run_dir(tmp_path, SuperTransformer(SPACE, "causal_lm"))
    card = run / "supernet" / "supernet.json"
    card.write_text(json.dumps({**json.loads(card.read_text()), "vocab_size": 2**40}))
    line = one_line_error(["supernet", "eval", run / "config.yaml"])
    assert line == (f"error: {card}: not a supernet card, or a damaged one (vocab_size: Input should be less than or "
                    "equal to 2097152)")


# ---- checkpoints -----------------------------------------------------------------------------------------------
def test_a_flipped_bit_in_a_checkpoint_falls_back_to_the_previous_one(straight, tmp_path, corpus):
    train_supernet(SPACE, cfg(corpus), tmp_path, stop_after=4)
    flip_bit(tmp_path / "checkpoints" / "step-000004" / "model.safetensors")
    said = []
    resumed = train_supernet(SPACE, cfg(corpus), tmp_path, log=said.append)
    assert len(said) == 1 and "step-000004/model.safetensors: damaged: its sha256 is" in said[0]
    assert said[0].endswith("that trainer.json records for it; resumed from the previous checkpoint step-000002 "
                            "instead")
    assert [r["loss_mean"] for r in resumed.history] == straight[1]
    assert_same_weights(load_supernet(tmp_path), straight[2])


def test_a_nan_checkpoint_is_refused_and_never_becomes_the_supernet(straight, tmp_path, corpus):
    train_supernet(SPACE, cfg(corpus), tmp_path, stop_after=4)
    folder = tmp_path / "checkpoints" / "step-000004"
    state = {name: torch.full_like(t, float("nan")) for name, t in load_file(str(folder / "model.safetensors")).items()}
    trainer = json.loads((folder / "trainer.json").read_text())
    trainer["sha256"]["model.safetensors"] = write_weights(state, folder / "model.safetensors")
    (folder / "trainer.json").write_text(json.dumps(trainer))  # consistent bytes: only the values are wrong
    said = []
    train_supernet(SPACE, cfg(corpus), tmp_path, log=said.append)
    assert len(said) == 1 and "step-000004/model.safetensors: model." in said[0] and "non-finite" in said[0]
    assert said[0].endswith("resumed from the previous checkpoint step-000002 instead")
    assert_same_weights(load_supernet(tmp_path), straight[2])


def test_checkpoints_with_nan_moments_or_weights_leave_no_usable_one(tmp_path, corpus):
    train_supernet(SPACE, cfg(corpus), tmp_path, stop_after=4)
    newest, older = (tmp_path / "checkpoints" / f"step-00000{n}" for n in (4, 2))
    state = torch.load(newest / "state.pt", weights_only=True)
    for slots in state["optimizer"]["state"].values():
        slots["exp_avg_sq"].fill_(float("nan"))
    torch.save(state, newest / "state.pt")
    trainer = json.loads((newest / "trainer.json").read_text())
    trainer["sha256"]["state.pt"] = file_sha256(newest / "state.pt")
    (newest / "trainer.json").write_text(json.dumps(trainer))
    (older / "trainer.json").write_text(json.dumps({**json.loads((older / "trainer.json").read_text()), "step": 3}))
    with pytest.raises(UserInputError, match=r"no usable checkpoint in .*checkpoints \(.*step-000004/state\.pt: 0\."
                                             r"exp_avg_sq holds [0-9,]+ non-finite value\(s\)"):
        train_supernet(SPACE, cfg(corpus), tmp_path)
    assert not (tmp_path / "supernet.json").exists() and not (tmp_path / "supernet.safetensors").exists()


@pytest.mark.parametrize("pointer, problem", [
    (b"\xffstep-000004", "latest: damaged: not UTF-8 text (byte 0xff)"),
    (b"../../../etc", "latest: damaged: names '../../../etc', which is no checkpoint in"),
    (b"step-000004" * 10, "latest: damaged: longer than the name of a checkpoint"),
])
def test_a_damaged_latest_pointer_is_one_line_and_the_newest_checkpoint_is_used(straight, tmp_path, corpus,
                                                                                 pointer, problem):
    train_supernet(SPACE, cfg(corpus), tmp_path, stop_after=4)
    (tmp_path / "latest").write_bytes(pointer)
    said = []
    resumed = train_supernet(SPACE, cfg(corpus), tmp_path, log=said.append)
    assert len(said) == 1 and problem in said[0]
    assert said[0].endswith("; resumed from the newest checkpoint step-000004 instead")
    assert [r["loss_mean"] for r in resumed.history] == straight[1]
    assert (tmp_path / "latest").read_text() == "step-000006"


# ---- training that diverges ---------------------------------------------------------------------------------
def test_a_diverging_run_stops_in_one_line_and_keeps_the_last_good_checkpoint(tmp_path, corpus):
    settings = cfg(corpus, lr=1e6, checkpoint_every=1)
    with pytest.raises(UserInputError) as stopped:
        train_supernet(SPACE, settings, tmp_path)
    assert str(stopped.value) == (
        "supernet training diverged at step 2: the largest sub-network's loss is nan; nothing of it was saved (the "
        f"last good checkpoint, step-000001, is kept in {tmp_path / 'checkpoints'}); lower supernet.lr or "
        "supernet.grad_clip and train into a new output directory")
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step-000001"]
    assert (tmp_path / "latest").read_text() == "step-000001"
    kept = load_file(str(tmp_path / "checkpoints" / "step-000001" / "model.safetensors"))
    assert all(bool(torch.isfinite(t).all()) for t in kept.values())
    assert not (tmp_path / "supernet.json").exists() and not (tmp_path / "history.json").exists()


def test_supernet_train_cli_exits_2_when_training_diverges(tmp_path, corpus):
    config = {"space": SPACE.to_dict(), "output": str(tmp_path / "run"), "supernet": {
        "data": str(corpus), "steps": 4, "batch_size": 2, "seq_len": 16, "sandwich_random": 0, "device": "cpu",
        "lr": 1e6, "warmup_steps": 1}}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    line = one_line_error(["supernet", "train", path])
    assert line.startswith("error: supernet training diverged at step 2: the largest sub-network's loss is nan")
    assert "no checkpoint had been written yet" in line
    assert not (tmp_path / "run" / "supernet" / "supernet.json").exists()


# ---- settings ----------------------------------------------------------------------------------------------
def test_distill_after_at_or_beyond_the_last_step_is_refused_naming_the_key(tmp_path):
    config = {"space": SPACE.to_dict(), "output": str(tmp_path / "run"),
              "supernet": {"steps": 5, "distill": 0.5, "distill_after": 5, "device": "cpu", "seq_len": 16}}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    assert one_line_error(["supernet", "train", path]) == (
        f"error: {path}: supernet.distill_after: 5 is not below steps (5): distillation would never start; lower "
        "distill_after, or remove distill")
    assert SupernetTrainConfig(steps=5, distill=0.5, distill_after=4).distill_after == 4


@pytest.mark.parametrize("key, value, problem", [
    ("lr", 1e39, "supernet.lr: Input should be less than or equal to 1000000"),
    ("grad_clip", 1e40, "supernet.grad_clip: Input should be less than or equal to 1000000"),
    ("steps", 10**10, "supernet.steps: Input should be less than or equal to 1000000000"),
])
def test_rates_and_budgets_torch_cannot_hold_are_refused_in_the_config(tmp_path, key, value, problem):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({"space": SPACE.to_dict(), "output": str(tmp_path / "run"),
                                    "supernet": {key: value, "seq_len": 16}}))
    assert one_line_error(["supernet", "train", path]) == f"error: {path}: {problem}"


# ---- data ---------------------------------------------------------------------------------------------------
def test_the_first_builtin_evaluation_batch_holds_more_than_one_class():
    data = load_classification_data("builtin", seq_len=32)
    (_, labels), *_ = data.val_batches(32, 16, 64)
    assert len(labels) == 16 and len(set(labels.tolist())) > 1
    assert np.array_equal(load_classification_data("builtin", seq_len=32).val_labels, data.val_labels)  # fixed seed
    assert sorted(set(data.val_labels.tolist())) == [0, 1, 2, 3]


# ---- kill -9 ------------------------------------------------------------------------------------------------
def _train_process(config: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "nas.cli", "supernet", "train", str(config)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _checkpoints_whole(root: Path) -> list[str]:
    """The checkpoint folders under `root`; each must be complete: its checksums match and its weights load."""
    names = []
    for folder in sorted(root.glob("step-*")):
        trainer = json.loads((folder / "trainer.json").read_text())
        assert folder.name == f"step-{trainer['step']:06d}" and len(trainer["history"]) == trainer["step"]
        for name, digest in trainer["sha256"].items():
            assert file_sha256(folder / name) == digest, folder / name
        assert all(bool(torch.isfinite(t).all()) for t in load_file(str(folder / "model.safetensors")).values())
        names.append(folder.name)
    return names


def test_sigkill_during_training_leaves_whole_checkpoints_and_the_rerun_finishes(tmp_path, corpus):
    steps = 60
    settings = dict(data=str(corpus), steps=steps, batch_size=2, seq_len=16, sandwich_random=0, device="cpu",
                    checkpoint_every=3, warmup_steps=1)
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"space": SPACE.to_dict(), "output": str(tmp_path / "run"),
                                      "supernet": settings}))
    out = tmp_path / "run" / "supernet"
    killed_at = []
    for _ in range(2):  # the second kill lands in a resumed run, after it has saved a newer checkpoint
        process = _train_process(config)
        deadline = time.time() + 120
        before = killed_at[-1] if killed_at else ""
        while time.time() < deadline and process.poll() is None:
            latest = (out / "latest").read_text() if (out / "latest").is_file() else ""
            if latest > before:
                break
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert process.returncode == -signal.SIGKILL, process.stderr.read().decode()[-2000:]
        kept = _checkpoints_whole(out / "checkpoints")
        assert (out / "latest").read_text() in kept and not (out / "supernet.json").exists()
        killed_at.append((out / "latest").read_text())
    assert killed_at[1] > killed_at[0]
    finished = _train_process(config)
    stdout, stderr = finished.communicate(timeout=300)
    assert finished.returncode == 0, stderr.decode()[-2000:]
    assert "warning" not in stdout.decode() + stderr.decode()
    assert len(json.loads((out / "history.json").read_text())) == steps
    straight = train_supernet(SPACE, SupernetTrainConfig(**settings), tmp_path / "straight")
    assert_same_weights(load_supernet(out), straight.model.state_dict())
