"""The run folder and its config: what a run is (`Run`: config, accelerator, resolved config), the explicit step
that claims a folder for it (`Run.open`: checks the config stored there, then writes `config.yaml` and
`meta.json`), and the stage record (`Run.stage`: run, reuse, redo or refuse one stage by the fingerprint of its
inputs in `stages.json`).

Constructing a `Run` reads files (it checks the paths the config names) and writes none. A refusal says what
differs, the value recorded in the folder against the value now, and which hwnas made the folder when that is
another version, so that a folder refused after an upgrade says why.
"""
from __future__ import annotations

import hashlib
import json
import platform
import re
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Callable, get_args

import yaml
from pydantic import BaseModel

from nas.config import RunConfig
from predictors.accelerator.hardware import AcceleratorConfig
from supernet.train_config import PATH_KEYS, resolve_paths
from userfiles import UserInputError, atomic_write_json, atomic_write_text, differences, parse_text, read_user_text
from userfiles.locks import LOCK_FILE

# Config sections that only the search, the export and the quality predictor (refitted from supernet scores) read:
# changing them in a run directory redoes those stages and reuses the rest. Every other section feeds the latency
# data, the predictors or the supernet.
REDOABLE = ("name", "output", "objectives", "constraints", "search", "executor", "export", "quality_predictor")
WHAT_TO_DO = "use a new output directory, or delete this one"
# What a run folder holds before `Run.open` has claimed it: its lock, and the supernet `hwnas supernet train`
# trains into `<output>/supernet` (the run then reuses it). A folder holding anything else that is not already a
# run folder is someone's own folder: a run would write its config.yaml, report.md, pareto.* and more into it.
BEFORE_A_RUN = {LOCK_FILE, "supernet"}
LEFT_BY_A_WRITER = re.compile(r"\.[^/]+\.(tmp|old)[0-9]{1,9}")  # `userfiles` atomic writes killed midway
# Keys an earlier hwnas stored in the hardware (`AcceleratorConfig`) that now live in the run's `mapping:`.
MOVED_TO_MAPPING = {"mapper": "mapper", "mapper_objective": "objective"}


def fingerprint(payload) -> str:
    return hashlib.sha1(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:12]


def content_fingerprint(*paths: Path) -> str:
    """A digest of files' bytes: given inputs (a predictor, a supernet checkpoint) are identified by what they
    hold, so the same files reached by another path are the same input."""
    digest = hashlib.sha1()
    for path in paths:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:12]


def hwnas_version() -> str | None:
    try:
        return version("hwnas")
    except PackageNotFoundError:
        return None


def _versions() -> dict:
    names = ("hwnas", "torch", "transformers", "scikit-learn", "deap", "numpy", "pydantic")
    found = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return {"python": platform.python_version(), **found}


def read_own(path: Path, what: str, advice: str) -> Any:
    """A JSON or YAML file hwnas wrote in a run folder, read within `userfiles`' bounds (size, nesting, finite
    numbers, no duplicate keys); damaged, it is one line naming it, what it is and what to do."""
    try:
        return parse_text(read_user_text(path, what), path.suffix == ".json", str(path))
    except UserInputError as exc:
        why = str(exc).removeprefix(f"{path}: ")
        raise UserInputError(f"{path}: damaged {what} ({why}); {advice}") from None


def is_run_folder(root: Path) -> bool:
    """Whether `root` holds the `config.yaml` and `meta.json` that `Run.open` writes (what a run folder is)."""
    return (root / "config.yaml").is_file() and (root / "meta.json").is_file()


def foreign_entry(root: Path) -> str | None:
    """The first entry (sorted by name) of an existing folder that is not a run folder and holds something a run
    did not put there; None for a run folder, a missing or empty folder, or one holding only `BEFORE_A_RUN`."""
    if not root.is_dir() or is_run_folder(root):
        return None
    for entry in sorted(root.iterdir(), key=lambda path: path.name):
        if entry.name == LOCK_FILE and entry.is_file() and not entry.is_symlink():
            continue
        if entry.name == "supernet" and entry.is_dir() and not entry.is_symlink():
            continue
        if LEFT_BY_A_WRITER.fullmatch(entry.name) and entry.is_dir() and not entry.is_symlink():
            continue
        return entry.name
    return None


def check_output(root: Path) -> None:
    """Refuse, in one line, an output folder that a run may not write into: a file, or a folder of someone's
    own (`foreign_entry`)."""
    if root.exists() and not root.is_dir():
        raise UserInputError(f"{root}: is a file, expected a run folder (output)")
    found = foreign_entry(root)
    if found is not None:
        raise UserInputError(f"{root}: is not an hwnas run folder (no config.yaml and meta.json of a run) and holds "
                             f"{found}; a run writes config.yaml, meta.json, report.md, pareto.* and more there, so "
                             "choose a new output folder or empty this one")


def value_at(data: Any, path: str) -> Any:
    """The value at a key path of `differences` (`constraints.0.value`); `<absent>` where there is none."""
    for part in path.split("."):
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return "<absent>"
    return data


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[:limit - 3] + "..."


def describe_change(old: Any, new: Any, path: str) -> str:
    """`path: OLD in the run folder, NEW now`, values shortened to one line."""
    return f"{path}: {_short(value_at(old, path))} in the run folder, {_short(value_at(new, path))} now"


@dataclass
class Run:
    """A run directory and its config. `hw` is None for a measured device (`hardware: {measured: NAME}`), which
    has no simulator. Nothing is written until `open()`."""

    config: RunConfig
    config_dir: Path
    log: Callable[[str], None] = print
    root: Path = field(init=False)
    hw: AcceleratorConfig | None = field(init=False)
    target: str = field(init=False)
    changed: list[str] = field(init=False, default_factory=list)
    made_by: str | None = field(init=False, default=None)  # the hwnas that last wrote the folder's meta.json
    predictors_: dict = field(init=False, default_factory=dict)
    quality_predictor_: object = field(init=False, default=None)  # a QualityPredictor, when the search uses one
    summary_: dict | None = field(init=False, default=None)  # the verified front (`verify_front`), once searched

    def __post_init__(self) -> None:
        self.config.check_files(self.config_dir)
        self.root = Path(self.config.output)
        device = self.config.measured_device
        self.hw = None if device else self.config.accelerator(self.config_dir)
        self.target = f"measured device {device}" if device else self.hw.name

    def _upgrade_note(self) -> str:
        """`; made by hwnas OLD, this is hwnas NEW` when the folder was made by another version, else ''."""
        now = hwnas_version()
        if self.made_by and now and self.made_by != now:
            return f"; the run folder was made by hwnas {self.made_by}, this is hwnas {now}"
        return ""

    def open(self) -> None:
        """Claim the folder for this config: refuse it when it holds a run of another config (naming the first
        differing key, its old and new value), then write the resolved `config.yaml` and `meta.json`."""
        check_output(self.root)
        resolved = self.resolved()
        previous = self.root / "config.yaml"
        meta_path = self.root / "meta.json"
        try:  # only for the note on versions: a damaged meta.json is rewritten below
            meta = read_own(meta_path, "run record", WHAT_TO_DO) if meta_path.is_file() else {}
            versions = meta.get("versions") if isinstance(meta, dict) else None
            self.made_by = versions.get("hwnas") if isinstance(versions, dict) else None
            self.made_by = self.made_by if isinstance(self.made_by, str) else None
        except UserInputError:
            self.made_by = None
        if previous.is_file():
            stored = read_own(previous, "run config", WHAT_TO_DO)
            if not isinstance(stored, dict):
                raise UserInputError(f"{previous}: damaged run config (not a mapping of keys to values); "
                                     f"{WHAT_TO_DO}")
            stored = _with_new_defaults(self._with_moved_keys(stored, resolved), resolved)
            self.changed = differences(stored, resolved)
            fixed = [key for key in self.changed if key.split(".")[0] not in REDOABLE]
            if fixed:
                raise UserInputError(
                    f"{self.root}: holds a run of another config ({fixed[0]} differs; "
                    f"{describe_change(stored, resolved, fixed[0]).split(': ', 1)[1]}{self._upgrade_note()}; only "
                    f"{', '.join(REDOABLE)} may change in a run directory); {WHAT_TO_DO}")
            if self.changed:
                self.log(f"[config] changed since the last run: {', '.join(self.changed)}")
        self.root.mkdir(parents=True, exist_ok=True)
        atomic_write_text(previous, yaml.safe_dump(resolved, sort_keys=False))
        setting = self.config.setting(self.config_dir)
        atomic_write_json(meta_path, {
            "name": self.config.name, "versions": _versions(), "seeds": {
                "search": self.config.search.seed, "supernet": self.config.supernet.seed,
                "predictor": self.config.predictor.seed},
            "fingerprints": {"space": setting["space_fingerprint"], "hardware": setting["hardware_fingerprint"],
                             "workload": setting["workload_fingerprint"], "config": fingerprint(resolved)},
            "hardware": setting["hardware"]})

    def _with_moved_keys(self, stored: dict, resolved: dict) -> dict:
        """`stored` with the keys an earlier hwnas kept in the hardware moved where this one keeps them: a run
        folder made before the mapper left `AcceleratorConfig` holds `hardware.mapper` / `mapper_objective` (in
        an inline `hardware:` mapping, or a hardware space). When they are what this run maps with, the stored
        config is read as holding this run's `mapping:` section (the numbers are the same); otherwise the
        folder is refused naming `mapping.mapper` (or `mapping.objective`)."""
        now = {"mapper": self.config.mapping.mapper, "objective": self.config.mapping_objective}
        found: dict[str, Any] = {}
        stored = dict(stored)
        for section in ("hardware", "hardware_space"):
            if isinstance(stored.get(section), dict) and MOVED_TO_MAPPING.keys() & stored[section].keys():
                held = dict(stored[section])
                for old in MOVED_TO_MAPPING:
                    if old in held:
                        found.setdefault(old, (f"{section}.{old}", held.pop(old)))
                stored[section] = held
        if not found:
            return stored
        for old, (where, value) in found.items():
            new = MOVED_TO_MAPPING[old]
            if value != now[new]:
                hint = f"; write mapping: {{{new}: {value}}} in the run config to resume it" if isinstance(
                    value, str) and value in ("gemmini", "search", "cycles", "energy", "edp") else ""
                raise UserInputError(
                    f"{self.root}: holds a run of another config (mapping.{new} differs; {_short(value)} in the run "
                    f"folder (stored as {where} by an earlier hwnas), {now[new]} now{self._upgrade_note()}{hint}); "
                    f"{WHAT_TO_DO}")
        stored.setdefault("mapping", resolved["mapping"])
        return stored

    def resolved(self) -> dict:
        """The config with defaults filled in, the hardware inline and paths absolute: enough to rerun alone."""
        resolved = self.config.model_dump(mode="json")
        if self.config.codesign:  # the accelerator is searched: its fixed fields are the space's `extends`
            del resolved["hardware"]
            extends = self.config_dir / resolved["hardware_space"]["extends"]
            if extends.is_file():
                resolved["hardware_space"]["extends"] = str(extends.resolve())
            if self.config.arch is not None:
                resolved["arch"] = self.config.fixed_arch(self.config_dir).to_dict()
        elif self.hw is not None:
            resolved["hardware"] = self.hw.model_dump(mode="json")
        resolved["output"] = str(self.root.resolve())
        train = self.train_config()  # data, tokenizer and init_from as absolute paths: readable from anywhere
        resolved["supernet"].update({key: getattr(train, key) for key in PATH_KEYS})
        for section, key in (("predictor", "path"), ("supernet", "checkpoint")):
            if resolved[section][key]:
                resolved[section][key] = str((self.config_dir / resolved[section][key]).resolve())
        return resolved

    def train_config(self):
        """The supernet settings with `data`, `tokenizer` and `init_from` made absolute (relative to the config
        file), so that a run started from another directory reads the same files."""
        return resolve_paths(self.config.supernet, self.config_dir)

    # ---- the stage record -----------------------------------------------------------------------------------
    def stages(self) -> dict:
        """`stages.json`: per stage, the fingerprint of its inputs, the inputs themselves and the hwnas that ran
        it (folders of earlier versions hold the fingerprint alone)."""
        path = self.root / "stages.json"
        if not path.is_file():
            return {}
        advice = "delete it (finished stages are then redone)"
        stages = read_own(path, "stage record", advice)
        if not isinstance(stages, dict):
            raise UserInputError(f"{path}: damaged stage record (not a mapping of stages); {advice}")
        for name, entry in stages.items():
            if not isinstance(entry, str) and not (isinstance(entry, dict) and isinstance(entry.get("fingerprint"), str)):
                raise UserInputError(f"{path}: damaged stage record ({name}: expected a fingerprint, or a mapping "
                                     f"holding one); {advice}")
        return stages

    def recorded(self, name: str) -> str | None:
        """The fingerprint a stage was last run with, or None."""
        entry = self.stages().get(name)
        return entry.get("fingerprint") if isinstance(entry, dict) else entry

    def stage(self, name: str, inputs: dict, done: Callable[[], bool], work: Callable[[], None],
              redo: Callable[[], None] | None = None) -> str:
        """Run `work` unless `done()` and the recorded fingerprint matches; returns the stage's fingerprint.
        A stage recorded with other inputs is redone after `redo()` clears its old state when it has a `redo`
        (search, export, quality predictor), and refused otherwise (its outputs feed stages that would silently
        mix), naming the input that changed."""
        inputs = json.loads(json.dumps(inputs, default=str))
        fp = fingerprint(inputs)
        entry = self.stages().get(name)
        recorded = self.recorded(name)
        if recorded == fp and done():
            self.log(f"[{name}] up to date, skipped: outputs reused (inputs unchanged)")
            return fp
        if recorded is not None and recorded != fp:
            if redo is None:
                raise UserInputError(f"{self.root}: stage {name!r} was run with other inputs "
                                     f"({self._what_changed(entry, inputs, fp)}); {WHAT_TO_DO} to run with this "
                                     "config")
            why = [key for key in self.changed if key.split(".")[0] not in ("name", "output", "executor")]
            self.log(f"[{name}] redone: {', '.join(why) or 'an upstream stage'} changed")
            redo()
        self.root.mkdir(parents=True, exist_ok=True)
        stages = self.stages()
        stages[name] = {"fingerprint": fp, "inputs": inputs, "hwnas": hwnas_version()}
        atomic_write_json(self.root / "stages.json", stages)
        work()
        return fp

    def _what_changed(self, entry, inputs: dict, fp: str) -> str:
        now = hwnas_version()
        if isinstance(entry, dict) and "inputs" in entry:
            changes = differences(entry["inputs"], inputs)
            ran = entry.get("hwnas")
            note = f"; it was run by hwnas {ran}, this is hwnas {now}" if ran and now and ran != now else ""
            first = (describe_change(entry["inputs"], inputs, changes[0]) if changes else
                     f"the same inputs, fingerprinted {entry.get('fingerprint')} then and {fp} now")
            more = f" (and {len(changes) - 1} more)" if len(changes) > 1 else ""
            return f"{first}{more}{note}"
        old = entry.get("fingerprint") if isinstance(entry, dict) else entry
        return (f"fingerprint {old} in the run folder, {fp} now; this folder's record holds no inputs to compare, "
                f"so an upgrade that changed how they are fingerprinted looks the same as changed settings"
                f"{self._upgrade_note()}")


def _with_new_defaults(stored: dict, resolved: dict, model: type[BaseModel] = RunConfig) -> dict:
    """`stored` (an earlier run's config) with the settings a later hwnas added, at any depth, that this config
    leaves at their defaults: they change nothing, so a run made before them is not refused for lacking them."""
    added = {}
    for key, value in resolved.items():
        info = model.model_fields.get(key)
        if info is None:
            continue
        if key not in stored:
            default = info.get_default(call_default_factory=True)
            dumped = default.model_dump(mode="json") if isinstance(default, BaseModel) else default
            if json.loads(json.dumps(dumped)) == value:
                added[key] = value
        elif isinstance(value, dict) and isinstance(stored[key], dict):
            inner = next((t for t in (info.annotation, *get_args(info.annotation))
                          if isinstance(t, type) and issubclass(t, BaseModel)), None)
            if inner is not None:
                added[key] = _with_new_defaults(stored[key], value, inner)
    return {**stored, **added}
