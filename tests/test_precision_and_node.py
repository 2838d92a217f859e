"""Operand formats (`datapath:`, a workload's `precision`), one process node for the whole accelerator
(`node_nm`, `energy.figures_node_nm`), the DMA queue and `fold_overlap`, each priced in area, energy and cycles.
The expected numbers are derived here from Horowitz's ISSCC 2014 figures (45 nm: int8 multiply 0.2 pJ and 282 um^2,
int32 add 0.1 pJ and 137 um^2, fp16 multiply 1.1 pJ, fp32 add 0.9 pJ), the stated rules (a multiplier grows with
the product of its operand widths, an integer adder with the accumulator's width) and the node factors, not
read back from the code's output."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from nas.cli import app
from predictors.accelerator.area import estimate_area
from predictors.accelerator.cost import CostModel, cost_mapping
from predictors.accelerator.hardware import AcceleratorConfig
from predictors.accelerator.hardware_space import HardwareSpace
from predictors.accelerator.mapping import Mapping, Problem
from predictors.accelerator.node import AREA_VS_12NM
from predictors.accelerator.systolic import SystolicSimulator
from predictors.accelerator.workload import Workload
from supernet.space import reference_arch, reference_vocab
from userfiles import UserInputError

BASE = AcceleratorConfig.preset("gemmini-default")  # 16x16 WS, int8, acc 32 bits, 12 nm
MULT8_PJ, ADD32_PJ, FP16_MULT_PJ, FP32_ADD_PJ = 0.2, 0.1, 1.1, 0.9
MULT8_UM2, ADD32_UM2 = 282.0, 137.0
TO_12NM = 0.128  # energy per event, 45 nm -> 12 nm (Stillmaker & Baas)
AREA_45_VS_12 = 1.975 / 0.252  # area at 45 nm over area at 12 nm, through 22 nm


def int_mac_pj(bits: int, acc_bits: int = 32) -> float:
    """Horowitz at 45 nm: the multiplier scaled from int8 by (bits/8)^2, the adder from int32 by acc_bits/32."""
    return MULT8_PJ * (bits / 8) ** 2 + ADD32_PJ * acc_bits / 32


# ---- precision: energy ---------------------------------------------------------------------------------------------
def test_mac_energy_per_format_follows_operand_width():
    hw = BASE.with_changes(datapath=["int8", "int4", "int16", "fp16", "bf16"])
    mac = {name: CostModel(hw, name).mac_pj for name in hw.formats}
    assert mac["int4"] < mac["int8"] < mac["int16"] < mac["fp16"]
    # e.mac_pj (0.3, Horowitz's int8 MAC) at 45 nm, scaled to the 12 nm node
    assert mac["int8"] == pytest.approx(0.3 * TO_12NM)
    assert mac["int4"] == pytest.approx(int_mac_pj(4) * TO_12NM)  # 0.05 + 0.1
    assert mac["int16"] == pytest.approx(int_mac_pj(16) * TO_12NM)  # 0.8 + 0.1
    assert mac["fp16"] == pytest.approx((FP16_MULT_PJ + FP32_ADD_PJ) * TO_12NM)
    assert mac["bf16"] == pytest.approx((FP16_MULT_PJ * (8 / 11) ** 2 + FP32_ADD_PJ) * TO_12NM)
    assert mac["int4"] / mac["int8"] == pytest.approx(0.15 / 0.3)
    assert mac["int16"] / mac["int8"] == pytest.approx(0.9 / 0.3)
    assert mac["fp16"] / mac["int8"] == pytest.approx(2.0 / 0.3)


def test_a_narrow_accumulator_makes_the_int4_mac_cheaper_still():
    hw = BASE.with_changes(datapath=["int4"], acc_bits=16)
    assert CostModel(hw).mac_pj == pytest.approx(int_mac_pj(4, 16) * TO_12NM)  # 0.05 + 0.05
    # a user's own int8 MAC figure scales to the other formats by the same rule
    mine = hw.with_changes(energy={"mac_pj": 0.6})
    assert CostModel(mine).mac_pj == pytest.approx(0.6 * int_mac_pj(4, 16) / int_mac_pj(8) * TO_12NM)


# ---- precision: area, input width, refusals ------------------------------------------------------------------------
def test_every_format_of_the_datapath_pays_for_its_multiplier():
    one, two = BASE.with_changes(datapath=["int8"]), BASE.with_changes(datapath=["int4", "int8"])
    a1, a2 = estimate_area(one).breakdown["pe_array"], estimate_area(two).breakdown["pe_array"]
    assert a2 > a1
    # an int4 multiplier is a quarter of an int8 one; its share of the synthesised 495 um^2 PE is 282/(282+137)
    extra_um2_per_pe = 495.0 * MULT8_UM2 / (MULT8_UM2 + ADD32_UM2) * 0.25
    assert a2 - a1 == pytest.approx(16 * 16 * extra_um2_per_pe * 1e-6)
    assert estimate_area(one).total_mm2 == pytest.approx(estimate_area(BASE).total_mm2)  # [int8] is the default PE


@pytest.mark.parametrize("datapath, bits", [(["int4"], 4), (["int4", "int8"], 8), (["int8", "int4"], 8),
                                            (["int8", "fp16"], 16), (["bf16"], 16)])
def test_input_bits_follow_the_widest_format(datapath, bits):
    hw = BASE.with_changes(datapath=datapath)
    assert hw.input_bits == bits
    assert hw.formats == tuple(datapath)
    assert CostModel(hw).format.name == datapath[0]  # the native format is the first listed


def test_a_given_input_width_must_agree_with_the_datapath():
    with pytest.raises(ValueError, match=r"input_bits=4 conflicts with datapath \['int8'\], which gives 8"):
        AcceleratorConfig.model_validate({**BASE.settings(), "datapath": ["int8"], "input_bits": 4})
    with pytest.raises(ValueError, match="formats must not repeat"):
        BASE.with_changes(datapath=["int8", "int8"])
    with pytest.raises(ValueError):
        BASE.with_changes(datapath=["int3"])


def test_a_precision_outside_the_datapath_is_refused_naming_both():
    with pytest.raises(UserInputError, match=r"precision int4 is not in the datapath of accelerator "
                                             r"'gemmini-default' \(datapath: int8\)"):
        CostModel(BASE, "int4")
    arch = reference_arch("smollm-135m")
    with pytest.raises(UserInputError, match="precision fp16 is not in the datapath"):
        SystolicSimulator(BASE).simulate(arch, Workload(phase="decode", seq_len=64, precision="fp16"))


def test_simulate_with_a_precision_outside_the_datapath_exits_2_in_one_line():
    result = CliRunner().invoke(app, ["simulate", "--model", "gpt2", "--seq-len", "32", "--hardware",
                                      "gemmini-default", "--precision", "int4"])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --precision: precision int4 is not in the datapath of "
                                                   "accelerator 'gemmini-default' (datapath: int8)"), result.stderr
    assert result.stdout == ""


# ---- precision: traffic --------------------------------------------------------------------------------------------
def test_a_gemm_at_int4_moves_half_the_bytes_of_int8():
    sim = SystolicSimulator(BASE.with_changes(datapath=["int8", "int4"]))
    m = n = k = 64  # fits on chip at either width: A, B and C each cross once
    g8, g4 = sim.gemm(m, n, k), sim.at_precision("int4").gemm(m, n, k)
    assert (g8.dram_read_bytes, g8.dram_write_bytes) == (m * k + k * n, m * n)
    assert (g4.dram_read_bytes, g4.dram_write_bytes) == ((m * k + k * n) / 2, m * n / 2)
    assert sim.at_precision("int8") is sim and sim.at_precision(None) is sim
    with pytest.raises(UserInputError, match="precision fp16 is not in the datapath"):
        sim.at_precision("fp16")


def test_simulate_at_int4_reads_half_the_weights_and_kv_cache(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "both.yaml").write_text("extends: gemmini-ibert\ndatapath: [int8, int4]\n")
    arch, vocab = reference_arch("smollm-135m"), reference_vocab("smollm-135m")
    args = ["simulate", "--model", "smollm-135m", "--hardware", "both.yaml", "--phase", "decode", "--seq-len", "256",
            "--head", "lm", "--json"]
    out = {p: json.loads(CliRunner().invoke(app, args + ["--precision", p]).stdout) for p in ("int8", "int4")}
    d, kv_dim, layers = arch.embed_dim, arch.kv_dim(0), len(arch.layers)
    linear = layers * (2 * d * d + 2 * d * kv_dim + 3 * d * arch.layers[0].ffn_dim) + vocab * d
    assert out["int8"]["dram_weight_bytes"] == pytest.approx(linear)  # one decode step reads each weight once
    assert out["int4"]["dram_weight_bytes"] == pytest.approx(linear / 2)
    assert out["int4"]["dram_kv_cache_bytes"] == pytest.approx(out["int8"]["dram_kv_cache_bytes"] / 2)
    assert out["int4"]["dram_footprint"]["weights_bytes"] == pytest.approx(linear / 2)
    assert out["int4"]["workload"]["precision"] == "int4"


# ---- one process node ----------------------------------------------------------------------------------------------
def test_moving_a_design_from_45_to_12_nm_scales_area_and_on_chip_energy_but_not_dram():
    at12 = AcceleratorConfig.preset("gemmini-ibert")
    at45 = at12.with_changes(node_nm=45)
    assert AREA_VS_12NM[45] == pytest.approx(AREA_45_VS_12)
    a12, a45 = estimate_area(at12), estimate_area(at45)
    assert a45.total_mm2 == pytest.approx(a12.total_mm2 * AREA_45_VS_12)
    for part, mm2 in a12.breakdown.items():
        assert a45.breakdown[part] == pytest.approx(mm2 * AREA_45_VS_12), part
    c12, c45 = CostModel(at12), CostModel(at45)
    assert c45.mac_pj == pytest.approx(0.3)  # Horowitz's figures hold at 45 nm
    for name in ("mac_pj", "scratchpad_pj_per_byte", "accumulator_pj_per_byte", "vector_pj_per_element"):
        assert getattr(c12, name) == pytest.approx(getattr(c45, name) * TO_12NM), name
    assert c12.dram_pj_per_byte == c45.dram_pj_per_byte == at12.energy.dram_pj_per_byte  # the device's, off die
    # leakage per mm^2 is the same at each node, so static power follows the area
    assert a45.static_mw == pytest.approx(a12.static_mw * AREA_45_VS_12)


def test_figures_given_at_12_nm_are_not_scaled_at_12_nm():
    hw = BASE.with_changes(energy={"figures_node_nm": 12, "mac_pj": 0.05})
    model = CostModel(hw)
    assert model.mac_pj == pytest.approx(0.05)
    assert model.vector_pj_per_element == pytest.approx(hw.energy.vector_pj_per_element)
    assert model.scratchpad_pj_per_byte == pytest.approx(hw.energy.sram_pj_per_byte(2.5, hw.scratchpad_kib))
    # the same figures on a 45 nm design are scaled up by 1/0.128
    assert CostModel(hw.with_changes(node_nm=45)).mac_pj == pytest.approx(0.05 / TO_12NM)


def test_a_memory_phy_does_not_shrink_with_the_node():
    hw = BASE.with_changes(memory={"technology": "lpddr5", "channels": 1})
    a12, a45 = (estimate_area(hw.with_changes(node_nm=n)).breakdown["memory_interface"] for n in (12, 45))
    phy, controller_7nm = 0.73, 0.47  # LLMCompass's LPDDR PHY and controller, per channel
    assert a45 - a12 == pytest.approx(controller_7nm * (AREA_VS_12NM[45] - AREA_VS_12NM[12]) / AREA_VS_12NM[7])
    assert a12 - controller_7nm / AREA_VS_12NM[7] == pytest.approx(phy)


# ---- the DMA queue -------------------------------------------------------------------------------------------------
def test_the_dma_queue_grows_linearly_with_requests_in_flight_and_leaks():
    area = {n: estimate_area(BASE.with_changes(dma_inflight_requests=n)) for n in (1, 16, 64, 256)}
    per_request = area[1].breakdown["dma_queue"]
    assert per_request > 0
    for n, report in area.items():
        assert report.breakdown["dma_queue"] == pytest.approx(n * per_request)
    assert area[256].static_mw > area[64].static_mw > area[16].static_mw
    # leakage is per mm^2: the step in static power over the step in area is the same for each step
    slope = lambda a, b: (area[b].static_mw - area[a].static_mw) / (area[b].total_mm2 - area[a].total_mm2)  # noqa
    assert slope(1, 16) == pytest.approx(slope(64, 256))


# ---- fold_overlap --------------------------------------------------------------------------------------------------
def test_without_fold_overlap_the_pe_loses_its_second_weight_register():
    off = BASE.with_changes(fold_overlap=False)
    drop = estimate_area(BASE).breakdown["pe_array"] - estimate_area(off).breakdown["pe_array"]
    assert drop == pytest.approx(16 * 16 * BASE.input_bits * 1.0 * 1e-6)  # input_bits flip-flops of ~1 um^2


@pytest.mark.parametrize("m", [64, 8])
def test_ws_compute_cycles_with_and_without_fold_overlap(m):
    r = c = 16
    n = k = 64
    folds = (k // r) * (n // c)
    with_overlap = folds * max(m, r) + (2 * r + c - 2)  # the next weights shift in while this fold streams
    without = folds * (2 * r + c + m - 2)  # each fold fills, streams and drains on its own
    mapping = Mapping("ws", m, n, k, "ijk", 1, True)
    assert cost_mapping(BASE, Problem(m, n, k), mapping).compute_cycles == with_overlap
    assert cost_mapping(BASE.with_changes(fold_overlap=False), Problem(m, n, k), mapping).compute_cycles == without


def test_os_compute_cycles_with_and_without_fold_overlap():
    r = c = 16
    m = n = k = 64
    folds = (m // r) * (n // c)
    os = BASE.with_changes(dataflow="os")
    mapping = Mapping("os", m, n, k, "ijk", 1, True)
    assert cost_mapping(os, Problem(m, n, k), mapping).compute_cycles == folds * max(k, r) + (r + c - 2)
    assert cost_mapping(os.with_changes(fold_overlap=False), Problem(m, n, k), mapping).compute_cycles == \
        folds * (r + c + k - 2)


def test_a_model_runs_slower_without_fold_overlap():
    arch, workload = reference_arch("bert-base"), Workload(seq_len=128)
    on = SystolicSimulator(BASE).simulate(arch, workload)
    off = SystolicSimulator(BASE.with_changes(fold_overlap=False)).simulate(arch, workload)
    assert off.breakdown["matmul"] > on.breakdown["matmul"]


def test_a_space_searching_fold_overlap_has_twice_the_designs():
    rows = {"extends": "gemmini-default", "rows": [8, 16]}
    plain = HardwareSpace.from_mapping(rows, "hs")
    both = HardwareSpace.from_mapping({**rows, "fold_overlap": [True, False]}, "hs")
    assert both.size() == 2 * plain.size()
    designs = list(both.enumerate())
    assert {(hw.rows, hw.fold_overlap) for hw in designs} == {(r, f) for r in (8, 16) for f in (True, False)}
    assert all(both.contains(hw) for hw in designs)
    assert both.gene_choices() == plain.gene_choices() + [2]  # one gene more; the others as they were


def test_a_space_searching_datapaths_derives_input_bits_per_design():
    hs = HardwareSpace.from_mapping({"extends": "gemmini-default", "datapath": [["int4"], ["int8"], ["int4", "int8"]]},
                                    "hs")
    designs = list(hs.enumerate())
    assert hs.size() == len(designs) == 3
    assert sorted((hw.formats, hw.input_bits) for hw in designs) == [
        (("int4",), 4), (("int4", "int8"), 8), (("int8",), 8)]
    for hw in designs:
        assert hs.decode(hs.encode(hw)).fingerprint() == hw.fingerprint()


def test_a_file_extending_a_hand_set_width_takes_the_datapath_s(tmp_path):
    path = tmp_path / "int4.yaml"
    path.write_text("extends: gemmini-default\ndatapath: [int4]\n")  # the base says input_bits: 8
    hw = AcceleratorConfig.from_yaml(path)
    assert (hw.input_bits, hw.formats) == (4, ("int4",))
    assert estimate_area(hw).breakdown["pe_array"] < estimate_area(BASE).breakdown["pe_array"]
