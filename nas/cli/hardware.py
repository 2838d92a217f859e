"""`hwnas hardware list|show`: the built-in presets and every setting of one."""
from __future__ import annotations

import typer
import yaml
from rich.table import Table

from nas.cli.base import console, hardware_app, user_errors
from predictors.accelerator.area import estimate_area
from predictors.accelerator.hardware import SHOWN_KEYS, AcceleratorConfig, preset_names
from predictors.accelerator.cost import CostModel
from predictors.accelerator.vector_ops import SHARES_UNIT_OF
from userfiles import finite_json


@hardware_app.command("list")
def hardware_list() -> None:
    """The built-in accelerator presets."""
    table = Table(title="hardware presets")
    for column in ("name", "array", "dataflow", "scratchpad", "accumulator", "non-linear ops", "memory"):
        table.add_column(column, no_wrap=column == "name")
    for name in preset_names():
        hw = AcceleratorConfig.preset(name)
        places = {unit.where for unit in hw.vector_units.values()}
        table.add_row(name, f"{hw.rows}x{hw.cols}", hw.dataflow, f"{hw.scratchpad_kib:g} KiB",
                      f"{hw.accumulator_kib:g} KiB", "/".join(sorted(places)),
                      f"{hw.memory.count}x {hw.memory.technology}" if hw.memory else f"{hw.dram_bytes_per_cycle:g} B/cyc")
    console.print(table)
    console.print("details: hwnas hardware show NAME")


@hardware_app.command("show")
@user_errors
def hardware_show(
    name: str = typer.Argument(..., help="preset name or YAML file"),
    as_json: bool = typer.Option(False, "--json", help="print the settings as JSON, a hardware file that reads "
                                 "back, with the fingerprint, area and SRAM energies beside them"),
) -> None:
    """Every setting of a preset, as YAML or JSON (a starting point for your own accelerator file: either form
    reads back as a hardware file, the computed figures of the JSON form being recomputed, not read)."""
    hw = AcceleratorConfig.resolve(name)
    area = estimate_area(hw)
    e, model = hw.energy, CostModel(hw)
    sram = {"scratchpad": model.scratchpad_pj_per_byte, "accumulator": model.accumulator_pj_per_byte}
    if as_json:
        shown = dict(zip(SHOWN_KEYS, (hw.fingerprint(), area.to_dict(), sram)))
        typer.echo(finite_json({**hw.settings(), **shown}, indent=2))
        return
    typer.echo(f"# fingerprint: {hw.fingerprint()}")
    parts = ", ".join(f"{k} {v:.3f}" for k, v in area.breakdown.items())
    typer.echo(f"# area: {area.total_mm2:.3f} mm^2 at {area.node_nm} nm ({parts}); static power {area.static_mw:.2f} mW"
               + ("" if e.static_mw is None else f" (energy.static_mw overrides it: {e.static_mw:g} mW)"))
    typer.echo(f"# SRAM access: scratchpad {sram['scratchpad']:.2f} pJ/byte at {hw.scratchpad_kib:g} KiB, "
               f"accumulator {sram['accumulator']:.2f} pJ/byte at {hw.accumulator_kib:g} KiB")
    typer.echo("# MAC: " + ", ".join(f"{name} {CostModel(hw, name).mac_pj:.3f} pJ" for name in hw.formats)
               + f" at {hw.node_nm} nm (figures for {e.figures_node_nm} nm, scaled)")
    if hw.memory is None:
        typer.echo(f"# memory: none declared: dram_bytes_per_cycle {hw.dram_bytes_per_cycle:g} and "
                   f"{e.dram_pj_per_byte:g} pJ/byte are set by hand (a measured device, or a port into a shared L2); "
                   "no interface area, static power or capacity check")
    else:
        typer.echo(f"# memory: {hw.memory.describe()}: {hw.dram_bytes_per_cycle:.2f} B/cycle and a "
                   f"{hw.dram_latency_cycles:.0f}-cycle latency at {hw.clock_mhz:g} MHz, {hw.memory.static_mw:g} mW "
                   "static (derived; not settable beside memory:)")
    shared = [f"{kind.value} on {hw.unit(kind).where} ({SHARES_UNIT_OF[kind].value}'s unit)"
              for kind in SHARES_UNIT_OF if kind not in hw.vector_units]
    if shared:
        typer.echo(f"# placed with their relatives: {', '.join(shared)}")
    typer.echo(yaml.safe_dump(hw.settings(), sort_keys=False).rstrip())

