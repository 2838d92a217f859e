import functools
import itertools
import json
import math

import pytest

from predictors.accelerator.attribution import Limit
from predictors.accelerator.hardware import AcceleratorConfig, EnergyModel, Fusion
from predictors.accelerator.systolic import SystolicSimulator
from predictors.accelerator.workload import Workload
from supernet.space import reference_arch, uniform_arch

from conftest import DATA


def unlimited(**changes) -> AcceleratorConfig:
    """An array with SRAM and bandwidth to spare, folds back to back: SCALE-Sim's compute model."""
    base = AcceleratorConfig.preset("gemmini-default").model_dump()
    base.update(fold_overlap=False, scratchpad_kib=1 << 20, accumulator_kib=1 << 20, dram_bytes_per_cycle=1e9,
                dram_latency_cycles=0, name="unlimited")
    base.update(changes)
    return AcceleratorConfig.model_validate(base)


def searched(hw: AcceleratorConfig, objective: str = "cycles") -> SystolicSimulator:
    """A simulator whose search mapper picks the best tiling for `objective` (the default mapper is Gemmini's)."""
    return SystolicSimulator(hw, mapper="search", objective=objective)


def scalesim_formula(m, n, k, rows, cols, dataflow):
    if dataflow == "ws":
        return math.ceil(k / rows) * math.ceil(n / cols) * (2 * rows + cols + m - 2)
    return math.ceil(m / rows) * math.ceil(n / cols) * (rows + cols + k - 2)


def walked_dram_bytes(m: int, n: int, k: int, mapping, in_bytes: float, acc_bytes: float,
                      reload_every_step: bool = False) -> tuple[float, float]:
    """DRAM (read, write) bytes of a tiled GEMM, found by walking its tile loops one step at a time in the
    mapping's loop order (outermost first): an A tile (i, k) or a B tile (k, j) is fetched whenever the tile
    the array needs differs from the one it holds; an operand of at most two tiles stays on chip in the two
    double-buffered halves and is fetched once (docs/sources.md section 2). With `reload_every_step`, as
    Gemmini's software does, A and B are fetched at every step unless they stay on chip. Each C tile is written
    once at the input width; each visit to it after the first reads its int32 partial sums back in, and each
    departure before the last writes them out. Written without the simulator's own reuse formula."""
    tiles = {"i": (mapping.tile_m, m), "j": (mapping.tile_n, n), "k": (mapping.tile_k, k)}
    trips = {d: math.ceil(size / tile) for d, (tile, size) in tiles.items()}

    def extent(d: str, index: int) -> int:
        tile, size = tiles[d]
        return min(tile, size - index * tile)

    stays = {"a": trips["i"] * trips["k"] <= 2, "b": trips["k"] * trips["j"] <= 2}
    held: dict[str, object] = {"a": None, "b": None}
    fetched: dict[str, set] = {"a": set(), "b": set()}
    reads = 0.0
    visits: dict[tuple[int, int], int] = {}
    last_c = None
    for step in itertools.product(*(range(trips[d]) for d in mapping.loop_order)):
        at = dict(zip(mapping.loop_order, step))
        i, j, kk = at["i"], at["j"], at["k"]
        for name, tile, elements in (("a", (i, kk), extent("i", i) * extent("k", kk)),
                                     ("b", (kk, j), extent("k", kk) * extent("j", j))):
            if stays[name]:
                if tile not in fetched[name]:
                    fetched[name].add(tile)
                    reads += elements * in_bytes
            elif reload_every_step or held[name] != tile:
                held[name] = tile
                reads += elements * in_bytes
        if (i, j) != last_c:
            visits[(i, j)] = visits.get((i, j), 0) + 1
            last_c = (i, j)
    writes = 0.0
    for (i, j), count in visits.items():
        elements = extent("i", i) * extent("j", j)
        reads += (count - 1) * elements * acc_bytes
        writes += (count - 1) * elements * acc_bytes + elements * in_bytes
    return reads, writes


def scalesim_records():
    rows = []
    for name in ("bert_gemms_16x16.jsonl", "bert_gemms_32x32.jsonl"):
        rows += [r for r in map(json.loads, (DATA / name).read_text().splitlines()) if r["sim"] == "scalesim"]
    return rows


def test_compute_cycles_match_recorded_scalesim_runs():
    # SCALE-Sim 3.0.0 on one BERT-Base layer at seq 128 (tests/data); it reports the last cycle's index.
    records = scalesim_records()
    assert len(records) >= 20, "the recorded SCALE-Sim runs are part of the repository"
    for rec in records:
        hw = unlimited(rows=rec["rows"], cols=rec["cols"], dataflow=rec["dataflow"])
        ours = searched(hw).gemm(rec["M"], rec["N"], rec["K"]).compute_cycles
        assert ours == rec["compute_cycles"] + 1, rec["name"]


@pytest.mark.parametrize("dataflow", ["ws", "os"])
@pytest.mark.parametrize("m,n,k,rows,cols", [(50, 37, 29, 8, 16), (50, 37, 29, 16, 8), (7, 5, 3, 4, 4),
                                             (100, 3, 200, 4, 32), (1, 1, 1, 16, 16), (333, 129, 65, 12, 20)])
def test_fold_dynamics_follow_scalesim_formula(m, n, k, rows, cols, dataflow):
    hw = unlimited(rows=rows, cols=cols, dataflow=dataflow)
    assert searched(hw).gemm(m, n, k).compute_cycles == scalesim_formula(m, n, k, rows, cols, dataflow)


def test_fold_overlap_hides_weight_loads():
    back_to_back = searched(unlimited()).gemm(512, 768, 768)
    overlapped = searched(unlimited(fold_overlap=True)).gemm(512, 768, 768)
    ideal = 512 * 768 * 768 / 256
    assert overlapped.compute_cycles < back_to_back.compute_cycles
    assert overlapped.compute_cycles == pytest.approx(ideal, rel=0.01)
    assert back_to_back.compute_cycles == pytest.approx(48 * 48 * (32 + 16 + 512 - 2))


def test_gemmini_tiling_matches_tiled_matmul_auto():
    # docs/sources.md section 2: 512^3 on the default Gemmini tiles as 5 x 6 x 32 blocks (WS), 8 x 8 x 32 (OS).
    ws = SystolicSimulator(AcceleratorConfig.preset("gemmini-default")).gemm(512, 512, 512).mapping
    assert (ws.tile_m, ws.tile_n, ws.tile_k) == (80, 96, 512)
    os_hw = AcceleratorConfig.preset("gemmini-default").model_copy(update={"dataflow": "os", "double_buffered": False})
    os_ = SystolicSimulator(os_hw).gemm(512, 512, 512).mapping
    assert (os_.tile_m, os_.tile_n, os_.tile_k) == (128, 128, 512)


def test_dram_traffic_compulsory_when_on_chip_and_never_below():
    sim = SystolicSimulator(AcceleratorConfig.preset("gemmini-rebalanced"))
    small = sim.gemm(64, 64, 64)
    assert small.dram_read_bytes == 64 * 64 * 2 and small.dram_write_bytes == 64 * 64
    for m, n, k in [(512, 3072, 768), (512, 768, 3072), (4096, 64, 4096), (1, 3072, 768), (300, 17, 999)]:
        g = sim.gemm(m, n, k)
        assert g.dram_read_bytes >= m * k + k * n
        assert g.dram_write_bytes >= m * n
        assert 0 < g.utilization <= 1 and g.stall_cycles >= 0


@pytest.mark.parametrize("shape", [(300, 17, 999), (96, 80, 200), (200, 100, 50)])
def test_dram_traffic_of_every_mapping_is_its_tile_loop_walk(shape):
    """Every tiling and loop order the search mapper may pick (16 KiB SRAMs: tiles far smaller than the
    operands, edge tiles, partial sums spilled when K is not innermost) moves what walking its loops says."""
    hw = AcceleratorConfig.preset("gemmini-default").model_copy(update={"scratchpad_kib": 16, "accumulator_kib": 16})
    space = list(searched(hw).mapspace(*shape))
    m, n, k = shape
    assert any(t.dram_writes > m * n for t in space)  # some spill partial sums: the walk's C visits are exercised
    for t in space:
        assert (t.dram_reads, t.dram_writes) == pytest.approx(walked_dram_bytes(m, n, k, t.mapping, 1, 4)), t.mapping


def test_search_mapper_never_slower_than_gemmini_heuristic():
    gemmini = AcceleratorConfig.preset("gemmini-default")
    for shape in [(512, 3072, 768), (512, 512, 64), (128, 768, 768)]:
        assert searched(gemmini).gemm(*shape).cycles <= SystolicSimulator(gemmini).gemm(*shape).cycles


@pytest.mark.parametrize("preset", ["gemmini-default", "gemmini-ibert", "survey-analytical"])
def test_larger_array_never_slower_on_compute_bound_gemm(preset):
    # SRAM grows with the array's area and the DMA bus with its width (Gemmini's bus is DIM bytes wide), so
    # that the 1024^3 GEMM stays compute-bound; with the SRAM fixed, a big array starves on small tiles.
    base = AcceleratorConfig.preset(preset)
    cycles = []
    for side in (8, 16, 32, 64):
        area, width = (side / 16) ** 2, side / 16
        hw = base.model_copy(update={
            "rows": side, "cols": side, "scratchpad_kib": base.scratchpad_kib * area,
            "accumulator_kib": base.accumulator_kib * area, "dram_bytes_per_cycle": base.dram_bytes_per_cycle * width,
            "dma_inflight_requests": int(base.dma_inflight_requests * width) or 1})
        cycles.append(SystolicSimulator(hw).gemm(1024, 1024, 1024).cycles)
    assert cycles == sorted(cycles, reverse=True)
    assert cycles[0] > 3 * cycles[2]


@pytest.mark.parametrize("preset", ["gemmini-default", "gemmini-ibert"])
def test_more_bandwidth_never_slower(preset):
    base = AcceleratorConfig.preset(preset)
    arch = reference_arch("gpt2")
    for workload in (Workload(phase="decode", seq_len=512), Workload(seq_len=512)):
        latencies = [SystolicSimulator(base.model_copy(update={"dram_bytes_per_cycle": bw})).simulate(arch, workload).cycles
                     for bw in (2, 4, 8, 16, 64)]
        assert latencies == sorted(latencies, reverse=True)


def test_gpt2_decode_is_memory_bound():
    sim = SystolicSimulator(AcceleratorConfig.preset("gemmini-ibert"))
    ffn = sim.gemm(1, 3072, 768)
    assert ffn.stall_cycles > ffn.compute_cycles  # waiting on weights, not computing
    assert ffn.dram_read_bytes >= 768 * 3072
    decode = sim.simulate(reference_arch("gpt2"), Workload(phase="decode", seq_len=512))
    prefill = sim.simulate(reference_arch("gpt2"), Workload(phase="prefill", seq_len=512, causal=True))
    assert decode.matmul_utilization < 0.05 < 0.5 < prefill.matmul_utilization


# ---- the survey's Gemmini case study (docs/sources.md section 1, "The Gemmini case study"), row by row -----------
# BERT-Base at sequence length 512. Tolerances:
# * SURVEY_ROUNDING, 0.5 percentage points: the survey prints whole percents, so each of its percentages is only
#   known to +/- 0.5 pp. Rows that hwnas was calibrated to (the host's cycles per element of `gemmini-default`)
#   must hold to that.
# * MODEL_REL, 11% of the survey's value (or SURVEY_ROUNDING, whichever is larger): rows the model predicts from
#   Gemmini's documented structure. 11% is the per-operator error a published analytical model achieves against
#   real hardware (LLMCompass: 10.4-10.9% per operator, docs/sources.md section 8); measured today every row
#   that passes is inside it, the closest being the rebalanced matmul latency (+10%) and the 128 KiB / 256 KiB
#   cell of the utilisation grid (+8.9%).
# * A row the model misses by more is a KNOWN GAP: pinned at what the model gives today (1% relative) with the
#   measured value in its comment, so that a change in either direction is seen; it is not passed off as a match.
SURVEY_ROUNDING = 0.005
MODEL_REL = 0.11
# Its time breakdown of `gemmini-default` at seq 512: matmul 1%, softmax 19, LayerNorm 4, residual 11,
# (de)quantisation 49, GELU 10. Those rows add up to 94%, while the same section states that 96% of the time is
# spent outside matmuls. The calibration keeps the 96% and splits it in the survey's proportions, so each op's
# share of the time outside matmuls is compared with the survey's share of its 93% of non-matmul rows.
SURVEY_NON_MATMUL = {"softmax": 19, "layernorm": 4, "residual_add": 11, "quantize": 49, "gelu": 10}
# Matmul utilisation by accumulator (rows) x scratchpad (columns), KiB: the first step's memory rebalancing.
SURVEY_UTILISATION_GRID = {64: {64: 0.66, 128: 0.71, 256: 0.69},
                           128: {64: 0.91, 128: 0.91, 256: 0.88},
                           256: {64: 0.91, 128: 0.91, 256: 0.90}}


@functools.lru_cache(maxsize=None)
def bert_base_512(preset: str, scratchpad_kib: float | None = None, accumulator_kib: float | None = None):
    hw = AcceleratorConfig.preset(preset)
    if scratchpad_kib is not None:
        hw = hw.model_copy(update={"scratchpad_kib": scratchpad_kib, "accumulator_kib": accumulator_kib})
    return SystolicSimulator(hw).simulate(reference_arch("bert-base"), Workload(seq_len=512))


def outside_matmul_share(preset: str, kind: str) -> float:
    r = bert_base_512(preset)
    return r.breakdown[kind] / (r.cycles - r.breakdown["matmul"])


# (row, survey's value, the model's value, tolerance, known gap: the model's value today or None)
SURVEY_ROWS = [
    ("default: time outside matmuls", 0.96, lambda: 1 - bert_base_512("gemmini-default").shares()["matmul"],
     "rounding", None),  # 95.98%
    *[(f"default: {kind} share of the time outside matmuls", pct / 93,
       functools.partial(outside_matmul_share, "gemmini-default", kind), "rounding", None)
      for kind, pct in SURVEY_NON_MATMUL.items()],  # all within 0.15 pp of the survey's
    # KNOWN GAP: the survey reports end-to-end utilisation below 1%; the model gives 2.71%. It follows from the
    # survey's own other rows: 4% of the time in matmuls at about 67% utilisation is 2.7% (checked below), so
    # "below 1%" cannot hold together with them.
    ("default: end-to-end utilisation", 0.01, lambda: bert_base_512("gemmini-default").utilization, "model", 0.02706),
    # "single matmuls reach 74%": the best of BERT-Base's GEMMs on the default preset, attention x V, 79.6%
    ("default: best single-matmul utilisation", 0.74,
     lambda: max(g.report.utilization for g in bert_base_512("gemmini-default").gemms()), "model", None),
    # step 1, 256 -> 64 KiB scratchpad and 64 -> 256 KiB accumulator: total matmul latency -36%, i.e. 0.64 of
    # before; the model gives 0.704 (-29.6%), +10% on the latency, inside MODEL_REL
    ("rebalanced: matmul latency over default's", 0.64,
     lambda: bert_base_512("gemmini-rebalanced").breakdown["matmul"] / bert_base_512("gemmini-default").breakdown["matmul"],
     "model", None),
    # the utilisation grid, cell by cell: today 67.4 / 65.8 / 67.3, 96.3 / 96.8 / 95.8, 95.6 / 96.5 / 95.2 %
    *[(f"grid: accumulator {acc} KiB, scratchpad {sp} KiB: matmul utilisation", value,
       functools.partial(lambda a, s_: bert_base_512("gemmini-default", s_, a).matmul_utilization, acc, sp), "model", None)
      for acc, row in SURVEY_UTILISATION_GRID.items() for sp, value in row.items()],
    # KNOWN GAP: step 2 (I-BERT units, GELU fused) is 39.6x faster end to end than the baseline in the survey,
    # 32.87x in the model (-17%). The cause is not isolated: the model's I-BERT LayerNorm is cheaper than measured
    # (below), which alone would raise the speedup, so the shortfall lies in the I-BERT preset's matmul time
    # (93% of its time, against 87%) or in the baseline's absolute time, which is calibrated in shares only
    ("ibert: end-to-end speedup over default", 39.6,
     lambda: bert_base_512("gemmini-default").cycles / bert_base_512("gemmini-ibert").cycles, "model", 32.87),
    # its breakdown after step 2: matmul + GELU 87% (model 93.05%, GELU fused into the matmuls' mvout)
    ("ibert: matmul + GELU share", 0.87,
     lambda: sum(bert_base_512("gemmini-ibert").shares()[g] for g in ("matmul", "gelu")), "model", None),
    # KNOWN GAP: LayerNorm 7% in the survey, 0.83% in the model: three passes of 16 elements a cycle, as
    # documented, while the RTL evidently loses more to pipeline bubbles and rows spread over accumulator rows
    ("ibert: layernorm share", 0.07, lambda: bert_base_512("gemmini-ibert").shares()["layernorm"], "model", 0.00833),
    # KNOWN GAP: residual add 4% in the survey, 2.78% in the model (-1.2 pp, beyond the rounding)
    ("ibert: residual_add share", 0.04, lambda: bert_base_512("gemmini-ibert").shares()["residual_add"], "model",
     0.02781),
    ("ibert: softmax share", 0.03, lambda: bert_base_512("gemmini-ibert").shares()["softmax"], "model", None),  # 3.33%
]


@pytest.mark.parametrize("row,survey,model,tolerance,known_gap", SURVEY_ROWS, ids=[r[0] for r in SURVEY_ROWS])
def test_survey_gemmini_story_at_bert_base_512(row, survey, model, tolerance, known_gap):
    value = model()
    if known_gap is not None:
        assert value == pytest.approx(known_gap, rel=0.01), \
            f"{row}: known gap moved (survey {survey:g}, was {known_gap:g}, now {value:.5g}); update this row"
        return
    rel = 0.0 if tolerance == "rounding" else MODEL_REL
    assert value == pytest.approx(survey, rel=rel, abs=SURVEY_ROUNDING), f"{row}: survey {survey:g}, model {value:.5g}"


def test_survey_gemmini_story_holds_together():
    default, ibert = bert_base_512("gemmini-default"), bert_base_512("gemmini-ibert")
    # end-to-end utilisation is the matmuls' share of the time times their utilisation: the known gap above
    assert default.utilization == pytest.approx(default.shares()["matmul"] * default.matmul_utilization)
    # the grid's finding: the accumulator, not the scratchpad, sets the utilisation. In the survey the worst cell
    # with 128 KiB or more of accumulator (88%) beats the best with 64 KiB (71%) by 17 pp; the model, 28 pp.
    grid = {(acc, sp): bert_base_512("gemmini-default", sp, acc).matmul_utilization
            for acc in SURVEY_UTILISATION_GRID for sp in SURVEY_UTILISATION_GRID[acc]}
    assert min(v for (acc, _), v in grid.items() if acc >= 128) > max(v for (acc, _), v in grid.items() if acc == 64)
    # the presets are the grid's corners: default (64 KiB acc, 256 KiB sp) and rebalanced (256 KiB, 64 KiB)
    assert default.matmul_utilization == grid[(64, 256)]
    assert bert_base_512("gemmini-rebalanced").matmul_utilization == grid[(256, 64)]
    # not checked against the survey: its +9.3% power for the I-BERT units is unverified (docs/sources.md
    # section 5); the model only has to save energy along with the time
    assert ibert.energy_mj < default.energy_mj


def test_simulate_report_is_consistent():
    sim = SystolicSimulator(AcceleratorConfig.preset("gemmini-ibert"))
    arch = uniform_arch(4, 384, 6, 1536)
    r = sim.simulate(arch, Workload(seq_len=256, head="lm", vocab_size=8000))
    assert r.cycles == pytest.approx(sum(r.per_layer) + r.head.cycles)
    assert r.cycles == pytest.approx(sum(r.breakdown.values()))
    assert r.latency_ms == pytest.approx(r.cycles / 1e6)
    assert r.edp == pytest.approx(r.energy_mj * r.latency_ms)
    assert r.macs == 4 * 256 * (4 * 384 * 384 + 2 * 384 * 1536 + 2 * 256 * 384) + 256 * 8000 * 384
    # 8 GEMMs, their 8 requantisations, softmax, GELU, 2 residual adds, 2 LayerNorms and 4 quantisations per block
    assert len(r.ops) == 4 * 26 + 2
    assert [(layer, op.name) for layer, op in r.ops[-2:]] == [(None, "lm_head"), (None, "lm_head.requant")]
    assert sum(op.cycles for _, op in r.ops) == pytest.approx(r.cycles)
    assert sum(op.macs for _, op in r.ops) == r.macs
    assert sim.simulate(arch, Workload(seq_len=256, head="lm", vocab_size=8000)).cycles == r.cycles


def test_gemm_counts_scale_linearly():
    sim = SystolicSimulator(AcceleratorConfig.preset("gemmini-default"))
    one, twelve = sim.gemm(128, 128, 64), sim.gemm(128, 128, 64, count=12)
    assert twelve.cycles == pytest.approx(12 * one.cycles)
    assert twelve.energy_pj == pytest.approx(12 * one.energy_pj)
    with pytest.raises(ValueError, match="positive"):
        sim.gemm(0, 4, 4)


def test_gemm_energy_is_the_sum_of_its_events():
    """One 16x16x16 tile on a 16x16 WS array, every operand moved once, with round per-event energies:
    4,096 MACs x 1 pJ; scratchpad 1,024 B (A and B written by DMA, then read by the array) x 0.1 pJ;
    accumulator 512 int32 read-modify-writes = 2,048 B x 0.01 pJ; DRAM 512 B in + 256 B out x 10 pJ."""
    hw = AcceleratorConfig.preset("gemmini-default").model_copy(update={
        "energy": EnergyModel(mac_pj=1.0, scratchpad_pj_per_byte=0.1, accumulator_pj_per_byte=0.01,
                              dram_pj_per_byte=10.0, static_mw=0.0, sram_capacity_exponent=0.0,
                              figures_node_nm=12)})
    report = SystolicSimulator(hw).gemm(16, 16, 16)
    assert (report.dram_read_bytes, report.dram_write_bytes) == (512, 256)
    assert report.energy_pj == pytest.approx(4096 * 1.0 + 1024 * 0.1 + 2048 * 0.01 + 768 * 10.0)
    static = SystolicSimulator(hw.model_copy(update={"energy": EnergyModel(
        mac_pj=0, scratchpad_pj_per_byte=0, accumulator_pj_per_byte=0, dram_pj_per_byte=0, static_mw=1.0)}))
    gemm = static.gemm(16, 16, 16)
    assert gemm.energy_pj == pytest.approx(gemm.cycles * 1.0)  # 1 mW at 1 GHz is 1 pJ per cycle


def test_sram_access_energy_grows_as_the_square_root_of_capacity():
    """Same events, a 4x larger scratchpad: each scratchpad byte costs 2x (docs/sources.md section 5); the
    per-byte figures hold at `sram_reference_kib` (the accumulator, 64 KiB, is held at its reference)."""
    only_sp = EnergyModel(mac_pj=0, scratchpad_pj_per_byte=1.0, accumulator_pj_per_byte=0, dram_pj_per_byte=0,
                          static_mw=0.0, sram_reference_kib=64.0, figures_node_nm=12)
    base = AcceleratorConfig.preset("gemmini-default").model_copy(update={"energy": only_sp, "scratchpad_kib": 64.0})
    small, large = (SystolicSimulator(base.model_copy(update={"scratchpad_kib": kib})).gemm(16, 16, 16)
                    for kib in (64.0, 256.0))
    assert small.energy_pj == pytest.approx(1024 * 1.0)
    assert large.energy_pj == pytest.approx(2 * small.energy_pj)
    fixed = SystolicSimulator(base.model_copy(update={"scratchpad_kib": 256.0, "energy": only_sp.model_copy(
        update={"sram_capacity_exponent": 0.0})})).gemm(16, 16, 16)
    assert fixed.energy_pj == pytest.approx(small.energy_pj)


def test_static_power_defaults_to_the_leakage_of_the_area():
    from predictors.accelerator.area import estimate_area

    leak_only = EnergyModel(mac_pj=0, scratchpad_pj_per_byte=0, accumulator_pj_per_byte=0, dram_pj_per_byte=0)
    for name in ("gemmini-default", "gemmini-32x32"):
        hw = AcceleratorConfig.preset(name).model_copy(update={"energy": leak_only})
        gemm = SystolicSimulator(hw).gemm(256, 256, 256)
        static_mw = estimate_area(hw).static_mw
        assert gemm.energy_pj == pytest.approx(gemm.cycles * static_mw)  # mW at 1 GHz = pJ per cycle
    assert estimate_area(AcceleratorConfig.preset("gemmini-32x32")).static_mw > \
        estimate_area(AcceleratorConfig.preset("gemmini-default")).static_mw


def dma_bound_os32() -> AcceleratorConfig:
    """The issue's case: a 32x32 output-stationary Gemmini issued by the host (no double buffering), I-BERT
    units, the default DMA queue of 16 requests of 64 B with a 160-cycle round trip."""
    return AcceleratorConfig.preset("gemmini-ibert").model_copy(update={
        "rows": 32, "cols": 32, "dataflow": "os", "double_buffered": False})


def test_dma_queue_slowdown_follows_littles_law():
    """Little's law: a queue sustains (requests in flight x bytes per request) / round trip bytes per cycle,
    and no more than the bus carries. Gemmini issues one request of at most 64 B per scratchpad row
    (docs/sources.md section 2), so rows of 64 B or more move 64 B per request:

        16 in flight: 16 x 64 B / 160 cycles =  6.4 B/cycle, below the 16 B/cycle bus: the queue binds
        64 in flight: 64 x 64 B / 160 cycles = 25.6 B/cycle, above it: the bus binds, 16 B/cycle
        a 32 B/cycle bus with 16 in flight: still 6.4 B/cycle

    A residual add moves one accumulator row of 32 int8 elements (32 B) per request: 16 x 32 / 160 = 3.2 and
    64 x 32 / 160 = 12.8 B/cycle. Without double buffering every transfer adds to the compute it feeds, so each
    GEMM costs compute + bytes / rate and the whole model's slowdown follows from its compute cycles and bytes,
    neither of which depends on the queue."""
    bert, work = reference_arch("bert-base"), Workload(seq_len=512)
    hw = dma_bound_os32()
    assert (hw.dma_inflight_requests, hw.dma_request_bytes, hw.dram_latency_cycles, hw.dram_bytes_per_cycle) == \
        (16, 64, 160, 16)  # the premises of the numbers above
    base = SystolicSimulator(hw).simulate(bert, work)
    wider_bus = SystolicSimulator(hw.model_copy(update={"dram_bytes_per_cycle": 32})).simulate(bert, work)
    deeper_queue = SystolicSimulator(hw.model_copy(update={"dma_inflight_requests": 64})).simulate(bert, work)
    gemm_rate = {16: 16 * 64 / 160, 64: min(16.0, 64 * 64 / 160)}  # 6.4 and 16 B/cycle
    row_rate = {16: 16 * 32 / 160, 64: min(16.0, 64 * 32 / 160)}  # 3.2 and 12.8 B/cycle (32 B rows)

    def expected_cycles(report, queue: int) -> float:
        total = 0.0
        for _, op in report.ops:
            if op.gemm is not None:
                g = op.gemm
                # every row of every tile is at least 64 B (int8), so every request carries 64 B
                assert min(g.mapping.tile_n, g.mapping.tile_k) >= 64, op.name
                # the bytes themselves: the tile loops walked as Gemmini's software runs them
                reads, writes = walked_dram_bytes(g.m, g.n, g.k, g.mapping, 1, 4, reload_every_step=True)
                assert g.dram_bytes == pytest.approx(g.count * (reads + writes)), op.name
                total += op.compute_cycles + op.dram_bytes / gemm_rate[queue]
            elif op.dram_bytes:  # a residual add: rows arrive while the unit works on earlier ones
                total += max(op.compute_cycles, op.dram_bytes / row_rate[queue])
            else:  # softmax and LayerNorm work on rows already in the accumulator
                total += op.compute_cycles
        return total

    # what the queue depth cannot change
    assert [(op.compute_cycles, op.dram_bytes) for _, op in deeper_queue.ops] == \
        [(op.compute_cycles, op.dram_bytes) for _, op in base.ops]
    assert base.cycles == pytest.approx(expected_cycles(base, 16), rel=1e-9)
    assert deeper_queue.cycles == pytest.approx(expected_cycles(deeper_queue, 64), rel=1e-9)
    slowdown = expected_cycles(base, 16) / expected_cycles(base, 64)  # 1.54 today
    assert base.cycles / deeper_queue.cycles == pytest.approx(slowdown, rel=1e-9)
    # bounded by the rates' ratio, 16 / 6.4 = 2.5x, reached only if the model did nothing but move bytes
    assert 1 < slowdown < gemm_rate[64] / gemm_rate[16]
    assert wider_bus.cycles == pytest.approx(base.cycles, rel=1e-9)  # min(32, 6.4) = 6.4: the bus is not the limit
    assert next(iter(base.limits())) is Limit.dma_queue
    assert {g.report.limit for g in base.gemms()} == {Limit.dma_queue}
    assert next(iter(deeper_queue.limits())) is Limit.array


def test_limits_array_bus_and_sram_capacity():
    assert searched(unlimited()).gemm(512, 768, 768).limit is Limit.array
    # no round trip: the bus alone; a 0.25 B/cycle bus cannot feed even the compulsory traffic
    narrow = unlimited(dram_bytes_per_cycle=0.25)
    assert searched(narrow).gemm(512, 768, 768).limit is Limit.dram_bus
    # 8 KiB of scratchpad and accumulator: a 4 B/cycle bus would carry A + B + C once under compute, but tiles
    # this small re-read A and B for every tile of the other operand (12x the compulsory bytes)
    small = unlimited(fold_overlap=True, scratchpad_kib=8.0, accumulator_kib=8.0, dram_bytes_per_cycle=4.0)
    g = searched(small).gemm(512, 768, 768)
    # half of 8 KiB of int32 holds 1,024 partial sums: output tiles of at most 32 x 32
    assert g.mapping.tile_m * g.mapping.tile_n <= 4 * 1024 / 4
    reads, writes = walked_dram_bytes(512, 768, 768, g.mapping, 1, 4)
    assert (g.dram_read_bytes, g.dram_write_bytes) == pytest.approx((reads, writes))
    compulsory = 512 * 768 + 768 * 768 + 512 * 768
    assert g.dram_bytes > 10 * compulsory  # 14x today: A once per column tile, B once per row tile
    assert g.cycles > 2 * g.compute_cycles
    assert g.limit is Limit.sram_capacity


def test_attribution_adds_up():
    sim = SystolicSimulator(AcceleratorConfig.preset("gemmini-default"))
    arch = uniform_arch(3, 384, 6, 1536)
    r = sim.simulate(arch, Workload(seq_len=256, head="lm", vocab_size=8000))
    for group, split in r.cycle_split().items():
        assert split.total == pytest.approx(r.breakdown[group])
        assert split.compute >= 0 and split.stall >= 0
    assert [s.total for s in r.layer_split()] == pytest.approx(r.per_layer + [r.head.cycles])
    assert sum(r.limits().values()) == pytest.approx(r.cycles)
    parts = r.energy_parts()
    assert parts.total == pytest.approx(r.energy_pj)
    assert parts.host > 0 and parts.vector == 0  # every vector op on the host
    assert r.effective_dram_bytes_per_cycle == pytest.approx(r.dram_bytes / r.cycles)
    gemms = r.gemms()
    assert [g.name for g in gemms] == ["q_proj", "k_proj", "v_proj", "attn_qk", "attn_av", "out_proj", "ffn1", "ffn2",
                                       "lm_head"]
    qk = gemms[3]
    assert qk.layers == (0, 1, 2) and qk.report.count == 3 * 6
    assert sum(g.report.cycles for g in gemms) == pytest.approx(r.breakdown["matmul"])
    as_json = r.to_dict()["gemms"][0]
    assert as_json["mapping"]["loop_order"] == "ijk" and as_json["limit"] in {limit.value for limit in Limit}


def test_generate_reports_prefill_and_decode_apart():
    sim = SystolicSimulator(AcceleratorConfig.preset("gemmini-ibert"))
    gpt2 = reference_arch("gpt2")
    run = sim.simulate(gpt2, Workload(phase="generate", seq_len=128, new_tokens=16, head="lm"))
    prompt = sim.simulate(gpt2, Workload(phase="prefill", seq_len=128, causal=True))
    first, last = (sim.simulate(gpt2, Workload(phase="decode", seq_len=s, head="lm")) for s in (129, 144))
    last_logits = first.head.cycles  # one row of logits, as after the prompt
    assert run.time_to_first_token_ms == pytest.approx(prompt.latency_ms + last_logits / 1e6)
    assert run.phase_ms("prefill") + run.phase_ms("decode") == pytest.approx(run.latency_ms)
    assert first.ms_per_output_token <= run.ms_per_output_token <= last.ms_per_output_token
    assert first.ms_per_output_token == pytest.approx(first.latency_ms)
    assert prompt.ms_per_output_token == 0 and prompt.time_to_first_token_ms == pytest.approx(prompt.latency_ms)
    as_json = run.to_dict()
    assert as_json["ms_per_output_token"] == pytest.approx(as_json["decode_ms"] / 16)


@pytest.mark.parametrize("phase", ["decode", "generate"])
def test_batched_decode_reads_weights_once_per_step_and_kv_per_sequence(phase):
    sim = searched(AcceleratorConfig.preset("survey-analytical"))  # the survey maps its accelerator freely
    gpt2 = reference_arch("gpt2")
    extra = {"new_tokens": 4, "seq_len": 128} if phase == "generate" else {"seq_len": 512}
    steps = extra.get("new_tokens", 1)
    one, eight = ({g.name: g.report for g in sim.simulate(gpt2, Workload(phase=phase, batch=b, **extra)).gemms()}
                  for b in (1, 8))
    weights = 12 * steps * 768 * 3072  # ffn1's weights, once per step per layer
    for gemms, batch in ((one, 1), (eight, 8)):
        activations = 12 * steps * batch * (768 + 3072)  # each row in once, out once
        assert weights <= gemms["ffn1"].dram_bytes <= 1.01 * (weights + activations)
    # the KV cache is per sequence: eight sequences read eight caches
    assert eight["attn_qk"].dram_read_bytes == pytest.approx(8 * one["attn_qk"].dram_read_bytes)
    assert eight["attn_av"].dram_read_bytes == pytest.approx(8 * one["attn_av"].dram_read_bytes)
    assert eight["ffn1"].cycles < 1.1 * one["ffn1"].cycles  # eight tokens for the price of one weight read


def test_causal_prefill_skips_masked_attention_tiles():
    sim = searched(AcceleratorConfig.preset("survey-analytical"))  # the survey maps its accelerator freely
    gpt2 = reference_arch("gpt2")
    qk = sim.gemm(512, 512, 64, causal_axis="n")
    assert qk.macs == 64 * 512 * 513 // 2  # query i sees keys 0..i
    # masked scores are never written: only (row tile, key tile) pairs with a key at or before the tile's last
    # query run, T(T+1)/2 of T^2 with square tiles (10 of 16 with 128 x 128 tiles, 36 of 64 with 64 x 64)
    tm, tn = qk.mapping.tile_m, qk.mapping.tile_n
    live = sum(min(math.ceil(512 / tn), (i * tm + tm - 1) // tn + 1) for i in range(math.ceil(512 / tm)))
    share = live / (math.ceil(512 / tm) * math.ceil(512 / tn))
    assert qk.dram_write_bytes == pytest.approx(share * 512 * 512) and share < 0.7
    for seq, (low, high) in ((512, (0.5, 0.72)), (2048, (0.5, 0.6))):
        attention = {causal: sum(g.report.cycles for g in sim.simulate(gpt2, Workload(seq_len=seq, causal=causal))
                                 .gemms() if g.name.startswith("attn_")) for causal in (True, False)}
        assert low < attention[True] / attention[False] < high, seq
    decode = sim.simulate(gpt2, Workload(phase="decode", seq_len=512))
    assert all(g.report.macs == g.report.m * g.report.n * g.report.k * g.report.count for g in decode.gemms())


def test_mapper_objective_energy_moves_the_compulsory_bytes():
    # the case: a 16x16 array with a 192 KiB scratchpad on BERT-Base's 128x768x768 projections
    base = AcceleratorConfig.preset("gemmini-default").model_copy(update={"scratchpad_kib": 192})
    by_cycles = searched(base).gemm(128, 768, 768)
    by_energy = searched(base, "energy").gemm(128, 768, 768)
    compulsory = 128 * 768 + 768 * 768 + 128 * 768  # A and B in once, C out once, int8
    # Each mapping's traffic as its tiles and loop order imply, walked step by step. The cycles mapper picks
    # 128 x 64 x 128 tiles under i-j-k today: 12 column tiles of B, 6 K tiles, so each A tile (i, k) changes at
    # every step and A is read once per column tile, 12 x 128 x 768; B and C move once: 1,867,776 bytes.
    for g in (by_cycles, by_energy):
        assert (g.dram_read_bytes, g.dram_write_bytes) == pytest.approx(walked_dram_bytes(128, 768, 768, g.mapping, 1, 4))
    assert by_cycles.dram_bytes > compulsory  # re-reads that cost no cycles (they hide under compute)
    assert by_energy.dram_bytes == compulsory
    assert by_energy.energy_pj < by_cycles.energy_pj and by_energy.cycles >= by_cycles.cycles
    edp = searched(base, "edp").gemm(128, 768, 768)
    assert edp.energy_pj * edp.cycles <= min(g.energy_pj * g.cycles for g in (by_cycles, by_energy))


@pytest.mark.parametrize("objective", ["cycles", "energy", "edp"])
@pytest.mark.parametrize("shape", [(128, 256, 576, None), (512, 3072, 768, None), (512, 64, 512, "k")])
def test_search_mapper_within_half_a_percent_of_the_whole_mapspace(objective, shape):
    sim = searched(AcceleratorConfig.preset("gemmini-32x32"), objective)
    score = {"cycles": lambda t: t.cycles, "energy": lambda t: t.energy.total, "edp": lambda t: t.edp}[objective]
    space = list(sim.mapspace(*shape))
    found, evaluated = sim.search_mapping(*shape)
    assert score(found) <= 1.005 * min(score(t) for t in space)
    assert evaluated < len(space)
    assert {t.mapping.loop_order for t in space} - {"ijk", "jki"}  # more than the two orders of old


def test_regression_pin_preset_fingerprints_survive_later_settings():
    hw = AcceleratorConfig.preset("gemmini-default")
    # regression pin: the fingerprint of cost model 2 (energies at the accelerator's node, memory systems, formats),
    # unmoved by the settings added since (memory, datapath) at their defaults; caches and run folders keyed by it
    # must stay valid, so the value is the code's own, not derived
    assert hw.fingerprint() == "3c450a6edd8b"
    assert hw.model_copy(update={"fusion": Fusion(attention=True)}).fingerprint() != hw.fingerprint()


def op_cycles(report) -> dict[str, float]:
    cycles: dict[str, float] = {}
    for _, op in report.ops:
        cycles[op.name] = cycles.get(op.name, 0.0) + op.cycles
    return cycles


def test_attention_fusion_keeps_scores_on_chip_and_hides_the_softmax():
    bert, work = reference_arch("bert-base"), Workload(seq_len=512)
    base = AcceleratorConfig.preset("gemmini-ibert")
    fused_hw = base.model_copy(update={"fusion": Fusion(attention=True)})
    plain, fused = (SystolicSimulator(hw).simulate(bert, work) for hw in (base, fused_hw))
    gemms = {g.name: g.report for g in fused.gemms()}
    assert gemms["attn_qk"].dram_write_bytes == 0  # the scores never leave the chip
    av = gemms["attn_av"]  # V only, once per block of query rows (Gemmini's loop order)
    assert av.dram_read_bytes == 12 * 12 * 512 * 64 * math.ceil(512 / av.mapping.tile_m)
    before, after = op_cycles(plain), op_cycles(fused)
    pair = lambda c: c["attn_qk"] + c["softmax"]  # noqa: E731
    # KNOWN GAP: the survey's Timeloop estimate (docs/sources.md section 1, "Mapping") makes the QK^T + softmax
    # pair 78% faster fused at seq 512; the model gives 32.3% (softmax hidden behind the GEMMs, scores kept on
    # chip, but the GEMM itself no faster). Pinned at today's value so that a change is seen.
    assert 1 - pair(after) / pair(before) == pytest.approx(0.3228, rel=0.01)
    # a block of 16 rows of int32 scores over 512 keys does not fit half of 256 KiB with Gemmini's tiles: online
    softmax = next(op for _, op in fused.ops if op.name == "softmax")
    assert softmax.elements > 12 * 512 * 512
    assert fused.cycles < plain.cycles and fused.energy_pj < plain.energy_pj
    assert fused_hw.fingerprint() != base.fingerprint()


@pytest.mark.parametrize("accumulator_kib", [128, 256])
def test_projection_layernorm_fusion_comes_out_harmful(accumulator_kib):
    """Whole output rows must sit in the accumulator, so the tiles shrink and the weights are re-read: worse,
    as the survey's Timeloop study found (-83% with 128 kB of accumulator, FFN2 + LayerNorm -27%)."""
    bert, work = reference_arch("bert-base"), Workload(seq_len=512)
    base = AcceleratorConfig.preset("gemmini-ibert").model_copy(update={"accumulator_kib": accumulator_kib})
    fused_hw = base.model_copy(update={"fusion": Fusion(projection_layernorm=True)})
    before, after = (op_cycles(SystolicSimulator(hw).simulate(bert, work)) for hw in (base, fused_hw))
    # Only the sign of the survey's finding is checked, with a 20% margin: its figures are Timeloop estimates
    # whose baseline the sources leave open (which accumulator FFN2's -27% is for is not stated). The model makes
    # out_proj + LayerNorm / FFN2 + LayerNorm 2.48x / 2.56x the unfused cycles with 128 KiB, 1.29x / 1.31x with 256.
    for gemm, norm in (("out_proj", "ln_attn"), ("ffn2", "ln_ffn")):
        assert after[norm] < before[norm]  # the LayerNorm itself hides behind the GEMM
        assert after[gemm] + after[norm] > 1.2 * (before[gemm] + before[norm])
