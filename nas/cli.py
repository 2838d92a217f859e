"""The `hwnas` command line. Every user mistake ends as one line on stderr and exit code 2, never a traceback.

Modules that pull in pandas, scikit-learn, matplotlib or torch are imported inside the commands that need them,
so that `hwnas --help` and `hwnas simulate` start in a fraction of a second.
"""
from __future__ import annotations

import functools
import json
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Callable, Optional

import typer
import yaml
from pydantic import ValidationError
from typer.core import TyperGroup
from rich import box
from rich.console import Console
from rich.table import Table

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from predictors.area import estimate_area
from predictors.hardware import AcceleratorConfig, preset_names
from predictors.systolic import SystolicSimulator
from predictors.vector_ops import SHARES_UNIT_OF
from predictors.workload import Workload
from userfiles import UserInputError, finite_json, load_mapping, validation_message
from supernet.family import FAMILIES
from supernet.space import ArchConfig, reference_arch, reference_arch_names, reference_vocab, resolve_space



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


def user_errors(command: Callable) -> Callable:
    """Turn a `UserInputError` into `error: <one line>` and exit code 2. An OSError on a named path (a folder
    that is read-only, full or under /proc, a file where a folder goes, a file that cannot be read) is a
    mistake in the paths the user gave: one line naming the path. Any other exception is a bug: a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except UserInputError as exc:
            typer.echo(f"error: {' '.join(str(exc).split())}", err=True)
            raise typer.Exit(2) from None
        except OSError as exc:
            if exc.filename is None:
                raise
            paths = " -> ".join(str(name) for name in (exc.filename, exc.filename2) if name is not None)
            typer.echo(f"error: {paths}: {(exc.strerror or type(exc).__name__).lower()}", err=True)
            raise typer.Exit(2) from None

    return wrapper


def load_arch(path: Path) -> ArchConfig:
    try:
        return ArchConfig.from_dict(load_mapping(path))
    except UserInputError:
        raise
    except ValueError as exc:
        raise UserInputError(f"{path}: {exc}") from None


def _workload(**options) -> Workload:
    try:
        return Workload(**options)
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["loc"]:
            option = str(first["loc"][0]).replace("_", "-")
            raise UserInputError(f"--{option}: {first['msg'].removeprefix('Value error, ')}") from None
        raise UserInputError(validation_message(exc, "workload options")) from None


@app.command()
@user_errors
def simulate(
    hardware: str = typer.Option("gemmini-default", help="preset name or a hardware YAML file"),
    model: Optional[str] = typer.Option(None, help=f"a reference model: {', '.join(reference_arch_names())}"),
    arch: Optional[Path] = typer.Option(None, help="an ArchConfig as JSON (or YAML) instead of --model"),
    seq_len: int = typer.Option(512, help="sequence length (prompt / KV-cache length for decode)"),
    phase: str = typer.Option("prefill", help="prefill | decode | generate"),
    batch: int = typer.Option(1),
    new_tokens: int = typer.Option(0, help="tokens to generate (phase generate)"),
    causal: Optional[bool] = typer.Option(None, "--causal/--encoder", help="decoder or encoder attention"),
    head: Optional[str] = typer.Option(None, help="lm | classifier (default: transformer blocks only)"),
    vocab_size: Optional[int] = typer.Option(None, help="vocabulary of head lm (default: --model's own, else 50257)"),
    num_classes: int = typer.Option(2),
    weight_bits: Optional[int] = typer.Option(None, help="weight-only quantisation: 4 or 8 bits (default: the "
                                              "accelerator's input width)"),
    kv_cache_bits: Optional[int] = typer.Option(None, help="width of the KV cache read while decoding: 4, 8 or 16"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON (every GEMM's mapping included)"),
    plot: Optional[Path] = typer.Option(None, help="draw a roofline with every op on it to this PNG file"),
) -> None:
    """Simulate one architecture on one accelerator and print where the time goes and what bounds it."""
    if (model is None) == (arch is None):
        raise UserInputError("give exactly one of --model and --arch")
    if model is not None and model not in reference_arch_names():
        raise UserInputError(f"--model: unknown model {model!r}; expected one of: {', '.join(reference_arch_names())}")
    architecture = reference_arch(model) if model else load_arch(arch)
    if causal is None and architecture.family is not None:
        causal = FAMILIES[architecture.family].causal  # a decoder family's prompt is causal unless told otherwise
    if vocab_size is None:
        vocab_size = reference_vocab(model) if model else 50257
    hw = AcceleratorConfig.resolve(hardware)
    workload = _workload(phase=phase, seq_len=seq_len, batch=batch, new_tokens=new_tokens, causal=causal,
                         head=head, vocab_size=vocab_size, num_classes=num_classes, weight_bits=weight_bits,
                         kv_cache_bits=kv_cache_bits)
    simulator = SystolicSimulator(hw)
    report = simulator.simulate(architecture, workload)
    area = estimate_area(hw)
    efficiency = {"inferences_per_s_per_mm2": 1e3 / report.latency_ms / area.total_mm2, "power_mw": report.power_mw,
                  "static_mw": simulator.static_mw}
    if plot is not None:
        from predictors.roofline import plot_roofline

        plot_roofline(report, hw, plot, f"{model or arch} on {hw.name}: {workload.describe()}")
    if as_json:
        payload = {"hardware": hw.name, "hardware_fingerprint": hw.fingerprint(), "arch": architecture.to_dict(),
                   "workload": workload.model_dump(), **report.to_dict(), "area": area.to_dict(), **efficiency}
        typer.echo(finite_json(payload, indent=2))
        return
    _print_report(report, hw, f"{model or arch} on {hw.name}: {workload.describe()}")
    console.print(f"area {area.total_mm2:.3f} mm^2 at {area.node_nm} nm (static {simulator.static_mw:.2f} mW) | average "
                  f"power {efficiency['power_mw']:.1f} mW | {efficiency['inferences_per_s_per_mm2']:,.1f} inferences/s "
                  "per mm^2")
    if plot is not None:
        console.print(f"roofline written to {plot}")


def _print_report(report, hw: AcceleratorConfig, title: str) -> None:
    """Where the time goes (per op group and layer, compute vs stall), what bounds each GEMM, and the energy."""
    from predictors.attribution import LIMIT_TEXT, Limit

    table = Table(title=title)
    for column in ("op group", "cycles", "share", "compute", "stall"):
        table.add_column(column, justify="left" if column == "op group" else "right")
    for group, split in report.cycle_split().items():
        cycles = report.breakdown[group]
        if not cycles:  # a family without the op (GELU in Llama, RMSNorm in BERT) adds no row
            continue
        table.add_row(group, f"{cycles:,.0f}", f"{cycles / report.cycles:6.1%}", f"{split.compute:,.0f}",
                      f"{split.stall:,.0f}")
    table.add_row("total", f"{report.cycles:,.0f}", "100.0%", "", "", style="bold")
    console.print(table)
    gemms = Table(title="GEMMs: what bounds each (tile M x N x K in elements, loop order outermost first)",
                  box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("GEMM", "M x N x K", "cycles", "bound by", "B/cycle", "tile, order"):
        gemms.add_column(column, justify="left" if column in ("GEMM", "bound by", "tile, order") else "right",
                         no_wrap=True)
    for summary in report.gemms():
        g, mp = summary.report, summary.report.mapping
        gemms.add_row(summary.name, f"{g.m}x{g.n}x{g.k}", f"{g.cycles:,.0f}", g.limit.value,
                      f"{g.dram_bytes / g.cycles:.2f}",
                      f"{mp.tile_m}x{mp.tile_n}x{mp.tile_k} {mp.loop_order}")
    console.print(gemms)
    runs: dict[tuple[float, float], list[str]] = {}
    splits = report.layer_split()
    for i, split in enumerate(splits):
        if split.total:
            runs.setdefault((split.compute, split.stall), []).append("head" if i == len(splits) - 1 else str(i))
    console.print("compute / stall cycles per layer: " + "; ".join(
        f"{'layer' if len(names) == 1 else 'layers'} {','.join(names)}: {compute:,.0f} / {stall:,.0f}"
        for (compute, stall), names in runs.items()))
    limits = report.limits()
    console.print("bound by: " + "; ".join(f"{LIMIT_TEXT[limit]} {cycles / report.cycles:.1%}"
                                           for limit, cycles in limits.items()))
    if Limit.dma_queue in limits:
        queue = hw.dma_inflight_requests * hw.dma_request_bytes / hw.dram_latency_cycles
        console.print(f"the DMA queue sustains at most {hw.dma_inflight_requests} requests x {hw.dma_request_bytes} B "
                      f"/ {hw.dram_latency_cycles:g} cycles = {queue:.2f} B/cycle, below the "
                      f"{hw.dram_bytes_per_cycle:g} B/cycle bus: raise dma_inflight_requests, not the bus width")
    parts = report.energy_parts()
    console.print("energy by component: " + ", ".join(
        f"{name} {pj * 1e-9:.3f} mJ ({pj / parts.total:.0%})" for name, pj in parts.to_dict().items() if pj))
    console.print(
        f"latency {report.latency_ms:.3f} ms | energy {report.energy_mj:.3f} mJ | EDP {report.edp:.4g} mJ*ms | "
        f"utilisation {report.utilization:.1%} end to end, {report.matmul_utilization:.1%} in matmuls | "
        f"DRAM {report.dram_bytes / 2**20:,.1f} MiB (weights {report.dram_weight_bytes / 2**20:,.1f}, KV cache "
        f"{report.dram_kv_cache_bytes / 2**20:,.1f}) at {report.effective_dram_bytes_per_cycle:.2f} B/cycle effective")
    if report.output_tokens:
        console.print(f"prefill (time to first token) {report.time_to_first_token_ms:.3f} ms | decode "
                      f"{report.ms_per_output_token:.4f} ms per output token over {report.output_tokens:,} "
                      f"token{'s' if report.output_tokens > 1 else ''}")


@hardware_app.command("list")
def hardware_list() -> None:
    """The built-in accelerator presets."""
    table = Table(title="hardware presets")
    for column in ("name", "array", "dataflow", "scratchpad", "accumulator", "non-linear ops"):
        table.add_column(column)
    for name in preset_names():
        hw = AcceleratorConfig.preset(name)
        places = {unit.where for unit in hw.vector_units.values()}
        table.add_row(name, f"{hw.rows}x{hw.cols}", hw.dataflow, f"{hw.scratchpad_kib:g} KiB",
                      f"{hw.accumulator_kib:g} KiB", "/".join(sorted(places)))
    console.print(table)
    console.print("details: hwnas hardware show NAME")


@hardware_app.command("show")
@user_errors
def hardware_show(
    name: str = typer.Argument(..., help="preset name or YAML file"),
    as_json: bool = typer.Option(False, "--json", help="print the settings as JSON, with the fingerprint"),
) -> None:
    """Every setting of a preset, as YAML (a starting point for your own accelerator file)."""
    hw = AcceleratorConfig.resolve(name)
    area = estimate_area(hw)
    e, simulator = hw.energy, SystolicSimulator(hw)
    sram = {"scratchpad": simulator.scratchpad_pj_per_byte, "accumulator": simulator.accumulator_pj_per_byte}
    if as_json:
        typer.echo(finite_json({"fingerprint": hw.fingerprint(), **hw.model_dump(mode="json"), "area": area.to_dict(),
                                "sram_pj_per_byte": sram}, indent=2))
        return
    typer.echo(f"# fingerprint: {hw.fingerprint()}")
    parts = ", ".join(f"{k} {v:.3f}" for k, v in area.breakdown.items())
    typer.echo(f"# area: {area.total_mm2:.3f} mm^2 at {area.node_nm} nm ({parts}); static power {area.static_mw:.2f} mW"
               + ("" if e.static_mw is None else f" (energy.static_mw overrides it: {e.static_mw:g} mW)"))
    typer.echo(f"# SRAM access: scratchpad {sram['scratchpad']:.2f} pJ/byte at {hw.scratchpad_kib:g} KiB, "
               f"accumulator {sram['accumulator']:.2f} pJ/byte at {hw.accumulator_kib:g} KiB")
    shared = [f"{kind.value} on {hw.unit(kind).where} ({SHARES_UNIT_OF[kind].value}'s unit)"
              for kind in SHARES_UNIT_OF if kind not in hw.vector_units]
    if shared:
        typer.echo(f"# placed with their relatives: {', '.join(shared)}")
    typer.echo(yaml.safe_dump(hw.model_dump(mode="json"), sort_keys=False).rstrip())


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=console, transient=False)


@app.command("latency-data")
@user_errors
def latency_data(
    out: Path = typer.Option(..., help="the dataset file (.parquet, or .csv)"),
    space: str = typer.Option("nas-case-study", help="a named search space or a YAML file"),
    hardware: Optional[str] = typer.Option(None, help="preset name or hardware YAML (simulated data) "
                                           "[default: gemmini-ibert]"),
    hardware_space: Optional[Path] = typer.Option(None, help="a hardware space YAML: sample (architecture, "
                                                  "accelerator) pairs from both spaces, for a predictor "
                                                  "conditioned on hardware"),
    workload: str = typer.Option("phase=prefill,seq_len=512", help="key=value pairs or a YAML file"),
    samples: int = typer.Option(2000, help="architectures (or pairs, with --hardware-space) to simulate"),
    seed: int = typer.Option(0),
    executor_kind: str = typer.Option("process", "--executor", help="serial | process | ray"),
    workers: Optional[int] = typer.Option(None, min=1, help="worker processes (default: all cores)"),
    ray_address: Optional[str] = typer.Option(None, help="Ray cluster address, e.g. auto (executor ray)"),
    from_csv: Optional[Path] = typer.Option(None, help="import measured latencies instead of simulating"),
    device: Optional[str] = typer.Option(None, help="name of the measured device (with --from-csv)"),
    latency_column: str = typer.Option("latency_ms", help="the latency column of --from-csv"),
    strict: bool = typer.Option(False, help="refuse the whole CSV on the first malformed row"),
) -> None:
    """Sample architectures and simulate them into a dataset, or import measured latencies (--from-csv)."""
    from nas.parallel import executor
    from predictors.dataset import build_dataset, build_joint_dataset, import_measured_csv
    from predictors.hardware_space import HardwareSpace

    search_space = resolve_space(space)
    run_workload = Workload.parse(workload)
    if hardware_space is not None and (hardware is not None or from_csv is not None):
        raise UserInputError(f"--hardware-space samples the accelerators; it does not go with "
                             f"{'--hardware' if hardware is not None else '--from-csv'}")
    if from_csv is not None:
        if not device:
            raise UserInputError("--from-csv needs --device NAME (the hardware the latencies were measured on)")
        report = import_measured_csv(from_csv, out, search_space, device, run_workload, latency_column, strict)
        for problem in report.skipped:
            typer.echo(f"skipped {problem}", err=True)
        console.print(f"{out}: {report.rows} measured architectures ({len(report.skipped)} rows skipped)")
        return
    if executor_kind not in ("serial", "process", "ray"):
        raise UserInputError(f"--executor: expected serial, process or ray, got {executor_kind!r}")
    if hardware_space is not None:
        designs = HardwareSpace.from_yaml(hardware_space)  # before any worker starts: a bad file fails at once
        with executor(executor_kind, workers, ray_address) as pool, _progress() as bar:
            task = bar.add_task(f"simulating on {designs.size():,} designs", total=samples)
            frame = build_joint_dataset(search_space, designs, run_workload, samples, out, seed, pool.map,
                                        progress=lambda n: bar.advance(task, n))
        console.print(f"{out}: {len(frame)} (architecture, accelerator) pairs, {frame.hardware.nunique()} "
                      f"accelerators, latency {frame.latency_ms.min():.3f}-{frame.latency_ms.max():.3f} ms "
                      f"({run_workload.describe()})")
        return
    hw = AcceleratorConfig.resolve(hardware or "gemmini-ibert")
    with executor(executor_kind, workers, ray_address) as pool, _progress() as bar:
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
    out: Path = typer.Option(..., help="folder for the predictor, metrics.json and scatter.png"),
    model: str = typer.Option("gbm", help="gbm (boosted trees) | mlp (HAT: 3x400) | ensemble (5 MLPs, with spread)"),
    target: str = typer.Option("latency_ms", help="latency_ms | energy_mj"),
    seed: int = typer.Option(0, help="seed of the 80/10/10 split and of the model"),
) -> None:
    """Fit a predictor on a dataset and report its error on held-out architectures (on held-out accelerators,
    for a dataset made with --hardware-space)."""
    from predictors.evaluation import train_from_dataset

    if model not in ("mlp", "gbm", "ensemble"):
        raise UserInputError(f"--model: expected mlp, gbm or ensemble, got {model!r}")
    if target not in ("latency_ms", "energy_mj"):
        raise UserInputError(f"--target: expected latency_ms or energy_mj, got {target!r}")
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
    from predictors.evaluation import evaluate_on_dataset

    _print_metrics(f"{predictor} on {data}", {"all": evaluate_on_dataset(predictor, data)})


@supernet_app.command("train")
@user_errors
def supernet_train(config: Path = typer.Argument(..., help="a run config (YAML): its space and supernet sections")) -> None:
    """Train the supernet of a run config (resumes from the latest checkpoint when rerun)."""
    import os

    from nas.config import load_run_config

    run = load_run_config(config)  # first, before torch is imported: a broken config fails in a moment
    from supernet.train_config import resolve_paths
    from supernet.train import train_supernet

    out = Path(run.output) / "supernet"
    rank0 = os.environ.get("RANK", "0") == "0"
    with _progress() if rank0 else nullcontext() as bar:
        task = bar.add_task("supernet", total=run.supernet.steps) if bar else None

        def show(record: dict) -> None:
            bar.update(task, completed=record["step"], description=(
                f"supernet loss {record['loss_largest']:.3f} (largest) {record['loss_smallest']:.3f} (smallest), "
                f"{record['tokens_per_s']:,.0f} tok/s"))

        try:
            result = train_supernet(run.space, resolve_paths(run.supernet, config.parent), out,
                                    on_step=show if bar else None, log=lambda line: console.print(line, markup=False))
        except KeyboardInterrupt:
            typer.echo(f"interrupted: checkpoint saved in {out}; run the same command to resume", err=True)
            raise typer.Exit(130) from None
    if rank0 and result.history:
        last = result.history[-1]
        console.print(f"{out}: {last['step']} steps, loss {last['loss_largest']:.3f} (largest), "
                      f"{last['loss_smallest']:.3f} (smallest)")


@supernet_app.command("eval")
@user_errors
def supernet_eval(
    config: Path = typer.Argument(..., help="the run config the supernet was trained with"),
    arch: list[Path] = typer.Option(None, help="ArchConfig JSON files (default: largest and smallest)"),
) -> None:
    """Score sub-networks with their inherited weights on the fixed validation subset."""
    from nas.config import load_run_config

    run = load_run_config(config)  # first, before torch is imported: a broken config fails in a moment
    from nas.pipeline import supernet_dir
    from supernet.evaluate import SubnetEvaluator
    from supernet.store import load_supernet
    from supernet.tasks import load_task_data
    from supernet.train_config import resolve_paths

    model = load_supernet(supernet_dir(run, config.parent))
    archs = [load_arch(p) for p in arch] if arch else [model.space.largest(), model.space.smallest()]
    for a in archs:
        try:
            model.check(a)
        except ValueError as exc:
            raise UserInputError(str(exc)) from None
    evaluator = SubnetEvaluator(model, load_task_data(resolve_paths(run.supernet, config.parent)), run.supernet.seq_len,
                                run.supernet.batch_size, run.supernet.eval_windows)
    table = Table(title=f"inherited-weight quality ({run.supernet.eval_windows} validation windows)")
    for column in ("architecture", "params", "loss", "perplexity / accuracy"):
        table.add_column(column)
    for a, result in zip(archs, evaluator.evaluate(archs)):
        quality = f"{result['perplexity']:.2f}" if "perplexity" in result else f"{result['accuracy']:.1%}"
        table.add_row(a.describe(), f"{model.num_params(a):,}", f"{result['loss']:.4f}", quality)
    console.print(table)


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
    with _progress() as bar:
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
        return load_run_config(resume / "config.yaml").model_copy(update={"output": str(resume)}), resume
    return load_run_config(config), config.parent


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
        raise UserInputError(f"no candidate {why}; the {len(rows)} closest are listed above and in {pareto}")


@app.command()
@user_errors
def run(config: Path = typer.Argument(..., help="a run config (YAML), e.g. searches/demo.yaml")) -> None:
    """The whole pipeline: latency data, predictor, supernet, search, verification, export, report.md.
    Exits with 2 when no candidate met the constraints (report.md and pareto.json list the closest ones)."""
    from nas.config import load_run_config

    run_config = load_run_config(config)  # first, before torch is imported: a broken config fails in a moment
    from nas.pipeline import run_all

    _quiet_transformers()
    outcome = _with_search_progress(run_config, lambda log, show: run_all(run_config, config.parent, log, show),
                                    f"run the same command to resume ({run_config.output})")
    console.print(f"report: {outcome['report']}")
    chosen, largest = outcome["chosen"], outcome["largest"]
    if chosen:
        console.print(f"chosen: {chosen['describe']}: {chosen['latency_ms']:.3f} ms vs {largest['latency_ms']:.3f} ms "
                      f"for the largest ({largest['latency_ms'] / chosen['latency_ms']:.2f}x faster), "
                      f"{chosen['quality_name']} {chosen['quality']:.4g} vs {largest['quality']:.4g}")
    _print_front(outcome["run"], outcome["result"])


@app.command()
@user_errors
def export(
    run_dir: Path = typer.Argument(..., help="a run directory with pareto.json"),
    pick: Optional[int] = typer.Option(None, help="the front member to export (# in pareto.json)"),
    arch: Optional[Path] = typer.Option(None, help="or any ArchConfig JSON of the run's space"),
    fmt: str = typer.Option("hf", "--format", help="hf | torch | onnx"),
    out: Path = typer.Option(..., help="output folder"),
    stock: Optional[bool] = typer.Option(None, "--stock/--no-stock", help="hf: a stock BERT/GPT-2/Llama class, no remote "
                                         "code (default: whenever the shape allows; --stock: refuse other shapes)"),
) -> None:
    """Write a found sub-network as a standalone model with its inherited weights, checked against the supernet."""
    from nas.config import load_run_config
    from nas.pipeline import supernet_dir
    from supernet.export import export_subnet, stock_incompatibility
    from supernet.store import load_supernet, read_card
    from supernet.train_config import resolve_paths

    _quiet_transformers()
    if (pick is None) == (arch is None):
        raise UserInputError("give exactly one of --pick N and --arch FILE.json")
    if fmt not in ("hf", "torch", "onnx"):
        raise UserInputError(f"--format: expected hf, torch or onnx, got {fmt!r}")
    if not (run_dir / "config.yaml").is_file():
        raise UserInputError(f"{run_dir}: not a run directory (no config.yaml)")
    run_config = load_run_config(run_dir / "config.yaml")
    if run_config.space is None:
        raise UserInputError(f"{run_dir}: a hardware-only search has no network to export; its designs are "
                             f"{run_dir / 'hardware'}/<#>.yaml")
    # the supernet of this folder, wherever the run was when it was written (a moved or copied run included)
    run_config = run_config.model_copy(update={"output": str(run_dir)})
    if pick is not None:
        pareto_path = run_dir / "pareto.json"
        if not pareto_path.is_file():
            raise UserInputError(f"{run_dir}: no pareto.json yet; run `hwnas search` first")
        front = load_mapping(pareto_path).get("front")
        if not isinstance(front, list) or not all(isinstance(m, dict) and "arch" in m for m in front):
            raise UserInputError(f"{pareto_path}: not a Pareto front written by hwnas (no 'front' of architectures)")
        if not 0 <= pick < len(front):
            raise UserInputError(f"--pick: the front has {len(front)} members (0..{len(front) - 1}), not {pick}")
        chosen = ArchConfig.from_dict(front[pick]["arch"])
        found = {key: front[pick][key] for key in ("objectives", "hardware") if key in front[pick]}
    else:
        chosen, found = load_arch(arch), {}
    folder = supernet_dir(run_config, run_dir)
    model = load_supernet(folder)
    try:
        model.check(chosen)
    except ValueError as exc:
        raise UserInputError(f"{arch or f'--pick {pick}'}: {exc}") from None
    if stock and (fmt != "hf" or stock_incompatibility(chosen)):
        raise UserInputError(f"--stock: {stock_incompatibility(chosen) or 'only with --format hf'}")
    train = resolve_paths(run_config.supernet, run_dir).model_dump(exclude={"checkpoint"})
    record = export_subnet(model, chosen, out, fmt, stock=stock, extra={"train": train, "run": str(run_dir), **found},
                           labels=read_card(folder).get("labels"))
    check = f"max |diff| {record['max_abs_diff']:.1e}" if record["checked"] else "unchecked (no onnxruntime)"
    kind = " (stock transformers class)" if record["stock"] else " (modeling_hwnas.py: trust_remote_code)" \
        if fmt == "hf" else ""
    console.print(f"{out}: {chosen.describe()} as {fmt}{kind}, {record['params']:,} parameters, {check} against "
                  "the supernet")


@app.command()
@user_errors
def finetune(
    folder: Path = typer.Argument(..., help="a folder written by `hwnas export --format hf`"),
    steps: int = typer.Option(200, min=1),
    lr: Optional[float] = typer.Option(None, min=1e-12, help="default: the supernet's learning rate"),
    out: Optional[Path] = typer.Option(None, help="where the fine-tuned model goes (default: FOLDER/finetuned)"),
    data: Optional[str] = typer.Option(None, help="other data than the search's (a file, builtin or hf:NAME)"),
) -> None:
    """Train an exported sub-network alone and compare inherited with fine-tuned quality."""
    from supernet.finetune import finetune as run_finetune

    _quiet_transformers()
    with _progress() as bar:
        task = bar.add_task("fine-tuning: loading data and scoring the inherited weights", total=steps)

        def show(step: int, loss: float) -> None:
            bar.update(task, completed=step, description=f"fine-tuning: loss {loss:.3f}")

        result = run_finetune(folder, steps, lr, out, data, on_step=show)
    key = "perplexity" if "perplexity" in result["inherited"] else "accuracy"
    console.print(f"{result['out']}: {key} {result['inherited'][key]:.4g} inherited -> {result['finetuned'][key]:.4g} "
                  f"after {steps} steps alone (loss {result['inherited']['loss']:.4f} -> "
                  f"{result['finetuned']['loss']:.4f})")


def _quiet_transformers() -> None:
    """transformers' progress bars and load reports are noise in a CLI that checks the weights itself."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


if __name__ == "__main__":
    app()
