"""Forecasting skill end to end: the real pipeline graph on 600 generated zips (10 to 40 per metro, enough
for the metro's market moves to mean something), judged by its own evaluation report against the naive
forecasters, with the gate's skill and coverage checks enforced as configured by default."""

from __future__ import annotations

import pytest

from lambdas.stage_event import new_run_event
from shared.data.synthetic import DEFAULT, DOWNTURN, generate
from shared.layout import Artifact, artifact_key
from shared.model.evaluate import loses
from shared.reports import CANDIDATE, EvaluationReport
from shared.settings import Settings
from shared.store import LocalStore, read_json, write_table
from stepfunctions.graph import TRAINING_PIPELINE
from stepfunctions.local_runner import run_graph

pytestmark = pytest.mark.slow
ZIPS = 600


def evaluated(tmp_path, assumptions) -> EvaluationReport:
    store = LocalStore(tmp_path)
    rows, metros = generate(zips=ZIPS, seed=4, assumptions=assumptions)
    write_table(store, "raw/data.parquet", rows)
    write_table(store, "reference/metros.parquet", metros)
    config = Settings(store=str(tmp_path), trials=3).run_config()
    final = run_graph(TRAINING_PIPELINE, new_run_event(store.url, "raw/data.parquet", "reference/metros.parquet",
                                                       config, "quality"))
    return EvaluationReport(**read_json(store, artifact_key(final["run_id"], Artifact.EVALUATION)))


def test_the_model_has_skill_where_information_beyond_the_index_exists_and_ties_momentum_elsewhere(tmp_path):
    report = evaluated(tmp_path, DEFAULT)
    assert report.gate.passed, report.gate.reasons
    horizon = {split: report.backtest[split]["horizon"] for split in ("eval", "holdout")}
    # Months ahead, the market's moves since the last index tell what the index alone cannot.
    for bucket in ("4-6", "7-12", "13-24", "all"):
        assert horizon["eval"][bucket].skill < 0.9, (bucket, horizon["eval"][bucket].skill)
    # After the boom, in every bucket: two years ahead too, where the calibration follows the market measure
    # that tracked the index through the boom (0.55-0.59 at 7-24 months on this seed).
    for bucket in ("1", "2-3", "4-6", "7-12", "13-24", "all"):
        assert horizon["holdout"][bucket].skill < 1, (bucket, horizon["holdout"][bucket].skill)
    # A month ahead (production's nowcast), momentum is hard to beat on this generator (no forecaster of the
    # index's own past gets below 0.94 of its error, README): the model ties it on the boom's eval months
    # (1.004 measured on this seed: above 1 only within chance, which is the gate's rule) and beats it after.
    assert not loses(report.backtest["eval"]["nowcast"]["1"], 0.0)
    assert report.backtest["eval"]["nowcast"]["1"].skill < 1.02
    assert report.backtest["holdout"]["nowcast"]["1"].skill < 1.0
    # The intervals hold what they claim on the months they were calibrated for (cross-fitted) and in the
    # holdout's nowcast.
    assert all(0.7 <= fig.coverage <= 0.9 for mode in report.backtest["eval"].values() for fig in mode.values())
    assert 0.7 <= report.backtest["holdout"]["nowcast"]["1"].coverage <= 0.9
    assert 0.7 <= horizon["holdout"]["all"].coverage <= 0.9


def test_a_downturn_no_training_month_shows_still_moves_the_forecast(tmp_path):
    """Prices fall 10-20% a year after the eval months: the model follows the market's medians down, so it
    beats every naive forecaster months ahead, carrying the last index forward included, and its intervals
    still cover."""
    report = evaluated(tmp_path, DOWNTURN)
    horizon = report.backtest["holdout"]["horizon"]
    for bucket in ("4-6", "7-12", "13-24"):
        assert horizon[bucket].skill < 0.8, (bucket, horizon[bucket].skill)
        assert horizon[bucket].mae[CANDIDATE] < min(horizon[bucket].mae[w] for w in horizon[bucket].mae if w != CANDIDATE)
    # The intervals fitted on the boom widen as the market parts from the index's momentum: months ahead they
    # still hold (0.82-0.93 on this seed; 0.37-0.51 before they were scaled by that gap).
    for bucket in ("7-12", "13-24"):
        assert 0.75 <= horizon[bucket].coverage <= 0.95, (bucket, horizon[bucket].coverage)
