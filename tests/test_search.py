import importlib.util
import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from nas.cli import app
from nas.config import Constraint, load_run_config
from nas.evolution import EvolutionarySearch, RandomSearch
from nas.objectives import Objective
from userfiles import UserInputError
from supernet.space import SearchSpace

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
    bound = Constraint.parse("latency_ms <= 3")
    result = EvolutionarySearch(SPACE, objs, [bound], population=16, generations=6, seed=1).run()
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


def test_same_config_and_seed_give_identical_pareto_json(tmp_path):
    runner = CliRunner()
    for name in ("a", "b"):
        result = runner.invoke(app, ["search", str(run_config(tmp_path, name))])
        assert result.exit_code == 0, result.output
    a, b = (json.loads((tmp_path / n / "pareto.json").read_text()) for n in ("a", "b"))
    assert a == b and a["front_size"] >= 2
    for name in ("config.yaml", "meta.json", "pareto.csv", "pareto.png", "hypervolume.png", "history.json"):
        assert (tmp_path / "a" / name).is_file(), name
    meta = json.loads((tmp_path / "a" / "meta.json").read_text())
    assert meta["seeds"]["search"] == 2 and set(meta["fingerprints"]) == {"space", "hardware", "workload", "config"}
    rerun = runner.invoke(app, ["search", str(run_config(tmp_path, "a"))])
    assert "[latency_data] up to date, skipped" in rerun.output and "[supernet] up to date, skipped" in rerun.output
    changed = runner.invoke(app, ["search", str(run_config(tmp_path, "a", search={"population": 14, "generations": 6,
                                                                                "seed": 2}))])
    assert changed.exit_code == 2 and "holds a run of another config (search.population differs)" in changed.stderr


def test_sigkill_mid_search_then_resume_matches_an_uninterrupted_run(tmp_path, tiny_supernet):
    search = {"population": 16, "generations": 60, "seed": 4}
    supernet = {"steps": 8, "seq_len": 32, "batch_size": 4, "eval_windows": 8, "checkpoint": str(tiny_supernet)}
    reference = CliRunner().invoke(app, ["search", str(run_config(tmp_path, "straight", search=search,
                                                                  supernet=supernet))])
    assert reference.exit_code == 0, reference.output
    config = run_config(tmp_path, "killed", search=search, supernet=supernet)
    proc = subprocess.Popen([sys.executable, "-m", "nas.cli", "search", str(config)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = tmp_path / "killed" / "search_state.json"
    deadline = time.time() + 120
    while time.time() < deadline:
        if state.is_file() and json.loads(state.read_text())["generation"] >= 5:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    generation = json.loads(state.read_text())["generation"]
    assert 5 <= generation < 60, "the search finished before it could be killed"
    resumed = CliRunner().invoke(app, ["search", "--resume", str(tmp_path / "killed")])
    assert resumed.exit_code == 0, resumed.output
    front = lambda n: json.loads((tmp_path / n / "pareto.json").read_text())["front"]  # noqa: E731
    assert front("killed") == front("straight")


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray not installed (pip install 'hwnas[ray]')")
def test_ray_executor_gives_the_serial_front(tmp_path, tiny_supernet):
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
