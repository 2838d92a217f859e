import json
import random
import subprocess
import sys

import numpy as np
import pytest
import torch

from predictors.accelerator.workload import Gemm, Workload, lower
from supernet.data import load_classification_data, load_lm_data
from supernet.evaluate import SubnetEvaluator
from supernet.export import extract_subnet, max_output_difference
from supernet.model import SuperTransformer
from supernet.space import ArchConfig, LayerConfig, SearchSpace
from supernet.store import load_supernet
from supernet.train import sandwich, train_supernet
from supernet.train_config import SupernetTrainConfig

SPACE = SearchSpace(depth=[2, 3], embed_dim=[32, 48], heads=[1, 2], ffn_dim=[64, 96], head_dim=16, max_seq_len=32)


@pytest.fixture(scope="module")
def lm_data():
    return load_lm_data()


@pytest.mark.parametrize("task", ["causal_lm", "classification"])
def test_subnet_forward_equals_plain_model_with_sliced_weights(task):
    torch.manual_seed(0)
    model = SuperTransformer(SPACE, task, vocab_size=256, num_classes=3).eval()
    ids = torch.randint(1, 256, (3, 20))
    mask = torch.ones_like(ids, dtype=torch.bool)
    mask[1, 15:] = False
    rng = random.Random(0)
    for arch in [SPACE.largest(), SPACE.smallest()] + [SPACE.sample(rng) for _ in range(4)]:
        plain = extract_subnet(model, arch)
        assert sum(p.numel() for p in plain.parameters()) == model.num_params(arch)
        assert max_output_difference(model, plain, arch, ids) <= 1e-5
        if task == "classification":
            with torch.no_grad():
                diff = (model(ids, arch, mask) - plain(ids, attention_mask=mask).logits).abs().max()
            assert diff <= 1e-5
        for name, tensor in plain.state_dict().items():
            source = model.state_dict()[name]
            assert torch.equal(tensor, source[tuple(slice(0, n) for n in tensor.shape)]), name


def test_largest_subnet_is_the_whole_supernet_and_macs_match_the_lowering():
    model = SuperTransformer(SPACE, "causal_lm", vocab_size=256)
    assert model.num_params(SPACE.largest()) == sum(p.numel() for p in model.parameters())
    arch = ArchConfig(48, (LayerConfig(2, 96), LayerConfig(1, 64)), 16)
    gemms = [op for op in lower(arch, Workload(seq_len=24, head="lm", vocab_size=256)) if isinstance(op, Gemm)]
    assert model.macs(arch, 24) == sum(g.macs for g in gemms)


def test_arch_outside_the_space_names_layer_and_field():
    model = SuperTransformer(SPACE, "causal_lm")
    bad = ArchConfig(48, (LayerConfig(2, 96), LayerConfig(3, 64)), 16)
    with pytest.raises(ValueError, match=r"layers\[1\]\.heads=3 is not one of \[1, 2\]"):
        model(torch.zeros(1, 4, dtype=torch.long), bad)
    with pytest.raises(ValueError, match="longer than max_len"):
        model(torch.zeros(1, 40, dtype=torch.long), SPACE.largest())


def tiny_config(**changes):
    base = dict(steps=6, batch_size=4, seq_len=24, lr=3e-3, warmup_steps=2, checkpoint_every=2, sandwich_random=2)
    base.update(changes)
    return SupernetTrainConfig(**base)


def test_sandwich_step_changes_the_shared_weights_of_every_member(tmp_path, lm_data):
    cfg = tiny_config(steps=1)
    torch.manual_seed(cfg.seed)
    before = SuperTransformer(SPACE, "causal_lm", vocab_size=256).state_dict()
    after = train_supernet(SPACE, cfg, tmp_path, data=lm_data).model
    for arch in sandwich(SPACE, cfg, step=0):
        sub = extract_subnet(after, arch)
        for name, tensor in sub.state_dict().items():
            old = before[name][tuple(slice(0, n) for n in tensor.shape)]
            assert not torch.equal(tensor, old), (arch.describe(), name)


def test_interrupted_training_resumes_exactly(tmp_path, lm_data):
    cfg = tiny_config()
    straight = train_supernet(SPACE, cfg, tmp_path / "straight", data=lm_data)

    def interrupt_at_three(record):
        if record["step"] == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_supernet(SPACE, cfg, tmp_path / "resumed", on_step=interrupt_at_three, data=lm_data)
    assert (tmp_path / "resumed" / "latest").read_text() == "step-000003"
    resumed = train_supernet(SPACE, cfg, tmp_path / "resumed", data=lm_data)
    key = lambda h: [(r["step"], r["loss_largest"], r["loss_smallest"], r["loss_mean"]) for r in h]  # noqa: E731
    assert key(resumed.history) == key(straight.history)
    for name, tensor in straight.model.state_dict().items():
        assert torch.equal(tensor, resumed.model.state_dict()[name]), name
    reloaded = load_supernet(tmp_path / "resumed")
    assert torch.equal(reloaded.state_dict()["model.embeddings.word.weight"],
                       straight.model.state_dict()["model.embeddings.word.weight"])


def test_training_beats_the_unigram_baseline(tmp_path, lm_data):
    counts = np.bincount(lm_data.train, minlength=256) + 1
    val = np.bincount(lm_data.val, minlength=256)
    unigram = float(-(val * np.log(counts / counts.sum())).sum() / val.sum())
    cfg = SupernetTrainConfig(steps=120, batch_size=16, seq_len=32, lr=3e-3, warmup_steps=10, checkpoint_every=1000)
    model = train_supernet(SPACE, cfg, tmp_path, data=lm_data).model
    largest, smallest = SubnetEvaluator(model, lm_data, 32, 32, 128).evaluate([SPACE.largest(), SPACE.smallest()])
    assert largest["loss"] < unigram - 0.5 and smallest["loss"] < unigram - 0.4, (unigram, largest, smallest)


def test_classification_trains_and_evaluates(tmp_path):
    """On a task a tiny model can learn in seconds (which alphabet a text is written in): the builtin one (which
    standard-library package a snippet comes from) needs more training than a unit test has."""
    rng = np.random.default_rng(0)
    alphabets = {"vowels": "aeiou ", "digits": "0123456789 ", "symbols": "+-*/=<> "}
    rows = [{"text": "".join(rng.choice(list(chars), size=int(rng.integers(8, 30)))), "label": label}
            for _ in range(120) for label, chars in alphabets.items()]
    (tmp_path / "texts.jsonl").write_text("\n".join(json.dumps(row) for row in rows))
    data = load_classification_data(str(tmp_path / "texts.jsonl"), seq_len=32)
    assert data.num_classes == 3 and set(np.unique(data.val_labels)) == {0, 1, 2}
    cfg = tiny_config(task="classification", steps=30, seq_len=32, batch_size=16)
    model = train_supernet(SPACE, cfg, tmp_path / "run", data=data).model
    (result,) = SubnetEvaluator(model, data, 32, 64, 256).evaluate([SPACE.largest()])
    assert result["accuracy"] > 0.9  # three classes: chance is a third


def test_ddp_with_two_cpu_processes_trains_and_checkpoints(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(json.dumps({
        "space": SPACE.to_dict(), "output": str(tmp_path / "run"),
        "supernet": {"steps": 4, "batch_size": 4, "seq_len": 24, "checkpoint_every": 2, "device": "cpu"}}))
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29517",
                "-m", "nas.cli", "supernet", "train", str(config)]
    out = subprocess.run(torchrun, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    folder = tmp_path / "run" / "supernet"
    assert (folder / "latest").read_text() == "step-000004"
    history = json.loads((folder / "history.json").read_text())
    assert [r["step"] for r in history] == [1, 2, 3, 4] and all(np.isfinite(r["loss_largest"]) for r in history)
    assert load_supernet(folder).num_params(SPACE.largest()) > 0
