"""The scored months in the store: predictions partitioned by year/month, each month with its summary
(shared.serving.summary), written by compare-and-swap so concurrent scorings of a month both land, and read back
month by month so one broken file never takes down the others."""

from __future__ import annotations

import difflib
import functools
import logging
import re

import numpy as np
import pandas as pd

from shared.data import history
from shared.data.preprocess import metro_key
from shared.layout import PREDICTIONS_PREFIX, month_of_key, month_predictions_key, month_summary_key
from shared.schema import ALL_REGIONS
from shared.serving.summary import NAIVE_COLUMNS, summarize
from shared.store import ArtifactChanged, ArtifactNotFound, ArtifactStore, frame_of, parquet_bytes, read_table

log = logging.getLogger(__name__)

PREDICTION_COLUMNS = ["zipcode", "metro", "city", "lat", "lng", "date", "year", "month", "actual", "predicted",
                      "low", "high", *NAIVE_COLUMNS.values(), "model_run_id", "trained_through", *history.MARKET_LEVELS,
                      "why"]


def write_scored_months(store: ArtifactStore, predictions: pd.DataFrame) -> list[str]:
    """Write each month's predictions, then its summary.

    The new rows replace the same zip codes' earlier predictions of that month and every other zip's stay:
    a file with a few of a month's rows tops the month up instead of wiping it. Each write is a
    compare-and-swap on what was read (retried on a conflict), so scorings of the same month at the same
    time (a training run's batch stage and an incoming/ upload on AWS, two uploads) both land, in either
    order. Each month has its own summary, computed from the predictions it names by their version tag:
    a summary that names another version (a crash between the two writes) marks the month unscored."""
    keys = []
    for (year, month), part in predictions.groupby(["year", "month"], sort=True):
        key = month_predictions_key(int(year), int(month))
        _retried(key, functools.partial(_merge_into_month, store, key, part))
        _retried(key, functools.partial(_summarize_month, store, int(year), int(month)))
        keys.append(key)
    return keys


WRITE_ATTEMPTS = 20  # compare-and-swap attempts before a month write gives up (each re-reads the month)


def _retried(key: str, write) -> None:
    for _ in range(WRITE_ATTEMPTS):
        try:
            return write()
        except ArtifactChanged:
            continue
    raise ArtifactChanged(f"{key} kept changing while it was written ({WRITE_ATTEMPTS} attempts): "
                          "another scoring of the month is running; score it again when it is done")


def _merge_into_month(store: ArtifactStore, key: str, part: pd.DataFrame) -> None:
    try:
        data, tag = store.read_tagged(key)
    except ArtifactNotFound:
        data, tag = None, None
    earlier = _parsed(data)
    if earlier is not None:
        kept = earlier.loc[~earlier["zipcode"].isin(part["zipcode"])]
        part = pd.concat([kept, part], ignore_index=True) if len(kept) else part
    store.replace(key, parquet_bytes(part.sort_values("zipcode", kind="stable", ignore_index=True)), tag)


def _parsed(data: bytes | None) -> pd.DataFrame | None:
    """A month's earlier predictions; None when there are none or they cannot be read (then rescoring
    replaces them: the remedy named for an unreadable month)."""
    try:
        return None if data is None else frame_of(data)
    except (OSError, ValueError):  # pyarrow's ArrowInvalid is a ValueError
        return None


def _summarize_month(store: ArtifactStore, year: int, month: int) -> None:
    """The month's summary from its predictions as they are now, naming their version (PREDICTIONS_TAG).
    The summary's own version is read first: a writer that summarized an older version of the
    predictions cannot overwrite a newer summary."""
    summary_key = month_summary_key(year, month)
    try:
        summary_tag = store.tag(summary_key)
    except ArtifactNotFound:
        summary_tag = None
    data, tag = store.read_tagged(month_predictions_key(year, month))
    store.replace(summary_key, parquet_bytes(summarize(frame_of(data)).assign(**{PREDICTIONS_TAG: tag})), summary_tag)


PREDICTIONS_TAG = "predictions_tag"  # the summary's column naming the version of the predictions it sums up


def _consistent_summaries(store: ArtifactStore, wanted=None) -> dict[tuple[int, int], pd.DataFrame]:
    """The summaries (of the months `wanted` accepts) that sum up their month's predictions as they are
    now. A month whose summary is missing, unreadable or names other predictions is left out, with a
    warning: it counts as unscored, and scoring it again repairs it."""
    tags = store.tags(PREDICTIONS_PREFIX)
    predictions = {m: tag for key, tag in tags.items() if (m := month_of_key(key, "predictions"))}
    out = {}
    for key in tags:
        m = month_of_key(key, "summary")
        if m is None or (wanted is not None and not wanted(m)) or m not in predictions:
            continue
        try:
            summary = read_table(store, key)
        except (ArtifactNotFound, OSError, ValueError) as err:
            log.warning("%s cannot be read (%s): %04d-%02d counts as unscored; %s", key, type(err).__name__, *m,
                        _remedy(*m))
            continue
        if PREDICTIONS_TAG not in summary or (summary[PREDICTIONS_TAG] != predictions[m]).any():
            log.warning("%s does not sum up the month's predictions as they are now (a scoring stopped between "
                        "the two): %04d-%02d counts as unscored; %s", key, *m, _remedy(*m))
            continue
        out[m] = summary.drop(columns=[PREDICTIONS_TAG])
    return out


def scored_months(store: ArtifactStore, months: set[tuple[int, int]] | None = None) -> set[tuple[int, int]]:
    """Months (of `months`, if given) whose predictions and a summary of them as they are now are written."""
    return set(_consistent_summaries(store, None if months is None else months.__contains__))


def read_summary(store: ArtifactStore, year: int | None = None, month: int | None = None) -> pd.DataFrame | None:
    """The pre-aggregated metrics per metro and month, optionally of one year or month only (only those
    files are read); None before any batch scoring."""
    summaries = _consistent_summaries(store, lambda m: (year is None or m[0] == year) and (month is None or m[1] == month))
    if not summaries:
        return None
    return pd.concat(summaries.values(), ignore_index=True).sort_values(["year", "month", "metro"], ignore_index=True)


def read_predictions(store: ArtifactStore, year: int | None = None, month: int | None = None,
                     metro: str | None = None, unreadable: list[str] | None = None,
                     since: int | None = None, columns: list[str] | None = None) -> pd.DataFrame:
    """Scored rows of the matching month partitions (only those are read: of `year`, `month`, from month
    number `since` on; only `columns` of them if given), optionally one metro's. A month
    whose file cannot be read (empty, truncated, not Parquet) is skipped with a warning, and named in
    `unreadable` ("YYYY-MM: why and the remedy") when the caller passes a list: one broken month must not
    take down everything that reads the others."""
    months = [ym for key in store.list(PREDICTIONS_PREFIX) if (ym := month_of_key(key, "predictions"))]
    parts = []
    for y, m in months:
        if (year is not None and y != year) or (month is not None and m != month) or (since or 0) > history.month_of(y, m):
            continue
        key = month_predictions_key(y, m)
        try:
            parts.append(read_table(store, key, columns))
        except (OSError, ValueError) as err:  # pyarrow's ArrowInvalid is a ValueError
            problem = f"{y:04d}-{m:02d}: {key} cannot be read ({type(err).__name__}); {_remedy(y, m)}"
            log.warning("skipped %s", problem)
            if unreadable is not None:
                unreadable.append(problem)
    if not parts:
        return pd.DataFrame(columns=columns or PREDICTION_COLUMNS)
    frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    if metro is not None and metro != ALL_REGIONS:
        frame = frame.loc[same_metro(frame["metro"], metro)].reset_index(drop=True)
    return frame


def _remedy(year: int, month: int) -> str:
    return f"score it again with `housing batch --month {year:04d}-{month:02d}`"


def _loose(name: str) -> str:
    """A metro name as a filter compares it: its letters and digits only (case, dashes and spacing ignored:
    "atlanta sandy springs roswell" is Atlanta-Sandy Springs-Roswell)."""
    return re.sub(r"[^0-9a-z]", "", metro_key(name))


def same_metro(names: pd.Series, wanted: str) -> np.ndarray:
    """Which names mean the metro `wanted`, whatever its case, dashes or spacing."""
    key = _loose(wanted)
    return names.map({n: _loose(str(n)) == key for n in names.dropna().unique()}).fillna(False).to_numpy(dtype=bool)


def close_metros(names: pd.Series, wanted: str, n: int = 3) -> list[str]:
    """The names most like `wanted` (for an error that says what was meant)."""
    known = {_loose(str(name)): str(name) for name in names.dropna().unique()}
    return [known[k] for k in difflib.get_close_matches(_loose(wanted), list(known), n=n, cutoff=0.5)]
