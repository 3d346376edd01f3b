"""What a month's file sent in to be scored must satisfy beyond the schema, because its prices become what
the system has seen (the next months' anchors) and, at the next run, training data.

- One row per zip code and month: a file with two (two days of one month, or a row repeated) would be
  scored and counted twice, and the history would keep whichever came last.
- A labelled row's price must be plausible against the zip's own index: the index is smoothed, so from its
  last known value (the history rule's, `shared.data.history`) it moves by at most MAX_MOVE in a month and
  MAX_MOVE_PER_MONTH more for each month after (1.3x in one month, 2.1x in a year, 6x in three). A price
  1e5x too high or a cent passes the schema but not this.
- A zip code with no index history has nothing of its own to compare with: its price must be at least
  MIN_PRICE and within MAX_LEVEL_GAP of the row's own median sale price (else median list price), where
  the row has one (a cent, or a price in cents, is neither).

A training file's own months are held to the first rule too (`check_training_file`): zip by zip, each index
value against the one before it in the file.

A file breaking either is rejected as a whole (quarantined by the caller, with this report naming the
zip codes): a month half-accepted is harder to repair than one sent again.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from shared import schema
from shared.data.history import ZipHistory, month_numbers
from shared.data.validation import EXAMPLES, Problem, ValidationReport, json_safe

MAX_MOVE = 1.3
MAX_MOVE_PER_MONTH = 1.05
MIN_PRICE = 1_000.0  # no US zip's home value index is below this
MAX_LEVEL_GAP = 5.0  # a new zip's index against its own market's median price (they track each other within 2-3x)


def allowed_log_move(age: np.ndarray) -> np.ndarray:
    """The largest plausible |log move| of the index over `age` months."""
    return np.log(MAX_MOVE) + np.maximum(age - 1, 0) * np.log(MAX_MOVE_PER_MONTH)


def check_scored_file(report: ValidationReport, cleaned: pd.DataFrame, seen: ZipHistory | None) -> ValidationReport:
    """Add the problems of `cleaned` (a file's cleaned rows, in the file's order) to its `report`."""
    months = cleaned[schema.DATE].dt.to_period("M")
    repeated = pd.DataFrame({"zip": cleaned[schema.ZIPCODE].round(), "month": months}).duplicated(keep="first").to_numpy()
    if repeated.any():
        report.problems.append(_problem(cleaned, repeated, "duplicate_month",
                                        f"{int(repeated.sum())} row(s) repeat a zip code's month already in the file"))
    labelled = cleaned[schema.TARGET].notna().to_numpy() & ~repeated
    if labelled.any():
        past = (seen or ZipHistory()).features(cleaned)
        move = np.log(cleaned[schema.TARGET].to_numpy(dtype="float64")) - past.last_index
        implausible = labelled & (np.abs(np.nan_to_num(move)) > allowed_log_move(np.nan_to_num(past.age)))
        if implausible.any():
            report.problems.append(_problem(
                cleaned, implausible, "implausible_price",
                f"{int(implausible.sum())} price(s) move their zip's index by more than {MAX_MOVE}x in a month "
                f"(x{MAX_MOVE_PER_MONTH} per further month) from its last known value",
                last_index=np.exp(past.last_index).round(0), months_since=past.age))
        unseen = labelled & np.isnan(past.last_index)
        if unseen.any():
            price = cleaned[schema.TARGET].to_numpy(dtype="float64")
            market = cleaned["median_sale_price"].fillna(cleaned["median_list_price"]).to_numpy(dtype="float64")
            gap = np.abs(np.log(price) - np.log(np.where(market > 0, market, np.nan)))
            off = unseen & ((price < MIN_PRICE) | (np.nan_to_num(gap) > np.log(MAX_LEVEL_GAP)))
            if off.any():
                report.problems.append(_problem(
                    cleaned, off, "implausible_price",
                    f"{int(off.sum())} price(s) of zip codes with no index history are below ${MIN_PRICE:,.0f} or "
                    f"more than {MAX_LEVEL_GAP:g}x from the row's own median sale (else list) price",
                    market_median=market.round(0)))
    return report


def check_training_file(report: ValidationReport, typed: pd.DataFrame) -> ValidationReport:
    """Add to `report` the zips of a training file (validated rows, labelled months joined) whose index moves
    from one of its months to the next by more than it can (`allowed_log_move` of the months between): a
    month 1e5x too high, or a price in cents, would become the anchor the model learns to follow."""
    frame = typed.reset_index(drop=True)  # positions are the file's rows: examples name its lines
    prices = frame[schema.TARGET].to_numpy(dtype="float64")
    months = month_numbers(frame[schema.DATE])
    zips_all = frame[schema.ZIPCODE].to_numpy(dtype="float64")
    order = np.flatnonzero(prices > 0)
    order = order[np.lexsort((months[order], zips_all[order]))]  # zip by zip, in date order
    zips, logs = zips_all[order], np.log(prices[order])
    same = np.r_[False, zips[1:] == zips[:-1]]
    jumps = same & (np.abs(np.r_[0.0, np.diff(logs)]) > allowed_log_move(np.r_[0, np.diff(months[order])]))
    if jumps.any():
        bad = np.zeros(len(frame), dtype=bool)
        bad[order[jumps]] = True
        previous = np.full(len(frame), np.nan)
        previous[order[jumps]] = np.exp(logs[np.flatnonzero(jumps) - 1]).round(0)
        report.problems.append(_problem(
            frame, bad, "implausible_price",
            f"{int(jumps.sum())} price(s) move their zip's index by more than {MAX_MOVE}x in a month "
            f"(x{MAX_MOVE_PER_MONTH} per further month) from the file's month before them", previous=previous))
    return report


def _problem(cleaned: pd.DataFrame, bad: np.ndarray, rule: str, message: str, **extra: np.ndarray) -> Problem:
    """A problem naming every zip code at fault, with a few example rows (line numbers of the file)."""
    zips = sorted({int(z) for z in cleaned.loc[bad, schema.ZIPCODE].round()})
    examples = []
    for i in np.flatnonzero(bad)[:EXAMPLES]:
        row = cleaned.iloc[i]
        examples.append({"row": int(i) + 2, schema.ZIPCODE: json_safe(row[schema.ZIPCODE]),
                         schema.DATE: str(row[schema.DATE].date()), schema.TARGET: json_safe(row[schema.TARGET]),
                         **{name: json_safe(values[i]) for name, values in extra.items()}})
    shown = ", ".join(map(str, zips[:20])) + (f" and {len(zips) - 20} more" if len(zips) > 20 else "")
    return Problem(column=schema.TARGET if rule == "implausible_price" else f"{schema.ZIPCODE},{schema.DATE}",
                   rule=rule, message=f"{message}: zip code(s) {shown}", count=int(bad.sum()), examples=examples)
