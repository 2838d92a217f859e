"""`hwnas supernet train|eval`: the weight-shared supernet of a run config."""
from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import typer
from rich.table import Table

from nas.cli.base import console, load_arch, progress, supernet_app, user_errors, user_named
from userfiles import UserInputError
from userfiles.locks import folder_lock


@supernet_app.command("train")
@user_errors
def supernet_train(config: Path = typer.Argument(..., help="a run config (YAML): its space and supernet sections")) -> None:
    """Train the supernet of a run config (resumes from the latest checkpoint when rerun)."""
    import os

    from nas.config import load_run_config

    run = load_run_config(config)  # first, before torch is imported: a broken config fails in a moment
    user_named(run.output)
    out = Path(run.output) / "supernet"
    rank0 = os.environ.get("RANK", "0") == "0"
    say = lambda line: console.print(line, markup=False)  # noqa: E731
    # the run folder's lock, as `hwnas run` and `hwnas search` hold it: one writer of `<output>/supernet` at a
    # time, refused before torch is imported (under torchrun only rank 0 writes, so only rank 0 holds it)
    with folder_lock(Path(run.output), say) if rank0 else nullcontext():
        from supernet.train import train_supernet
        from supernet.train_config import resolve_paths

        with progress() if rank0 else nullcontext() as bar:
            task = bar.add_task("supernet", total=run.supernet.steps) if bar else None

            def show(record: dict) -> None:
                bar.update(task, completed=record["step"], description=(
                    f"supernet loss {record['loss_largest']:.3f} (largest) {record['loss_smallest']:.3f} "
                    f"(smallest), {record['tokens_per_s']:,.0f} tok/s"))

            try:
                result = train_supernet(run.space, resolve_paths(run.supernet, config.parent), out,
                                        on_step=show if bar else None, log=say)
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
    user_named(run.output)
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

