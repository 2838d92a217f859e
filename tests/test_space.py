import random

import numpy as np
import pytest

from supernet.space import ArchConfig, LayerConfig, SearchSpace, nas_case_study_space, reference_arch


def test_arch_json_round_trip_and_stable_key():
    arch = ArchConfig(672, (LayerConfig(12, 1280), LayerConfig(6, 1280)))
    again = ArchConfig.from_dict(arch.to_dict())
    assert again == arch and hash(again) == hash(arch)
    assert arch.key == again.key and len(arch.key) == 12
    assert arch.key != ArchConfig(672, (LayerConfig(12, 1280), LayerConfig(6, 1408))).key
    assert arch.attn_dim(0) == 768 and arch.depth == 2


def test_arch_from_dict_names_the_bad_field():
    with pytest.raises(ValueError, match=r"layers\[1\].ffn_dim"):
        ArchConfig.from_dict({"embed_dim": 64, "layers": [{"heads": 2, "ffn_dim": 8}, {"heads": 2, "ffn_dim": "x"}]})
    with pytest.raises(ValueError, match="unknown architecture key"):
        ArchConfig.from_dict({"embed_dim": 64, "layers": [], "depth": 3})


def test_survey_space_from_yaml_form_and_size():
    space = SearchSpace.model_validate({"depth": [3, 4, 5, 6], "embed_dim": [384, 480, 576, 672, 768],
                                        "heads": [4, 6, 8, 10, 12], "ffn_dim": {"min": 768, "max": 3072, "step": 128}})
    assert space == nas_case_study_space()
    assert len(space.ffn_dim) == 19
    per_layer = 5 * 19
    assert space.size() == 5 * sum(per_layer**d for d in (3, 4, 5, 6))
    assert space.largest() == reference_arch("nas-baseline")


def test_sampling_stays_inside_and_genome_round_trips():
    space = nas_case_study_space()
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(200)] + [space.sample(random.Random(1)) for _ in range(50)]
    assert {a.depth for a in archs} == {3, 4, 5, 6}
    for arch in archs:
        assert space.contains(arch)
        genome = space.encode(arch)
        assert len(genome) == len(space.gene_choices()) == 2 + 2 * 6
        assert space.decode(genome) == arch


def test_enumerate_matches_size_on_a_small_space():
    space = SearchSpace(depth=[1, 2], embed_dim=[32, 64], heads=[1, 2], ffn_dim=[64, 128], head_dim=16)
    archs = list(space.enumerate())
    assert len(archs) == len(set(archs)) == space.size() == 2 * (4 + 16)
    with pytest.raises(ValueError, match="more than the limit"):
        list(nas_case_study_space().enumerate())


def test_violation_names_layer_and_field():
    space = nas_case_study_space()
    arch = ArchConfig(768, (LayerConfig(12, 3072), LayerConfig(12, 3072), LayerConfig(7, 3072)))
    assert space.violation(arch) == "layers[2].heads=7 is not one of [4, 6, 8, 10, 12]"
    with pytest.raises(ValueError, match=r"layers\[2\].heads=7"):
        space.encode(arch)


def test_decode_rejects_out_of_range_genes():
    space = nas_case_study_space()
    with pytest.raises(ValueError, match="gene 1 = 9"):
        space.decode([0, 9] + [0] * 12)


def test_reference_models():
    bert = reference_arch("bert-large")
    assert (bert.depth, bert.embed_dim, bert.layers[0]) == (24, 1024, LayerConfig(16, 4096))
    with pytest.raises(ValueError, match="unknown model"):
        reference_arch("bert-huge")


# ---- bounds and strict types (issue 9) ------------------------------------------------------------------------------
from pydantic import ValidationError  # noqa: E402

from supernet.space import LIMITS, MAX_CHOICES  # noqa: E402

SMALL = dict(depth=[1, 2], embed_dim=[32], heads=[1], ffn_dim=[64])


@pytest.mark.parametrize("change, message", [
    ({"depth": [True, 2]}, "depth.0\n  Input should be a valid integer"),
    ({"heads": [2.0]}, "heads.0\n  Input should be a valid integer"),
    ({"max_seq_len": 10**9}, "less than or equal to 131072"),
    ({"max_seq_len": 512.0}, "max_seq_len\n  Input should be a valid integer"),
    ({"depth": [1, 1000]}, "1,000 is more than the limit of 256"),
    ({"ffn_dim": list(range(1, 2000))}, "1,999 choices is more than the limit of 1,024"),
    ({"ffn_dim": {"min": 1, "max": 30_000_000, "step": 1}}, "has 30,000,000 choices, more than the limit of 1,024"),
    ({"head_dim": 4096}, "less than or equal to 1024"),
])
def test_space_bounds_and_strict_ints(change, message):
    with pytest.raises(ValidationError) as info:
        SearchSpace(**{**SMALL, **change})
    assert message in str(info.value)


def test_limits_are_generous_for_real_models():
    gpt3 = ArchConfig(12288, tuple(LayerConfig(96, 49152) for _ in range(96)), head_dim=128)
    space = SearchSpace(depth=[96], embed_dim=[12288], heads=[96], ffn_dim={"min": 4096, "max": 49152, "step": 64},
                        head_dim=128, max_seq_len=LIMITS["max_seq_len"])
    assert space.contains(gpt3) and len(space.ffn_dim) == 705 <= MAX_CHOICES


@pytest.mark.parametrize("data, message", [
    ({"embed_dim": 10**9, "layers": [{"heads": 1, "ffn_dim": 1}]}, "embed_dim=1,000,000,000 is more than the limit"),
    ({"embed_dim": 64, "layers": [{"heads": 1, "ffn_dim": 10**7}]}, "layers[0].ffn_dim=10,000,000 is more than"),
    ({"embed_dim": 64, "layers": [{"heads": 5000, "ffn_dim": 64}]}, "layers[0].heads=5,000 is more than the limit"),
    ({"embed_dim": 64, "layers": [{"heads": 1, "ffn_dim": 64}] * 300}, "300 layers is more than the limit of 256"),
    ({"embed_dim": True, "layers": [{"heads": 1, "ffn_dim": 64}]}, "embed_dim: expected an integer, got True"),
])
def test_arch_bounds(data, message):
    with pytest.raises(ValueError) as info:
        ArchConfig.from_dict(data)
    assert message in str(info.value)
