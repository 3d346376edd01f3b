"""A Fargate stage's task is sized at run time from the rows the run learns from (infra_cdk.task_sizes): the
ladder of sizes it picks from, and the pick."""

from __future__ import annotations

import dataclasses

import pytest

from infra_cdk.config import fargate_offers, load_config
from infra_cdk.task_sizes import HEADROOM, fargate_fallbacks, function_capacity, size_for, size_ladder
from stepfunctions.graph import TRAINING_PIPELINE, PeakMemory

# benchmarks/scale.py (README): rows and each stage's measured peak (MiB)
MEASURED = {"validate": {884_092: 1179, 2_652_276: 3294, 8_840_920: 9943},
            "features": {884_092: 2202, 2_652_276: 6159, 8_840_920: 18_699},
            "train": {884_092: 3299, 2_652_276: 8794}}


@pytest.mark.parametrize("stage", sorted(MEASURED))
def test_each_stage_s_model_does_not_understate_its_measured_peaks(stage):
    peak = TRAINING_PIPELINE.stage(stage).peak
    for rows, mib in MEASURED[stage].items():
        assert mib <= peak.mb(rows) <= 1.2 * mib


def test_the_ladder_climbs_from_the_configured_size_to_the_largest_allowed():
    train = TRAINING_PIPELINE.stage("train")
    ladder = size_ladder(train, 122_880)
    assert (ladder[0].cpu, ladder[0].memory_mb) == (int(train.vcpu * 1024), train.memory_mb)
    assert (ladder[-1].cpu, ladder[-1].memory_mb) == (16_384, 122_880)
    for smaller, larger in zip(ladder, ladder[1:]):
        assert larger.memory_mb > smaller.memory_mb and larger.max_rows > smaller.max_rows
        assert larger.cpu >= smaller.cpu
    for size in ladder:
        assert fargate_offers(size.cpu, size.memory_mb)
        # the most rows a size takes keep the modelled peak HEADROOM under its memory, and one more would not
        assert train.peak.mb(size.max_rows) * HEADROOM <= size.memory_mb < train.peak.mb(size.max_rows + 1000) * HEADROOM


def test_the_pick_follows_the_rows():
    train = TRAINING_PIPELINE.stage("train")
    ladder = size_ladder(train, 122_880)
    assert size_for(ladder, None) == ladder[0]  # not counted yet (a stage before validate)
    assert size_for(ladder, 884_092) == ladder[0]  # the full-size data fits the default 16 GB
    ten_x = size_for(ladder, 8_840_920)  # 10x: about 28 GB modelled, so 35 GB with the headroom
    assert (ten_x.cpu, ten_x.memory_mb) == (8192, 40_960)
    assert size_for(ladder, 10**9) == ladder[-1]  # beyond every size: the largest, and the run may still fail
    for a, b in zip(ladder, ladder[1:]):
        assert size_for(ladder, a.max_rows) == a and size_for(ladder, a.max_rows + 1) == b


def test_a_cap_a_cpu_floor_and_a_flat_peak_shorten_the_ladder():
    train = TRAINING_PIPELINE.stage("train")
    capped = size_ladder(train, 61_440)
    assert capped[-1].memory_mb == 61_440 and all(size.memory_mb <= 61_440 for size in capped)
    assert size_ladder(train, train.memory_mb) == size_ladder(train, 8192) == capped[:1]  # never below its own size
    big_cpu = size_ladder(dataclasses.replace(train, vcpu=16, memory_mb=32_768), 122_880)
    assert {size.cpu for size in big_cpu} == {16_384}
    flat = dataclasses.replace(train, peak=PeakMemory(500, 0))
    assert len(size_ladder(flat, 122_880)) == 1


def test_the_deployment_s_graph_is_what_gets_sized():
    config = load_config({"train_cpu": 8192, "train_memory_mb": 32_768, "fargate_max_memory_mb": 61_440,
                          "fargate_stages": {"features": {"cpu": 4096, "memory_mb": 30_720}}})
    graph = config.pipeline_graph()
    assert size_ladder(graph.stage("train"), config.fargate_max_memory_mb)[0].memory_mb == 32_768
    features = size_ladder(graph.stage("features"), config.fargate_max_memory_mb)
    assert [(s.cpu, s.memory_mb) for s in features] == [(4096, 30_720), (8192, 40_960), (8192, 61_440)]


def test_a_lambda_stage_outgrowing_its_function_has_a_fargate_fallback():
    """Every Lambda stage but record (the failure path invokes it) has a fallback task, sized by the rows
    like any Fargate stage (validate by the input files' rows, told before it runs); the function takes a
    run while its modelled peak with HEADROOM fits its memory."""
    graph = load_config({"fargate_stages": {"evaluate": {"cpu": 4096, "memory_mb": 30_720}}}).pipeline_graph()
    fallbacks = fargate_fallbacks(graph)
    assert set(fallbacks) == {"validate", "split", "preprocess", "features", "promote", "batch"}  # evaluate: a task
    for name, task in fallbacks.items():
        function = graph.stage(name)
        assert task.compute == "fargate" and task.peak == function.peak and task.timeout_s >= function.timeout_s
        fits = function_capacity(function)
        assert function.peak.mb(fits) * HEADROOM <= function.memory_mb < function.peak.mb(fits + 1000) * HEADROOM
    # The full-size data stays on the functions; at 3x features (6.2 GB measured) leaves its 3,008 MB one.
    features = graph.stage("features")
    assert function_capacity(features) > 884_092 and function_capacity(features) < 2_652_276
    ladder = size_ladder(fallbacks["features"], 122_880)
    assert size_for(ladder, 2_652_276).memory_mb >= 6159 * HEADROOM  # its measured peak at 3x, with the headroom
