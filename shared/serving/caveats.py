"""What the caller should know about a prediction that was still made, per record: the API returns them as
`warnings`, `housing predict` writes them in a column and counts them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from shared import schema
from shared.data.preprocess import PLAUSIBLE_MARKET, CleaningReport
from shared.data.validation import unusual_dates


def caveats(sent: pd.DataFrame, cleaned: pd.DataFrame, prices: np.ndarray, report: CleaningReport,
            supported: tuple[float, float]) -> list[tuple[int, str]]:
    """(record index, message) for each caveat of the records `sent` (as given), `cleaned` (as scored) with
    their predicted `prices`, the cleaning `report` and the prices the model supports (`supported`)."""
    out: list[tuple[int, str]] = []

    def each(mask: np.ndarray, message) -> None:
        out.extend((int(i), message(i)) for i in np.flatnonzero(mask))

    each(cleaned["lat"].isna().to_numpy(),
         lambda i: f"unknown metro {cleaned['metro'].iat[i]!r}: predicted without its coordinates")
    each(unusual_dates(cleaned[schema.DATE]), lambda i: f"the date is outside {schema.FIRST_DATE} to "
         f"{schema.LAST_DATE}: the model has seen nothing like it")
    for column in report.implausible_ignored:  # cleaning blanked them: sent, but missing after cleaning
        low, high = PLAUSIBLE_MARKET[column]
        given = pd.to_numeric(sent[column], errors="coerce").to_numpy(dtype="float64")
        ignored = ~np.isnan(given) & cleaned[column].isna().to_numpy()
        each(ignored, lambda i, c=column, v=given, lo=low, hi=high: f"{c} {v[i]:g} is outside the plausible range "
             f"{lo:g} to {hi:g}: ignored")
    low, high = supported
    each((prices <= low) | (prices >= high), lambda i: f"the prediction was held at {prices[i]:,.0f}, the edge of the "
         "prices the model supports (10x around those it was trained on): check the record's market values")
    return sorted(out, key=lambda c: c[0])  # stable: a record's caveats keep the order above
