"""The local runner's routing: retries of transient faults, the gate, and the failure path."""

import dataclasses
import json

import pytest

from stepfunctions.graph import FARGATE, TRAINING_PIPELINE, Gate, PipelineGraph, RetryPolicy, Stage
from stepfunctions.local_runner import StageFailed, resolve, run_graph

calls: list[str] = []
flaky_left = {"n": 0}


def step(event, context):
    calls.append("step")
    return event


def flaky(event, context):
    calls.append("flaky")
    if flaky_left["n"]:
        flaky_left["n"] -= 1
        raise ConnectionError("connection reset")
    return event


def judge(event, context):
    calls.append("judge")
    return {**event, "gate": {"passed": event["pass"], "reasons": []}}


def broken(event, context):
    calls.append("broken")
    raise ValueError("bad data")


def finish(event, context):
    calls.append("finish:" + ("error" if event.get("error") else "ok"))
    finished.append(event)
    return event


def replaces_the_event(event, context):
    calls.append("replaces")
    return {"pass": True, "replaced": True}


finished: list[dict] = []


def graph(middle: str) -> PipelineGraph:
    here = __name__
    return PipelineGraph(
        stages=(Stage("a", f"{here}:step"), Stage("b", f"{here}:{middle}", retry=RetryPolicy(attempts=2)),
                Stage("judge", f"{here}:judge"), Stage("promote", f"{here}:step"), Stage("finish", f"{here}:finish")),
        gate=Gate(after="judge", on_pass="promote", on_fail="finish"),
        finish="finish",
    )


@pytest.fixture(autouse=True)
def _reset():
    calls.clear()
    finished.clear()
    flaky_left["n"] = 0


def test_a_stage_needing_what_no_earlier_stage_makes_stops_the_run_before_it_starts():
    from shared.layout import Artifact
    from stepfunctions.graph import ArtifactOrderError

    base = graph("step")
    needy = dataclasses.replace(base, stages=tuple(
        dataclasses.replace(s, needs=(Artifact.EVALUATION,)) if s.name == "promote" else s for s in base.stages))
    with pytest.raises(ArtifactOrderError, match="promote needs 'evaluation'"):
        run_graph(needy, {"pass": True})
    assert calls == []
    # Declared but not made at run time: the stage fails and the run is recorded as failed.
    liar = dataclasses.replace(base, stages=tuple(
        dataclasses.replace(s, makes=(Artifact.EVALUATION,)) if s.name == "a" else s for s in base.stages))
    with pytest.raises(StageFailed, match="declares that it makes"):
        run_graph(liar, {"pass": True})


def test_gate_routes_both_ways():
    run_graph(graph("step"), {"pass": True})
    assert calls == ["step", "step", "judge", "step", "finish:ok"]
    calls.clear()
    run_graph(graph("step"), {"pass": False})
    assert calls == ["step", "step", "judge", "finish:ok"]


def test_transient_errors_are_retried_with_backoff_without_sleeping():
    flaky_left["n"] = 2
    slept: list[float] = []
    run_graph(graph("flaky"), {"pass": True}, sleep=slept.append)
    assert calls.count("flaky") == 3 and slept == [5, 10]


def test_failure_runs_the_finish_stage_with_the_error_then_raises():
    with pytest.raises(StageFailed, match="bad data") as info:
        run_graph(graph("broken"), {"pass": True})
    assert info.value.stage == "b"
    assert calls == ["step", "broken", "finish:error"]
    # What Step Functions' Catch and the stage's Pass state add: {"Error", "Cause"} and the stage's name.
    [event] = finished
    assert event["failed_stage"] == "b" and event["error"]["Error"] == "ValueError"
    assert json.loads(event["error"]["Cause"]) == {"errorType": "ValueError", "errorMessage": "bad data"}


def full_disk(event, context):
    calls.append("finish:full")
    raise OSError(28, "No space left on device", "/store/runs/r1/run.json")


def test_a_failure_whose_record_fails_too_keeps_both_errors():
    """A full disk fails a stage and then the record of its failure: neither error may be lost."""
    full = dataclasses.replace(graph("broken"), stages=(*graph("broken").stages[:-1], Stage("finish", f"{__name__}:full_disk")))
    with pytest.raises(StageFailed, match="bad data") as info:
        run_graph(full, {"pass": True})
    assert info.value.stage == "b" and isinstance(info.value.error, ValueError)
    assert info.value.unrecorded.errno == 28 and "recording the failure failed" in str(info.value)


def test_a_fargate_stage_hands_on_the_event_it_returns_through_the_store(tmp_path):
    """On AWS a task's event goes through the store (`lambdas.task`: put, run, put back); the local runner
    takes the handler's return. Both hand on the event the stage returned, and a failed stage puts none."""
    from lambdas.task import run_task
    from shared.layout import stage_event_key
    from shared.store import LocalStore, read_json, write_json

    on_task = graph("replaces_the_event").on_fargate({"b": {"memory_mb": 4096}})
    assert on_task.stage("b").compute == FARGATE and on_task.stage("b").retry.errors[0].startswith("ECS.")
    assert run_graph(on_task, {"pass": True})["replaced"] and calls == ["step", "replaces", "judge", "step", "finish:ok"]
    store = LocalStore(tmp_path)
    write_json(store, stage_event_key("r1", "b", "in"), {"pass": True, "run_id": "r1"})
    assert run_task("b", "r1", store, on_task) == read_json(store, stage_event_key("r1", "b", "out")) == {
        "pass": True, "replaced": True}
    write_json(store, stage_event_key("r2", "b", "in"), {"run_id": "r2"})
    with pytest.raises(ValueError, match="bad data"):
        run_task("b", "r2", store, graph("broken").on_fargate({"b": {}}))
    assert not store.exists(stage_event_key("r2", "b", "out"))
    with pytest.raises(ValueError, match="no stage named"):
        graph("step").on_fargate({"c": {}})


def test_every_stage_handler_of_the_real_graph_resolves():
    for stage in TRAINING_PIPELINE.stages:
        assert callable(resolve(stage.handler))
    assert TRAINING_PIPELINE.stage("train").compute == "fargate"


conflicts_left = {"n": 0}


def races(event, context):
    """A write that lost a compare-and-swap race (ArtifactChanged says it is retryable), then wins."""
    from shared.store import ArtifactChanged

    calls.append("races")
    if conflicts_left["n"]:
        conflicts_left["n"] -= 1
        raise ArtifactChanged("predictions/year=2024/month=01/predictions.parquet changed while it was written")
    return event


def test_an_error_that_says_it_is_retryable_is_retried_and_a_bad_input_is_not():
    from shared.errors import BadInput

    conflicts_left["n"] = 1
    run_graph(graph("races"), {"pass": True}, sleep=lambda s: None)
    assert calls.count("races") == 2
    assert BadInput.retryable is False and "ArtifactChanged" in RetryPolicy().errors  # Step Functions retries it too
