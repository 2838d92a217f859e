"""The ranking study's two rules: which networks it asks, and how it scores their agreement."""
import math

import numpy as np
import pytest
from scipy.stats import kendalltau

from supernet.ranking import ranking_agreement, spread_by_size
from supernet.space import SearchSpace

SPACE = SearchSpace(depth=[1, 2, 3, 4], embed_dim=[64, 128, 192, 256], heads=[1, 2, 4],
                    ffn_dim=[128, 256, 512, 768, 1024], head_dim=64, max_seq_len=64)


def params(arch):
    return sum(arch.embed_dim * (4 * layer.heads * 64 + 2 * layer.ffn_dim) for layer in arch.layers)


def test_spread_by_size_covers_the_range_evenly_and_is_seeded():
    archs = spread_by_size(SPACE, 22, params, seed=1)
    assert len(archs) == len({a.key for a in archs}) == 22
    assert archs[0] == SPACE.largest() and archs[1] == SPACE.smallest()
    logs = np.log([params(a) for a in archs])
    low, high = math.log(params(SPACE.smallest())), math.log(params(SPACE.largest()))
    occupied = {min(19, int((v - low) / (high - low) * 20)) for v in logs[2:]}
    assert len(occupied) >= 16  # one per bin; a bin the pool left empty (small sizes are rare) borrows a neighbour
    sample = [params(SPACE.sample(np.random.default_rng(s))) for s in range(200)]
    assert np.median(logs) < np.median(np.log(sample))  # uniform draws crowd the middle-to-large sizes; bins do not
    assert [a.key for a in spread_by_size(SPACE, 22, params, seed=1)] == [a.key for a in archs]
    assert [a.key for a in spread_by_size(SPACE, 22, params, seed=2)] != [a.key for a in archs]


def test_agreement_of_identical_and_reversed_rankings():
    scores = np.arange(20.0)
    same = ranking_agreement(scores, scores * 3 + 1)
    assert (same.kendall_tau, same.spearman_rho, same.top_k_overlap) == (1.0, 1.0, 5)
    assert same.tau_interval == pytest.approx((1.0, 1.0))
    reversed_ = ranking_agreement(scores, -scores)
    assert reversed_.kendall_tau == -1.0 and reversed_.top_k_overlap == 0


def test_a_noisy_ranking_gets_an_interval_around_its_tau():
    rng = np.random.default_rng(0)
    truth = rng.normal(size=24)
    noisy = truth + rng.normal(scale=0.7, size=24)
    result = ranking_agreement(noisy, truth, seed=3)
    assert result.kendall_tau == pytest.approx(kendalltau(noisy, truth).statistic)
    low, high = result.tau_interval
    assert low < result.kendall_tau < high and 0.1 < high - low < 0.6
    assert result.rho_interval[0] < result.spearman_rho < result.rho_interval[1]
    assert ranking_agreement(noisy, truth, seed=3) == result  # seeded
    assert "Kendall tau" in result.describe() and "90% interval" in result.describe()
    with pytest.raises(ValueError, match="at least 4"):
        ranking_agreement([1, 2, 3], [1, 2, 3])
