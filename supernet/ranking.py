"""How far a supernet's ranking of sub-networks can be trusted: which architectures to ask, and how to score it.

Every front hwnas prints ranks candidates by inherited-weight quality; if that order disagrees with how the same
networks do when trained alone, the front is wrong however exact the hardware side is. One Kendall tau on a
handful of hand-picked networks says little: a different handful gives a different figure. So the architectures
are drawn by a stated, seeded rule that covers the range of model sizes (`spread_by_size`), and the agreement is
reported with bootstrap intervals and the overlap of the top k (`ranking_agreement`), which is what a search
actually depends on: whether the best networks by inherited quality are the best ones.
"""
from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import numpy as np
from scipy.stats import bootstrap, kendalltau, spearmanr

from supernet.space import ArchConfig, SearchSpace


def spread_by_size(space: SearchSpace, n: int, size: Callable[[ArchConfig], float], seed: int = 0,
                   pool: int = 100) -> list[ArchConfig]:
    """The largest and smallest networks, then one network drawn at random from each of `n - 2` bins of equal
    width in log(size) between them, from a seeded pool of `pool * n` uniform draws. Unlike quantiles of one
    sample, every range of sizes is represented whether or not uniform sampling favours it (it favours the
    middle), and the rule is the same for any space. Bins the pool left empty are filled from the nearest
    non-empty bin, so exactly `n` distinct networks come back whenever the space holds that many."""
    if n < 3:
        raise ValueError(f"need at least 3 architectures (the largest, the smallest and one between), got {n}")
    rng = random.Random(seed)
    largest, smallest = space.largest(), space.smallest()
    chosen = {largest.key: largest, smallest.key: smallest}
    draws = {a.key: a for a in (space.sample(rng) for _ in range(pool * n))}
    candidates = sorted((a for k, a in draws.items() if k not in chosen), key=lambda a: (size(a), a.key))
    low, high = math.log(size(smallest)), math.log(size(largest))
    bins: list[list[ArchConfig]] = [[] for _ in range(n - 2)]
    for arch in candidates:
        position = (math.log(size(arch)) - low) / (high - low) if high > low else 0.0
        bins[min(n - 3, max(0, int(position * (n - 2))))].append(arch)
    for i in range(n - 2):
        nearest = sorted((j for j in range(n - 2) if bins[j]), key=lambda j: (abs(j - i), j))
        for j in nearest:
            left = [a for a in bins[j] if a.key not in chosen]
            if left:
                pick = rng.choice(left)
                chosen[pick.key] = pick
                break
    return list(chosen.values())


@dataclass(frozen=True)
class RankingAgreement:
    """Agreement between two scorings of the same networks (lower is better in both: losses, perplexities).

    Intervals are bootstrap percentile intervals over networks resampled in pairs, at `confidence`.
    `top_k_overlap`: how many of the best `top_k` by the first scoring are among the best `top_k` by the second.
    """

    n: int
    kendall_tau: float
    tau_interval: tuple[float, float]
    spearman_rho: float
    rho_interval: tuple[float, float]
    top_k: int
    top_k_overlap: int
    confidence: float

    def to_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        pct = round(100 * self.confidence)
        return (f"Kendall tau {self.kendall_tau:.3f} ({pct}% interval {self.tau_interval[0]:.3f} to "
                f"{self.tau_interval[1]:.3f}), Spearman rho {self.spearman_rho:.3f} ({self.rho_interval[0]:.3f} to "
                f"{self.rho_interval[1]:.3f}), top {self.top_k} by inherited quality hold {self.top_k_overlap} of "
                f"the stand-alone top {self.top_k}, over {self.n} networks")


def ranking_agreement(inherited: Sequence[float], alone: Sequence[float], top_k: int = 5, confidence: float = 0.9,
                      resamples: int = 2000, seed: int = 0) -> RankingAgreement:
    """Kendall tau and Spearman rho between two scorings, with bootstrap intervals, and the top-k overlap."""
    x, y = np.asarray(inherited, dtype=float), np.asarray(alone, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"need two equally long lists of scores, got {x.shape} and {y.shape}")
    if len(x) < 4:
        raise ValueError(f"need at least 4 networks for a ranking with an interval, got {len(x)}")
    k = min(top_k, len(x))

    def interval(statistic) -> tuple[float, float]:
        result = bootstrap((x, y), lambda a, b: statistic(a, b).statistic, paired=True, vectorized=False,
                           confidence_level=confidence, n_resamples=resamples, method="percentile",
                           random_state=np.random.default_rng(seed))
        low, high = result.confidence_interval
        return float(low), float(high)

    overlap = len(set(np.argsort(x, kind="stable")[:k]) & set(np.argsort(y, kind="stable")[:k]))
    return RankingAgreement(len(x), float(kendalltau(x, y).statistic), interval(kendalltau),
                            float(spearmanr(x, y).statistic), interval(spearmanr), k, overlap, confidence)
