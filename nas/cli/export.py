"""`hwnas export` and `hwnas finetune`: a found sub-network as a standalone model, and training it alone."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from nas.cli.base import app, console, load_arch, progress, quiet_transformers, user_errors
from supernet.space import ArchConfig
from userfiles import UserInputError, load_mapping, refuse_overwriting_inputs


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

    quiet_transformers()
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
    # the run's own files, and the supernet (read whole, so nothing may be added inside it either)
    refuse_overwriting_inputs(out, run_dir / "config.yaml", run_dir / "pareto.json" if pick is not None else arch,
                              folders=(folder,))
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
    out: Optional[Path] = typer.Option(None, help="where the fine-tuned model goes (default: FOLDER-finetuned, "
                                       "beside FOLDER, which is left as it is)"),
    data: Optional[str] = typer.Option(None, help="other data than the search's (a file, builtin or hf:NAME)"),
) -> None:
    """Train an exported sub-network alone and compare inherited with fine-tuned quality."""
    from supernet.finetune import finetune as run_finetune

    quiet_transformers()
    with progress() as bar:
        task = bar.add_task("fine-tuning: loading data and scoring the inherited weights", total=steps)

        def show(step: int, loss: float) -> None:
            bar.update(task, completed=step, description=f"fine-tuning: loss {loss:.3f}")

        result = run_finetune(folder, steps, lr, out, data, on_step=show)
    key = "perplexity" if "perplexity" in result["inherited"] else "accuracy"
    console.print(f"{result['out']}: {key} {result['inherited'][key]:.4g} inherited -> {result['finetuned'][key]:.4g} "
                  f"after {steps} steps alone (loss {result['inherited']['loss']:.4f} -> "
                  f"{result['finetuned']['loss']:.4f})")

