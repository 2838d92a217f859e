"""`hwnas simulate`: one architecture on one accelerator, and where the time goes."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from pydantic import ValidationError
from rich import box
from rich.table import Table

from nas.cli.base import app, console, load_arch, user_errors
from predictors.accelerator.area import estimate_area
from predictors.accelerator.footprint import check_capacity
from predictors.accelerator.hardware import DEFAULT_ACCELERATOR, AcceleratorConfig
from predictors.accelerator.mapper import DEFAULT_MAPPER, MAPPERS, OBJECTIVES
from predictors.accelerator.systolic import SystolicSimulator, energy_optimal_mj
from predictors.accelerator.workload import Workload
from supernet.family import FAMILIES
from supernet.space import reference_arch, reference_arch_names, reference_vocab
from userfiles import UserInputError, finite_json, validation_message


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
    hardware: str = typer.Option(DEFAULT_ACCELERATOR, help="preset name or a hardware YAML file"),
    model: Optional[str] = typer.Option(None, help=f"a reference model: {', '.join(reference_arch_names())}"),
    arch: Optional[Path] = typer.Option(None, help="an ArchConfig as JSON (or YAML) instead of --model"),
    seq_len: int = typer.Option(512, help="sequence length (prompt / KV-cache length for decode)"),
    phase: str = typer.Option("prefill", help="prefill | decode | generate"),
    batch: int = typer.Option(1),
    new_tokens: int = typer.Option(0, help="tokens to generate (phase generate)"),
    causal: Optional[bool] = typer.Option(None, "--causal/--encoder", help="decoder or encoder attention"),
    head: Optional[str] = typer.Option(None, help="lm | classifier (default: transformer blocks only)"),
    vocab_size: Optional[int] = typer.Option(None, help="vocabulary of head lm (default: --model's own, else 50257)"),
    num_classes: Optional[int] = typer.Option(None, help="classes of head classifier (default 2)"),
    weight_bits: Optional[int] = typer.Option(None, help="weight-only quantisation: 4 or 8 bits (default: the "
                                              "accelerator's input width)"),
    kv_cache_bits: Optional[int] = typer.Option(None, help="width of the KV cache read while decoding: 4, 8 or 16"),
    precision: Optional[str] = typer.Option(None, help="the format the array computes in, one of the accelerator's "
                                            "datapath formats (default: its native one)"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON (every GEMM's mapping included)"),
    plot: Optional[Path] = typer.Option(None, help="draw a roofline with every op on it to this file (.png, .pdf "
                                        "or .svg)"),
    mapper: str = typer.Option(DEFAULT_MAPPER, help=f"how GEMMs are mapped: {' | '.join(MAPPERS)} (gemmini: "
                               "the tiling Gemmini's software picks; search: the best for --mapper-objective)"),
    mapper_objective: str = typer.Option("cycles", help=f"what the search minimises: {' | '.join(OBJECTIVES)}"),
) -> None:
    """Simulate one architecture on one accelerator and print where the time goes and what bounds it."""
    if (model is None) == (arch is None):
        raise UserInputError("give exactly one of --model and --arch")
    if model is not None and model not in reference_arch_names():
        raise UserInputError(f"--model: unknown model {model!r}; expected one of: {', '.join(reference_arch_names())}")
    for option, value, needs in (("--vocab-size", vocab_size, "lm"), ("--num-classes", num_classes, "classifier")):
        if value is not None and head != needs:
            raise UserInputError(f"{option} sizes the output layer of --head {needs}; this simulation has "
                                 f"{'no head' if head is None else f'--head {head}'}")
    num_classes = 2 if num_classes is None else num_classes
    architecture = reference_arch(model) if model else load_arch(arch)
    if causal is None and architecture.family is not None:
        causal = FAMILIES[architecture.family].causal  # a decoder family's prompt is causal unless told otherwise
    if vocab_size is None:
        vocab_size = reference_vocab(model) if model else 50257
    hw = AcceleratorConfig.resolve(hardware)
    workload = _workload(phase=phase, seq_len=seq_len, batch=batch, new_tokens=new_tokens, causal=causal,
                         head=head, vocab_size=vocab_size, num_classes=num_classes, weight_bits=weight_bits,
                         kv_cache_bits=kv_cache_bits, precision=precision)
    try:
        workload.check_widths(hw)
    except UserInputError as exc:
        raise UserInputError(f"{'--precision' if precision and precision not in hw.formats else '--weight-bits'}: "
                             f"{exc}") from None
    footprint = check_capacity(hw, architecture, workload)
    if plot is not None:
        from predictors.accelerator.roofline import plot_format

        plot_format(plot)  # before the simulation: a name it cannot write is refused at once
    if mapper not in MAPPERS or mapper_objective not in OBJECTIVES:
        raise UserInputError(f"--mapper {mapper!r} / --mapper-objective {mapper_objective!r}: expected one of "
                             f"{', '.join(MAPPERS)} / {', '.join(OBJECTIVES)}")
    simulator = SystolicSimulator(hw, mapper=mapper, objective=mapper_objective)
    report = simulator.simulate(architecture, workload)
    area = estimate_area(hw)
    efficiency = {"inferences_per_s_per_mm2": 1e3 / report.latency_ms / area.total_mm2, "power_mw": report.power_mw,
                  "static_mw": simulator.cost.static_mw}
    mapping = _mapping_record(hw, architecture, workload, simulator, report)
    if plot is not None:
        from predictors.accelerator.roofline import plot_roofline

        plot_roofline(report, hw, plot, f"{model or arch} on {hw.name}: {workload.describe()}")
    if as_json:
        payload = {"hardware": hw.name, "hardware_fingerprint": hw.fingerprint(), "arch": architecture.to_dict(),
                   "workload": workload.model_dump(), **report.to_dict(), "area": area.to_dict(), **efficiency,
                   "mapping": mapping, "memory": _memory_record(hw), "dram_footprint": footprint.to_dict(),
                   "fold_overlap": hw.fold_overlap}
        for gemm in payload["gemms"]:  # which rule or objective chose each GEMM's mapping
            gemm["mapped_for"] = ("gemmini software tiling (cycles)" if not gemm["mapping"]["keeps_a"]
                                  else f"searched for {simulator.objective} ({simulator.mapper.name} mapper)")
        typer.echo(finite_json(payload, indent=2))
        return
    _print_report(report, hw, f"{model or arch} on {hw.name}: {workload.describe()}")
    console.print(_memory_line(hw, footprint))
    console.print(f"mapping: {mapping['mapper']} for {mapping['objective']}: {report.energy_mj:.4g} mJ; the "
                  f"energy-optimal mapping of every GEMM would spend {mapping['energy_optimal_mj']:.4g} mJ (these "
                  f"mappings spend {mapping['energy_gap']:.1%} more)")
    console.print("dataflows ranked under fold_overlap: " + (
        "true (a second weight register per PE: every weight-tile reload of WS hides under the current fold)"
        if hw.fold_overlap else "false (each fold waits for its weights or operands to shift in)"))
    console.print(f"area {area.total_mm2:.3f} mm^2 at {area.node_nm} nm (static {simulator.cost.static_mw:.2f} mW) | average "
                  f"power {efficiency['power_mw']:.1f} mW | {efficiency['inferences_per_s_per_mm2']:,.1f} inferences/s "
                  "per mm^2")
    if plot is not None:
        console.print(f"roofline written to {plot}")


def _mapping_record(hw: AcceleratorConfig, arch, workload: Workload, simulator: SystolicSimulator, report) -> dict:
    """The mapper and objective that chose the mappings, and the energy the energy-optimal mappings would spend
    (`energy_optimal_mj`)."""
    optimal = energy_optimal_mj(hw, arch, workload, report.energy_mj)
    return {"mapper": simulator.mapper.name, "objective": simulator.objective, "energy_optimal_mj": optimal,
            "energy_gap": report.energy_mj / optimal - 1 if optimal else 0.0}


def _memory_record(hw: AcceleratorConfig) -> dict:
    if hw.memory is None:
        return {"declared": False, "dram_bytes_per_cycle": hw.dram_bytes_per_cycle,
                "dram_pj_per_byte": hw.energy.dram_pj_per_byte}
    return {"declared": True, **hw.memory.model_dump(exclude_none=True), "gb_per_s": hw.memory.gb_per_s,
            "dram_bytes_per_cycle": hw.dram_bytes_per_cycle, "capacity_bytes": hw.memory.capacity_bytes,
            "pj_per_byte": hw.memory.pj_per_byte, "static_mw": hw.memory.static_mw}


def _memory_line(hw: AcceleratorConfig, footprint) -> str:
    need = f"the model needs {footprint.total / 2**30:.2f} GiB in DRAM"
    if hw.memory is None:
        return (f"memory: none declared: the bus ({hw.dram_bytes_per_cycle:g} B/cycle, "
                f"{hw.energy.dram_pj_per_byte:g} pJ/byte) is set by hand, with no interface area, power or capacity "
                f"check; {need}")
    return (f"memory: {hw.memory.describe()} = {hw.dram_bytes_per_cycle:.2f} B/cycle at {hw.clock_mhz:g} MHz; {need} "
            f"of its {hw.memory.capacity_bytes / 2**30:g}")


def _print_report(report, hw: AcceleratorConfig, title: str) -> None:
    """Where the time goes (per op group and layer, compute vs stall), what bounds each GEMM, and the energy."""
    from predictors.accelerator.attribution import LIMIT_TEXT, Limit

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

