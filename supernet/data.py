"""Task data for the supernet: token streams for `causal_lm`, labelled texts for `classification`.

Sources: `builtin` (offline, nothing downloaded: the source files of Python's own standard library, split into
train and validation by file), a local file (plain text; CSV or JSONL with `text` and `label`), or a Hugging Face
dataset (`hf:wikitext:wikitext-2-raw-v1`, `hf:glue:sst2`, or `hf:` and a local folder; needs the `hf` extra). Tokens are bytes by
default (vocabulary 256, no files needed); any `transformers` tokenizer can be given by path.

Batches are drawn by a generator seeded from (seed, step, rank), so a resumed run sees exactly the batches an
uninterrupted one would, and no data-loader state needs saving.
"""
from __future__ import annotations

import csv
import hashlib
import json
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from userfiles import UserInputError

BUILTIN_LM_BYTES = 6_000_000
# Builtin classification: which standard-library package a snippet of source comes from.
BUILTIN_CLASSES = ("asyncio", "email", "unittest", "xml")


class Tokenizer(Protocol):
    vocab_size: int

    def encode(self, text: str) -> list[int]: ...


class ByteTokenizer:
    """UTF-8 bytes as tokens: a fixed vocabulary of 256 that needs no files; byte 0 (NUL) pads."""

    vocab_size = 256
    pad_id = 0

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))


class PretrainedTokenizer:
    """Any tokenizer `transformers.AutoTokenizer` can load from a local path."""

    def __init__(self, path: str):
        from transformers import AutoTokenizer

        try:
            self._tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise UserInputError(f"tokenizer {path!r}: cannot load ({str(exc).splitlines()[0]})") from None
        self.vocab_size = len(self._tok)
        # Token 0 is a real token in most vocabularies: padding must be the tokenizer's pad token, or its end of
        # sequence (never part of the text, as texts are encoded without special tokens); None when it has neither.
        self.pad_id = self._tok.pad_token_id if self._tok.pad_token_id is not None else self._tok.eos_token_id

    def encode(self, text: str) -> list[int]:
        return self._tok.encode(text, add_special_tokens=False)


def make_tokenizer(spec: str | None) -> ByteTokenizer | PretrainedTokenizer:
    return ByteTokenizer() if spec in (None, "", "bytes") else PretrainedTokenizer(spec)


def save_tokenizer(spec: str | None, folder: Path) -> None:
    """Write the tokenizer `spec` names into `folder`, so that `AutoTokenizer.from_pretrained(folder)` gives the
    same ids as training did. The byte tokenizer becomes a stock fast tokenizer (no remote code): a byte-level BPE
    without merges whose vocabulary is the 256 bytes in order, padding with byte 0 as `ByteTokenizer` does."""
    if spec not in (None, "", "bytes"):
        from transformers import AutoTokenizer

        AutoTokenizer.from_pretrained(spec, local_files_only=True).save_pretrained(folder)
        return
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    chars = bytes_to_unicode()  # byte -> the printable character byte-level BPE writes it as
    backend = Tokenizer(models.BPE(vocab={chars[b]: b for b in range(256)}, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    backend.decoder = decoders.ByteLevel()
    # split_special_tokens: a text containing the pad's character (U+0100) is still encoded as its UTF-8 bytes
    PreTrainedTokenizerFast(tokenizer_object=backend, pad_token=chars[ByteTokenizer.pad_id],
                            split_special_tokens=True).save_pretrained(folder)


def _is_validation(name: str) -> bool:
    """One file in twenty goes to validation, chosen by a hash of its name: stable across machines."""
    return int(hashlib.sha1(name.encode()).hexdigest(), 16) % 20 == 0


def _stdlib_files() -> list[tuple[str, Path]]:
    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in root.rglob("*.py") if "site-packages" not in p.parts and "test" not in p.parts
                   and "tests" not in p.parts and "idle_test" not in p.parts)
    return [(str(p.relative_to(root)), p) for p in files]


@dataclass
class LMData:
    """Token streams; windows of `seq_len + 1` tokens become (input, target) pairs."""

    train: np.ndarray
    val: np.ndarray
    vocab_size: int
    source: str

    def batch(self, generator: np.random.Generator, batch_size: int, seq_len: int) -> torch.Tensor:
        starts = generator.integers(0, len(self.train) - seq_len - 1, size=batch_size)
        return torch.from_numpy(np.stack([self.train[s:s + seq_len + 1] for s in starts]).astype(np.int64))

    def val_batches(self, seq_len: int, batch_size: int, max_windows: int) -> list[torch.Tensor]:
        """A fixed validation subset: evenly spaced windows, the same for every sub-network scored."""
        n = min(max_windows, (len(self.val) - 1) // (seq_len + 1))
        if n < 1:
            raise UserInputError(f"{self.source}: validation split shorter than one window of {seq_len} tokens")
        stride = (len(self.val) - seq_len - 1) // n
        windows = np.stack([self.val[i * stride:i * stride + seq_len + 1] for i in range(n)]).astype(np.int64)
        return [torch.from_numpy(windows[i:i + batch_size]) for i in range(0, n, batch_size)]


@dataclass
class ClassificationData:
    train_ids: np.ndarray
    train_labels: np.ndarray
    val_ids: np.ndarray
    val_labels: np.ndarray
    vocab_size: int
    num_classes: int
    pad_id: int
    source: str
    label_names: list[str]

    def batch(self, generator: np.random.Generator, batch_size: int, seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
        rows = generator.integers(0, len(self.train_labels), size=batch_size)
        return (torch.from_numpy(self.train_ids[rows, :seq_len].astype(np.int64)),
                torch.from_numpy(self.train_labels[rows].astype(np.int64)))

    def val_batches(self, seq_len: int, batch_size: int, max_windows: int):
        """A fixed validation subset of `max_windows` examples spaced evenly over the whole split, the same for
        every sub-network scored. The loaders give each split in a fixed shuffled order (a split stored class by
        class would put one class in each batch and leave the rest out of a small subset)."""
        total = len(self.val_labels)
        n = min(max_windows, total)
        rows = np.arange(n) * total // n
        ids, labels = self.val_ids[rows, :seq_len].astype(np.int64), self.val_labels[rows].astype(np.int64)
        return [(torch.from_numpy(ids[i:i + batch_size]), torch.from_numpy(labels[i:i + batch_size]))
                for i in range(0, n, batch_size)]

    def padding_mask(self, ids: torch.Tensor) -> torch.Tensor:
        return ids != self.pad_id


TaskData = LMData | ClassificationData


def load_lm_data(source: str = "builtin", tokenizer: str | None = None, seq_len: int | None = None) -> LMData:
    """Token streams of `source`; with `seq_len`, a source too short for one training and one validation window
    is refused now, naming the lengths, rather than failing inside the first batch or after training."""
    tok = make_tokenizer(tokenizer)
    if source == "builtin":
        train_parts, val_parts, size = [], [], 0
        for name, path in _stdlib_files():
            text = path.read_text(encoding="utf-8", errors="replace")
            (val_parts if _is_validation(name) else train_parts).append(text)
            size += len(text)
            if size >= BUILTIN_LM_BYTES:
                break
        train_text, val_text = "\n".join(train_parts), "\n".join(val_parts)
        label = "builtin (Python standard library sources)"
    elif source.startswith("hf:"):
        train_text, val_text = _hf_text(source[3:])
        label = source
    else:
        path = Path(source)
        if not path.is_file():
            raise UserInputError(f"{source}: data file not found")
        text = path.read_text(encoding="utf-8", errors="replace")
        cut = int(len(text) * 0.95)  # the last 5% of the file is the validation split
        train_text, val_text, label = text[:cut], text[cut:], source
    dtype = np.uint8 if tok.vocab_size <= 256 else np.int32
    data = LMData(np.asarray(tok.encode(train_text), dtype=dtype), np.asarray(tok.encode(val_text), dtype=dtype),
                  tok.vocab_size, label)
    if seq_len is not None and min(len(data.train), len(data.val)) < seq_len + 2:
        raise UserInputError(f"{label}: too short for seq_len {seq_len}: its training split has {len(data.train):,} "
                             f"tokens and its validation split {len(data.val):,}; each needs at least {seq_len + 2}")
    return data


def _hf_text(name: str) -> tuple[str, str]:
    records = _hf_records(name)
    return "\n".join(r["text"] for r in records["train"]), "\n".join(r["text"] for r in records["validation"])


def _hf_records(name: str) -> dict[str, list[dict]]:
    """`datasets.load_dataset(NAME, CONFIG)` for `NAME[:CONFIG]` (`wikitext:wikitext-2-raw-v1`, `glue:sst2`),
    or a local folder of data files named by split (`train.jsonl`, `validation.jsonl`)."""
    try:
        import datasets
    except ImportError:
        raise UserInputError("Hugging Face datasets need the hf extra: pip install 'hwnas[hf]'") from None
    path, _, config = name.rpartition(":") if ":" in name and not Path(name).is_dir() else (name, "", "")
    if Path(path).is_dir():
        # A dataset folder may come from someone else: a loading script in it would run as this user.
        scripts = sorted(str(p.relative_to(path)) for p in Path(path).rglob("*.py"))
        if scripts:
            raise UserInputError(f"hf:{name}: holds Python code ({scripts[0]}); hwnas reads only data files "
                                 "(train/validation as .jsonl, .csv, .parquet, ...) and never runs dataset scripts")
    try:
        loaded = datasets.load_dataset(path, config or None)
    except Exception as exc:  # noqa: BLE001 - datasets raises many types (not found, offline, bad files, ...)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UserInputError(f"hf:{name}: cannot load the dataset ({first[:300]})") from None
    splits = {}
    for split in ("train", "validation"):
        if split not in loaded:
            raise UserInputError(f"hf:{name}: has no {split!r} split (splits: {', '.join(loaded)})")
        column = "text" if "text" in loaded[split].column_names else "sentence"
        splits[split] = [{"text": r[column], "label": r.get("label", 0)} for r in loaded[split]]
    return splits


def load_classification_data(source: str = "builtin", seq_len: int = 128, tokenizer: str | None = None
                             ) -> ClassificationData:
    tok = make_tokenizer(tokenizer)
    if source == "builtin":
        train, val = _builtin_snippets(seq_len)
        val = _shuffled(val)
        label_names = list(BUILTIN_CLASSES)
    elif source.startswith("hf:"):
        records = _hf_records(source[3:])
        train = [(r["text"], int(r["label"])) for r in records["train"]]
        val = _shuffled([(r["text"], int(r["label"])) for r in records["validation"]])
        label_names = sorted({lab for _, lab in train + val})
    else:
        rows = _read_labelled(Path(source))
        train, val = _stratified_split(rows)
        label_names = sorted({lab for _, lab in rows}, key=str)
    if tok.pad_id is None:
        raise UserInputError(f"tokenizer {tokenizer}: has neither a pad token nor an end-of-sequence token to pad "
                             "classification texts with; set one (tokenizer.pad_token) and save it again")
    index = {name: i for i, name in enumerate(label_names)}
    encode = lambda pairs: _pad([tok.encode(t) for t, _ in pairs], seq_len, tok.pad_id)  # noqa: E731
    labels = lambda pairs: np.array([index[lab] for _, lab in pairs], dtype=np.int64)  # noqa: E731
    return ClassificationData(encode(train), labels(train), encode(val), labels(val), tok.vocab_size,
                              len(label_names), tok.pad_id, source, [str(name) for name in label_names])


def _shuffled(pairs: list) -> list:
    """A validation split in a fixed-seed random order. The builtin split is stored class by class, and so are
    some hub datasets (IMDB's test split): in that order each evaluation batch, and any subset smaller than the
    split, held one class or two, and its accuracy said little about the others."""
    return [pairs[i] for i in np.random.default_rng(0).permutation(len(pairs))]


def _stratified_split(rows: list[tuple[str, str]], share: float = 0.1) -> tuple[list, list]:
    """A tenth of each class to validation (at least one row of a class that has two), chosen by a fixed-seed
    shuffle: files are often sorted by label, and cutting the tail off gave a validation set of one class."""
    order = np.random.default_rng(0).permutation(len(rows))
    by_class: dict[str, list[int]] = {}
    for i in order:
        by_class.setdefault(rows[i][1], []).append(int(i))
    held = {i for members in by_class.values()
            for i in members[:max(round(len(members) * share), 1 if len(members) > 1 else 0)]}
    return [rows[i] for i in order if i not in held], [rows[i] for i in order if i in held]


def _pad(sequences: list[list[int]], seq_len: int, pad_id: int) -> np.ndarray:
    out = np.full((len(sequences), seq_len), pad_id, dtype=np.int32)
    for i, seq in enumerate(sequences):
        seq = seq[:seq_len]
        out[i, :len(seq)] = seq
    return out


def _builtin_snippets(seq_len: int) -> tuple[list, list]:
    """Windows of source text from four standard-library packages, labelled by package, split by file."""
    train, val = [], []
    stdlib = _stdlib_files()
    for package in BUILTIN_CLASSES:
        files = [(name, path) for name, path in stdlib if name.split("/")[0] == package]
        for index, (name, path) in enumerate(files):
            text = path.read_text(encoding="utf-8", errors="replace")
            snippets = [(text[i:i + seq_len], package) for i in range(0, max(len(text) - seq_len, 1), seq_len)]
            (val if index % 5 == 4 else train).extend(snippets)  # every fifth file of each package validates
    return train, val


def _read_labelled(path: Path) -> list[tuple[str, str]]:
    """CSV or JSONL with `text` and `label`; a bad row is an error naming its line."""
    if not path.is_file():
        raise UserInputError(f"{path}: data file not found")
    rows = []
    if path.suffix == ".jsonl":
        for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                rows.append((str(record["text"]), str(record["label"])))
            except (ValueError, KeyError, TypeError):
                raise UserInputError(f"{path}:{line_no}: expected a JSON object with 'text' and 'label'") from None
    else:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if not {"text", "label"} <= set(reader.fieldnames or []):
                raise UserInputError(f"{path}: needs columns 'text' and 'label'")
            rows = [(r["text"], r["label"]) for r in reader]
    if len(rows) < 10:
        raise UserInputError(f"{path}: needs at least 10 labelled rows, found {len(rows)}")
    return rows
