"""Fusion on the I-BERT Gemmini beside the survey's Timeloop estimates (docs/sources.md section 1, "Mapping").

    python benchmarks/bench_fusion.py [--seq-len 512]

BERT-Base at seq 512 on `gemmini-ibert` (256 KiB accumulator) and the same with 128 KiB, each with and without
`fusion.attention` and `fusion.projection_layernorm`. The change is the share of latency saved (1 - fused /
unfused; negative: slower), as the survey reports it: QK^T + softmax 78% (seq 512); whole attention 23% (128 kB
acc) / 52% (256 kB acc); a projection with the following LayerNorm -83% (128 kB acc), FFN2 + LayerNorm -27%.

The bar is the survey's direction, not its size: each chain the survey reports must save latency where it says
fusion helps and lose it where it says fusion hurts (`SIGN_BAR`). Our magnitudes differ from Timeloop's (QK^T +
softmax +32% against 78%), so a bar on them would be a bar on the survey's model, not on ours.
"""
from __future__ import annotations

import argparse

from bars import Bar, check, exit_if_missed
from predictors.accelerator.hardware import AcceleratorConfig, Fusion
from predictors.accelerator.systolic import SystolicSimulator
from predictors.accelerator.workload import Workload
from supernet.space import reference_arch

CHAINS = {
    "QK^T + softmax": ("attn_qk", "attn_qk.requant", "softmax"),
    "whole attention": ("attn_qk", "attn_qk.requant", "softmax", "softmax.quant", "attn_av", "attn_av.requant"),
    "out_proj + LayerNorm": ("out_proj", "out_proj.requant", "ln_attn"),
    "FFN2 + LayerNorm": ("ffn2", "ffn2.requant", "ln_ffn"),
}
FUSION_OF = {"QK^T + softmax": "attention", "whole attention": "attention",
             "out_proj + LayerNorm": "projection_layernorm", "FFN2 + LayerNorm": "projection_layernorm"}
SURVEY = {("QK^T + softmax", 256): "78%", ("whole attention", 128): "23%", ("whole attention", 256): "52%",
          ("out_proj + LayerNorm", 128): "-83%", ("FFN2 + LayerNorm", 128): "-27% (acc not stated)"}
# the survey's sign, as the bar on ours: latency saved above 0 where it reports a saving, below 0 where a loss
SIGN_BAR = {True: Bar(">", 0.0, "+.0%"), False: Bar("<", 0.0, "+.0%")}


def chain_cycles(hw: AcceleratorConfig, seq_len: int) -> dict[str, float]:
    report = SystolicSimulator(hw).simulate(reference_arch("bert-base"), Workload(seq_len=seq_len))
    per_op: dict[str, float] = {}
    for _, op in report.ops:
        per_op[op.name] = per_op.get(op.name, 0.0) + op.cycles
    return {chain: sum(per_op[name] for name in names) for chain, names in CHAINS.items()} | {"model": report.cycles}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seq-len", type=int, default=512)
    args = parser.parse_args()
    checks = []
    for acc in (256, 128):
        base = AcceleratorConfig.preset("gemmini-ibert").model_copy(update={"accumulator_kib": acc})
        plain = chain_cycles(base, args.seq_len)
        fused = {kind: chain_cycles(base.model_copy(update={"fusion": Fusion(**{kind: True})}), args.seq_len)
                 for kind in ("attention", "projection_layernorm")}
        for chain in CHAINS:
            after = fused[FUSION_OF[chain]][chain]
            survey = SURVEY.get((chain, acc), "-")
            print(f"gemmini-ibert {acc} KiB acc, BERT-Base seq {args.seq_len}: {chain:21s} {plain[chain]:>12,.0f} -> "
                  f"{after:>12,.0f} cycles, latency saved {1 - after / plain[chain]:+.0%} (survey {survey})")
            if (chain, acc) in SURVEY:
                checks.append((f"{acc} KiB acc {chain} latency saved", 1 - after / plain[chain],
                               SIGN_BAR[not survey.startswith("-")], f"survey {survey}"))
        for kind, result in fused.items():
            print(f"gemmini-ibert {acc} KiB acc: whole model with fusion.{kind}: latency saved "
                  f"{1 - result['model'] / plain['model']:+.1%}")
    for name, saved, bar, note in checks:
        check(name, saved, bar, note)
    exit_if_missed()


if __name__ == "__main__":
    main()
