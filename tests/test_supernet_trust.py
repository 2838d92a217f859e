"""Nothing lost, nothing wrong, nothing run: resume only what was started, damaged files refused or skipped for the
previous checkpoint, exports that are whole or absent after a kill, exports that carry labels and tokenizer."""
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from nas.cli import app
from userfiles import UserInputError
from supernet.data import ByteTokenizer, load_classification_data, load_lm_data, save_tokenizer
from supernet.export import export_subnet
from supernet.finetune import finetune
from supernet.model import SuperTransformer
from supernet.space import SearchSpace, uniform_arch
from supernet.store import file_sha256, load_supernet, save_supernet
from supernet.train import train_supernet
from supernet.train_config import SupernetTrainConfig

SPACE = SearchSpace(depth=[1, 2], embed_dim=[32, 48], heads=[1, 2], ffn_dim=[64, 96], head_dim=16, max_seq_len=32)
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "corpus.txt"
    path.write_text("the quick brown fox jumps over the lazy dog. " * 200)
    return path


def cfg(corpus, **changes):
    base = dict(data=str(corpus), steps=6, batch_size=2, seq_len=16, lr=3e-3, warmup_steps=1, checkpoint_every=2,
                sandwich_random=0, eval_windows=4)
    return SupernetTrainConfig(**{**base, **changes})


def one_line_error(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


# ---- resume -------------------------------------------------------------------------------------------------
def test_resume_under_other_settings_is_refused_naming_the_key(tmp_path, corpus):
    train_supernet(SPACE, cfg(corpus), tmp_path, stop_after=2)
    with pytest.raises(UserInputError, match=r"other settings \(train\.lr: 0\.003 then, 0\.01 now\)"):
        train_supernet(SPACE, cfg(corpus, lr=1e-2), tmp_path)
    wider = SearchSpace(**{**SPACE.to_dict(), "embed_dim": [32, 64]})
    with pytest.raises(UserInputError, match=r"space\.embed_dim\.1: 48 then, 64 now"):
        train_supernet(wider, cfg(corpus), tmp_path)
    # settings that do not change what is trained may change
    assert len(train_supernet(SPACE, cfg(corpus, checkpoint_every=3, eval_windows=2), tmp_path).history) == 6


def test_a_setting_added_later_is_shown_at_its_default_when_refusing(tmp_path, corpus):
    train_supernet(SPACE, cfg(corpus, distill=0.5), tmp_path, stop_after=2)
    with pytest.raises(UserInputError, match=r"\(train\.distill_after: 0 \(the default\) then, 2 now\)"):
        train_supernet(SPACE, cfg(corpus, distill=0.5, distill_after=2), tmp_path)


def test_a_checkpoint_recording_later_settings_at_their_defaults_resumes(tmp_path, corpus):
    """Checkpoints written while settings added later were recorded at their defaults are the same training."""
    train_supernet(SPACE, cfg(corpus), tmp_path, stop_after=2)
    record = next((tmp_path / "checkpoints").glob("step-*")) / "trainer.json"
    trainer = json.loads(record.read_text())
    trainer["run"]["train"].update(distill_after=0, sampling="uniform", distill_divergence="kl")
    record.write_text(json.dumps(trainer))
    assert len(train_supernet(SPACE, cfg(corpus), tmp_path).history) == 6


def test_distillation_settings_without_distillation_are_refused():
    for setting in ({"distill_after": 5}, {"distill_divergence": "alpha"}):
        with pytest.raises(ValueError, match=f"{next(iter(setting))}: has no effect without distill > 0"):
            SupernetTrainConfig(**setting)
    assert SupernetTrainConfig(distill=0.5, distill_after=5, distill_divergence="alpha").distill_after == 5


def test_supernet_train_cli_refuses_a_changed_config_in_one_line(tmp_path, corpus):
    config = {"space": SPACE.to_dict(), "output": str(tmp_path / "run"), "supernet": {
        "data": "corpus.txt", "steps": 2, "batch_size": 2, "seq_len": 16, "sandwich_random": 0, "device": "cpu"}}
    (tmp_path / "corpus.txt").write_text(corpus.read_text())  # relative to the config file, not the current dir
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    first = CliRunner().invoke(app, ["supernet", "train", str(path)])
    assert first.exit_code == 0, first.output
    config["supernet"]["lr"] = 0.5
    path.write_text(yaml.safe_dump(config))
    assert "(train.lr: 0.001 then, 0.5 now)" in one_line_error(CliRunner().invoke(app, ["supernet", "train", str(path)]))


# ---- damaged files ------------------------------------------------------------------------------------------
def test_a_damaged_checkpoint_falls_back_to_the_previous_one_and_says_so(tmp_path, corpus):
    straight = train_supernet(SPACE, cfg(corpus), tmp_path / "straight")
    out = tmp_path / "run"
    train_supernet(SPACE, cfg(corpus), out, stop_after=4)
    latest = out / "checkpoints" / "step-000004" / "model.safetensors"
    latest.write_bytes(latest.read_bytes()[:1000])  # truncated
    said = []
    resumed = train_supernet(SPACE, cfg(corpus), out, log=said.append)
    assert len(said) == 1 and "step-000004/model.safetensors: damaged: its sha256 is" in said[0]
    assert "resumed from the previous checkpoint step-000002" in said[0]
    assert [r["loss_mean"] for r in resumed.history] == [r["loss_mean"] for r in straight.history]
    for name, tensor in straight.model.state_dict().items():
        assert torch.equal(tensor, resumed.model.state_dict()[name]), name


def test_checkpoints_missing_weights_or_all_damaged_are_refused(tmp_path, corpus):
    train_supernet(SPACE, cfg(corpus), tmp_path, stop_after=4)
    for step in ("000002", "000004"):
        weights = tmp_path / "checkpoints" / f"step-{step}" / "model.safetensors"
        state = load_file(str(weights))
        del state["model.layers.1.ffn.fc2.weight"]  # strict loading: a missing weight is not left random
        save_file(state, str(weights))
        record = weights.parent / "trainer.json"  # written whole, with its checksum: only strict loading refuses it
        record.write_text(json.dumps({**json.loads(record.read_text()), "sha256": {"model.safetensors": file_sha256(
            weights), "state.pt": file_sha256(weights.parent / "state.pt")}}))
    with pytest.raises(UserInputError, match=r"no usable checkpoint .*1 weight\(s\) missing, e\.g\. "
                                             r"model\.layers\.1\.ffn\.fc2\.weight\); delete"):
        train_supernet(SPACE, cfg(corpus), tmp_path)


def test_corrupt_supernet_and_export_records_are_one_line(tmp_path, corpus):
    torch.manual_seed(0)
    model = SuperTransformer(SPACE, "causal_lm")
    save_supernet(model, tmp_path / "sn")
    (tmp_path / "sn" / "supernet.json").write_text('{"space": ')
    with pytest.raises(UserInputError, match=r"supernet\.json: not valid JSON"):
        load_supernet(tmp_path / "sn")
    (tmp_path / "sn" / "supernet.json").write_text('{"space": {"depth": "x"}, "task": "causal_lm", "vocab_size": 256, '
                                                   '"num_classes": 2, "max_len": 32}')
    with pytest.raises(UserInputError, match=r"supernet\.json: not a supernet card"):
        load_supernet(tmp_path / "sn")
    save_supernet(model, tmp_path / "sn")
    state = load_file(str(tmp_path / "sn" / "supernet.safetensors"))
    del state["model.embeddings.word.weight"]
    save_file(state, str(tmp_path / "sn" / "supernet.safetensors"))
    card = json.loads((tmp_path / "sn" / "supernet.json").read_text())  # its checksum recorded: only strict loading
    card["weights_sha256"] = file_sha256(tmp_path / "sn" / "supernet.safetensors")
    (tmp_path / "sn" / "supernet.json").write_text(json.dumps(card))
    with pytest.raises(UserInputError, match=r"1 weight\(s\) missing, e\.g\. model\.embeddings\.word\.weight"):
        load_supernet(tmp_path / "sn")
    export_subnet(model, SPACE.smallest(), tmp_path / "ex", "hf", extra={"train": cfg(corpus).model_dump()})
    (tmp_path / "ex" / "export.json").write_text("[1, ")
    with pytest.raises(UserInputError, match=r"export\.json: not valid JSON"):
        finetune(tmp_path / "ex", steps=1)


# ---- exports: whole or absent, with labels and tokenizer ----------------------------------------------------
def _classification_run(tmp_path: Path) -> tuple[Path, Path]:
    """A run directory with a (random) classification supernet whose card names its labels."""
    run = tmp_path / "run"
    config = {"space": SPACE.to_dict(), "output": str(run),
              "supernet": {"task": "classification", "seq_len": 16, "device": "cpu"}, "objectives": ["accuracy", "params"]}
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    torch.manual_seed(0)
    save_supernet(SuperTransformer(SPACE, "classification", num_classes=4), run / "supernet",
                  {"labels": ["asyncio", "email", "unittest", "xml"]})
    arch = tmp_path / "arch.json"
    arch.write_text(json.dumps(uniform_arch(2, 32, 2, 64, 16).to_dict()))
    return run, arch


def _export(run, arch, out, fmt="torch") -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "nas.cli", "export", str(run), "--arch", str(arch), "--format",
                             fmt, "--out", str(out)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _whole_or_absent(out: Path) -> bool:
    if not out.exists():
        return False
    assert json.loads((out / "export.json").read_text())["format"] == "torch"
    torch.export.load(out / "model.pt2")
    return True


def test_a_killed_export_leaves_the_folder_whole_or_absent(tmp_path):
    run, arch = _classification_run(tmp_path)
    out = tmp_path / "model"
    leftovers = lambda: sorted(p.name for p in tmp_path.glob(".model.*"))  # noqa: E731
    # the first kill lands as the temporary folder appears, with nothing there yet; the second mid-export, in one that
    # replaces the complete export the first rerun left (a third, the same again, added only time)
    for delay in (0.0, 0.3):
        had = out.exists()
        process = _export(run, arch, out)
        while not leftovers() and process.poll() is None:
            time.sleep(0.01)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert _whole_or_absent(out) == had or process.returncode == 0
        if not had:  # the rerun: the same CLI in-process
            finished = CliRunner().invoke(app, ["export", str(run), "--arch", str(arch), "--format", "torch",
                                                "--out", str(out)])
            assert finished.exit_code == 0, (finished.output, finished.exception)
            assert _whole_or_absent(out) and leftovers() == []  # the killed run's temporary folder is gone


def test_exports_keep_label_names_and_the_tokenizer(tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    run, arch = _classification_run(tmp_path)
    result = CliRunner().invoke(app, ["export", str(run), "--arch", str(arch), "--out", str(tmp_path / "hf")])
    assert result.exit_code == 0, result.output
    assert "(stock transformers class)" in result.output
    model = AutoModelForSequenceClassification.from_pretrained(tmp_path / "hf")  # stock: no remote code
    assert model.config.id2label == {0: "asyncio", 1: "email", 2: "unittest", 3: "xml"}
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "hf")
    for text in ["plain ascii", "wörld 日本 Ā\x00 end", "<pad> [PAD] </s>"]:
        assert tokenizer(text)["input_ids"] == ByteTokenizer().encode(text)
        assert tokenizer.decode(tokenizer(text)["input_ids"]) == text
    batch = tokenizer(["ab", "abcd"], padding=True)["input_ids"]
    assert batch[0] == [97, 98, ByteTokenizer.pad_id, ByteTokenizer.pad_id]
    mixed = tmp_path / "mixed.json"
    mixed.write_text(json.dumps({"embed_dim": 48, "head_dim": 16, "layers": [{"heads": 2, "ffn_dim": 96}, {"heads": 1, "ffn_dim": 64}]}))
    bad = CliRunner().invoke(app, ["export", str(run), "--arch", str(mixed), "--stock", "--out", str(tmp_path / "x")])
    assert "--stock: its layers differ in heads, key/value heads or FFN size" in one_line_error(bad)


# ---- data ---------------------------------------------------------------------------------------------------
def test_label_sorted_files_give_every_class_to_validation(tmp_path):
    rows = [f"text number {i},{label}" for label in ("a", "b", "c") for i in range(30)]
    path = tmp_path / "sorted.csv"
    path.write_text("text,label\n" + "\n".join(rows))
    data = load_classification_data(str(path), seq_len=8)
    assert data.label_names == ["a", "b", "c"]
    assert np.bincount(data.val_labels).tolist() == [3, 3, 3] and np.bincount(data.train_labels).tolist() == [27] * 3
    assert load_classification_data(str(path), seq_len=8).val_ids.tolist() == data.val_ids.tolist()  # stable


def _tokenizer_folder(folder: Path, pad: bool, eos: bool) -> tuple[str, dict]:
    """A byte-level tokenizer with or without a pad and an end-of-sequence token (new ids 256 and 257)."""
    from transformers import AutoTokenizer

    save_tokenizer(None, folder)
    tok = AutoTokenizer.from_pretrained(folder)
    tok.pad_token = None
    tok.add_special_tokens({"eos_token": "<eos>"} if eos else {})
    tok.add_special_tokens({"pad_token": "<pad>"} if pad else {})
    tok.save_pretrained(folder)
    return str(folder), tok.get_vocab()


def test_padding_is_the_tokenizers_pad_or_end_of_sequence_never_token_zero(tmp_path):
    csv = tmp_path / "d.csv"
    csv.write_text("text,label\n" + "\n".join(f"t {i},{i % 2}" for i in range(20)))
    path, vocab = _tokenizer_folder(tmp_path / "p", True, True)
    assert load_classification_data(str(csv), 8, path).pad_id == vocab["<pad>"] != 0
    path, vocab = _tokenizer_folder(tmp_path / "e", False, True)
    data = load_classification_data(str(csv), 8, path)
    assert data.pad_id == vocab["<eos>"] != 0 and data.train_ids[0, -1] == vocab["<eos>"]
    with pytest.raises(UserInputError, match="has neither a pad token nor an end-of-sequence token"):
        load_classification_data(str(csv), 8, _tokenizer_folder(tmp_path / "n", False, False)[0])


def test_short_files_unknown_datasets_and_dataset_scripts_are_one_line(tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("x" * 300)
    with pytest.raises(UserInputError, match=r"short\.txt: too short for seq_len 64: its training split has 285 "
                                             r"tokens and its validation split 15; each needs at least 66"):
        load_lm_data(str(short), seq_len=64)
    pytest.importorskip("datasets")
    with pytest.raises(UserInputError, match=r"hf:no-such-org/no-such-dataset: cannot load the dataset"):
        load_lm_data("hf:no-such-org/no-such-dataset")
    crafted = tmp_path / "crafted"
    crafted.mkdir()
    (crafted / "train.jsonl").write_text('{"text": "a"}\n')
    (crafted / "crafted.py").write_text("open('PWNED', 'w')\n")
    with pytest.raises(UserInputError, match=r"holds Python code \(crafted\.py\); .* never runs dataset scripts"):
        load_lm_data(f"hf:{crafted}")
    assert not (tmp_path / "PWNED").exists() and not Path("PWNED").exists()


# ---- pretrained BERT ----------------------------------------------------------------------------------------
def _tiny_bert(folder: Path) -> SearchSpace:
    from transformers import BertConfig, BertModel

    from supernet.pretrained import bert_checkpoint_space

    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=256, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=32)).save_pretrained(folder)
    return bert_checkpoint_space(folder, depth=[1, 2])


def test_init_from_bert_reports_what_it_copied_and_refuses_missing_weights(tmp_path, corpus):
    folder = tmp_path / "bert"
    space = _tiny_bert(folder)
    csv = tmp_path / "d.csv"
    csv.write_text("text,label\n" + "\n".join(f"text {i},{i % 2}" for i in range(20)))
    said = []
    settings = cfg(corpus, task="classification", data=str(csv), init_from=str(folder), steps=1)
    train_supernet(space, settings, tmp_path / "run", log=said.append)
    assert said == [f"init_from {folder}: {len(SuperTransformer(space, 'classification').state_dict()) - 2} tensors "
                    "copied; newly initialised: classifier.bias, classifier.weight"]
    state = load_file(str(folder / "model.safetensors"))
    del state["encoder.layer.1.output.dense.weight"]
    save_file(state, str(folder / "model.safetensors"))
    with pytest.raises(UserInputError, match=r"not a complete BERT checkpoint: 1 tensor\(s\) missing, "
                                             r"e\.g\. encoder\.layer\.1\.output\.dense\.weight"):
        train_supernet(space, settings, tmp_path / "again")


# ---- fine-tuning --------------------------------------------------------------------------------------------
def test_finetune_cli_writes_a_loadable_model_from_the_runs_data(tmp_path, corpus, monkeypatch):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run = tmp_path / "run"
    run.mkdir()
    (run / "corpus.txt").write_text(corpus.read_text())
    torch.manual_seed(0)
    model = SuperTransformer(SPACE, "causal_lm")
    mixed = SPACE.largest()  # 2 heads x 16 != 48: no stock class, hwnas's modelling file
    export_subnet(model, mixed, tmp_path / "ex", "hf", extra={"train": cfg("corpus.txt").model_dump(), "run": str(run)})
    monkeypatch.chdir(tmp_path)  # "corpus.txt" is not here: it is read from the run's folder
    result = CliRunner().invoke(app, ["finetune", str(tmp_path / "ex"), "--steps", "3", "--out", str(tmp_path / "ft")])
    assert result.exit_code == 0, result.output
    assert "fine-tuning" in result.output and "after 3 steps alone" in result.output
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path / "ft", trust_remote_code=True)
    ids = AutoTokenizer.from_pretrained(tmp_path / "ft")("hello", return_tensors="pt")["input_ids"]
    assert loaded(ids).logits.shape == (1, 5, 256)
    assert json.loads((tmp_path / "ft" / "export.json").read_text())["finetune"]["steps"] == 3
    other = tmp_path / "other.txt"
    other.write_text("lorem ipsum dolor sit amet " * 100)
    again = CliRunner().invoke(app, ["finetune", str(tmp_path / "ex"), "--steps", "1", "--data", str(other)])
    assert again.exit_code == 0, again.output
    assert json.loads((tmp_path / "ex-finetuned" / "export.json").read_text())["finetune"]["data"] == str(other)
    assert (tmp_path / "ex-finetuned" / "modeling_hwnas.py").is_file()
