"""The quality predictor: fitted on scored networks, measured on networks it never saw, saved as safely as the
latency predictor, and never mistaken for one."""
import math
import random

import pytest

from predictors.learned.dataset import sample_archs
from predictors.learned.latency_predictor import LatencyPredictor, PredictorFileError
from predictors.learned.quality import QualityPredictor, fit_quality_predictor
from supernet.space import SearchSpace

SPACE = SearchSpace(depth=[2, 3, 4], embed_dim=[128, 192, 256], heads=[2, 4], ffn_dim=[256, 512, 768, 1024])


def perplexity(arch, rng):
    """A stand-in for a supernet: quality grows with width and depth, with diminishing returns and noise."""
    width = sum(layer.heads * 64 + layer.ffn_dim / 4 for layer in arch.layers)
    return 30.0 - 2.5 * math.log(width) - 0.002 * arch.embed_dim + rng.gauss(0, 0.05)


def test_fitted_on_a_few_hundred_networks_it_ranks_unseen_ones():
    rng = random.Random(0)
    archs = sample_archs(SPACE, 300, seed=0)
    values = [perplexity(a, rng) for a in archs]
    predictor, metrics = fit_quality_predictor(archs, values, "perplexity", model="gbm", seed=0,
                                               max_depth=SPACE.max_depth)
    held_out = metrics["held_out"]
    assert held_out["n"] == 60 and (metrics["scored_networks"], metrics["held_out_fit_networks"]) == (300, 240)
    assert held_out["kendall_tau"] > 0.85 and held_out["mape"] < 0.01
    fresh = [a for a in sample_archs(SPACE, 400, seed=1) if a.key not in {b.key for b in archs}][:50]
    truth = [perplexity(a, random.Random(1)) for a in fresh]
    from scipy.stats import kendalltau
    assert kendalltau(predictor.predict(fresh), truth).statistic > 0.85


def test_saved_and_loaded_it_predicts_the_same_and_is_not_a_latency_predictor(tmp_path):
    rng = random.Random(0)
    archs = sample_archs(SPACE, 60, seed=0)
    predictor = QualityPredictor("gbm", "perplexity").fit(archs, [perplexity(a, rng) for a in archs])
    predictor.save(tmp_path / "q", meta={"space_fingerprint": SPACE.fingerprint()})
    loaded = QualityPredictor.load(tmp_path / "q", expect={"space_fingerprint": SPACE.fingerprint()})
    assert list(loaded.predict(archs[:5])) == list(predictor.predict(archs[:5]))
    latency = LatencyPredictor("gbm", "latency_ms").fit(archs, [a.depth * 1.5 + 0.1 for a in archs])
    latency.save(tmp_path / "lat")
    with pytest.raises(PredictorFileError, match="a predictor of latency_ms, not of a sub-network's quality"):
        QualityPredictor.load(tmp_path / "lat")
    with pytest.raises(ValueError, match="target must be one of perplexity, loss, accuracy"):
        QualityPredictor("gbm", "latency_ms").fit(archs, [1.0] * len(archs))
