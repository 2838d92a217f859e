import csv
import importlib.util
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from nas.cli import app
from nas.config import Constraint, load_run_config
from nas.evolution import EvolutionarySearch, RandomSearch
from nas.objectives import Objective
from userfiles import UserInputError
from supernet.space import ArchConfig, SearchSpace

from conftest import kill_at_generation, one_line_error

SPACE = SearchSpace(depth=[1, 2, 3], embed_dim=[64, 128, 192], heads=[1, 2, 4], ffn_dim=[128, 256, 384, 512],
                    head_dim=32, max_seq_len=64)


def cost(arch):
    return sum(arch.embed_dim * (layer.ffn_dim + 40 * layer.heads) for layer in arch.layers) / 1e4


def quality(arch):
    return float(np.log(arch.embed_dim) + sum(0.7 ** i * np.log(l.ffn_dim * l.heads) for i, l in enumerate(arch.layers)))


def objectives():
    return [Objective("latency_ms", lambda archs: [cost(a) for a in archs]),
            Objective("accuracy", lambda archs: [quality(a) for a in archs], direction="max", cost="expensive")]


def test_objective_caches_by_arch_key():
    calls = []
    obj = Objective("latency_ms", lambda archs: calls.append(len(archs)) or [cost(a) for a in archs])
    archs = [SPACE.largest(), SPACE.smallest(), SPACE.largest()]
    first = obj.evaluate(archs)
    again = obj.evaluate(archs)
    assert calls == [2] and np.array_equal(first, again) and first[0] == first[2]


def test_constraints_keep_infeasible_out_of_the_front_and_spare_expensive_calls():
    scored = []
    objs = objectives()
    expensive = objs[1].fn
    objs[1].fn = lambda archs: scored.extend(archs) or expensive(archs)
    result = EvolutionarySearch(SPACE, objs, constraints=["latency_ms <= 3"], population=16, generations=6, seed=1).run()
    assert result.front and all(r["latency_ms"] <= 3 for _, r in result.front)
    assert all(cost(a) <= 3 for a in scored)  # no expensive evaluation of an infeasible candidate
    infeasible = [r for _, r in result.evaluated.values() if r["violation"] > 0]
    assert infeasible and all(r["accuracy"] == -np.inf for r in infeasible)


def test_nsga2_front_is_nondominated_and_improves_on_random():
    nsga = EvolutionarySearch(SPACE, objectives(), population=20, generations=15, seed=3).run()
    rand = RandomSearch(SPACE, objectives(), population=20, generations=15, seed=3).run()
    points = np.array([[r["latency_ms"], -r["accuracy"]] for _, r in nsga.front])
    for p in points:
        assert not np.any(np.all(points <= p, axis=1) & np.any(points < p, axis=1))
    assert nsga.history[-1]["hypervolume"] >= nsga.history[0]["hypervolume"]
    assert [h["generation"] for h in rand.history] == list(range(16))
    ref = nsga.reference_point
    from nas.evolution import hypervolume
    rand_points = np.array([[r["latency_ms"], -r["accuracy"]] for _, r in rand.front])
    assert hypervolume(points, ref) > hypervolume(rand_points, ref)


def test_interrupted_search_resumes_to_the_same_front(tmp_path):
    straight = EvolutionarySearch(SPACE, objectives(), population=16, generations=8, seed=5).run()

    def stop_at_four(entry):
        if entry["generation"] == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        EvolutionarySearch(SPACE, objectives(), population=16, generations=8, seed=5, out=tmp_path,
                           on_generation=stop_at_four).run()
    assert json.loads((tmp_path / "search_state.json").read_text())["generation"] == 3
    resumed = EvolutionarySearch(SPACE, objectives(), population=16, generations=8, seed=5, out=tmp_path).run(resume=True)
    assert [(a.key, r) for a, r in resumed.front] == [(a.key, r) for a, r in straight.front]
    assert [h["hypervolume"] for h in resumed.history] == [h["hypervolume"] for h in straight.history]
    with pytest.raises(UserInputError, match="another space, objectives, algorithm or seed"):
        EvolutionarySearch(SPACE, objectives(), population=16, generations=8, seed=6, out=tmp_path).run(resume=True)


def run_config(tmp_path, name, **changes):
    config = {
        "name": name,
        "space": SPACE.to_dict(),
        "supernet": {"steps": 8, "seq_len": 32, "batch_size": 4, "eval_windows": 8},
        "workload": {"phase": "prefill", "seq_len": 64},
        "predictor": {"samples": 60},
        "objectives": ["perplexity", "latency_ms"],
        "constraints": ["latency_ms <= 1"],
        "search": {"population": 12, "generations": 6, "seed": 2},
        "executor": {"kind": "serial"},
        "export": {"pick": "none"},
        "output": str(tmp_path / name),
    }
    config.update(changes)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def tiny_supernet(tmp_path_factory):
    root = tmp_path_factory.mktemp("supernet")
    result = CliRunner().invoke(app, ["supernet", "train", str(run_config(root, "sn"))])
    assert result.exit_code == 0, result.output
    return root / "sn" / "supernet"


def pareto(folder):
    """pareto.json read as strict JSON: `Infinity`/`NaN` would fail the test."""
    return json.loads((folder / "pareto.json").read_text(), parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))


def test_same_config_and_seed_give_identical_pareto_json(tmp_path):
    runner = CliRunner()
    for name in ("a", "b"):
        result = runner.invoke(app, ["search", str(run_config(tmp_path, name))])
        assert result.exit_code == 0, result.output
    a, b = pareto(tmp_path / "a"), pareto(tmp_path / "b")
    assert a == b and a["front_size"] >= 2 and a["verified_on_simulator"]
    for name in ("config.yaml", "meta.json", "pareto.csv", "pareto.png", "hypervolume.png", "history.json"):
        assert (tmp_path / "a" / name).is_file(), name
    meta = json.loads((tmp_path / "a" / "meta.json").read_text())
    assert meta["seeds"]["search"] == 2 and set(meta["fingerprints"]) == {"space", "hardware", "workload", "config"}
    rerun = runner.invoke(app, ["search", str(run_config(tmp_path, "a"))])
    assert "[latency_data] up to date, skipped: outputs reused" in rerun.output
    assert "[supernet] up to date, skipped: outputs reused" in rerun.output and pareto(tmp_path / "a") == a


def test_changed_search_settings_reuse_upstream_stages_and_redo_only_the_search(tmp_path):
    runner = CliRunner()
    assert runner.invoke(app, ["search", str(run_config(tmp_path, "a"))]).exit_code == 0
    changes = {"constraints": ["latency_ms <= 0.8"], "search": {"population": 10, "generations": 4, "seed": 3}}
    changed = runner.invoke(app, ["search", str(run_config(tmp_path, "a", **changes))])
    assert changed.exit_code == 0, changed.output
    log = " ".join(changed.output.split())  # the console wraps long lines
    for stage in ("latency_data", "predictor_latency_ms", "supernet"):
        assert f"[{stage}] up to date, skipped: outputs reused" in log
    assert "[search] redone: constraints.0.value, search.generations, search.population, search.seed changed" in log
    fresh = runner.invoke(app, ["search", str(run_config(tmp_path, "fresh", **changes))])
    assert fresh.exit_code == 0, fresh.output
    assert pareto(tmp_path / "a") == pareto(tmp_path / "fresh")
    stored = yaml.safe_load((tmp_path / "a" / "config.yaml").read_text())
    assert stored["constraints"][0]["value"] == 0.8 and stored["search"]["population"] == 10

    upstream = [({"predictor": {"samples": 80}}, "predictor.samples"),
                ({"workload": {"phase": "prefill", "seq_len": 32}}, "workload.seq_len"),
                ({"supernet": {"steps": 9, "seq_len": 32, "batch_size": 4, "eval_windows": 8}}, "supernet.steps")]
    for upstream_change, key in upstream:
        refused = runner.invoke(app, ["search", str(run_config(tmp_path, "a", **changes, **upstream_change))])
        assert refused.exit_code == 2, refused.output
        assert f"holds a run of another config ({key} differs;" in refused.stderr
        assert " in the run folder, " in refused.stderr and " now; only name, output" in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1


def test_sigkill_mid_search_then_resume_with_a_relative_output_matches_an_uninterrupted_run(
        tmp_path, tiny_supernet, monkeypatch):
    """Relative `output` and `supernet.checkpoint`, run from the config's folder, as the shipped configs are."""
    monkeypatch.chdir(tmp_path)
    search = {"population": 16, "generations": 25, "seed": 4}
    supernet = {"steps": 8, "seq_len": 32, "batch_size": 4, "eval_windows": 8,
                "checkpoint": os.path.relpath(tiny_supernet, tmp_path)}
    run_config(tmp_path, "straight", search=search, supernet=supernet, output="straight")
    reference = CliRunner().invoke(app, ["search", "straight.yaml"])
    assert reference.exit_code == 0, reference.output
    run_config(tmp_path, "killed", search=search, supernet=supernet, output="killed")
    proc = subprocess.Popen([sys.executable, "-m", "nas.cli", "search", "killed.yaml"], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    generation = kill_at_generation(proc, tmp_path / "killed" / "search_state.json", 5)
    assert 5 <= generation < 25, "the search finished before it could be killed"
    resumed = CliRunner().invoke(app, ["search", "--resume", "killed"])
    assert resumed.exit_code == 0, resumed.output
    assert f"[search] resuming after generation {generation} of 25" in resumed.output
    assert pareto(tmp_path / "killed")["front"] == pareto(tmp_path / "straight")["front"]
    again = CliRunner().invoke(app, ["search", "--resume", "killed"])  # a complete run resumes too
    assert again.exit_code == 0, again.output
    assert "[search] redone" not in again.output
    assert pareto(tmp_path / "killed")["front"] == pareto(tmp_path / "straight")["front"]


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray not installed (pip install 'hwnas[ray]')")
def test_ray_executor_gives_the_serial_front(tmp_path, tiny_supernet, ray_local):
    fronts = {}
    for kind in ("serial", "ray"):
        changes = {"objectives": ["perplexity", "latency_ms"], "search": {"population": 8, "generations": 2},
                   "supernet": {"steps": 8, "seq_len": 32, "batch_size": 4, "eval_windows": 8,
                                "checkpoint": str(tiny_supernet)},
                   "executor": {"kind": kind, "workers": 2}}
        result = CliRunner().invoke(app, ["search", str(run_config(tmp_path, kind, **changes))])
        assert result.exit_code == 0, result.output
        fronts[kind] = json.loads((tmp_path / kind / "pareto.json").read_text())["front"]
    assert fronts["ray"] == fronts["serial"] and len(fronts["serial"]) >= 2


BAD_CONFIGS = [
    ({"search": {"population": 1}}, "search.population: Input should be greater than or equal to 2"),
    ({"search": {"algorithm": "cmaes"}}, "search.algorithm: Input should be 'nsga2' or 'random'"),
    ({"search": {"popsize": 10}}, "search.popsize: unknown key"),
    ({"objectives": ["latency_ms", "speed"]}, "objectives.1.name: unknown objective 'speed'"),
    ({"objectives": ["latency_ms"]}, "objectives: List should have at least 2 items"),
    ({"constraints": ["latency_ms < 5"]}, "constraints.0: expected 'objective <= value'"),
    ({"constraints": ["speed <= 5"]}, "constraints.0: unknown objective 'speed'"),
    ({"hardware": "tpu-v9.yaml"}, "tpu-v9.yaml: file not found"),
    ({"hardware": {"extends": "gemmini-default", "rows": 0}}, "hardware: rows: Input should be greater than 0"),
    ({"workload": {"phase": "decode", "seq_len": 0}}, "workload: phase=decode needs seq_len >= 1"),
    ({"supernet": {"steps": -3}}, "supernet.steps: Input should be greater than or equal to 1"),
    ({"objectives": ["accuracy", "latency_ms"]}, "objectives: accuracy needs supernet.task=classification"),
    ({"executor": {"kind": "mpi"}}, "executor.kind: Input should be 'serial', 'process' or 'ray'"),
    ({"space": {"depth": [], "embed_dim": [64], "heads": [2], "ffn_dim": [64]}}, "space.depth: Tuple should have at least 1 item"),
    ({"objectives": ["perplexity", "params"], "constraints": ["params <= 9e6", "latency_ms <= 1"]},
     "constraints.1: 'latency_ms' is not an objective of this run; objectives are perplexity, params"),
    ({"predictor": {"path": "no-such-predictor"}}, "predictor.path: "),
    ({"supernet": {"seq_len": 32, "checkpoint": "no-such-supernet"}}, "supernet.checkpoint: "),
    ({"objectives": ["perplexity", {"name": "params", "source": "simulator"}]},
     "objectives.1: source: simulator applies to latency_ms, energy_mj, edp, power_mw, not to params"),
    ({"hardware": {"measured": "board-x"}}, "predictor.path: the measured device 'board-x' needs the predictor"),
    ({"hardware": {"measured": "board-x", "rows": 8}}, "hardware: a measured device is written {measured: NAME} alone"),
    ({"hardware": {"measured": "board-x"}, "predictor": {"path": "p"}, "objectives": ["perplexity", "energy_mj"],
      "constraints": []},
     "objectives.1: energy_mj from the predictor needs a simulated accelerator"),
]


@pytest.mark.parametrize("changes,expected", BAD_CONFIGS)
def test_malformed_configs_give_one_line(tmp_path, changes, expected):
    path = run_config(tmp_path, "bad", **changes)
    result = CliRunner().invoke(app, ["search", str(path)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr


def test_config_loader_names_the_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("space: [1, 2\n")
    with pytest.raises(UserInputError, match="broken.yaml: not valid YAML"):
        load_run_config(path)


# ---- outcomes: hypervolume, impossible constraints, measured devices, plots ----------------------------------------
def test_hypervolume_matches_hand_computed_values():
    from nas.evolution import hypervolume

    staircase = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0], [5.0, 0.0]])  # the last lies outside the reference
    assert hypervolume(staircase, [4.0, 4.0]) == pytest.approx(3 + 2 + 1)
    boxes = np.array([[1.0, 1.0, 1.0], [0.0, 2.0, 2.0]])  # 1x2x3 + 2x1x2 - overlap 1x1x2
    assert hypervolume(boxes, [2.0, 3.0, 4.0]) == pytest.approx(6 + 4 - 2)
    assert hypervolume(np.empty((0, 2)), [1.0, 1.0]) == 0.0 and hypervolume(staircase, None) == 0.0


@pytest.mark.parametrize("seed,feasible_at_start", [(0, 0), (5, 1)])
def test_hypervolume_grows_when_generation_zero_has_no_or_one_feasible_candidate(seed, feasible_at_start):
    """A band of latencies that excludes both extremes (generation 0 holds the smallest and largest networks)."""
    result = EvolutionarySearch(SPACE, objectives(), constraints=["latency_ms <= 2", "latency_ms >= 1.2"],
                                population=8, generations=12, seed=seed).run()
    assert result.history[0]["feasible"] == feasible_at_start
    assert np.all(np.isfinite(result.reference_point)) and len(result.reference_point) == 2
    volumes = [h["hypervolume"] for h in result.history]
    assert volumes == sorted(volumes) and volumes[-1] > 1.0


def test_readme_python_snippet_runs_with_string_constraints():
    """The README's search snippet, executed as written with a space, a cost function and a quality objective."""
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    snippet = readme.split("from nas.objectives import Objective\n", 1)[1].split("```", 1)[0]
    namespace = {"space": SPACE, "fn": lambda archs: [cost(a) for a in archs],
                 "quality": objectives()[1], "Objective": Objective}
    exec("from nas.objectives import Objective\n" + snippet.replace("population=40, generations=40",
                                                                   "population=8, generations=3"), namespace)
    front = namespace["res"].front
    assert front and all(r["latency_ms"] <= 5 for _, r in front)


def test_still_pareto_and_choose():
    from types import SimpleNamespace

    from nas.config import RunConfig
    from nas.evolution import SearchResult
    from nas.pipeline.verify import still_pareto
    from nas.pipeline.wiring import choose

    points = np.array([[1.0, 3.0], [2.0, 2.0], [2.0, 2.0], [2.5, 2.5], [3.0, 1.0]])
    assert still_pareto(points).tolist() == [True, True, True, False, True]
    small, large = SPACE.smallest(), SPACE.largest()
    front = [(small, {"perplexity": 9.0, "latency_ms": 0.2}), (large, {"perplexity": 7.0, "latency_ms": 0.9})]
    result = SearchResult(front, [], {})
    for pick, expected in (("best", large), ("fastest", small), ("none", None)):
        config = RunConfig(space=SPACE, supernet={"seq_len": 32}, export={"pick": pick})
        picked = choose(SimpleNamespace(config=config), result)
        assert (picked[0] if picked else None) == expected


def test_verify_front_reports_predictor_error_and_members_dominated_on_simulated_values(tmp_path):
    from types import SimpleNamespace

    from nas.config import RunConfig
    from nas.evolution import SearchResult
    from nas.pipeline.verify import verify_front
    from predictors.accelerator.hardware import AcceleratorConfig
    from predictors.accelerator.systolic import SystolicSimulator

    config = RunConfig(space=SPACE, supernet={"seq_len": 32}, workload={"phase": "prefill", "seq_len": 64})
    hw = AcceleratorConfig.preset("gemmini-ibert")
    small, large = SPACE.smallest(), SPACE.largest()
    simulated = {a.key: SystolicSimulator(hw).simulate(a, config.workload).latency_ms for a in (small, large)}
    # predicted: the large one looks faster (so both are Pareto-optimal); simulated, the small one dominates it
    front = [(small, {"perplexity": 9.0, "latency_ms": simulated[small.key] * 1.1, "violation": 0.0}),
             (large, {"perplexity": 12.0, "latency_ms": simulated[small.key] * 0.5, "violation": 0.0})]
    run = SimpleNamespace(config=config, hw=hw, target=hw.name)
    summary = verify_front(run, SearchResult(front, [], dict((a.key, (a, r)) for a, r in front)))
    assert summary["verified_on_simulator"] and summary["no_longer_pareto"] == [large.key]
    assert summary["front"][0]["predictor_error"]["latency_ms"] == pytest.approx(0.1)
    assert summary["predictor_error_on_front"]["max_abs"] == pytest.approx(1 - 0.5 * simulated[small.key]
                                                                           / simulated[large.key])


def test_impossible_constraint_says_so_lists_the_closest_and_writes_valid_files(tmp_path, tiny_supernet):
    supernet = {"steps": 8, "seq_len": 32, "batch_size": 4, "eval_windows": 8, "checkpoint": str(tiny_supernet)}
    config = run_config(tmp_path, "impossible", supernet=supernet, constraints=["latency_ms <= 0.0001"],
                        export={"pick": "best"})
    result = CliRunner().invoke(app, ["run", str(config)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no candidate met the constraints (latency_ms <= 0.0001); "
                                                   "the 5 closest are listed above"), result.stderr
    summary = pareto(tmp_path / "impossible")
    assert summary["front"] == [] and summary["nothing_met_constraints"]
    violations = [c["violation"] for c in summary["closest"]]
    assert len(violations) == 5 and violations == sorted(violations) and violations[0] > 0
    assert all(c["objectives"]["perplexity"] is None for c in summary["closest"])  # never scored: null, not Infinity
    assert summary["largest"]["objectives"]["perplexity"] is None and "null" in summary["null_means"]
    assert "**No candidate met the constraints**" in (tmp_path / "impossible" / "report.md").read_text()
    assert not (tmp_path / "impossible" / "subnets").exists()


def test_measured_device_predictor_runs_end_to_end_without_a_simulator(tmp_path, tiny_supernet):
    runner = CliRunner()
    (tmp_path / "space.yaml").write_text(yaml.safe_dump(SPACE.to_dict()))
    rng = random.Random(0)
    archs = list({a.key: a for a in (SPACE.sample(rng) for _ in range(120))}.values())[:70]
    with open(tmp_path / "measured.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["arch", "latency_ms"])
        writer.writerows([a.to_json(), 0.05 + cost(a) / 10] for a in archs)
    workload = "phase=prefill,seq_len=64,causal=true"
    imported = runner.invoke(app, ["latency-data", "--from-csv", str(tmp_path / "measured.csv"), "--device", "board-x",
                                   "--space", str(tmp_path / "space.yaml"), "--workload", workload,
                                   "--out", str(tmp_path / "board.parquet")])
    assert imported.exit_code == 0, imported.output
    trained = runner.invoke(app, ["predictor", "train", "--data", str(tmp_path / "board.parquet"),
                                  "--out", str(tmp_path / "board-predictor"), "--model", "gbm"])
    assert trained.exit_code == 0, trained.output
    supernet = {"steps": 8, "seq_len": 32, "batch_size": 4, "eval_windows": 8, "checkpoint": str(tiny_supernet)}
    common = {"supernet": supernet, "predictor": {"path": "board-predictor"}, "constraints": ["latency_ms <= 0.5"],
              "export": {"pick": "best", "format": "torch"}}
    simulated = run_config(tmp_path, "wrong-target", **common)  # the default, simulated gemmini-ibert
    refused = runner.invoke(app, ["search", str(simulated)])
    assert refused.exit_code == 2 and "predictor.path: " in refused.stderr
    assert "write `hardware: {measured: board-x}`" in refused.stderr

    config = run_config(tmp_path, "board", hardware={"measured": "board-x"}, **common)
    result = runner.invoke(app, ["run", str(config)])
    assert result.exit_code == 0, result.output
    root = tmp_path / "board"
    assert not (root / "latency").exists() and "simulating" not in result.output  # no simulator stage
    summary = pareto(root)
    assert summary["front_size"] >= 1 and not summary["verified_on_simulator"]
    assert all(row["simulated"] is None for row in summary["front"])
    assert "measured device board-x" in summary["not_verified_because"]
    report = (root / "report.md").read_text()
    assert "not verified on a simulator, because the target is the measured device board-x" in report
    assert "latency (ms, predicted)" in report and (root / "subnets" / "chosen" / "export.json").is_file()
    assert json.loads((root / "meta.json").read_text())["fingerprints"]["hardware"] == "measured:board-x"


def test_pareto_plot_labels_counts_bounds_and_the_chosen_point():
    from nas.report import normalised_hypervolume, pareto_figure

    result = EvolutionarySearch(SPACE, [Objective("latency_ms", lambda archs: [cost(a) for a in archs]),
                                        Objective("perplexity", lambda archs: [30 - quality(a) for a in archs])],
                                constraints=["latency_ms <= 3"], population=12, generations=5, seed=0).run()
    names = ["latency_ms", "perplexity"]
    fig = pareto_figure(result, names, [Constraint.parse("latency_ms <= 3")], result.front[0], "t", "byte")
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("latency (ms)", "perplexity (per byte)")
    labels = ax.get_legend_handles_labels()[1]
    feasible = sum(1 for _, r in result.evaluated.values() if r["violation"] == 0)
    assert f"meets the constraints ({feasible})" in labels
    assert any(label.startswith(f"violates them ({len(result.evaluated) - feasible}") for label in labels)
    assert {f"Pareto front ({len(result.front)})", "constraint latency_ms <= 3", "chosen for export"} <= set(labels)
    share = normalised_hypervolume(result, names)
    assert all(0 <= v <= 1 for v in share) and share[-1] > 0 and share == sorted(share)


def test_a_search_on_predicted_quality_is_rescored_on_the_supernet(tmp_path, tiny_supernet):
    """`{name: perplexity, source: predictor}`: a model fitted on scored networks steers the search; the front is
    then scored on the supernet itself, the export picks by that score, and the report says how far off it was."""
    from nas.config import load_run_config
    from nas.objectives import quality_objective
    from nas.pipeline import Run

    changes = {"objectives": [{"name": "perplexity", "source": "predictor"}, {"name": "latency_ms",
                                                                              "source": "simulator"}],
               "constraints": [], "quality_predictor": {"samples": 40},
               "supernet": {"steps": 8, "seq_len": 32, "batch_size": 4, "eval_windows": 8,
                            "checkpoint": str(tiny_supernet)}}
    path = run_config(tmp_path, "q", **changes)
    from nas.pipeline import stages

    real, scored_now = stages.quality_objective, []

    def interrupted_after_one_batch(*args, **kwargs):  # as if killed during the scoring
        objective = real(*args, **kwargs)
        inner = objective.evaluate

        def evaluate(archs):
            if scored_now:
                raise KeyboardInterrupt
            scored_now.extend(archs)
            return inner(archs)
        objective.evaluate = evaluate
        return objective

    stages.quality_objective = interrupted_after_one_batch
    try:
        killed = CliRunner().invoke(app, ["search", str(path)])
    finally:
        stages.quality_objective = real
    assert killed.exit_code == 130, killed.output
    saved = json.loads((tmp_path / "q" / "quality" / "predictor" / "scores.json").read_text())
    assert len(saved["scores"]) == len(scored_now) == 8
    result = CliRunner().invoke(app, ["search", str(path)])
    assert result.exit_code == 0, result.output
    assert "[quality-predictor] resuming: 8 of 40 networks already scored" in result.output
    assert "[quality-predictor] scoring 40 networks on the supernet" in result.output
    rescored = json.loads((tmp_path / "q" / "quality" / "predictor" / "scores.json").read_text())["scores"]
    assert {k: rescored[k] for k in saved["scores"]} == saved["scores"] and len(rescored) == 40
    skipped = CliRunner().invoke(app, ["search", str(path)])
    assert "[quality_predictor] up to date, skipped" in skipped.output
    summary = pareto(tmp_path / "q")
    check = summary["quality_predictor_on_front"]
    assert check["objective"] == "perplexity" and summary["front_size"] >= 2
    run = Run(load_run_config(path), tmp_path, log=lambda m: None)  # a finished run: its files as they are
    truth = quality_objective("perplexity", tiny_supernet, run.train_config().model_dump(exclude={"checkpoint"}))
    front = summary["front"]
    scored = truth.evaluate([ArchConfig.from_dict(r["arch"]) for r in front])
    for row, value in zip(front, scored):
        assert row["supernet"]["perplexity"] == pytest.approx(value, rel=1e-6)
        assert row["predictor_error"]["perplexity"] == pytest.approx(row["objectives"]["perplexity"] / value - 1)
    assert check["max_abs_error"] == pytest.approx(max(abs(r["predictor_error"]["perplexity"]) for r in front))
    metrics = json.loads((tmp_path / "q" / "quality" / "predictor" / "metrics.json").read_text())
    assert metrics["held_out"]["n"] == 8 and metrics["scored_networks"] == 40
    again = CliRunner().invoke(app, ["search", str(run_config(tmp_path, "q", **{**changes, "quality_predictor":
                                                                                 {"samples": 60}}))])
    assert again.exit_code == 0, again.output
    assert "[quality_predictor] redone: quality_predictor.samples changed" in again.output
    assert "[search] redone" in again.output


def test_constructing_a_run_writes_nothing(tmp_path):
    from nas.pipeline import Run

    path = run_config(tmp_path, "untouched")
    run = Run(load_run_config(path), tmp_path, log=lambda m: None)
    assert run.resolved()["output"] == str((tmp_path / "untouched").resolve())
    assert not (tmp_path / "untouched").exists()
    run.open()  # the explicit step that claims the folder
    assert {p.name for p in (tmp_path / "untouched").iterdir()} == {"config.yaml", "meta.json"}


def test_plan_names_the_stages_of_nas_dse_and_codesign_runs():
    from nas.pipeline.wiring import plan

    nas = load_run_config(Path(__file__).parents[1] / "searches" / "demo.yaml")
    assert plan(nas) == ["predictors", "supernet", "search", "verify", "front", "report"]
    assert plan(nas, export=True)[-2:] == ["export", "report"]
    dse = load_run_config(Path(__file__).parents[1] / "searches" / "dse-bert-base.yaml")
    assert "supernet" not in plan(dse, export=True) and "export" not in plan(dse, export=True)
    assert "designs" in plan(dse)


def test_search_after_run_rewrites_report_md(tmp_path, tiny_supernet):
    """`hwnas search` after `hwnas run` (here with another search) replaces the report, which would describe the
    earlier front and export."""
    supernet = {"steps": 8, "seq_len": 32, "batch_size": 4, "eval_windows": 8, "checkpoint": str(tiny_supernet)}
    common = {"supernet": supernet, "export": {"pick": "best", "format": "torch"}}
    ran = CliRunner().invoke(app, ["run", str(run_config(tmp_path, "r", **common))])
    assert ran.exit_code == 0, ran.output
    report = (tmp_path / "r" / "report.md").read_text()
    assert "## Chosen sub-network" in report and "Written by `hwnas search`" not in report
    changed = {**common, "search": {"population": 10, "generations": 3, "seed": 9}}
    searched = CliRunner().invoke(app, ["search", str(run_config(tmp_path, "r", **changed))])
    assert searched.exit_code == 0, searched.output
    report = (tmp_path / "r" / "report.md").read_text()
    assert "population 10, 3 generations, seed 9" in report and "## Chosen sub-network" not in report
    assert "Written by `hwnas search`, which picks and exports nothing" in report
    assert f"{pareto(tmp_path / 'r')['front_size']} architectures;" in report


def test_a_stage_refused_after_an_upgrade_says_what_changed_and_which_versions(tmp_path):
    """A folder whose stage record no longer matches (an upgrade that fingerprints an input differently, or
    changed an input) is refused naming the input, its old and new value, and the hwnas versions."""
    path = run_config(tmp_path, "old", objectives=[{"name": "latency_ms", "source": "predictor"}, "params"],
                      constraints=[])
    assert CliRunner().invoke(app, ["search", str(path)]).exit_code == 0
    root = tmp_path / "old"
    record = json.loads((root / "stages.json").read_text())
    meta = json.loads((root / "meta.json").read_text())
    meta["versions"]["hwnas"] = "0.0.1"
    (root / "meta.json").write_text(json.dumps(meta))
    from nas.pipeline.folder import hwnas_version

    now = hwnas_version()
    # as a newer hwnas would see it: the recorded inputs hold another space fingerprint
    changed = {**record, "latency_data": {**record["latency_data"], "hwnas": "0.0.1",
                                          "inputs": {**record["latency_data"]["inputs"], "space": "0123456789ab"}}}
    changed["latency_data"]["fingerprint"] = "0123456789ab"
    (root / "stages.json").write_text(json.dumps(changed))
    line = one_line_error(["search", str(path)])
    assert "stage 'latency_data' was run with other inputs (space: 0123456789ab in the run folder, " in line
    if now:
        assert f"it was run by hwnas 0.0.1, this is hwnas {now}" in line
    assert line.endswith("use a new output directory, or delete this one to run with this config")
    # a record of an earlier hwnas, fingerprints alone
    legacy = {name: entry["fingerprint"] for name, entry in record.items()}
    legacy["latency_data"] = "0123456789ab"
    (root / "stages.json").write_text(json.dumps(legacy))
    (root / "meta.json").write_text(json.dumps(meta))
    line = one_line_error(["search", str(path)])
    assert f"fingerprint 0123456789ab in the run folder, {record['latency_data']['fingerprint']} now" in line
    if now:
        assert f"the run folder was made by hwnas 0.0.1, this is hwnas {now}" in line
    legacy["latency_data"] = record["latency_data"]["fingerprint"]  # a legacy record that matches is reused
    (root / "stages.json").write_text(json.dumps(legacy))
    reused = CliRunner().invoke(app, ["search", str(path)])
    assert reused.exit_code == 0 and "[latency_data] up to date, skipped" in reused.output
