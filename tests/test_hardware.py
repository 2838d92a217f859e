import pytest

from predictors.accelerator.hardware import AcceleratorConfig, preset_names
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
    ("extends: gemmini-default\nmapper_objective: speed\n",
     r"hw.yaml: mapper_objective is no longer a hardware setting .*: set mapping.objective in the run config"),
    ("extends: gemmini-default\nfusion: {attention: true}\n", r"hw.yaml: fusion.attention needs softmax and quantize on "
                                                             r"the accelerator \(vector_units.softmax.where: host\)"),
    ("extends: gemmini-ibert\nfusion: {softmax: true}\n", r"hw.yaml: fusion.softmax: unknown key"),
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


# ---- what the hardware can hold, finite numbers, extends cycles (issue 9) -----------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("extends: gemmini-default\nscratchpad_kib: 0.25\n",
     "hw.yaml: scratchpad_kib=0.25 cannot hold one tile (16x16 and 16x16 operands of 8 bits, double-buffered: half "
     "of the SRAM is usable): it needs at least 1 KiB"),
    ("extends: gemmini-default\nrows: 4096\ncols: 4096\n",
     "hw.yaml: accumulator_kib=64 cannot hold one tile (4096x4096 partial sums of 32 bits, double-buffered: half of "
     "the SRAM is usable): it needs at least 131072 KiB"),
    ("extends: gemmini-default\ndouble_buffered: false\naccumulator_kib: 0.5\n",
     "hw.yaml: accumulator_kib=0.5 cannot hold one tile (16x16 partial sums of 32 bits): it needs at least 1 KiB"),
    ("extends: gemmini-default\nclock_mhz: .inf\n", "hw.yaml: clock_mhz: inf is not allowed; numbers must be finite"),
    ("extends: gemmini-default\nvector_units: {softmax: {where: accelerator, lanes: 1.0e-300}}\n",
     "hw.yaml: vector_units.softmax.lanes: Input should be greater than or equal to 0.001"),
    ("extends: gemmini-default\nrows: 16\nrows: 32\n", "hw.yaml: not valid YAML: duplicate key 'rows' (line 3, column 1)"),
    ("extends: gemmini-default\nrows: true\n", "hw.yaml: rows: Input should be a valid integer"),
])
def test_impossible_hardware_is_refused_when_validated(tmp_yaml, text, expected):
    with pytest.raises(UserInputError) as info:
        AcceleratorConfig.from_yaml(tmp_yaml(text))
    assert str(info.value).endswith(expected) and str(info.value).count("hw.yaml") == 1


def test_the_smallest_hardware_that_holds_one_tile_simulates(tmp_yaml):
    from predictors.accelerator.systolic import SystolicSimulator

    hw = AcceleratorConfig.from_yaml(tmp_yaml("extends: gemmini-default\nscratchpad_kib: 1\naccumulator_kib: 2\n"))
    assert SystolicSimulator(hw).gemm(512, 512, 512).cycles > 0


def test_nan_is_refused_from_python_too():
    with pytest.raises(ValueError, match="finite number"):
        AcceleratorConfig.preset("gemmini-default").model_validate(
            {**AcceleratorConfig.preset("gemmini-default").model_dump(), "clock_mhz": float("nan")})


def test_extends_cycles_are_found_whatever_the_spelling(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    (tmp_path / "x" / "a.yaml").write_text("extends: ../y/b.yaml\n")
    (tmp_path / "y" / "b.yaml").write_text("extends: ../x/./a.yaml\nrows: 8\n")
    with pytest.raises(UserInputError, match="leads back to .*a cycle of extends"):
        AcceleratorConfig.from_yaml(tmp_path / "x" / "a.yaml")
    (tmp_path / "x" / "self.yaml").write_text("extends: ../x/self.yaml\n")
    with pytest.raises(UserInputError, match="extends itself"):
        AcceleratorConfig.from_yaml(tmp_path / "x" / "self.yaml")


def test_a_long_chain_of_extends_is_refused(tmp_path):
    for i in range(40):
        (tmp_path / f"h{i}.yaml").write_text(f"extends: h{i + 1}.yaml\n" if i < 39 else "extends: gemmini-default\n")
    with pytest.raises(UserInputError, match="more than 32 files in one chain"):
        AcceleratorConfig.from_yaml(tmp_path / "h0.yaml")
