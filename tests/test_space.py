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
