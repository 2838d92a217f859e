"""The Llama-style family end to end: counts of the published models, the space with key/value heads, the
supernet against stock `LlamaForCausalLM`, and what grouped-query attention and quantisation do to decoding."""
import importlib.util
import json
import random

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from conftest import load_without_hwnas
from nas.config import RunConfig
from predictors.accelerator.hardware import AcceleratorConfig
from predictors.accelerator.systolic import SystolicSimulator
from predictors.accelerator.vector_ops import VectorKind
from predictors.accelerator.workload import Workload, count_work, lower
from supernet.export import export_subnet, stock_incompatibility
from supernet.family import FAMILIES
from supernet.model import SuperTransformer
from supernet.space import ArchConfig, LayerConfig, SearchSpace, reference_arch, reference_vocab, uniform_arch
from userfiles import UserInputError, validate

LLAMA = FAMILIES["llama"]
# Parameter totals as the model cards and `model.num_parameters()` give them (tied heads counted once).
PUBLISHED_PARAMS = {"llama-3.2-1b": 1_235_814_400, "qwen2.5-0.5b": 494_032_768, "smollm-135m": 134_515_008}
SPACE = SearchSpace(family="llama", depth=[2, 3], embed_dim=[64, 96], heads=[2, 4, 6], kv_heads=[1, 2, 4],
                    ffn_dim=[128, 192], head_dim=16, max_seq_len=64)


@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMS))
def test_reference_models_match_their_published_parameters_and_flops(name):
    arch = reference_arch(name)
    params = LLAMA.params(arch, reference_vocab(name), max_len=0)
    assert abs(params / PUBLISHED_PARAMS[name] - 1) < 0.01, params
    # A forward pass costs 2 FLOPs per weight per token (the LM head is the tied embedding, counted once);
    # one decode step at a 1-token context adds next to nothing for attention.
    work = count_work(arch, Workload(phase="decode", seq_len=1, head="lm", vocab_size=reference_vocab(name)))
    matmul_flops = sum(work[g].flops for g in ("mha_projections", "attention_matmuls", "ffn", "head"))
    assert abs(matmul_flops / (2 * PUBLISHED_PARAMS[name]) - 1) < 0.01


def test_llama_3_2_1b_decode_reads_every_weight_and_the_whole_kv_cache_once():
    arch = reference_arch("llama-3.2-1b")
    report = SystolicSimulator(AcceleratorConfig.preset("gemmini-32x32")).simulate(
        arch, Workload(phase="decode", seq_len=2048))
    layer_weights = 16 * (2048 * 2048 * 2 + 2 * 2048 * 512 + 3 * 2048 * 8192)  # q, o; k, v at 8 x 64; SwiGLU
    assert report.dram_weight_bytes == layer_weights
    assert report.dram_kv_cache_bytes == 16 * 2 * 2048 * 8 * 64  # K and V of 8 heads at every position, int8
    assert report.dram_bytes > report.dram_weight_bytes + report.dram_kv_cache_bytes


def test_grouped_query_attention_cuts_decode_not_prefill():
    sim = SystolicSimulator(AcceleratorConfig.preset("gemmini-32x32"))
    decode, prefill, cache = [], [], []
    for kv in (32, 8, 1):
        arch = uniform_arch(16, 2048, 32, 8192, 64, kv_heads=kv, family="llama")
        step = sim.simulate(arch, Workload(phase="decode", seq_len=2048))
        decode.append(step.latency_ms)
        cache.append(step.dram_kv_cache_bytes)
        prefill.append(sim.simulate(arch, Workload(phase="prefill", seq_len=512, causal=True)).latency_ms)
    assert cache[0] / cache[1] == 4 and cache[1] / cache[2] == 8
    assert decode[0] > decode[1] > decode[2]
    assert max(prefill) / min(prefill) < 1.1  # projections shrink a little; attention MACs are the same


def test_weight_only_quantisation_and_a_narrow_kv_cache_halve_their_traffic():
    sim = SystolicSimulator(AcceleratorConfig.preset("gemmini-32x32"))
    arch = reference_arch("smollm-135m")
    full = sim.simulate(arch, Workload(phase="decode", seq_len=2048))
    narrow = sim.simulate(arch, Workload(phase="decode", seq_len=2048, weight_bits=4, kv_cache_bits=4))
    assert narrow.dram_weight_bytes == pytest.approx(full.dram_weight_bytes / 2)
    assert narrow.dram_kv_cache_bytes == pytest.approx(full.dram_kv_cache_bytes / 2)
    assert narrow.latency_ms < full.latency_ms
    assert Workload(phase="decode").fingerprint() == Workload(phase="decode", weight_bits=None).fingerprint()
    assert Workload(phase="decode", weight_bits=4).fingerprint() != Workload(phase="decode").fingerprint()


def test_llama_ops_are_placed_with_their_relatives_on_every_preset():
    arch = reference_arch("smollm-135m")
    ops = {op.kind for op in lower(arch, Workload(phase="prefill", seq_len=128, causal=True))
           if hasattr(op, "kind")}
    assert {VectorKind.rmsnorm, VectorKind.silu, VectorKind.multiply, VectorKind.rope} <= ops
    assert not ops & {VectorKind.layernorm, VectorKind.gelu}
    default, ibert = AcceleratorConfig.preset("gemmini-default"), AcceleratorConfig.preset("gemmini-ibert")
    assert default.unit(VectorKind.rmsnorm).where == "host" and ibert.unit(VectorKind.rmsnorm).where == "accelerator"
    assert ibert.unit(VectorKind.silu) == ibert.vector_units[VectorKind.gelu]
    placed = default.model_copy(update={"vector_units": {**default.vector_units, VectorKind.rmsnorm: ibert.unit(
        VectorKind.layernorm)}})
    host, unit = (SystolicSimulator(hw).simulate(arch, Workload(seq_len=128, causal=True)).breakdown["rmsnorm"]
                  for hw in (default, placed))
    assert unit < host / 10


def test_space_with_kv_heads_samples_encodes_and_counts_only_dividing_choices():
    assert SPACE.kv_choices(6) == (1, 2) and SPACE.kv_choices(4) == (1, 2, 4)
    archs = list(SPACE.enumerate())
    assert len(archs) == SPACE.size() == 2 * (((2 + 3 + 2) * 2) ** 2 + ((2 + 3 + 2) * 2) ** 3)  # kv choices: 2 of heads 2, 3 of 4, 2 of 6
    rng = random.Random(0)
    for _ in range(50):
        arch = SPACE.sample(rng)
        assert SPACE.contains(arch) and SPACE.decode(SPACE.encode(arch)) == arch
        assert all(layer.heads % layer.kv == 0 for layer in arch.layers)
    genome = SPACE.encode(SPACE.largest())
    genome[2:5] = [2, 2, 0]  # heads 6 with kv 4, which does not divide it: decodes to the nearest below, 2
    assert SPACE.decode(genome).layers[0] == LayerConfig(6, 128, 2)
    assert SPACE.largest().layers[0] == LayerConfig(6, 192, 2) and SPACE.smallest().layers[0].kv == 1
    assert "layers[0].kv_heads=3 is not one of [1, 2]" in SPACE.violation(
        ArchConfig(64, (LayerConfig(6, 128, 3),) * 2, 16, "llama"))
    mha = ArchConfig(64, (LayerConfig(4, 128, 4), LayerConfig(4, 128, 4)), 16, "llama")
    assert SPACE.violation(mha) is None  # kv 4 of 4 heads is plain multi-head attention, and a choice
    gpt2 = uniform_arch(2, 64, 4, 128, 16)
    assert "family=none (the task's own) is not this space's family=llama" in SPACE.violation(gpt2)


def test_space_refuses_a_head_count_without_a_dividing_kv_choice():
    with pytest.raises(UserInputError, match="kv_heads: none of \\[4\\] divides heads=6"):
        validate(SearchSpace, {"family": "llama", "depth": [2], "embed_dim": [64], "heads": [4, 6], "kv_heads": [4],
                               "ffn_dim": [128]}, source="space")
    with pytest.raises(ValueError, match="kv_heads=3 must divide heads=4"):
        ArchConfig(64, (LayerConfig(4, 128, 3),), 16, "llama")


def test_arch_dicts_round_trip_and_old_ones_keep_their_key():
    arch = SPACE.sample(random.Random(3))
    assert ArchConfig.from_dict(json.loads(arch.to_json())) == arch
    plain = uniform_arch(2, 64, 4, 128, 16)
    assert "family" not in plain.to_dict() and "kv_heads" not in plain.to_dict()["layers"][0]
    assert uniform_arch(2, 64, 4, 128, 16, kv_heads=4) == plain  # kv_heads == heads is multi-head attention


@pytest.fixture(scope="module")
def supernet():
    torch.manual_seed(0)
    model = SuperTransformer(SPACE, "causal_lm", vocab_size=256)
    with torch.no_grad():  # norms away from 1 so that a wrong scale would show
        for name, p in model.named_parameters():
            p.add_(torch.randn_like(p) * (0.2 if "norm" in name else 0.02))
    return model.eval()


def test_supernet_subnetwork_equals_a_stock_llama_with_its_weights(supernet):
    arch = uniform_arch(2, 96, 6, 192, 16, kv_heads=2, family="llama")
    state = supernet.state_dict()
    stock = LlamaForCausalLM(LlamaConfig(
        vocab_size=256, hidden_size=96, intermediate_size=192, num_hidden_layers=2, num_attention_heads=6,
        num_key_value_heads=2, head_dim=16, rms_norm_eps=LLAMA.norm_eps, tie_word_embeddings=True,
        rope_parameters={"rope_type": "default", "rope_theta": LLAMA.rope_theta})).eval()
    weights = {"model.embed_tokens.weight": state["model.embeddings.word.weight"][:, :96],
               "model.norm.weight": state["model.final_norm.weight"][:96]}
    for i in range(2):
        at = f"model.layers.{i}."
        weights[at + "self_attn.q_proj.weight"] = state[at + "attn.q.weight"][:96, :96]
        weights[at + "self_attn.k_proj.weight"] = state[at + "attn.k.weight"][:32, :96]  # the first 2 KV heads
        weights[at + "self_attn.v_proj.weight"] = state[at + "attn.v.weight"][:32, :96]
        weights[at + "self_attn.o_proj.weight"] = state[at + "attn.out.weight"][:96, :96]
        for proj in ("gate", "up"):
            weights[at + f"mlp.{proj}_proj.weight"] = state[at + f"ffn.{proj}.weight"][:192, :96]
        weights[at + "mlp.down_proj.weight"] = state[at + "ffn.down.weight"][:96, :192]
        weights[at + "input_layernorm.weight"] = state[at + "norm1.weight"][:96]
        weights[at + "post_attention_layernorm.weight"] = state[at + "norm2.weight"][:96]
    weights["lm_head.weight"] = weights["model.embed_tokens.weight"]
    stock.load_state_dict({k: v.contiguous() for k, v in weights.items()})
    ids = torch.randint(0, 256, (2, 20), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert (supernet(ids, arch) - stock(ids).logits).abs().max() < 1e-5
    assert supernet.num_params(arch) == sum(p.numel() for n, p in stock.named_parameters() if n != "lm_head.weight")


def test_stock_llama_export_loads_without_hwnas(supernet, tmp_path):
    arch = SPACE.largest()
    assert stock_incompatibility(arch) is None
    mixed = ArchConfig(96, (LayerConfig(6, 192, 2), LayerConfig(6, 192, 1)), 16, "llama")
    assert "key/value heads" in stock_incompatibility(mixed)
    record = export_subnet(supernet, arch, tmp_path / "stock")
    assert record["stock"] and record["max_abs_diff"] <= 1e-5
    ids = [[5, 17, 99, 3, 42, 7]]
    with torch.no_grad():
        expected = supernet(torch.tensor(ids), arch)
    result = load_without_hwnas(tmp_path / "stock", ids)
    assert result["leaked"] == [] and result["cls"] == "LlamaForCausalLM"
    assert (torch.tensor(result["logits"]) - expected).abs().max() < 1e-5
    mixed_record = export_subnet(supernet, ArchConfig(96, (LayerConfig(6, 192, 2), LayerConfig(4, 128, 1)), 16,
                                                      "llama"), tmp_path / "remote")
    assert not mixed_record["stock"] and mixed_record["max_abs_diff"] <= 1e-5


def test_run_config_refuses_a_family_that_does_not_suit_the_task():
    base = {"space": {"family": "llama", "depth": [2], "embed_dim": [64], "heads": [2], "ffn_dim": [128]},
            "supernet": {"task": "classification"}, "hardware": "gemmini-default", "objectives": ["accuracy", "latency_ms"]}
    with pytest.raises(UserInputError, match="space.family: family 'llama' is a causal decoder; task "
                                             "'classification' needs one of bert"):
        validate(RunConfig, base, source="run.yaml")


@pytest.mark.parametrize("fmt", ["torch", "onnx"])
def test_llama_exports_as_a_program_and_as_onnx(supernet, fmt, tmp_path):
    if fmt == "onnx" and importlib.util.find_spec("onnxscript") is None:
        pytest.skip("needs the onnx extra")
    arch = SPACE.sample(random.Random(5))
    record = export_subnet(supernet, arch, tmp_path / fmt, fmt)
    assert record["checked"] and record["max_abs_diff"] <= 1e-5


def test_an_untied_head_is_a_weight_of_its_own_in_the_supernet_and_the_stock_export(tmp_path):
    space = SearchSpace(family="llama-untied", depth=[2], embed_dim=[32, 64], heads=[2, 4], kv_heads=[1, 2],
                        ffn_dim=[64, 96], head_dim=16, max_seq_len=32)
    torch.manual_seed(0)
    model = SuperTransformer(space, "causal_lm", vocab_size=128).eval()
    arch = space.largest()
    tied = SuperTransformer(SPACE, "causal_lm", vocab_size=128)
    assert model.num_params(arch) == LLAMA.params(arch, 128, 0) + 64 * 128
    assert "model.lm_head.weight" in model.state_dict() and "model.lm_head.weight" not in tied.state_dict()
    record = export_subnet(model, arch, tmp_path / "untied")
    config = json.loads((tmp_path / "untied" / "config.json").read_text())
    assert record["stock"] and record["max_abs_diff"] <= 1e-5 and config["tie_word_embeddings"] is False


def test_space_refuses_unusable_kv_choices_and_odd_rotary_heads():
    base = {"family": "llama", "depth": [2], "embed_dim": [64], "heads": [2, 4], "ffn_dim": [128]}
    with pytest.raises(UserInputError, match=r"kv_heads: \[16\] divide none of the head counts \[2, 4\]"):
        validate(SearchSpace, {**base, "kv_heads": [1, 16]}, source="space")
    with pytest.raises(UserInputError, match="head_dim=15: rotary positions .* must be even"):
        validate(SearchSpace, {**base, "head_dim": 15}, source="space")


def test_a_one_token_prompt_is_not_read_from_the_kv_cache():
    arch = reference_arch("smollm-135m")
    prompt = SystolicSimulator(AcceleratorConfig.preset("gemmini-32x32")).simulate(
        arch, Workload(phase="prefill", seq_len=1, causal=True))
    assert prompt.dram_kv_cache_bytes == 0


def test_hardware_spaces_refuse_units_for_ops_that_share_one(tmp_path):
    from predictors.accelerator.hardware_space import HardwareSpace

    with pytest.raises(UserInputError, match="vector_units.rmsnorm: in a hardware space, rmsnorm run on the unit of "
                                             "layernorm"):
        HardwareSpace.from_mapping({"extends": "gemmini-default", "rows": [8, 16],
                                    "vector_units": {"rmsnorm": {"where": ["host", "accelerator"]}}}, "space.yaml")
