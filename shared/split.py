"""Time-aware split: the model is always judged on months after the ones it learned from."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from shared import schema

SPLITS = ("train", "eval", "holdout")


class EmptySplitError(ValueError):
    """A split has no rows, so the run cannot train or be judged."""


def split_masks(dates: pd.Series, train_end: dt.date, eval_end: dt.date) -> dict[str, pd.Series]:
    """train: date < train_end; eval: train_end <= date < eval_end; holdout: date >= eval_end.
    Raises EmptySplitError when a split would have no rows."""
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


def split_by_date(frame: pd.DataFrame, train_end: dt.date, eval_end: dt.date) -> dict[str, pd.DataFrame]:
    masks = split_masks(frame[schema.DATE], train_end, eval_end)
    return {name: frame.loc[mask].reset_index(drop=True) for name, mask in masks.items()}
