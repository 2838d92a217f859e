"""`hwnas search` and `hwnas run`: the staged pipeline under a progress bar, and the front it found."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from nas.cli.base import app, console, progress, quiet_transformers, user_errors, user_named
from userfiles import UserInputError


@app.command()
@user_errors
def search(
    config: Optional[Path] = typer.Argument(None, help="a run config (YAML), e.g. searches/demo.yaml"),
    resume: Optional[Path] = typer.Option(None, help="continue the run in this directory (its config.yaml)"),
) -> None:
    """Search the Pareto front: latency data, predictor, supernet, NSGA-II, verification on the simulator.
    Stages already done with the same settings are reused; an interrupted run resumes where it stopped; a
    changed search, constraints or export section redoes only the search. Exits with 2 when no candidate met
    the constraints (the files are written, with the closest candidates), so a script does not export nothing."""
    run_config, config_dir = _run_config(config, resume)  # first: a broken config fails before any heavy import
    from nas.pipeline import run_search

    run, result = _with_search_progress(
        run_config, lambda log, show: run_search(run_config, config_dir, log, show),
        f"resume with `hwnas search --resume {run_config.output}`")
    _print_front(run, result)


def _with_search_progress(run_config, pipeline, resume_hint: str):
    """Run `pipeline(log, on_generation)` under a per-generation progress bar; Ctrl-C leaves a resumable run."""
    with progress() as bar:
        task = bar.add_task("search", total=run_config.search.generations + 1)

        def show(entry: dict) -> None:
            bar.update(task, completed=entry["generation"] + 1, description=(
                f"generation {entry['generation']}: front {entry['front_size']}, hypervolume "
                f"{entry['hypervolume']:.4g}, {entry['evaluations']} evaluated"))

        try:
            return pipeline(lambda message: bar.console.print(message, markup=False), show)
        except KeyboardInterrupt:
            typer.echo(f"interrupted: {resume_hint}", err=True)
            raise typer.Exit(130) from None


def _run_config(config: Optional[Path], resume: Optional[Path]):
    from nas.config import load_run_config

    if (config is None) == (resume is None):
        raise UserInputError("give a config file, or --resume DIR (not both)")
    if resume is not None:
        if not (resume / "config.yaml").is_file():
            raise UserInputError(f"{resume}: not a run directory (no config.yaml)")
        # the run continues where it lies, even if the directory was moved since its config was stored
        user_named(resume)
        return load_run_config(resume / "config.yaml").model_copy(update={"output": str(resume)}), resume
    run_config = load_run_config(config)
    user_named(run_config.output)
    return run_config, config.parent


def _print_front(run, result) -> None:
    """The front as a table; when it is empty, the closest candidates from pareto.json, and then the one-line
    error (exit code 2) that says nothing met the constraints."""
    names = [o.name for o in run.config.objectives]
    pareto = run.root / "pareto.json"
    if result.front:
        title, columns = f"Pareto front: {len(result.front)} architectures ({pareto})", ("#", "architecture", *names)
        rows = [(str(i), arch.describe(), *(f"{record[n]:.4g}" for n in names))
                for i, (arch, record) in enumerate(result.front)]
    else:
        closest = json.loads(pareto.read_text())["closest"]
        title, columns = "closest candidates (least violation)", ("architecture", "violation", *names)
        rows = [(c["describe"], f"{c['violation']:.3g}",
                 *("-" if c["objectives"][n] is None else f"{c['objectives'][n]:.4g}" for n in names))
                for c in closest]
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    console.print(table)
    if not result.front:
        why = (f"met the constraints ({', '.join(map(str, run.config.constraints))})" if run.config.constraints
               else "had a finite value for every objective")
        from nas.pipeline.problem import infeasibility

        if infeasibility(run) is not None:
            why += (" and could run the workload (a design's own violation: the share by which the model overflows "
                    "its DRAM capacity, or 1 when its datapath lacks the precision or weight width)")
        raise UserInputError(f"no candidate {why}; the {len(rows)} closest are listed above and in {pareto}")


@app.command()
@user_errors
def run(config: Path = typer.Argument(..., help="a run config (YAML), e.g. searches/demo.yaml")) -> None:
    """The whole pipeline: latency data, predictor, supernet, search, verification, export, report.md.
    Exits with 2 when no candidate met the constraints (report.md and pareto.json list the closest ones)."""
    from nas.config import load_run_config

    run_config = load_run_config(config)  # first, before torch is imported: a broken config fails in a moment
    user_named(run_config.output)
    from nas.pipeline import run_all

    quiet_transformers()
    outcome = _with_search_progress(run_config, lambda log, show: run_all(run_config, config.parent, log, show),
                                    f"run the same command to resume ({run_config.output})")
    console.print(f"report: {outcome['report']}")
    chosen, largest = outcome["chosen"], outcome["largest"]
    if chosen:
        console.print(f"chosen: {chosen['describe']}: {chosen['latency_ms']:.3f} ms vs {largest['latency_ms']:.3f} ms "
                      f"for the largest ({largest['latency_ms'] / chosen['latency_ms']:.2f}x faster), "
                      f"{chosen['quality_name']} {chosen['quality']:.4g} vs {largest['quality']:.4g}")
    _print_front(outcome["run"], outcome["result"])

