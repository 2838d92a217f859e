"""Models learned from the cost model's answers (or from measurements): latency/energy datasets, features,
the latency and quality regressors, and their evaluation.

`LinearTimesCorrection` is also reachable here because predictor files of format 1 (saved before
`predictors/learned.py` became this package) name it `predictors.learned.LinearTimesCorrection`; skops resolves a
stored type by importing its module and reading the attribute, so this name keeps those files loading.
"""
from predictors.learned.latency_predictor import LinearTimesCorrection

__all__ = ["LinearTimesCorrection"]
