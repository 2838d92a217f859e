"""`hwnas latency-data` and `hwnas predictor train|eval`: datasets of simulated or measured latencies, and the
regressors learned from them."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from nas.cli.base import app, console, predictor_app, progress, user_errors
from predictors.accelerator.hardware import DEFAULT_ACCELERATOR, AcceleratorConfig
from predictors.accelerator.workload import Workload
from supernet.space import resolve_space
from userfiles import UserInputError, refuse_overwriting_inputs


def _refuse_what_does_not_apply(importing: bool, simulating_only: dict, importing_only: dict) -> None:
    """Options of the other way of making a dataset are refused, not ignored: a `--seed` given to an import, or a
    `--latency-column` to a simulation, says the user expects something this command will not do."""
    wrong, way = (simulating_only, "--from-csv imports measured rows") if importing else (
        importing_only, "without --from-csv the rows are simulated")
    given = [option for option, value in wrong.items() if value is not None]
    if given:
        raise UserInputError(f"{given[0]}: does not apply here ({way})")


@app.command("latency-data")
@user_errors
def latency_data(
    out: Path = typer.Option(..., help="the dataset file (.parquet, or .csv)"),
    space: str = typer.Option("nas-case-study", help="a named search space or a YAML file"),
    hardware: Optional[str] = typer.Option(None, help="preset name or hardware YAML (simulated data) "
                                           f"[default: {DEFAULT_ACCELERATOR}]"),
    hardware_space: Optional[Path] = typer.Option(None, help="a hardware space YAML: sample (architecture, "
                                                  "accelerator) pairs from both spaces, for a predictor "
                                                  "conditioned on hardware"),
    workload: str = typer.Option("phase=prefill,seq_len=512", help="key=value pairs or a YAML file"),
    samples: Optional[int] = typer.Option(None, help="architectures (or pairs, with --hardware-space) to simulate "
                                          "[default: 2000]"),
    seed: Optional[int] = typer.Option(None, help="of the sampling [default: 0]"),
    executor_kind: Optional[str] = typer.Option(None, "--executor", help="serial | process | ray [default: process]"),
    workers: Optional[int] = typer.Option(None, min=1, help="worker processes (default: all cores)"),
    ray_address: Optional[str] = typer.Option(None, help="Ray cluster address, e.g. auto (executor ray)"),
    from_csv: Optional[Path] = typer.Option(None, help="import measured latencies instead of simulating"),
    device: Optional[str] = typer.Option(None, help="name of the measured device (with --from-csv)"),
    latency_column: Optional[str] = typer.Option(None, help="the latency column of --from-csv [default: latency_ms]"),
    strict: Optional[bool] = typer.Option(None, "--strict/--no-strict", help="refuse the whole CSV on the first "
                                          "malformed row (with --from-csv) [default: no-strict]"),
) -> None:
    """Sample architectures and simulate them into a dataset, or import measured latencies (--from-csv)."""
    from nas.parallel import executor
    from predictors.accelerator.hardware_space import HardwareSpace
    from predictors.learned.dataset import build_dataset, build_joint_dataset, import_measured_csv

    _refuse_what_does_not_apply(from_csv is not None, {
        "--samples": samples, "--seed": seed, "--executor": executor_kind, "--workers": workers,
        "--ray-address": ray_address}, {"--device": device, "--latency-column": latency_column, "--strict": strict})
    samples, seed, executor_kind = 2000 if samples is None else samples, seed or 0, executor_kind or "process"
    if ray_address is not None and executor_kind != "ray":
        raise UserInputError(f"--ray-address: names a Ray cluster; it applies only with --executor ray, not "
                             f"{executor_kind}")
    if workers is not None and executor_kind == "serial":
        raise UserInputError("--workers: --executor serial runs in this process; give --executor process for workers")
    named_files = [Path(value) for value in (space, hardware, workload) if value and Path(value).is_file()]
    refuse_overwriting_inputs(out, from_csv, hardware_space, *named_files, replaces_folder=False)
    search_space = resolve_space(space)
    run_workload = Workload.parse(workload)
    if hardware_space is not None and (hardware is not None or from_csv is not None):
        raise UserInputError(f"--hardware-space samples the accelerators; it does not go with "
                             f"{'--hardware' if hardware is not None else '--from-csv'}")
    if from_csv is not None:
        if not device:
            raise UserInputError("--from-csv needs --device NAME (the hardware the latencies were measured on)")
        if hardware is not None:  # measured rows are the device's; a simulated accelerator would only mislabel them
            raise UserInputError("--hardware names a simulated accelerator; measured latencies (--from-csv) are "
                                 "the device's: name it with --device and drop --hardware")
        report = import_measured_csv(from_csv, out, search_space, device, run_workload,
                                     latency_column or "latency_ms", bool(strict))
        for problem in report.skipped:
            typer.echo(f"skipped {problem}", err=True)
        console.print(f"{out}: {report.rows} measured architectures ({len(report.skipped)} rows skipped)")
        return
    if executor_kind not in ("serial", "process", "ray"):
        raise UserInputError(f"--executor: expected serial, process or ray, got {executor_kind!r}")
    if hardware_space is not None:
        designs = HardwareSpace.from_yaml(hardware_space)  # before any worker starts: a bad file fails at once
        with executor(executor_kind, workers, ray_address) as pool, progress() as bar:
            task = bar.add_task(f"simulating on {designs.size():,} designs", total=samples)
            frame = build_joint_dataset(search_space, designs, run_workload, samples, out, seed, pool.map,
                                        progress=lambda n: bar.advance(task, n))
        console.print(f"{out}: {len(frame)} (architecture, accelerator) pairs, {frame.hardware.nunique()} "
                      f"accelerators, latency {frame.latency_ms.min():.3f}-{frame.latency_ms.max():.3f} ms "
                      f"({run_workload.describe()})")
        return
    hw = AcceleratorConfig.resolve(hardware or DEFAULT_ACCELERATOR)
    run_workload.check_widths(hw)  # before the progress bar: a refused setting prints nothing else
    with executor(executor_kind, workers, ray_address) as pool, progress() as bar:
        task = bar.add_task(f"simulating on {hw.name}", total=min(samples, search_space.size()))
        frame = build_dataset(search_space, hw, run_workload, samples, out, seed, pool.map,
                              progress=lambda n: bar.advance(task, n))
    console.print(f"{out}: {len(frame)} architectures, latency {frame.latency_ms.min():.3f}-"
                  f"{frame.latency_ms.max():.3f} ms on {hw.name} ({run_workload.describe()})")


def _print_metrics(title: str, metrics: dict) -> None:
    table = Table(title=title)
    for column in ("split", "n", "MAPE", "max error", "Kendall tau", "within 5%", "within 10%", "RMSE"):
        table.add_column(column, justify="right")
    for split, m in metrics.items():
        table.add_row(split, str(m["n"]), f"{m['mape']:.3%}", f"{m['max_rel_error']:.2%}", f"{m['kendall_tau']:.4f}",
                      f"{m['within_5pct']:.1%}", f"{m['within_10pct']:.1%}", f"{m['rmse']:.4g}")
    console.print(table)


@predictor_app.command("train")
@user_errors
def predictor_train(
    data: Path = typer.Option(..., help="a dataset from `hwnas latency-data`"),
    out: Path = typer.Option(..., help="folder for the predictor, metrics.json and scatter.png (a new one, or one "
                             "hwnas wrote: it is replaced whole)"),
    model: str = typer.Option("gbm", help="gbm (boosted trees) | mlp (HAT: 3x400) | ensemble (5 MLPs, with spread)"),
    target: str = typer.Option("latency_ms", help="latency_ms | energy_mj"),
    seed: int = typer.Option(0, help="seed of the 80/10/10 split and of the model"),
) -> None:
    """Fit a predictor on a dataset and report its error on held-out architectures (on held-out accelerators,
    for a dataset made with --hardware-space)."""
    from predictors.learned.evaluation import train_from_dataset

    if model not in ("mlp", "gbm", "ensemble"):
        raise UserInputError(f"--model: expected mlp, gbm or ensemble, got {model!r}")
    if target not in ("latency_ms", "energy_mj"):
        raise UserInputError(f"--target: expected latency_ms or energy_mj, got {target!r}")
    refuse_overwriting_inputs(out, data)  # `out` is written whole: it may not be or hold the dataset
    metrics = train_from_dataset(data, out, model, target, seed)
    _print_metrics(f"{model} predictor of {target}: {out}",
                   {split: metrics[split] for split in ("train", "val", "test") if split in metrics})


@predictor_app.command("eval")
@user_errors
def predictor_eval(
    predictor: Path = typer.Argument(..., help="a folder written by `hwnas predictor train`"),
    data: Path = typer.Option(..., help="a dataset for the same space, hardware (or hardware space) and workload"),
) -> None:
    """Score a saved predictor on every architecture of a dataset."""
    from predictors.learned.evaluation import evaluate_on_dataset

    _print_metrics(f"{predictor} on {data}", {"all": evaluate_on_dataset(predictor, data)})

