"""The hardware side of hwnas, in two rooms that never share a file.

- `predictors.accelerator`: the cost model (architecture, problem, mapping, mapper, cost, area, presets). Pure
  Python and pydantic; it never imports the learned side.
- `predictors.learned`: what is learned from the cost model's answers (datasets, features, latency and quality
  regressors, evaluation): pandas, scikit-learn, skops, matplotlib.
"""
