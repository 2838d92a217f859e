"""The one block description: the feature vector, the supernet's counts and the real modules agree on it."""
import numpy as np
import pytest

from supernet.family import FAMILIES, family_for
from supernet.features import arch_features, feature_names
from supernet.model import SuperTransformer
from supernet.space import SearchSpace

SPACE = SearchSpace(depth=[1, 2, 3], embed_dim=[32, 64], heads=[1, 2, 4], ffn_dim=[48, 96, 128], head_dim=16,
                    max_seq_len=24)


@pytest.mark.parametrize("task", ["causal_lm", "classification"])
def test_features_count_the_same_parameters_and_macs_as_the_supernet(task):
    model = SuperTransformer(SPACE, task, vocab_size=50, num_classes=3)
    archs = sorted({SPACE.sample(np.random.default_rng(seed)) for seed in range(40)}, key=lambda a: a.key)
    names = feature_names(SPACE.max_depth)
    feats = arch_features(archs, SPACE.max_depth, family_for(task))
    col = {name: feats[:, names.index(name)] for name in names}
    block, t = family_for(task), 24
    for row, arch in enumerate(archs):
        outer = block.outer_params(arch.embed_dim, 50, SPACE.max_seq_len, 3)
        assert col["params"][row] + outer == model.num_params(arch)
        per_token = col["proj_macs_per_token"][row] + col["ffn_macs_per_token"][row]
        attention = col["attn_macs_per_token_per_ctx"][row] * t * t
        head = block.head_macs(arch.embed_dim, t, 50, 3)
        assert per_token * t + attention + head == model.macs(arch, t)


@pytest.mark.parametrize("task", ["causal_lm", "classification"])
def test_counts_match_the_modules_the_supernet_builds(task):
    """The largest sub-network uses every weight, so its count is the supernet's own parameter total."""
    model = SuperTransformer(SPACE, task, vocab_size=50, num_classes=3)
    assert model.num_params(SPACE.largest()) == sum(p.numel() for p in model.parameters())


def test_bert_base_has_its_published_parameter_count():
    """BERT-Base (uncased): 109,482,240 weights in BertModel plus 1,538 in a 2-way classifier."""
    bert = FAMILIES["bert"]
    layers = 12 * bert.layer_params(768, 768, 3072)
    assert layers + bert.outer_params(768, 30522, 512, 2) == 109_482_240 + 1_538


def test_gpt2_small_has_its_published_parameter_count():
    """GPT-2 small: 124,439,808 parameters with the LM head tied to the token embedding."""
    gpt2 = FAMILIES["gpt2"]
    assert 12 * gpt2.layer_params(768, 768, 3072) + gpt2.outer_params(768, 50257, 1024, 0) == 124_439_808


def test_an_unknown_task_names_the_choices():
    with pytest.raises(ValueError, match="classification, causal_lm"):
        family_for("seq2seq")
