"""Time-aware split: the model is always judged on months after the ones it learned from."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from shared import schema
from shared.errors import BadInput

SPLITS = ("train", "eval", "holdout")
# By default the holdout is the data's last 24 months and eval the 24 before: on the HouseTS file (2012-03 ..
# 2023-12) that is eval 2020-21 and holdout 2022-23, and a newer file moves the split with it.
SPLIT_MONTHS = 24


class EmptySplitError(BadInput, ValueError):
    """A split has no rows, so the run cannot train or be judged."""


def cutoffs(dates: pd.Series, train_end: dt.date | None, eval_end: dt.date | None) -> tuple[dt.date, dt.date]:
    """The split dates: given ones as they are; a missing eval_end starts the data's last SPLIT_MONTHS
    months, a missing train_end lies SPLIT_MONTHS months before eval_end."""
    if eval_end is None:
        last = pd.Timestamp(dates.max()).to_period("M")
        eval_end = (last - (SPLIT_MONTHS - 1)).start_time.date()
    if train_end is None:
        train_end = (pd.Period(eval_end, freq="M") - SPLIT_MONTHS).start_time.date()
    return train_end, eval_end


def split_masks(dates: pd.Series, train_end: dt.date | None, eval_end: dt.date | None) -> dict[str, pd.Series]:
    """train: date < train_end; eval: train_end <= date < eval_end; holdout: date >= eval_end (missing
    dates from `cutoffs`). Raises EmptySplitError when a split would have no rows."""
    if dates.notna().any():
        train_end, eval_end = cutoffs(dates, train_end, eval_end)
    elif train_end is None or eval_end is None:
        raise EmptySplitError("no dated rows to split")
    if not train_end < eval_end:
        raise ValueError(f"train_end ({train_end}) must come before eval_end ({eval_end})")
    masks = {
        "train": dates < pd.Timestamp(train_end),
        "eval": (dates >= pd.Timestamp(train_end)) & (dates < pd.Timestamp(eval_end)),
        "holdout": dates >= pd.Timestamp(eval_end),
    }
    empty = [name for name, mask in masks.items() if not mask.any()]
    if empty:
        span = f"{dates.min():%Y-%m-%d} .. {dates.max():%Y-%m-%d}" if len(dates) else "no dates"
        raise EmptySplitError(
            f"split(s) {', '.join(empty)} would be empty: the data covers {span}, "
            f"cutoffs are train < {train_end}, eval < {eval_end}, holdout >= {eval_end}"
        )
    return masks


def split_by_date(frame: pd.DataFrame, train_end: dt.date | None, eval_end: dt.date | None) -> dict[str, pd.DataFrame]:
    masks = split_masks(frame[schema.DATE], train_end, eval_end)
    return {name: frame.loc[mask].reset_index(drop=True) for name, mask in masks.items()}
