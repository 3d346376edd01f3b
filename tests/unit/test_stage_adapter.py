"""The stage adapter and the catalog: a stage is declared once in the graph, its function takes what it
needs by name, the adapter loads and writes through the catalog's codecs, and the store grants derive from
the same declaration."""

from __future__ import annotations

import pandas as pd
import pytest

from lambdas.stage import Made, StageDeclarationError, stage_handler
from lambdas.stage_event import MissingArtifact, new_run_event
from shared.layout import (
    BUNDLES,
    CATALOG,
    CHAMPION_KEY,
    RUNS_PREFIX,
    STAGE_EVENTS,
    Artifact,
    Codec,
    artifact_key,
    covered,
    stage_event_key,
)
from shared.settings import Settings
from shared.store import LocalStore, read_json, read_table, write_table
from stepfunctions.graph import TRAINING_PIPELINE, Gate, PipelineGraph, Stage, with_made

GRAPH = PipelineGraph(
    stages=(Stage("make", "x:y", makes=(Artifact.VALIDATED,)),
            Stage("use", "x:y", needs=(Artifact.VALIDATED,), makes=(Artifact.SPLIT_TRAIN, Artifact.CLEANING_REPORT)),
            Stage("end", "x:y")),
    gate=Gate(after="use", on_pass="end", on_fail="end"), finish="end")


def _event(store) -> dict:
    return new_run_event(store.url, "raw/x.parquet", "reference/m.parquet", Settings(store=store.url).run_config(), "t")


def test_the_adapter_loads_what_a_stage_needs_and_writes_what_it_makes(tmp_path):
    store = LocalStore(tmp_path)
    event = _event(store)
    frame = pd.DataFrame({"a": [1, 2, 3]})
    write_table(store, artifact_key(event["run_id"], Artifact.VALIDATED), frame)
    event = with_made(event, GRAPH.stage("make"))
    seen = {}

    def use(run, validated):
        seen["rows"], seen["run"] = len(validated), run.run_id
        return Made({Artifact.SPLIT_TRAIN: validated.head(2), Artifact.CLEANING_REPORT: {"rows": len(validated)}},
                    run=run.model_copy(update={"trigger": "changed for the later stages"}))

    after = stage_handler("use", use, GRAPH)(event, None)
    assert seen == {"rows": 3, "run": event["run_id"]}
    assert after["trigger"] == "changed for the later stages"
    assert after["artifacts"] == {a.value: artifact_key(event["run_id"], a)
                                  for a in (Artifact.VALIDATED, Artifact.SPLIT_TRAIN, Artifact.CLEANING_REPORT)}
    assert len(read_table(store, after["artifacts"]["split_train"])) == 2
    assert read_json(store, after["artifacts"]["cleaning_report"]) == {"rows": 3}


def test_a_function_that_does_not_match_its_declaration_is_refused(tmp_path):
    with pytest.raises(StageDeclarationError, match="takes \\['clean_train'\\]"):
        stage_handler("use", lambda validated, clean_train: {}, GRAPH)
    handler = stage_handler("use", lambda validated: {Artifact.SPLIT_TRAIN: validated}, GRAPH)
    store = LocalStore(tmp_path)
    event = _event(store)
    write_table(store, artifact_key(event["run_id"], Artifact.VALIDATED), pd.DataFrame({"a": [1]}))
    with pytest.raises(StageDeclarationError, match="returned \\['split_train'\\]; the graph says it makes"):
        handler(with_made(event, GRAPH.stage("make")), None)
    with pytest.raises(MissingArtifact, match="no stage before this one made 'validated'"):
        handler(event, None)


def test_every_real_stage_function_takes_only_what_its_stage_needs():
    """Importing each handler checks its function against the graph (stage_handler raises on a mismatch)."""
    import importlib

    for stage in TRAINING_PIPELINE.stages:
        module = importlib.import_module(stage.handler.partition(":")[0])
        assert callable(module.handler), stage.name


def test_grants_derive_from_what_a_stage_needs_and_makes():
    stage = TRAINING_PIPELINE.stage
    # Making the bundle is what lets it write one; a task puts the event it returns (lambdas.task).
    assert stage("train").writes == (BUNDLES, STAGE_EVENTS)
    assert [s.name for s in TRAINING_PIPELINE.stages if BUNDLES in s.writes] == ["train"]
    assert stage("split").reads == () and stage("split").writes == (RUNS_PREFIX,)  # its reads are inside its writes
    assert CHAMPION_KEY in stage("promote").writes and CHAMPION_KEY in stage("batch").reads
    for s in TRAINING_PIPELINE.stages:
        for artifact in s.needs:
            assert covered(CATALOG[artifact].key("r1"), s.reads + s.writes), (s.name, artifact)
        for artifact in s.makes:
            assert covered(CATALOG[artifact].key("r1"), s.writes), (s.name, artifact)
    for s in TRAINING_PIPELINE.on_fargate({"validate": {}}).stages:
        if s.compute == "fargate":
            assert covered(stage_event_key("r1", s.name, "in"), s.reads + s.writes)
            assert covered(stage_event_key("r1", s.name, "out"), s.writes)


def test_the_catalog_names_every_artifact_once():
    assert set(CATALOG) == set(Artifact)
    keys = [entry.key("r1") for entry in CATALOG.values()]
    assert len(keys) == len(set(keys))
    assert {a for a, e in CATALOG.items() if e.codec is Codec.OWN} == {
        Artifact.BUNDLE, Artifact.CHAMPION, Artifact.PREDICTIONS, Artifact.RUN_RECORD}
