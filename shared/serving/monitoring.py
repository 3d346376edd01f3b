"""Live accuracy: how the served model did on each month once its prices arrived, before anything learned
from them.

A month sent in with its prices (an incoming/ upload, `housing batch --input`) is scored by the champion
serving then; its rows that model had not learned (months after its `trained_through`) are the
out-of-sample truth about it. Their figures (`shared.serving.summary.summarize`: MAE, % error, skill against the best
naive forecaster, interval coverage; per metro and for all regions) are kept at
monitoring/live/year=YYYY/month=MM/<run id>.parquet with when they were recorded. A retrained champion's
later rescoring of the month (its batch stage scores its holdout) is a backtest, not live, and writes none;
the same champion scoring more of the month's rows replaces its record (compare-and-swap).
"""

from __future__ import annotations

import json
import logging

import pandas as pd

from shared.clock import utc_now
from shared.data.history import month_number, month_of
from shared.layout import LIVE_MISSES_KEY, LIVE_PREFIX, live_accuracy_key, month_predictions_key
from shared.model.drift import drift_reports
from shared.schema import ALL_REGIONS
from shared.serving.summary import summarize
from shared.store import ArtifactChanged, ArtifactNotFound, ArtifactStore, json_bytes, parquet_bytes, read_table

log = logging.getLogger(__name__)

RECORDED_AT = "recorded_at"
WRITE_ATTEMPTS = 5

# What the score function publishes after each scoring (CloudWatch embedded metric format), and what the
# stack's alarms watch. Months arrive one a month, but an alarm evaluates at most 7 days of data: so the
# figures that say "sustained" count the months themselves (in a row, up to the newest).
METRICS_NAMESPACE = "HousingMlops/Model"
METRICS_SERVICE = "score"  # the metrics' `service` dimension
DRIFT_ALERTS = "DriftAlerts"  # inputs above the PSI alert band in the newest month scored
DRIFTED_MONTHS = "DriftedMonths"  # newest months in a row with any input above it
LIVE_SKILL, LIVE_COVERAGE, LIVE_PCT_ERROR = "LiveSkill", "LiveCoverage", "LivePctError"  # the newest live month's
SKILL_DECAY_MONTHS = "SkillDecayMonths"  # newest live months in a row with skill above HOUSING_MONITOR_SKILL_ABOVE
COVERAGE_DECAY_MONTHS = "CoverageDecayMonths"  # ... with coverage below HOUSING_MONITOR_COVERAGE_BELOW
# The same months in a row for the worst metro: a market the model has stopped serving well, while all
# regions together still look fine. Each metro's own figures go out with a `metro` dimension too.
METRO_SKILL_DECAY_MONTHS, METRO_COVERAGE_DECAY_MONTHS = "WorstMetroSkillDecayMonths", "WorstMetroCoverageDecayMonths"
METRO_DIMENSION = "metro"


def out_of_sample(predictions: pd.DataFrame) -> pd.Series:
    """Rows with a known price of a month after the last one their model learned."""
    months = month_of(predictions["year"].astype("int64"), predictions["month"].astype("int64"))
    learned = predictions["trained_through"].map(lambda t: month_number(str(t)) if isinstance(t, str) else 10**9)
    return predictions["actual"].notna() & (months > learned)


def record_live(store: ArtifactStore, run_id: str, months: list[tuple[int, int]]) -> list[str]:
    """Record the live accuracy of champion `run_id` on these scored months (read as written, so a file
    topping a month up counts with the rest); return the keys written. Months without out-of-sample
    prices write nothing."""
    written = []
    for year, month in months:
        scored = read_table(store, month_predictions_key(year, month))
        rows = scored.loc[(scored["model_run_id"] == run_id) & out_of_sample(scored)]
        if rows.empty:
            continue
        key = live_accuracy_key(year, month, run_id)
        figures = summarize(rows).assign(**{RECORDED_AT: utc_now()})
        try:
            tag = store.tag(key)
        except ArtifactNotFound:
            tag = None
        try:
            store.replace(key, parquet_bytes(figures), tag)
        except ArtifactChanged:  # a concurrent scoring of the same month by the same champion recorded it
            log.info("%s was recorded meanwhile by another scoring", key)
            continue
        written.append(key)
        _record_misses(store, month_of(int(year), int(month)), figures)
    return written


def _record_misses(store: ArtifactStore, month: int, figures: pd.DataFrame) -> None:
    """Keep the month's share of prices outside their interval (all regions) in LIVE_MISSES_KEY, which the
    next months' intervals adapt to (shared.model.adaptation). A missing or unreadable file is rebuilt from
    the live records (a store whose live months predate the file gets it here). Compare-and-swap: a
    concurrent scoring of another month is read again and kept."""
    coverage = figures.loc[figures["metro"] == ALL_REGIONS, "coverage"].dropna()
    if coverage.empty:  # predictions made before intervals: nothing to learn from
        return
    for _ in range(WRITE_ATTEMPTS):
        misses, tag = _misses_and_tag(store)
        if misses is None:
            live = live_accuracy(store, metro=ALL_REGIONS).dropna(subset=["coverage"])
            misses = {month_of(int(y), int(m)): 1.0 - float(c) for y, m, c in zip(live["year"], live["month"], live["coverage"])}
        misses[month] = 1.0 - float(coverage.iloc[0])
        payload = {f"{m // 12:04d}-{m % 12 + 1:02d}": round(rate, 6) for m, rate in sorted(misses.items())}
        try:
            store.replace(LIVE_MISSES_KEY, json_bytes(payload), tag)
            return
        except ArtifactChanged:
            continue
    log.warning("%s kept changing while it was written: month %d left out until it is scored again", LIVE_MISSES_KEY, month)


def live_misses(store: ArtifactStore) -> dict[int, float]:
    """Per live month (month number), the share of its prices that fell outside the intervals served then;
    empty before any, or when the file cannot be read (intervals then go unadapted until the next month
    scored with its prices rewrites it; said in the log)."""
    return _misses_and_tag(store)[0] or {}


def _misses_and_tag(store: ArtifactStore) -> tuple[dict[int, float] | None, str | None]:
    """LIVE_MISSES_KEY's months (None if it is missing or unreadable) and its version tag."""
    try:
        data, tag = store.read_tagged(LIVE_MISSES_KEY)
    except ArtifactNotFound:
        return None, None
    try:
        return {month_number(month): float(rate) for month, rate in json.loads(data).items()}, tag
    except (ValueError, TypeError, AttributeError) as err:
        log.warning("%s cannot be read (%s): intervals are not adapted to the live months until it is rewritten",
                    LIVE_MISSES_KEY, type(err).__name__)
        return None, tag


def live_accuracy(store: ArtifactStore, metro: str | None = None) -> pd.DataFrame:
    """Every live record (one row per month, model and metro; only `metro`'s, e.g. "All regions", if
    given), in month order, then the order they were recorded in; unreadable records are skipped."""
    parts = []
    for key in store.list(LIVE_PREFIX):
        if not key.endswith(".parquet"):
            continue
        try:
            part = read_table(store, key)
        except (OSError, ValueError) as err:
            log.warning("skipped %s: cannot be read (%s)", key, type(err).__name__)
            continue
        parts.append(part if metro is None else part.loc[part["metro"] == metro])
    if not parts:
        return pd.DataFrame(columns=["metro", "year", "month", "model_run_id", RECORDED_AT])
    return pd.concat(parts, ignore_index=True).sort_values(["year", "month", RECORDED_AT, "metro"], ignore_index=True)


def in_a_row(values) -> list[int]:
    """Per value, how many values up to it (it included) are True in a row: what a "sustained" alarm counts."""
    counts, run = [], 0
    for value in values:
        run = run + 1 if value else 0
        counts.append(run)
    return counts


def _in_a_row(values: list[bool]) -> int:
    """How many of the newest values (the list's end) are True in a row."""
    return in_a_row(values)[-1] if len(values) else 0


def health_figures(store: ArtifactStore, skill_above: float, coverage_below: float,
                   per_metro: dict[str, dict[str, float]] | None = None) -> dict[str, float]:
    """The figures the score function publishes: the newest drift report's alerts and the months drifted in
    a row; the newest live month's skill, coverage and % error, and the live months in a row whose skill is
    above `skill_above` or coverage below `coverage_below`, for all regions and for the worst metro
    (`per_metro`: `metro_figures`, read here if not given). A figure with nothing behind it is left out."""
    figures: dict[str, float] = {}
    reports = drift_reports(store)
    if reports:
        figures[DRIFT_ALERTS] = len(reports[-1].alerts)
        figures[DRIFTED_MONTHS] = _in_a_row([bool(r.alerts) for r in reports])
    per_metro = dict(metro_figures(store, skill_above, coverage_below) if per_metro is None else per_metro)
    figures.update(per_metro.pop(ALL_REGIONS, {}))
    if per_metro:
        figures[METRO_SKILL_DECAY_MONTHS] = max(f[SKILL_DECAY_MONTHS] for f in per_metro.values())
        figures[METRO_COVERAGE_DECAY_MONTHS] = max(f[COVERAGE_DECAY_MONTHS] for f in per_metro.values())
    return figures


def metro_figures(store: ArtifactStore, skill_above: float, coverage_below: float) -> dict[str, dict[str, float]]:
    """Per metro (and ALL_REGIONS), from its live series (the first record of each month): the newest month's
    skill, coverage and % error, and the months in a row up to it whose skill is above `skill_above` or
    coverage below `coverage_below`. A figure with nothing behind it is left out."""
    live = live_accuracy(store)
    out: dict[str, dict[str, float]] = {}
    for metro, series in live.groupby("metro", sort=True):
        series = series.drop_duplicates(subset=["year", "month"], keep="first")
        newest = series.iloc[-1]
        figures = {name: float(newest[column])
                   for name, column in ((LIVE_SKILL, "skill"), (LIVE_COVERAGE, "coverage"), (LIVE_PCT_ERROR, "mean_pct_error"))
                   if pd.notna(newest.get(column))}
        figures[SKILL_DECAY_MONTHS] = _in_a_row((series["skill"] > skill_above).tolist())
        figures[COVERAGE_DECAY_MONTHS] = _in_a_row((series["coverage"] < coverage_below).tolist())
        out[str(metro)] = figures
    return out
