"""Files in and out: user files (YAML, JSON) read into validated models with one-line errors, and atomic writes.

Every file a user hands to hwnas goes through here, so that a mistake anywhere is reported the same way:
the file, the key path inside it, and what was expected. No traceback reaches the user for those. Every file
hwnas writes goes through `atomic_write`, so an interrupted run never leaves a half-written file behind.
"""
from __future__ import annotations

import json
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
    loc = ".".join(str(part) for part in first["loc"]) or "(top level)"
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    elif first["type"] == "missing":
        msg = "missing required key"
    more = len(err.errors()) - 1
    tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    prefix = f"{source}: " if source else ""
    return f"{prefix}{loc}: {msg}{tail}"


def load_mapping(path: str | Path) -> dict[str, Any]:
    """A YAML or JSON file whose top level is a mapping (`yaml.safe_load`: no code runs from user files)."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"{path}: file not found")
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserInputError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {reason}") from None
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
    """`write(tmp)` to a temporary file beside `path`, then rename it over `path` (atomic on POSIX)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_write_json(path: str | Path, payload: Any) -> Path:
    return atomic_write_text(path, json.dumps(payload, indent=2))
