"""A run, stage by stage: latency dataset -> predictor -> supernet (-> quality predictor) -> search -> verification
(-> export) -> report.

Each stage records a fingerprint of its inputs in `stages.json` (with the inputs and the hwnas that ran it): the
content they depend on (settings and the fingerprints of upstream stages or of given files), never a path, so a
run resumes the same from any working directory. A stage whose outputs exist with the same fingerprint is reused;
one that was interrupted resumes (datasets, supernet training, the quality predictor's scoring and the search all
continue from what they saved). A run directory may be rerun with changed `objectives`, `constraints`, `search`,
`export`, `executor`, `quality_predictor`, `name` or `output`: the stages those do not feed (latency data,
predictors, supernet) are reused and the others are redone. A change to anything the upstream stages read (space,
hardware, workload, supernet, predictor) is refused with the first differing key, its old and new value, rather
than silently mixed. With `hardware: {measured: NAME}` there is no simulator: latency comes from the predictor
trained on the device's measurements and the front is not re-simulated. One hwnas at a time writes a run
directory (`userfiles.locks`); it holds the resolved config, `meta.json` (versions, seeds, fingerprints) and
every stage's outputs.

- `folder.py`: `Run`, the run folder and its config; `Run.open` claims the folder (the only step that writes
  `config.yaml` and `meta.json`); `Run.stage` runs, reuses, redoes or refuses one stage.
- `stages.py`: the stages, one function each (inputs, done-check, work), and `supernet_dir`.
- `problem.py`: what the search stage searches: the codec, the objectives behind their sources, the baseline.
- `verify.py`: the front re-scored on the simulator and the supernet (`verify_front`, `still_pareto`).
- `wiring.py`: which stages a NAS, DSE or co-design run has, in order (`plan`), and `run_search` / `run_all`.
"""
from nas.pipeline.folder import Run
from nas.pipeline.stages import supernet_dir
from nas.pipeline.wiring import run_all, run_search

__all__ = ["Run", "run_all", "run_search", "supernet_dir"]
