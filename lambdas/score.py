"""Batch scoring outside training: a new month's file under incoming/ (EventBridge `Object Created`), or the
monthly schedule, which scores the newest incoming/ file unless its months are already scored.

Two uploads of the same month may be scored at once: a month's files are written by compare-and-swap
(`shared.serving.predictions.write_scored_months`), so both land, and no reserved concurrency is needed (a new
account's quota could not spare it).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Metrics, single_metric
from aws_lambda_powertools.metrics import MetricUnit

from lambdas.logs import structured
from lambdas.s3_events import is_object_created, uploaded_object
from lambdas.stage_event import log
from shared.layout import INCOMING_PREFIX
from shared.schema import ALL_REGIONS
from shared.serving.incoming import score_incoming
from shared.serving.monitoring import (
    LIVE_COVERAGE,
    LIVE_PCT_ERROR,
    LIVE_SKILL,
    METRICS_NAMESPACE,
    METRICS_SERVICE,
    METRO_DIMENSION,
    health_figures,
    metro_figures,
)
from shared.settings import ScoringSettings, get_settings
from shared.store import ArtifactStore, S3Store, newest_file, open_store

# Flushed as one embedded-metric-format log line per invocation: CloudWatch turns it into metrics, no API call.
metrics = Metrics(namespace=METRICS_NAMESPACE, service=METRICS_SERVICE)
# (unit, factor) of the figures that are not counts of inputs or months; coverage is published in percent.
UNITS = {LIVE_COVERAGE: (MetricUnit.Percent, 100.0), LIVE_PCT_ERROR: (MetricUnit.Percent, 1.0),
         LIVE_SKILL: (MetricUnit.NoUnit, 1.0)}


@structured
@metrics.log_metrics
def handler(event: dict[str, Any], context=None) -> dict[str, Any]:
    settings = get_settings(ScoringSettings)
    store = open_store(settings.store)
    if is_object_created(event):
        key = uploaded_object(event, store).file_under(INCOMING_PREFIX) if isinstance(store, S3Store) else None
        if key is None:
            return {"scored": False, "reason": "not an incoming/ upload"}
        return _published(store, score_incoming(store, key))
    newest = newest_file(store, INCOMING_PREFIX)
    if newest is None:
        log.info("no file under %s: nothing to score", store.locate(INCOMING_PREFIX))
        return {"scored": False, "reason": "nothing under incoming/"}
    return _published(store, score_incoming(store, newest, skip_if_scored=True))


def _published(store: ArtifactStore, result: dict[str, Any]) -> dict[str, Any]:
    """After a scoring, the model's health figures as metrics (shared.serving.monitoring), which the stack's alarms
    watch; in the result too."""
    if not result.get("scored"):
        return result
    settings = get_settings(ScoringSettings)
    per_metro = metro_figures(store, settings.monitor_skill_above, settings.monitor_coverage_below)
    figures = health_figures(store, settings.monitor_skill_above, settings.monitor_coverage_below, per_metro)
    for name, value in figures.items():
        unit, factor = UNITS.get(name, (MetricUnit.Count, 1.0))
        metrics.add_metric(name=name, unit=unit, value=value * factor)
    # Each metro's own figures, one EMF line each (their `metro` dimension differs): for its dashboards and
    # for finding the market behind a worst-metro alarm.
    for metro, own in per_metro.items():
        if metro == ALL_REGIONS:
            continue
        for name, value in own.items():
            unit, factor = UNITS.get(name, (MetricUnit.Count, 1.0))
            with single_metric(name=name, unit=unit, value=value * factor, namespace=METRICS_NAMESPACE,
                               default_dimensions={"service": METRICS_SERVICE}) as metric:
                metric.add_dimension(name=METRO_DIMENSION, value=metro)
    return {**result, "health": figures}
