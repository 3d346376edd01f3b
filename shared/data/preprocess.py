"""Cleaning: one spelling per metro, coordinates from the metros table, no stale duplicates or absurd prices.

Training rows may be dropped (and every drop is counted); rows to predict never are: `clean_for_scoring`
keeps one row per input row so predictions line up with what the caller sent.
"""

from __future__ import annotations

import re
import weakref
from collections import Counter
from functools import lru_cache

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from shared import schema
from shared.data.metros import METROS

LIST_PRICE_CEILING = 19_000_000
# What a zip's monthly market medians can plausibly be (USD; USD per square foot). A value outside is a
# typo or a unit slip: scoring ignores it (the model handles a missing median) and says so.
PLAUSIBLE_MARKET = {
    "median_sale_price": (1_000.0, float(LIST_PRICE_CEILING)),
    "median_list_price": (1_000.0, float(LIST_PRICE_CEILING)),
    "median_ppsf": (1.0, 20_000.0),
    "median_list_ppsf": (1.0, 20_000.0),
}
# Names the data uses that the metros table replaced (normalized form on both sides).
RENAMED_METROS = {
    "dc_metro": "washington-arlington-alexandria",
    **{_old: _new for _old, _new in ((m.data_name.lower(), m.name.lower()) for m in METROS) if _old != _new},
}
_DASHES = re.compile(r"\s*[-\u2010-\u2015\u2212]\s*")
_SPACES = re.compile(r"\s+")
_HYPHENS = re.compile("-+")


class CleaningReport(BaseModel):
    rows_in: int
    duplicates_removed: int = 0
    stale_copies_ignored: int = Field(0, description="scoring: rows identical to an earlier month's apart from the "
                                                     "date, predicted without their price and market medians")
    list_price_outliers: int = Field(0, description=f"rows with median_list_price > {LIST_PRICE_CEILING:,}")
    missing_target_removed: int = 0
    rows_out: int = 0
    metros_without_coordinates: list[str] = Field(default_factory=list)
    rows_without_coordinates: int = 0
    implausible_ignored: dict[str, int] = Field(
        default_factory=dict, description="scoring: per market column, values outside PLAUSIBLE_MARKET made missing")


def normalize_metro_name(names: pd.Series) -> pd.Series:
    """Lower case, one kind of dash with no spaces around it, single spaces, old census names replaced.
    Computed once per distinct spelling (a few dozen), then spread over the rows."""
    codes, spellings = pd.factorize(names)
    return pd.Series(_spread([_normalize(str(name)) for name in spellings], codes, object), index=names.index,
                     dtype="str")


def _spread(values: list, codes: np.ndarray, dtype) -> np.ndarray:
    """Per row, the value of its distinct entry (`codes` from pd.factorize: -1, a missing entry, gets NaN).
    One array lookup, where pandas' map costs a one-row request more than the lookups themselves."""
    return np.array([*values, np.nan], dtype=dtype)[codes]


def metro_key(name: str) -> str:
    """The normalized form of one metro name: how names are compared (case, dashes and spaces ignored)."""
    return _normalize(name)


@lru_cache(maxsize=4096)
def _normalize(name: str) -> str:
    text = _SPACES.sub(" ", _DASHES.sub("-", name.strip().lower()))
    # Double hyphens are part of some official names (Nashville-Davidson--Murfreesboro--Franklin).
    text = "--".join(_HYPHENS.sub("-", part) for part in text.split("--"))
    return RENAMED_METROS.get(text, text)


def metro_coordinates(metros: pd.DataFrame, names: pd.Series) -> pd.DataFrame:
    """lat/lng and display name for each normalized metro name: an exact match, else a unique match on the
    principal city (the data sometimes says just "Pittsburgh"); unmatched names are shown title-cased."""
    exact, principal = _lookup(metros)
    codes, distinct = pd.factorize(names)
    found = [exact.get(name) or principal.get(name.split("-")[0], (np.nan, np.nan, name.title())) for name in distinct]
    return pd.DataFrame({
        "lat": _spread([where[0] for where in found], codes, "float64"),
        "lng": _spread([where[1] for where in found], codes, "float64"),
        schema.METRO_NAME: _spread([where[2] for where in found], codes, object),
    })


_LOOKUPS: dict[int, tuple[dict, dict]] = {}  # by id of a live table (dropped with it)


def _lookup(metros: pd.DataFrame) -> tuple[dict[str, tuple[float, float, str]], dict[str, tuple[float, float, str]]]:
    """The table's places by normalized name and by principal city (where unique), built once per table
    object: a bundle's metros table serves every request, and rebuilding this was a third of a small one's
    cleaning."""
    if id(metros) not in _LOOKUPS:
        exact: dict[str, tuple[float, float, str]] = {}
        for full, lat, lng in zip(metros["metro_full"], metros["lat"], metros["lng"]):
            exact.setdefault(_normalize(str(full)), (float(lat), float(lng), str(full)))
        city_count = Counter(key.split("-")[0] for key in exact)
        principal = {key.split("-")[0]: where for key, where in exact.items() if city_count[key.split("-")[0]] == 1}
        _LOOKUPS[id(metros)] = exact, principal
        weakref.finalize(metros, _LOOKUPS.pop, id(metros), None)
    return _LOOKUPS[id(metros)]


def _attach_metro(frame: pd.DataFrame, metros: pd.DataFrame, report: CleaningReport) -> pd.DataFrame:
    names = normalize_metro_name(frame[schema.CITY_FULL])
    coords = metro_coordinates(metros, names)
    # No coordinates stays missing (XGBoost routes missing values down a learned branch); it is reported,
    # never filled with a fake place and never passed on to JSON.
    lost = np.isnan(coords["lat"].to_numpy())
    report.rows_without_coordinates = int(lost.sum())
    report.metros_without_coordinates = sorted(names[lost].dropna().unique().tolist()) if lost.any() else []
    # The four columns joined in one step (assigning them, even at once, cost a small request more).
    return pd.concat([frame, pd.DataFrame({schema.METRO: names, "lat": coords["lat"].to_numpy(),
                                           "lng": coords["lng"].to_numpy(),
                                           schema.METRO_NAME: coords[schema.METRO_NAME].to_numpy()}, index=frame.index)],
                     axis=1)


def _stale_copies(frame: pd.DataFrame) -> pd.Series:
    """Rows that copy an earlier row apart from date/year (a stale month republished). Only rows whose zip
    comes more than once can (a request's records are mostly of distinct zips); those are compared by a
    64-bit hash of their content (5x faster than comparing 37 columns; a collision is vanishingly unlikely)."""
    stale = np.zeros(len(frame), dtype=bool)
    repeated = frame[schema.ZIPCODE].duplicated(keep=False).to_numpy()
    if repeated.any():
        content = [c for c in schema.COLUMNS if c not in (schema.DATE, "year")]
        stale[repeated] = pd.util.hash_pandas_object(frame.loc[repeated, content], index=False).duplicated(keep="first")
    return pd.Series(stale)


def clean_for_training(frame: pd.DataFrame, metros: pd.DataFrame) -> tuple[pd.DataFrame, CleaningReport]:
    report = CleaningReport(rows_in=len(frame))
    out = _attach_metro(frame, metros, report)
    dup = _stale_copies(out)
    report.duplicates_removed = int(dup.sum())
    # Missing list price is not an outlier: only known, absurd values are removed.
    outlier = out["median_list_price"] > LIST_PRICE_CEILING
    report.list_price_outliers = int((outlier & ~dup).sum())
    no_target = out[schema.TARGET].isna()
    report.missing_target_removed = int((no_target & ~dup & ~outlier).sum())
    out = out.loc[~(dup | outlier | no_target)].reset_index(drop=True)
    report.rows_out = len(out)
    return out, report


def clean_for_scoring(frame: pd.DataFrame, metros: pd.DataFrame) -> tuple[pd.DataFrame, CleaningReport]:
    """Same transforms, no row dropped: a market median outside PLAUSIBLE_MARKET becomes missing instead, and a
    stale copy (which training drops) loses its price and market medians, so it is predicted from the history
    alone, counts no actual price and does not join the zip's history (where a missing value never wins)."""
    report = CleaningReport(rows_in=len(frame), rows_out=len(frame))
    out = _attach_metro(frame, metros, report)
    stale = _stale_copies(out).to_numpy()
    report.stale_copies_ignored = int(stale.sum())
    if stale.any():
        out.loc[stale, [schema.TARGET, *schema.MARKET_LEVELS]] = np.nan
    for column, (low, high) in PLAUSIBLE_MARKET.items():
        values = out[column].to_numpy()
        outside = (values < low) | (values > high)
        if outside.any():
            report.implausible_ignored[column] = int(outside.sum())
            out.loc[outside, column] = np.nan
    report.list_price_outliers = report.implausible_ignored.get("median_list_price", 0)
    return out, report
