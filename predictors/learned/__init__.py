"""Models learned from the cost model's answers (or from measurements): latency/energy datasets, features,
the latency and quality regressors, and their evaluation.

`LinearTimesCorrection` is also reachable here because predictor files of format 1 (saved before
`predictors/learned.py` became this package) name it `predictors.learned.LinearTimesCorrection`; skops resolves a
stored type by importing its module and reading the attribute, so this name keeps those files loading. It is
looked up on first use (PEP 562), so that importing a light module of this package (the dataset, say) does not
import scikit-learn's regressors.
"""
__all__ = ["LinearTimesCorrection"]


def __getattr__(name: str):
    if name == "LinearTimesCorrection":
        from predictors.learned.latency_predictor import LinearTimesCorrection

        return LinearTimesCorrection
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
