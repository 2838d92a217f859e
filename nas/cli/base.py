"""The `hwnas` application object, its command groups, and the one rule for errors: a user mistake ends as one
line on stderr with exit code 2, anything else is a bug and keeps its traceback.

Modules that pull in pandas, scikit-learn, matplotlib or torch are imported inside the commands that need them,
so that `hwnas --help` and `hwnas simulate` start in a fraction of a second.
"""
from __future__ import annotations

import functools
import sys
from contextvars import ContextVar
from pathlib import Path
from typing import Callable

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from typer.core import TyperGroup

from supernet.space import ArchConfig
from userfiles import UserInputError, load_mapping

# click's exceptions, wherever this typer takes click from (it vendors its own copy in recent versions)
_click_errors = sys.modules[typer.BadParameter.__module__]


class OneLineErrors(TyperGroup):
    """Usage mistakes (`--seq-len abc`, an unknown option, a missing argument, `--workers -1`) as one line,
    `error: ...`, exit code 2, like every other user mistake; click would print a usage box of several lines."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except getattr(_click_errors, "NoArgsIsHelpError", ()) as exc:  # plain `hwnas` or `hwnas hardware`
            exc.show()
            sys.exit(0)
        except _click_errors.UsageError as exc:
            typer.echo(f"error: {' '.join(exc.format_message().split())}", err=True)
            sys.exit(2)
        except _click_errors.ClickException as exc:
            typer.echo(f"error: {' '.join(exc.format_message().split())}", err=True)
            sys.exit(exc.exit_code)
        except typer.Abort:
            typer.echo("error: aborted", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(help="Hardware-aware NAS for transformers on systolic-array accelerators.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False, cls=OneLineErrors)
hardware_app = typer.Typer(help="List and show accelerator presets.", no_args_is_help=True)
app.add_typer(hardware_app, name="hardware")
predictor_app = typer.Typer(help="Train and evaluate learned latency/energy predictors.", no_args_is_help=True)
app.add_typer(predictor_app, name="predictor")
supernet_app = typer.Typer(help="Train and evaluate the weight-shared supernet.", no_args_is_help=True)
app.add_typer(supernet_app, name="supernet")
console = Console()


_NAMED_IN_FILES: ContextVar[list[Path]] = ContextVar("named_in_files")


def user_named(path: str | Path) -> None:
    """Record a path the user named inside a file they gave (a run config's `output`), so that an OSError on it
    is their mistake too."""
    _NAMED_IN_FILES.get().append(Path(path).absolute())


def _named_paths(values) -> list[Path]:
    """The paths a command was given: every Path argument, and every string one that exists on disk (a
    `--hardware` preset name is a string too, and names no file)."""
    found = []
    for value in values:
        for item in value if isinstance(value, (list, tuple)) else (value,):
            if isinstance(item, Path) or (isinstance(item, str) and item and Path(item).exists()):
                found.append(Path(item).absolute())
    return found


def _names_a_given_path(exc: OSError, given: list[Path]) -> bool:
    """Whether an OSError is about a path the user named: the path itself, something inside it (a file of a
    given folder), or a folder on the way to it (a parent that is a file, or under /proc)."""
    for name in (exc.filename, exc.filename2):
        if not isinstance(name, (str, Path)):
            continue
        failed = Path(name).absolute()
        if any(failed == path or path in failed.parents or failed in path.parents for path in given):
            return True
    return False


def user_errors(command: Callable) -> Callable:
    """Turn a `UserInputError` into `error: <one line>` and exit code 2. An OSError on a path the user named (a
    folder that is read-only, full or under /proc, a file where a folder goes, a file that cannot be read) is a
    mistake in the paths they gave: one line naming the path. Any other exception, an OSError on a path of our
    own included, is a bug and keeps its traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        named = _NAMED_IN_FILES.set([])
        try:
            return command(*args, **kwargs)
        except UserInputError as exc:
            typer.echo(f"error: {' '.join(str(exc).split())}", err=True)
            raise typer.Exit(2) from None
        except OSError as exc:
            if not _names_a_given_path(exc, _named_paths([*args, *kwargs.values()]) + _NAMED_IN_FILES.get()):
                raise
            paths = " -> ".join(str(name) for name in (exc.filename, exc.filename2) if name is not None)
            typer.echo(f"error: {paths}: {(exc.strerror or type(exc).__name__).lower()}", err=True)
            raise typer.Exit(2) from None
        finally:
            _NAMED_IN_FILES.reset(named)

    return wrapper


def load_arch(path: Path) -> ArchConfig:
    try:
        return ArchConfig.from_dict(load_mapping(path))
    except UserInputError:
        raise
    except ValueError as exc:
        raise UserInputError(f"{path}: {exc}") from None


def progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=console, transient=False)


def quiet_transformers() -> None:
    """transformers' progress bars and load reports are noise in a CLI that checks the weights itself."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()

