"""A roofline of one simulated run: every op placed by its arithmetic intensity and the throughput it reached.

The roofs are the accelerator's own: the array's peak, the DRAM bus, and (when requests have a round trip) the
DMA queue's sustained rate. An op far below both roofs is bound by something else (fill/drain, a vector unit,
the host); one on a slanted roof is bound by that link. GEMMs count 2 operations per MAC; vector ops one per
element, so they sit low by construction. Ops that move no DRAM bytes (fused, or kept on chip) sit at the
right edge.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from predictors.accelerator.hardware import AcceleratorConfig
from predictors.accelerator.systolic import SimReport
from userfiles import UserInputError, atomic_write

# What the roofline can be written as, by the file's extension: matplotlib's raster and vector backends.
PLOT_FORMATS = ("png", "pdf", "svg")


@dataclass(frozen=True)
class RooflinePoint:
    name: str
    group: str
    ops: float
    dram_bytes: float
    cycles: float

    @property
    def intensity(self) -> float:
        return self.ops / self.dram_bytes if self.dram_bytes else float("inf")

    @property
    def throughput(self) -> float:
        return self.ops / self.cycles if self.cycles else 0.0


def roofline_points(report: SimReport) -> list[RooflinePoint]:
    """One point per op of the run (per layer; decode steps included) with work and cycles."""
    points = []
    for _, op in report.ops:
        ops = 2.0 * op.macs if op.gemm is not None else float(op.elements)
        if ops and op.cycles:
            points.append(RooflinePoint(op.name, op.group, ops, op.dram_bytes, op.cycles))
    return points


def plot_format(path: str | Path) -> str:
    """The format a roofline is written in, from `path`'s extension; any other extension is refused, since a
    `.pdf` holding PNG bytes (what writing one format under every name gives) opens nowhere."""
    suffix = Path(path).suffix.lower().removeprefix(".")
    if suffix not in PLOT_FORMATS:
        raise UserInputError(f"--plot {path}: the roofline is written as {', '.join(PLOT_FORMATS)}, by the file's "
                             f"extension; {'.' + suffix if suffix else 'no extension'} is none of them")
    return suffix


def plot_roofline(report: SimReport, hw: AcceleratorConfig, path: str | Path, title: str) -> Path:
    """Draw the roofline with every op of `report` on it and write it atomically, in the format that the file's
    extension names (`plot_format`)."""
    fmt = plot_format(path)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = roofline_points(report)
    finite = [p.intensity for p in points if p.dram_bytes]
    right = max(finite + [2.0 * hw.peak_macs_per_cycle / hw.dram_bytes_per_cycle]) * 4
    left = min(finite + [1.0]) / 4
    peak = 2.0 * hw.peak_macs_per_cycle
    fig, ax = plt.subplots(figsize=(8, 5.5))
    xs = [left * (right / left) ** (i / 200) for i in range(201)]
    ax.plot(xs, [min(peak, hw.dram_bytes_per_cycle * x) for x in xs], color="black",
            label=f"array {peak:,.0f} ops/cycle, bus {hw.dram_bytes_per_cycle:g} B/cycle")
    if hw.dram_latency_cycles:
        queue = hw.dma_inflight_requests * hw.dma_request_bytes / hw.dram_latency_cycles
        if queue < hw.dram_bytes_per_cycle:
            ax.plot(xs, [min(peak, queue * x) for x in xs], color="black", linestyle="--",
                    label=f"DMA queue {hw.dma_inflight_requests} x {hw.dma_request_bytes} B / "
                          f"{hw.dram_latency_cycles:g} cycles = {queue:.2f} B/cycle")
    groups = sorted({p.group for p in points})
    for group in groups:
        mine = [p for p in points if p.group == group]
        ax.scatter([min(p.intensity, right) for p in mine], [p.throughput for p in mine], s=14, alpha=0.6,
                   label=group)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("operations per DRAM byte (GEMMs: 2 per MAC; vector ops: 1 per element; right edge: no DRAM)")
    ax.set_ylabel("operations per cycle")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(True, which="both", alpha=0.2)
    fig.tight_layout()
    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, format=fmt))
    finally:
        plt.close(fig)
