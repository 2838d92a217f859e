"""The area model against the synthesis figures it is built from (docs/sources.md section 5)."""
import pytest

from predictors.accelerator.area import estimate_area, sram_um2_per_bit
from predictors.accelerator.hardware import AcceleratorConfig


def test_a_32x32_int8_array_has_the_synthesised_area():
    """RecPipe's GF 12LP synthesis of a 32x32 int8 WS array: 506,892 um^2."""
    report = estimate_area(AcceleratorConfig.preset("gemmini-32x32"))
    assert report.breakdown["pe_array"] == pytest.approx(0.506880, rel=1e-4)


@pytest.mark.parametrize("kib, um2", [(4, 4_684), (32, 29_142), (256, 183_290)])
def test_sram_macros_match_the_published_macros(kib, um2):
    """RecPipe's 12 nm macros; our density table rounds each to three digits, so within 1%."""
    assert kib * 1024 * 8 * sram_um2_per_bit(kib * 1024) == pytest.approx(um2, rel=0.01)


def test_bigger_buffers_and_arrays_cost_area_and_static_power():
    default = AcceleratorConfig.preset("gemmini-default")
    base = estimate_area(default)
    wider = estimate_area(default.model_copy(update={"rows": 32, "cols": 32}))
    bigger = estimate_area(default.model_copy(update={"accumulator_kib": 256.0}))
    assert wider.breakdown["pe_array"] == pytest.approx(4 * base.breakdown["pe_array"])
    assert bigger.total_mm2 > base.total_mm2 and bigger.static_mw > base.static_mw
    assert base.static_mw == pytest.approx(10.0 * base.total_mm2)
    assert sum(base.breakdown.values()) == pytest.approx(base.total_mm2)


def test_vector_units_on_the_accelerator_add_area_and_host_ops_do_not():
    default, ibert = (estimate_area(AcceleratorConfig.preset(n)) for n in ("gemmini-default", "gemmini-ibert"))
    assert not any(k.startswith("vector.") for k in default.breakdown)
    assert ibert.breakdown["vector.layernorm"] == pytest.approx(0.039)  # 16 lanes, SoftEx's 0.039 mm^2
    assert ibert.breakdown["vector.gelu"] < ibert.breakdown["vector.layernorm"] / 10  # fused into mvout


def test_other_nodes_scale_by_stillmaker_and_baas():
    hw = AcceleratorConfig.preset("gemmini-default")
    at12, at22 = estimate_area(hw, 12), estimate_area(hw, 22)
    assert at22.total_mm2 == pytest.approx(1.975 * at12.total_mm2)
    with pytest.raises(ValueError, match="node_nm: no area scaling for 7 nm"):
        estimate_area(hw, 7)
    older = hw.model_copy(update={"node_nm": 22})
    assert estimate_area(older).total_mm2 == pytest.approx(at22.total_mm2)
    assert estimate_area(older).static_mw == pytest.approx(1.975 * at12.static_mw)
    assert older.fingerprint() != hw.fingerprint()


def test_a_node_without_constants_is_refused_in_one_line(tmp_path):
    from conftest import one_line_error
    (tmp_path / "hw.yaml").write_text("extends: gemmini-default\nnode_nm: 7\n")
    line = one_line_error(["hardware", "show", str(tmp_path / "hw.yaml")])
    assert "hw.yaml: node_nm:" in line and "12, 16, 22, 28, 45 or 65" in line


def test_the_cli_prints_area_power_and_performance_per_mm2():
    import json

    from typer.testing import CliRunner

    from nas.cli import app

    shown = json.loads(CliRunner().invoke(app, ["hardware", "show", "gemmini-ibert", "--json"]).stdout)
    assert shown["area"]["total_mm2"] == pytest.approx(estimate_area(AcceleratorConfig.preset("gemmini-ibert")).total_mm2)
    result = CliRunner().invoke(app, ["simulate", "--model", "bert-base", "--hardware", "gemmini-ibert", "--json"])
    report = json.loads(result.stdout)
    assert report["power_mw"] == pytest.approx(report["energy_mj"] / report["latency_ms"] * 1e3)
    assert report["inferences_per_s_per_mm2"] == pytest.approx(1e3 / report["latency_ms"] / report["area"]["total_mm2"])
    text = CliRunner().invoke(app, ["simulate", "--model", "bert-base", "--hardware", "gemmini-ibert"]).stdout
    assert "area 0.655 mm^2 at 12 nm" in text
