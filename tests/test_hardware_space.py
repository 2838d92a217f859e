"""HardwareSpace: the accelerator side of the co-design search, with SearchSpace's codec."""
import random

import pytest

from predictors.accelerator.area import estimate_area
from predictors.accelerator.hardware import AcceleratorConfig
from predictors.accelerator.hardware_space import HardwareSpace
from predictors.accelerator.systolic import SystolicSimulator
from predictors.accelerator.vector_ops import VectorKind
from predictors.accelerator.workload import Workload
from supernet.space import reference_arch
from userfiles import UserInputError

SPACE = {"extends": "gemmini-default", "rows": [8, 16, 32], "cols": [16, 32], "dataflow": ["ws", "os"],
         "scratchpad_kib": [64, 256], "accumulator_kib": [32, 64, 256],
         "vector_units": {"layernorm": {"where": ["host", "accelerator"], "lanes": [8, 16]},
                          "gelu": {"where": ["host", "accelerator", "fused"]}}}


def space(**changes) -> HardwareSpace:
    return HardwareSpace.from_mapping({**SPACE, **changes}, "hardware_space")


def test_codec_round_trips_every_design_once():
    hs = space()
    # 3 x 2 x 2 x 2 x 3 array/buffer choices; LayerNorm on the host or on a unit of 8 or 16 lanes; GELU 3 ways
    assert hs.size() == 72 * 3 * 3
    designs = list(hs.enumerate())
    assert len({hw.fingerprint() for hw in designs}) == hs.size() == len(designs)
    for hw in designs:
        assert hs.decode(hs.encode(hw)).fingerprint() == hw.fingerprint()
        assert hs.contains(hw)


def test_samples_are_designs_of_the_space_and_fields_left_out_keep_the_base():
    hs, base = space(), AcceleratorConfig.preset("gemmini-default")
    rng = random.Random(3)
    for _ in range(50):
        hw = hs.sample(rng)
        assert hs.contains(hw)
        assert (hw.dram_bytes_per_cycle, hw.clock_mhz) == (base.dram_bytes_per_cycle, base.clock_mhz)
        assert hw.vector_units[VectorKind.softmax] == base.vector_units[VectorKind.softmax]
    assert not hs.contains(base.model_copy(update={"rows": 64}))


def test_a_unit_moved_onto_the_accelerator_works_like_ibert_and_costs_area():
    hs = space(rows=[16], cols=[16], dataflow=["ws"], scratchpad_kib=[256], accumulator_kib=[64])
    host, unit = (next(hw for hw in hs.enumerate() if hw.vector_units[VectorKind.layernorm].where == where
                       and hw.vector_units[VectorKind.gelu].where == "host") for where in ("host", "accelerator"))
    assert unit.vector_units[VectorKind.layernorm].passes == 3  # I-BERT's three passes
    sim = lambda hw: SystolicSimulator(hw).simulate(reference_arch("bert-base"), Workload(seq_len=512))  # noqa
    assert sim(unit).breakdown["layernorm"] < sim(host).breakdown["layernorm"] / 10
    assert estimate_area(unit).total_mm2 > estimate_area(host).total_mm2


def test_decoded_designs_are_named_by_content_and_simulate_the_same_from_yaml(tmp_path):
    hw = space().sample(random.Random(1))
    path = tmp_path / "design.yaml"
    import yaml
    path.write_text(yaml.safe_dump(hw.model_dump(mode="json")))
    again = AcceleratorConfig.from_yaml(path)
    assert again.fingerprint() == hw.fingerprint() and hw.name.startswith("gemmini-default-")
    work = Workload(seq_len=128)
    arch = reference_arch("nas-baseline")
    assert SystolicSimulator(again).simulate(arch, work).cycles == SystolicSimulator(hw).simulate(arch, work).cycles


def test_fingerprint_follows_the_choices_not_the_file_name():
    assert space().fingerprint() == space().fingerprint()
    assert space(rows=[8, 16]).fingerprint() != space().fingerprint()


@pytest.mark.parametrize("change, message", [
    ({"rows": []}, "hardware_space: rows: Tuple should have at least 1 item"),
    ({"colour": [1]}, "hardware_space: colour: unknown key"),
    ({"rows": [16, 16]}, "rows: choices must not repeat"),
    ({"rows": [0, 16]}, "hardware_space: rows: Input should be greater than 0"),
    ({"dataflow": ["ws", "diagonal"]}, "hardware_space: dataflow.1: Input should be 'ws' or 'os'"),
    ({"vector_units": {"softmax": {"where": ["fused"]}}}, "'fused' applies only to gelu, quantize"),
    ({"extends": "gemmini-ibert", "vector_units": {"softmax": {"where": ["host"]}}}, "its cost on the host is unknown"),
    ({"extends": "no-such-preset"}, "unknown hardware preset 'no-such-preset'"),
    ({"rows": [256], "cols": [256], "scratchpad_kib": [1], "accumulator_kib": [1]}, "cannot hold one tile"),
])
def test_a_malformed_space_names_the_key(change, message):
    with pytest.raises(UserInputError) as err:
        space(**change)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_space_from_yaml_finds_its_base_beside_it(tmp_path):
    (tmp_path / "base.yaml").write_text("extends: gemmini-default\nrows: 8\ncols: 8\n")
    (tmp_path / "space.yaml").write_text("hardware_space:\n  extends: base.yaml\n  scratchpad_kib: [64, 128]\n")
    hs = HardwareSpace.from_yaml(tmp_path / "space.yaml")
    assert hs.size() == 2 and {hw.rows for hw in hs.enumerate()} == {8}
    (tmp_path / "folder").mkdir()
    (tmp_path / "space.yaml").write_text("hardware_space:\n  extends: folder\n  scratchpad_kib: [64, 128]\n")
    with pytest.raises(UserInputError, match="folder: is a directory, expected a file"):
        HardwareSpace.from_yaml(tmp_path / "space.yaml").size()
