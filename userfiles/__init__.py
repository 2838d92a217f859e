"""Files in and out: user files (YAML, JSON) read into validated models with one-line errors, and atomic writes.

Every file a user hands to hwnas goes through here, so that a mistake anywhere is reported the same way:
the file, the key path inside it, and what was expected. No traceback reaches the user for those. Every file
hwnas writes goes through `atomic_write`, so an interrupted run never leaves a half-written file behind.
"""
from __future__ import annotations

import errno
import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any, Callable, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)


class UserInputError(ValueError):
    """A mistake in something the user gave us (a file, a key, a value): shown as one line, never a traceback."""


def validation_message(err: ValidationError, source: str = "") -> str:
    """The first pydantic error as `source: key.path: message` (one line)."""
    first = err.errors()[0]
    loc = ".".join(str(part) for part in first["loc"])
    msg = " ".join(first["msg"].removeprefix("Value error, ").split())
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    elif first["type"] == "missing":
        msg = "missing required key"
    more = len(err.errors()) - 1
    tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    where = ": ".join(part for part in (source, loc) if part)
    return f"{where}: {msg}{tail}" if where else f"{msg}{tail}"


# Bounds on what a user file may hold: generous for any real config, small enough that a mistake (or a crafted
# file) is refused at once instead of eating memory or the stack.
MAX_FILE_BYTES = 16 * 2**20  # 16 MiB: a run config, hardware file or architecture is a few KiB
MAX_NESTING = 64  # mappings and lists inside each other
MAX_VALUES = 200_000  # scalars and containers in one file, YAML aliases expanded (no "billion laughs")


class UniqueKeyLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` (no tags that build Python objects, so no code runs from user files) that also refuses a
    key written twice in one mapping, which plain YAML silently resolves to the last value."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: set = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                    seen.add(key)
                except TypeError:  # an unhashable key: construct_mapping below says so
                    continue
                if duplicate:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r}",
                        key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


def safe_load(text: str) -> Any:
    """`yaml.safe_load` with duplicate keys refused (see `UniqueKeyLoader`)."""
    return yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass


def _problem(exc: BaseException) -> str:
    """One line out of a YAML/JSON parser error (their messages span several lines with a caret)."""
    if isinstance(exc, yaml.MarkedYAMLError):
        what = ": ".join(part for part in (exc.context, exc.problem) if part) or type(exc).__name__
        mark = exc.problem_mark or exc.context_mark
        return f"{what} (line {mark.line + 1}, column {mark.column + 1})" if mark else what
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def read_user_text(path: str | Path, what: str = "file", limit: int = MAX_FILE_BYTES) -> str:
    """The UTF-8 text of a file a user named, or a one-line `UserInputError` saying why it cannot be read:
    missing, a directory, unreadable, larger than `limit`, or not UTF-8."""
    path = Path(path)
    if path.is_dir():
        raise UserInputError(f"{path}: is a directory, expected a {what}")
    if not path.exists():
        raise UserInputError(f"{path}: file not found")
    if not path.is_file():
        raise UserInputError(f"{path}: not a regular file, expected a {what}")
    try:
        size = path.stat().st_size
        if size > limit:
            raise UserInputError(f"{path}: {size / 2**20:,.1f} MiB is larger than the {limit / 2**20:g} MiB "
                                 f"limit for a {what}")
        data = path.read_bytes()
    except OSError as exc:
        raise UserInputError(f"{path}: cannot read ({(exc.strerror or str(exc)).lower()})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise UserInputError(f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line})") from None


def check_values(data: Any, source: str = "") -> Any:
    """Refuse NaN and infinite numbers anywhere in `data`, nesting deeper than `MAX_NESTING` and more than
    `MAX_VALUES` values, naming the key path (`source: space.ffn_dim.3: ...`). Returns `data`."""
    prefix = f"{source}: " if source else ""
    count = 0
    stack: list[tuple[Any, tuple, int]] = [(data, (), 0)]
    while stack:
        value, loc, depth = stack.pop()
        count += 1
        if count > MAX_VALUES:
            raise UserInputError(f"{prefix}more than {MAX_VALUES:,} values (YAML aliases included); a config is "
                                 "far smaller")
        where = ".".join(map(str, loc)) or "(top level)"
        if isinstance(value, float) and not math.isfinite(value):
            raise UserInputError(f"{prefix}{where}: {value} is not allowed; numbers must be finite")
        if isinstance(value, (dict, list)):
            if depth >= MAX_NESTING:
                raise UserInputError(f"{prefix}{where}: nested more than {MAX_NESTING} levels deep")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            stack.extend((v, loc + (k,), depth + 1) for k, v in items)
    return data


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not allowed; numbers must be finite")


def parse_text(text: str, json_format: bool, source: str) -> Any:
    """JSON (`json_format`) or YAML text into Python values, with one-line errors naming `source`: syntax,
    duplicate keys, tags that would build Python objects, NaN/Infinity, too deep or too many values."""
    kind = "JSON" if json_format else "YAML"
    try:
        data = json.loads(text, parse_constant=_refuse_constant) if json_format else safe_load(text)
    except RecursionError:
        raise UserInputError(f"{source}: not valid {kind}: nested too deeply (at most {MAX_NESTING} levels)") from None
    except (yaml.YAMLError, ValueError) as exc:  # json.JSONDecodeError is a ValueError
        raise UserInputError(f"{source}: not valid {kind}: {_problem(exc)}") from None
    return check_values(data, source)


def load_mapping(path: str | Path) -> dict[str, Any]:
    """A YAML or JSON file whose top level is a mapping (`yaml.safe_load`: no code runs from user files)."""
    path = Path(path)
    data = parse_text(read_user_text(path), path.suffix == ".json", str(path))
    if not isinstance(data, dict):
        raise UserInputError(f"{path}: expected a mapping of keys to values at the top level")
    return data


def validate(model: type[Model], data: Any, source: str = "") -> Model:
    """`model.model_validate(data)`, turning a ValidationError into a one-line UserInputError."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise UserInputError(validation_message(exc, source)) from None


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """`write(tmp)` to a temporary file beside `path`, then rename it over `path` (atomic on POSIX).

    A path hwnas cannot write (a read-only folder, a full disk, /proc, a file where a folder goes) is a
    `UserInputError` naming `path`; nothing is left behind."""
    path = Path(path)
    if path.is_dir():
        raise UserInputError(f"{path}: is a directory, expected a file to write")
    if path.exists() and not path.is_file():  # /dev/full, a FIFO: never renamed over
        raise UserInputError(f"{path}: not a regular file; hwnas writes regular files only")
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write(tmp)
            os.replace(tmp, path)
        finally:
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass
    except OSError as exc:
        raise UserInputError(output_error(path, exc)) from None
    return path


def refuse_overwriting_inputs(out: str | Path, *inputs: str | Path | None, option: str = "--out",
                              replaces_folder: bool = True, folders: tuple[str | Path, ...] = ()) -> None:
    """A one-line `UserInputError` when writing `out` would destroy something the same command reads: `out` is
    one of `inputs` (files or folders); or, when `out` is a folder the command replaces whole
    (`replaces_folder`), a folder holding one of them (the replacement deletes what it held); or it lies inside
    one of `folders` (input folders read as a whole, such as a supernet, where a new file is not ours to add).
    Paths are compared resolved, so `./a/../m.csv`, a link and `m.csv` are the same file; None inputs (options
    not given) are skipped. Called before any work, so a refusal costs nothing."""
    target = Path(out).resolve()
    for given in [item for item in inputs if item is not None] + list(folders):
        source = Path(given).resolve()
        if target == source:
            raise UserInputError(f"{option} {out}: is also an input of this command ({given}); writing it would "
                                 "destroy what it reads, so choose another output")
        if replaces_folder and target in source.parents:
            raise UserInputError(f"{option} {out}: holds an input of this command ({given}); writing it would "
                                 "replace that, so choose another output")
    for given in folders:
        if Path(given).resolve() in target.parents:
            raise UserInputError(f"{option} {out}: is inside {given}, which this command reads; write the output "
                                 "somewhere else")


def output_error(path: str | Path, exc: OSError) -> str:
    """`PATH: cannot write (reason)` for an OSError met while writing `path`, naming what was in the way."""
    reason = (exc.strerror or str(exc)).lower()
    blocker = Path(exc.filename) if isinstance(exc.filename, (str, os.PathLike)) else None
    if blocker is not None and exc.errno in (errno.ENOTDIR, errno.EEXIST) and blocker.exists() \
            and not blocker.is_dir():
        return f"{path}: cannot write: {blocker} is a file, not a folder"
    return f"{path}: cannot write ({reason})"


def finite_json(payload: Any, **kwargs: Any) -> str:
    """`json.dumps` that always gives valid JSON: a NaN or infinite float becomes null (JSON has no such
    numbers; Python's `Infinity` is not JSON)."""
    def clean(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        return value

    return json.dumps(clean(payload), allow_nan=False, **kwargs)


def file_sha256(path: str | Path) -> str:
    """The sha256 of a file, read in 1 MiB blocks: a supernet's weights need not fit in memory twice. What a
    folder's manifest, a supernet card and a checkpoint record keep for each file they vouch for."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_write_json(path: str | Path, payload: Any) -> Path:
    """Strict JSON that any parser reads: a non-finite number (never computed, or infinite) is written as null."""
    return atomic_write_text(path, finite_json(payload, indent=2))


def differences(old: Any, new: Any, path: str = "") -> list[str]:
    """Every key path at which two JSON-like values differ, in sorted order (empty when they are equal); lists
    of the same length are compared item by item (`constraints.0.value`). What a run directory or a checkpoint
    compares its recorded settings with, to name the first key a user changed."""
    if isinstance(old, dict) and isinstance(new, dict):
        pairs = [(key, old.get(key), new.get(key)) for key in sorted(set(old) | set(new), key=str)]
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        pairs = list(zip(range(len(old)), old, new))
    else:
        return [] if old == new else [path or "(top level)"]
    return [found for key, a, b in pairs for found in differences(a, b, f"{path}.{key}" if path else str(key))]
