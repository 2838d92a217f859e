import pytest

from predictors.hardware import AcceleratorConfig, preset_names
from userfiles import UserInputError

PLACEMENTS = """
vector_units:
  softmax: {where: host, host_cycles_per_element: 10}
  layernorm: {where: host, host_cycles_per_element: 10}
  gelu: {where: host, host_cycles_per_element: 10}
  residual_add: {where: host, host_cycles_per_element: 10}
  quantize: {where: host, host_cycles_per_element: 10}
"""


def test_presets_load_with_the_survey_shapes():
    assert set(preset_names()) >= {"gemmini-default", "gemmini-rebalanced", "gemmini-ibert", "gemmini-32x32",
                                   "survey-analytical"}
    default, rebalanced, ibert = (AcceleratorConfig.preset(n) for n in
                                  ("gemmini-default", "gemmini-rebalanced", "gemmini-ibert"))
    assert (default.rows, default.cols, default.dataflow) == (16, 16, "ws")
    assert (default.scratchpad_kib, default.accumulator_kib) == (256, 64)
    assert (rebalanced.scratchpad_kib, rebalanced.accumulator_kib) == (64, 256)
    assert default.vector_units["softmax"].where == "host"
    assert ibert.vector_units["gelu"].fused and ibert.vector_units["layernorm"].passes == 3
    assert AcceleratorConfig.preset("gemmini-32x32").peak_macs_per_cycle == 1024


def test_fingerprint_tracks_settings_not_names():
    hw = AcceleratorConfig.preset("gemmini-default")
    assert hw.fingerprint() == hw.model_copy(update={"name": "other"}).fingerprint()
    assert hw.fingerprint() != hw.model_copy(update={"accumulator_kib": 128}).fingerprint()
    assert len({AcceleratorConfig.preset(n).fingerprint() for n in preset_names()}) == len(preset_names())


def test_user_yaml_and_extends(tmp_yaml):
    hw = AcceleratorConfig.from_yaml(tmp_yaml("rows: 8\ncols: 32\ndataflow: os\n" + PLACEMENTS, "mine.yaml"))
    assert (hw.name, hw.rows, hw.cols, hw.dataflow) == ("mine", 8, 32, "os")
    derived = AcceleratorConfig.from_yaml(tmp_yaml("extends: gemmini-ibert\naccumulator_kib: 512\n"
                                                   "vector_units: {softmax: {passes: 2}}\n", "big.yaml"))
    assert derived.accumulator_kib == 512 and derived.scratchpad_kib == 64
    assert derived.vector_units["softmax"].passes == 2 and derived.vector_units["softmax"].where == "accelerator"
    assert AcceleratorConfig.resolve("gemmini-ibert") == AcceleratorConfig.preset("gemmini-ibert")


@pytest.mark.parametrize("text,expected", [
    ("rows: -16\n" + PLACEMENTS, r"hw.yaml: rows: Input should be greater than 0"),
    ("dataflow: is\n" + PLACEMENTS, r"hw.yaml: dataflow: Input should be 'ws' or 'os'"),
    ("rows: 16\n", r"hw.yaml: vector_units: missing required key"),
    ("scratchpad_kb: 64\n" + PLACEMENTS, r"hw.yaml: scratchpad_kb: unknown key"),
    ("extends: gemmini-default\nvector_units: {gelu: {where: gpu}}\n", r"hw.yaml: vector_units.gelu.where"),
    ("extends: gemmini-default\nenergy: {mac_pj: -1}\n", r"hw.yaml: energy.mac_pj: Input should be greater"),
    ("extends: nothing-like-it\n", r"hw.yaml: extends: 'nothing-like-it' is neither a preset nor a file"),
    ("extends: hw.yaml\n", r"hw.yaml: extends: 'hw.yaml' extends itself"),
    ("rows: [16\n", r"hw.yaml: not valid YAML"),
    ("- 1\n- 2\n", r"hw.yaml: expected a mapping"),
])
def test_bad_hardware_yaml_gives_one_line_naming_the_key(tmp_yaml, text, expected):
    with pytest.raises(UserInputError, match=expected) as info:
        AcceleratorConfig.from_yaml(tmp_yaml(text))
    assert "\n" not in str(info.value)


def test_unknown_preset():
    with pytest.raises(UserInputError, match="unknown hardware preset 'tpu'"):
        AcceleratorConfig.preset("tpu")
