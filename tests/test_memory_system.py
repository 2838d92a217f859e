"""The memory system an accelerator owns (`memory:`): bandwidth, latency, energy, area, static power and capacity
follow from the DRAM technology and its channel count, and a model that does not fit is refused (simulate) or
infeasible (search). Expected numbers are derived here from the technologies' published figures (JEDEC data
rates and bus widths) and the stated rules, not read back from the code's output."""
from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from nas.cli import app
from nas.codec import Candidate, FixedSpace, JointSpace
from nas.evolution import EvolutionarySearch
from nas.objectives import Objective
from predictors.accelerator.area import estimate_area
from predictors.accelerator.footprint import capacity_shortfall, check_capacity, dram_footprint
from predictors.accelerator.hardware import COST_MODEL_VERSION, AcceleratorConfig
from predictors.accelerator.hardware_space import HardwareSpace
from predictors.accelerator.memory import TECHNOLOGIES
from predictors.accelerator.node import AREA_VS_12NM
from predictors.accelerator.systolic import SystolicSimulator
from predictors.accelerator.workload import Workload
from supernet.space import reference_arch, reference_vocab
from userfiles import UserInputError

GIB = 2**30
BASE = AcceleratorConfig.preset("gemmini-default")  # a hand-set bus of 16 B/cycle, 160-cycle latency, 1 GHz


def with_memory(technology: str = "lpddr5", count: int = 2, **changes) -> AcceleratorConfig:
    unit = "stacks" if technology.startswith("hbm") else "channels"
    return BASE.with_changes(memory={"technology": technology, unit: count}, **changes)


def llama_decode(seq_len: int = 2048, batch: int = 1) -> tuple:
    return reference_arch("llama-3.2-1b"), Workload(phase="decode", seq_len=seq_len, batch=batch, head="lm",
                                                    vocab_size=reference_vocab("llama-3.2-1b"))


# ---- bandwidth, latency, energy ------------------------------------------------------------------------------------
def test_bandwidth_is_transfers_times_pins_per_channel_times_channels():
    # LPDDR5: 6400 MT/s on a x16 channel = 12.8 GB/s; two channels 25.6 GB/s
    hw = with_memory("lpddr5", 2)
    assert hw.memory.gb_per_s == pytest.approx(6400e6 * 16 / 8 * 2 / 1e9) == pytest.approx(25.6)
    assert hw.dram_bytes_per_cycle == pytest.approx(25.6)  # 25.6e9 B/s at 1000 MHz
    assert with_memory("lpddr5", 2, clock_mhz=500.0).dram_bytes_per_cycle == pytest.approx(51.2)
    # LPDDR4X 4267 MT/s x16, HBM3 6400 MT/s x1024 per stack
    assert with_memory("lpddr4x", 1).memory.gb_per_s == pytest.approx(4267e6 * 16 / 8 / 1e9)
    assert with_memory("hbm3", 1).dram_bytes_per_cycle == pytest.approx(6400e6 * 1024 / 8 / 1e9)


def test_latency_in_cycles_follows_the_clock_and_energy_per_byte_is_eight_bits():
    spec = TECHNOLOGIES["lpddr5"]
    for mhz in (1000.0, 500.0, 1500.0):
        hw = with_memory("lpddr5", 2, clock_mhz=mhz)
        assert hw.dram_latency_cycles == pytest.approx(spec.latency_ns * mhz / 1000)
    hw = with_memory("lpddr5", 2)
    assert hw.energy.dram_pj_per_byte == pytest.approx(8 * spec.pj_per_bit) == pytest.approx(40.0)


def test_doubling_channels_doubles_capacity_bandwidth_and_memory_static_power():
    two, four = with_memory("lpddr5", 2), with_memory("lpddr5", 4)
    assert four.memory.capacity_bytes == 2 * two.memory.capacity_bytes == 2 * 2 * TECHNOLOGIES["lpddr5"].gib * GIB
    assert four.dram_bytes_per_cycle == pytest.approx(2 * two.dram_bytes_per_cycle)
    # standby power per channel, on top of the same logic leakage
    per_channel = TECHNOLOGIES["lpddr5"].static_mw
    none, a2, a4 = estimate_area(BASE), estimate_area(two), estimate_area(four)
    assert a2.static_mw - none.static_mw == pytest.approx(2 * per_channel)
    assert a4.static_mw - a2.static_mw == pytest.approx(2 * per_channel)
    assert a4.memory_static_mw == pytest.approx(4 * per_channel)


@pytest.mark.parametrize("node", [12, 45])
def test_memory_interface_area_is_phy_plus_scaled_controller_per_channel(node):
    spec = TECHNOLOGIES["lpddr5"]
    for count in (1, 2, 4):
        area = estimate_area(with_memory("lpddr5", count, node_nm=node))
        controller = spec.controller_mm2_7nm * AREA_VS_12NM[node] / AREA_VS_12NM[7]  # logic shrinks; the PHY does not
        assert area.breakdown["memory_interface"] == pytest.approx((spec.phy_mm2 + controller) * count)
    assert "memory_interface" not in estimate_area(BASE).breakdown


def test_a_memory_bound_gemv_speeds_up_with_channels_close_to_bytes_over_bandwidth():
    """One decode GEMV (1 x 8192 x 2048): 16 MiB of int8 weights. A 16x64 array computes it in about
    k*n/cols = 262k cycles; one LPDDR5 channel needs 16 MiB / 12.8 B/cycle = 1.31M. A deep DMA queue
    (1,024 x 64 B over a 59-cycle round trip) keeps the queue from limiting."""
    weights = 8192 * 2048
    cycles = {}
    for count in (1, 2, 4):
        hw = with_memory("lpddr5", count, cols=64, dma_inflight_requests=1024)
        g = SystolicSimulator(hw).gemm(1, 8192, 2048)
        floor = weights / (12.8 * count)
        assert floor <= g.cycles <= 1.05 * floor, (count, g.cycles, floor)
        cycles[count] = g.cycles
    assert cycles[1] / cycles[2] == pytest.approx(2, rel=0.03)
    assert cycles[2] / cycles[4] == pytest.approx(2, rel=0.03)


# ---- what is refused, what reads back ------------------------------------------------------------------------------
def test_a_hand_set_bus_that_differs_from_the_memory_is_refused_naming_both():
    with pytest.raises(ValueError) as caught:
        BASE.with_changes(memory={"technology": "lpddr5", "channels": 2}, dram_bytes_per_cycle=16.0)
    message = str(caught.value)
    assert "dram_bytes_per_cycle=16 conflicts with memory (2 lpddr5 channels: 25.6 GB/s" in message
    assert "which gives 25.6" in message
    with pytest.raises(ValueError, match="energy.dram_pj_per_byte=160 conflicts with memory"):
        AcceleratorConfig.model_validate({**with_memory().settings(), "energy": {"dram_pj_per_byte": 160.0}})
    # the same value is accepted
    same = BASE.with_changes(memory={"technology": "lpddr5", "channels": 2}, dram_bytes_per_cycle=25.6)
    assert same.fingerprint() == with_memory().fingerprint()


def test_a_memory_design_round_trips_through_its_dump_and_show_json(tmp_path, monkeypatch):
    hw = with_memory("lpddr5", 2)
    again = AcceleratorConfig.model_validate(hw.model_dump(mode="json"))  # derived figures given back, equal
    assert again.fingerprint() == hw.fingerprint()
    assert hw.with_changes(clock_mhz=1000.0).fingerprint() == hw.fingerprint()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "hw.yaml").write_text(yaml.safe_dump(hw.settings()))
    shown = CliRunner().invoke(app, ["hardware", "show", "hw.yaml", "--json"])
    assert shown.exit_code == 0, shown.stderr
    (tmp_path / "shown.json").write_text(shown.stdout)
    back = AcceleratorConfig.from_yaml(tmp_path / "shown.json")
    assert back.fingerprint() == hw.fingerprint() == json.loads(shown.stdout)["fingerprint"]
    assert "dram_bytes_per_cycle" not in json.loads(shown.stdout)  # derived, so not written as a setting


def test_the_fingerprint_carries_the_cost_model_version_and_the_memory():
    assert COST_MODEL_VERSION >= 2
    assert with_memory("lpddr5", 2).fingerprint() != with_memory("lpddr5", 4).fingerprint() != BASE.fingerprint()


def test_a_file_extending_a_hand_set_bus_takes_the_memory_s_bandwidth(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("extends: gemmini-default\nmemory: {technology: lpddr5, channels: 2}\n")  # base says 16, 160
    hw = AcceleratorConfig.from_yaml(path)
    assert hw.dram_bytes_per_cycle == pytest.approx(25.6)
    assert hw.dram_latency_cycles == pytest.approx(TECHNOLOGIES["lpddr5"].latency_ns)  # at 1 GHz
    assert hw.energy.dram_pj_per_byte == pytest.approx(40.0)
    # a file over it that only adds channels keeps the technology
    (tmp_path / "more.yaml").write_text("extends: mine.yaml\nmemory: {channels: 4}\n")
    assert AcceleratorConfig.from_yaml(tmp_path / "more.yaml").dram_bytes_per_cycle == pytest.approx(51.2)


def test_a_file_can_switch_an_lpddr_base_to_hbm(tmp_path):
    path = tmp_path / "hbm.yaml"
    path.write_text("extends: edge-lpddr5\nmemory: {technology: hbm3, stacks: 1}\n")
    assert AcceleratorConfig.from_yaml(path).memory.count == 1


@pytest.mark.parametrize("memory, message", [
    ({"technology": "ddr9"}, "unknown memory technology 'ddr9'; expected one of ddr4, lpddr4x, lpddr5, lpddr5x, "
                             "hbm2e, hbm3"),
    ({"technology": "hbm3", "channels": 2}, "hbm3 is counted in stacks, not channels"),
    ({"technology": "lpddr5", "stacks": 1}, "lpddr5 is counted in channels, not stacks"),
    ({"technology": "lpddr5", "channels": 0}, "greater than 0"),
    ({"technology": "lpddr5", "channels": -2}, "greater than 0"),
    ({"technology": "lpddr5", "channels": 2.0}, "valid integer"),
])
def test_bad_memory_sections_are_refused(memory, message):
    with pytest.raises(ValueError, match=message):
        BASE.with_changes(memory=memory)


# ---- capacity ------------------------------------------------------------------------------------------------------
def test_llama_footprint_is_its_weights_and_kv_cache():
    arch, workload = llama_decode()
    d, ffn, kv_dim, layers, vocab = 2048, 8192, 8 * 64, 16, 128256
    weights = layers * (2 * d * d + 2 * d * kv_dim + 3 * d * ffn) + vocab * d  # tied head: the embedding once
    kv = layers * 2 * kv_dim * 2048 * 1  # int8 keys and values at 2048 tokens
    found = dram_footprint(arch, workload, 8)
    assert found.weights == weights
    assert found.kv_cache == kv
    assert found.total == pytest.approx(weights + kv, abs=2**20)  # activations: well under a MiB in decode
    assert found.total / GIB == pytest.approx(1.18, abs=0.01)
    assert dram_footprint(arch, workload, 4).total == pytest.approx(found.total / 2, rel=1e-3)  # int4 halves it


def test_capacity_shortfall_is_relative_to_the_capacity():
    arch, workload = llama_decode()
    need = dram_footprint(arch, workload, 8).total
    one = with_memory("lpddr4x", 1)  # a typical 1 GiB part per channel
    assert one.memory.capacity_bytes == TECHNOLOGIES["lpddr4x"].gib * GIB
    assert capacity_shortfall(one, arch, workload) == pytest.approx((need - GIB) / GIB)
    assert capacity_shortfall(with_memory("lpddr4x", 2), arch, workload) == 0.0
    assert capacity_shortfall(BASE, arch, workload) == 0.0  # no memory declared: the user's to know
    # a long batch of contexts on two channels: 8 x 8192 tokens of KV cache, 8 GiB on its own
    arch, big = llama_decode(seq_len=8192, batch=8)
    with pytest.raises(UserInputError, match="the model needs"):
        check_capacity(with_memory("lpddr4x", 2), arch, big)


def test_simulate_refuses_a_model_that_does_not_fit_in_one_line_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "small.yaml").write_text("extends: gemmini-default\nmemory: {technology: lpddr4x, channels: 1}\n")
    result = CliRunner().invoke(app, ["simulate", "--model", "llama-3.2-1b", "--hardware", "small.yaml",
                                      "--phase", "decode", "--seq-len", "2048", "--head", "lm", "--json",
                                      "--plot", "roof.png"])
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "accelerator 'small'" in lines[0] and "needs 1.18 GiB" in lines[0]
    assert "1 lpddr4x channel" in lines[0] and "holds 1 GiB" in lines[0]
    assert result.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["small.yaml"]


def test_a_search_keeps_designs_whose_memory_cannot_hold_the_model_off_the_front():
    """One network (Llama-3.2-1B decode) over 1, 2 or 4 LPDDR4X channels: the single channel (1 GiB) is the
    smallest design but cannot hold the 1.18 GiB model."""
    arch, workload = llama_decode()
    space = HardwareSpace.from_mapping({"extends": "gemmini-default",
                                        "memory": {"technology": ["lpddr4x"], "count": [1, 2, 4]}}, "hs")
    codec = JointSpace(FixedSpace(arch), space)
    objectives = lambda: [  # noqa: E731
        Objective("area_mm2", lambda cs: [estimate_area(c.hw).total_mm2 for c in cs]),
        Objective("seconds_per_byte", lambda cs: [1 / c.hw.memory.gb_per_s for c in cs])]
    shortfall = lambda cs: [capacity_shortfall(c.hw, c.arch, workload) for c in cs]  # noqa: E731
    run = lambda **kw: EvolutionarySearch(codec, objectives(), population=6, generations=2, seed=0, **kw).run()  # noqa
    counts = lambda result: sorted(c.hw.memory.count for c, _ in result.front)  # noqa: E731
    assert counts(run()) == [1, 2, 4]  # without the capacity, the single channel is on the front
    result = run(infeasibility=shortfall)
    assert counts(result) == [2, 4]
    need = dram_footprint(arch, workload, 8).total
    single = [r for c, r in result.evaluated.values() if c.hw.memory.count == 1]
    assert single and single[0]["violation"] == pytest.approx((need - GIB) / GIB) and single[0]["violation"] > 0
    assert all(r["violation"] == 0 for c, r in result.evaluated.values() if c.hw.memory.count > 1)
    assert isinstance(result.front[0][0], Candidate)


# ---- hardware spaces with memory and datapath genes ----------------------------------------------------------------
SPACE = {"extends": "gemmini-default", "rows": [16, 32], "fold_overlap": [True, False],
         "datapath": [["int8"], ["int4", "int8"]], "memory": {"technology": ["lpddr5", "hbm3"], "count": [1, 2, 4]}}


def test_a_space_of_memories_and_datapaths_enumerates_every_design_once():
    hs = HardwareSpace.from_mapping(SPACE, "hs")
    assert hs.size() == 2 * 2 * 2 * 2 * 3
    designs = list(hs.enumerate())
    assert len(designs) == len({hw.fingerprint() for hw in designs}) == hs.size()
    for hw in designs:
        assert hs.decode(hs.encode(hw)).fingerprint() == hw.fingerprint()
        assert hs.contains(hw)
        unit_gb_s = TECHNOLOGIES[hw.memory.technology].gb_per_s
        assert hw.dram_bytes_per_cycle == pytest.approx(unit_gb_s * hw.memory.count)  # at 1 GHz, derived anew
        assert hw.input_bits == 8
    assert {(hw.memory.technology, hw.memory.count) for hw in designs} == {
        (t, c) for t in ("lpddr5", "hbm3") for c in (1, 2, 4)}
    with pytest.raises(ValueError, match="memory.count = 8 is not one of this space's choices"):
        hs.encode(with_memory("lpddr5", 8))


def test_a_space_may_not_search_the_bus_beside_the_memory():
    with pytest.raises(UserInputError, match="dram_bytes_per_cycle: searched beside memory, which sets it"):
        HardwareSpace.from_mapping({**SPACE, "dram_bytes_per_cycle": [16.0, 32.0]}, "hs")
    with pytest.raises(UserInputError, match="unknown memory technology 'ddr9'"):
        HardwareSpace.from_mapping({"extends": "gemmini-default", "memory": {"technology": ["lpddr5", "ddr9"]}}, "hs")


# ---- simulate --json -----------------------------------------------------------------------------------------------
def test_simulate_json_names_the_mapping_the_memory_and_the_footprint(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["simulate", "--model", "smollm-135m", "--phase", "decode", "--seq-len", "256", "--head", "lm", "--json"]
    result = CliRunner().invoke(app, args + ["--hardware", "edge-lpddr5"])
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["mapping"]["mapper"] == "gemmini" and out["mapping"]["objective"] == "cycles"
    assert 0 < out["mapping"]["energy_optimal_mj"] <= out["energy_mj"] * (1 + 1e-9)
    assert out["gemms"] and all(g["mapped_for"] for g in out["gemms"])
    memory = out["memory"]
    assert memory["declared"] is True and memory["technology"] == "lpddr5" and memory["channels"] == 2
    assert memory["gb_per_s"] == pytest.approx(25.6) and memory["capacity_bytes"] == 4 * GIB
    arch, workload = reference_arch("smollm-135m"), Workload(phase="decode", seq_len=256, head="lm",
                                                             vocab_size=reference_vocab("smollm-135m"), causal=True)
    assert out["dram_footprint"]["total_bytes"] == pytest.approx(dram_footprint(arch, workload, 8).total)
    assert out["fold_overlap"] is True
    bare = json.loads(CliRunner().invoke(app, args + ["--hardware", "gemmini-default"]).stdout)
    assert bare["memory"] == {"declared": False, "dram_bytes_per_cycle": 16.0, "dram_pj_per_byte": 160.0}


def test_hardware_show_prints_the_mac_and_memory_lines(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shown = CliRunner().invoke(app, ["hardware", "show", "edge-lpddr5"])
    assert shown.exit_code == 0, shown.stderr
    lines = shown.stdout.splitlines()
    mac = next(line for line in lines if line.startswith("# MAC:"))
    assert f"int8 {(0.2 + 0.1) * 0.128:.3f} pJ at 12 nm" in mac  # Horowitz's 45 nm int8 MAC scaled to 12 nm
    memory = next(line for line in lines if line.startswith("# memory:"))
    assert "2 lpddr5 channels: 25.6 GB/s, 4 GiB" in memory and "25.60 B/cycle" in memory and "80 mW" in memory
    bare = CliRunner().invoke(app, ["hardware", "show", "gemmini-default"]).stdout
    assert "# memory: none declared" in bare


def test_a_run_s_infeasibility_counts_a_missing_precision_and_the_memory_s_shortfall(tmp_path):
    """`nas.pipeline.problem.infeasibility`: 1 for a design whose datapath lacks the workload's precision, the
    capacity shortfall otherwise; None when no design declares a memory or searches the datapath. A run config whose
    every datapath lacks the precision is refused when it loads (`nas.config`)."""
    from nas.config import load_run_config
    from nas.pipeline.folder import Run
    from nas.pipeline.problem import infeasibility

    def run(space: dict, precision: str | None = "int8") -> Run:
        workload = {"phase": "decode", "seq_len": 2048, "causal": True, "head": "lm", "vocab_size": 128256}
        config = {"name": "dse", "arch": "llama-3.2-1b", "hardware_space": space,
                  "workload": workload | ({"precision": precision} if precision else {}),
                  "objectives": ["latency_ms", "area_mm2"], "search": {"population": 4, "generations": 1},
                  "executor": {"kind": "serial"}, "export": {"pick": "none"}, "output": str(tmp_path / "out")}
        (tmp_path / "dse.yaml").write_text(yaml.safe_dump(config))
        return Run(load_run_config(tmp_path / "dse.yaml"), tmp_path)

    space = {"extends": "gemmini-default", "datapath": [["int8"], ["int4"]],
             "memory": {"technology": ["lpddr4x"], "count": [1, 2]}}
    r = run(space)
    violation = infeasibility(r)
    arch, workload = llama_decode()
    designs = {(hw.formats, hw.memory.count): Candidate(arch, hw) for hw in HardwareSpace.from_mapping(
        space, "hs").enumerate()}
    need = dram_footprint(arch, workload, 8).total
    found = dict(zip(designs, violation(list(designs.values()))))
    assert found[(("int4",), 1)] == found[(("int4",), 2)] == 1.0  # cannot compute int8 at all
    assert found[(("int8",), 1)] == pytest.approx((need - GIB) / GIB)
    assert found[(("int8",), 2)] == 0.0
    assert infeasibility(run({"extends": "gemmini-default", "rows": [8, 16]})) is None
    with pytest.raises(UserInputError, match="precision int4 is in none of hardware_space.datapath's choices "
                                             r"\(int8; int8, fp16\)"):
        run({"extends": "gemmini-default", "rows": [8, 16], "datapath": [["int8"], ["int8", "fp16"]]}, "int4")


def test_a_search_whose_designs_partly_lack_the_precision_finishes_with_its_report(tmp_path):
    """Designs whose datapath cannot run the workload have no value on any axis: infeasible, off the plot, and
    the run still writes its report and plots (a regression: the plot's axis limits once took their inf)."""
    from typer.testing import CliRunner

    from nas.cli import app

    config = {"name": "p4", "arch": "bert-base",
              "hardware_space": {"extends": "gemmini-ibert", "rows": [8, 16], "datapath": [["int8"], ["int4"]]},
              "workload": {"phase": "prefill", "seq_len": 128, "causal": False, "precision": "int4"},
              "objectives": ["latency_ms", "energy_mj", "area_mm2"],
              "search": {"population": 6, "generations": 2, "seed": 0},
              "executor": {"kind": "serial"}, "export": {"pick": "none"}, "output": str(tmp_path / "out")}
    (tmp_path / "p4.yaml").write_text(yaml.safe_dump(config))
    result = CliRunner().invoke(app, ["run", str(tmp_path / "p4.yaml")])
    assert result.exit_code == 0, result.output
    pareto = json.loads((tmp_path / "out" / "pareto.json").read_text())
    assert pareto["front"] and all(row["hardware"]["datapath"] == ["int4"] for row in pareto["front"])
    assert (tmp_path / "out" / "report.md").is_file() and (tmp_path / "out" / "pareto.png").is_file()
