"""The serving state: the part of the zips' history that predicting recent months needs, kept current as
months are scored instead of rebuilt from everything the system has seen.

A row of month m reads the history of months m - LOOKBACK .. m only (`shared.data.history`). So the history's
months from `floor` on give every row of month >= floor + LOOKBACK the features the whole history gives
it. The state keeps those months of the champion's labelled history and of the scored months, from REACH
months before the newest month seen (re-scoring the last year needs nothing else), and moves forward with
it: its size does not grow with the months scored. Rows of earlier months take the full history
(`shared.serving.system_history.seen_history`, which reads only the scored months they can look back to).

One state per champion, at serving/<run id>/state.parquet: the bundle's rows first, then the scored
months' after the bundle's last labelled month (the order in which the full history joins them: a scored
month's values win, a missing one never), with the version tag of each scored month's predictions it
holds. A scoring that stopped before updating it leaves it behind; the next reader folds the missing months
in (reading only those), and a missing or unreadable state is rebuilt. Written at promotion and after each
scoring, compare-and-swap.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from shared import schema
from shared.data.history import COLUMNS, LOOKBACK, MARKET_LEVELS, ZipHistory, month_numbers, month_of
from shared.data.preprocess import metro_key
from shared.layout import PREDICTIONS_PREFIX, month_of_key, serving_state_key
from shared.schema import METRO
from shared.store import ArtifactChanged, ArtifactNotFound, ArtifactStore, parquet_bytes, read_table, table_metadata

log = logging.getLogger(__name__)

REACH = 12  # months up to the newest one seen that the state predicts exactly (re-scoring the last year)
SCORED = "scored"  # the state's column: True for a scored month's row, False for the bundle's
WRITE_ATTEMPTS = 5


def scored_as_history(predictions: pd.DataFrame, after: int) -> pd.DataFrame:
    """Scored rows as the history keeps them (index values where the scored file had prices, market medians),
    of months after `after` (a month number: the champion's last labelled month) only. The months the bundle
    learned are history as training cleaned them: a scored copy went through scoring's cleaning, which keeps
    the stale duplicate rows and implausible medians that training's drops, and would serve other prices."""
    predictions = predictions.loc[month_numbers(predictions["date"]) > after]
    metros = predictions["metro"]
    return pd.DataFrame({
        schema.ZIPCODE: predictions["zipcode"], schema.DATE: predictions["date"], schema.TARGET: predictions["actual"],
        METRO: metros.map({n: metro_key(str(n)) for n in metros.dropna().unique()}),
        **{c: predictions.get(c, np.nan) for c in MARKET_LEVELS},
    })


@dataclass
class ServingState:
    run_id: str
    floor: int  # the first month (a month number) it holds
    labelled_through: int  # the bundle's last labelled month: scored rows join only after it (`scored_as_history`)
    frame: pd.DataFrame  # history COLUMNS and SCORED
    folded: dict[str, str] = field(default_factory=dict)  # predictions key -> the version tag held

    @property
    def reach(self) -> int:
        """The first month whose rows the state predicts exactly."""
        return self.floor + LOOKBACK

    def serves(self, months: np.ndarray) -> bool:
        """Whether rows of these months (month numbers) get from the state what the full history gives."""
        return len(months) > 0 and int(months.min()) >= self.reach

    @cached_property
    def history(self) -> ZipHistory:
        return ZipHistory(self.frame)

    @classmethod
    def start(cls, run_id: str, labelled: pd.DataFrame) -> ServingState:
        """The state of a champion whose bundle history is `labelled`, before any scored month."""
        months = month_numbers(labelled[schema.DATE])
        floor = (int(months.max()) if len(months) else 0) - LOOKBACK - REACH + 1
        frame = labelled.loc[months >= floor, COLUMNS].assign(**{SCORED: False}).reset_index(drop=True)
        return cls(run_id, floor, int(months.max()) if len(months) else 0, frame)

    def caught_up(self, store: ArtifactStore, tags: dict[str, str]) -> ServingState:
        """This state with the scored months as `tags` (the predictions' keys and version tags) has them:
        the months it lacks or holds in another version read and folded in, the floor moved up to the newest."""
        scored = {key: tag for key, tag in tags.items() if month_of_key(key, "predictions")}
        newest = max([self.floor + LOOKBACK + REACH - 1, *(_month(key) for key in scored)])
        floor = newest - LOOKBACK - REACH + 1
        wanted = {key: tag for key, tag in scored.items() if _month(key) >= floor}
        stale = {key for key in wanted if self.folded.get(key) != wanted[key]} | (self.folded.keys() - wanted.keys())
        if not stale and floor == self.floor:
            return self
        months = month_numbers(self.frame[schema.DATE])
        redone = np.isin(months, [_month(key) for key in stale]) & self.frame[SCORED].to_numpy()
        parts, folded = [self.frame.loc[(months >= floor) & ~redone]], {}
        for key, tag in wanted.items():
            if key not in stale:
                folded[key] = tag
                continue
            try:
                predictions = read_table(store, key)
            except (ArtifactNotFound, OSError, ValueError) as err:  # rescoring the month repairs it
                log.warning("serving state: %s cannot be read (%s); left out", key, type(err).__name__)
                continue
            parts.append(scored_as_history(predictions, self.labelled_through).assign(**{SCORED: True}))
            folded[key] = tag
        return ServingState(self.run_id, floor, self.labelled_through, pd.concat(parts, ignore_index=True), folded)

    def to_bytes(self) -> bytes:
        return parquet_bytes(self.frame, {"run_id": self.run_id, "floor": str(self.floor),
                                          "labelled_through": str(self.labelled_through),
                                          "folded": json.dumps(self.folded, sort_keys=True)})

    @classmethod
    def from_bytes(cls, data: bytes) -> ServingState:
        """A stored state; one written before `labelled_through` existed is a KeyError (rebuilt by `_read`)."""
        frame, meta = table_metadata(data)
        return cls(meta["run_id"], int(meta["floor"]), int(meta["labelled_through"]), frame, json.loads(meta["folded"]))


def _month(key: str) -> int:
    year_month = month_of_key(key, "predictions")
    if year_month is None:
        raise ValueError(f"{key} is not a month's predictions")
    return month_of(*year_month)


def _read(store: ArtifactStore, run_id: str) -> tuple[ServingState | None, str | None]:
    """The stored state of `run_id` and its version tag; (None, tag) when it cannot be used."""
    key = serving_state_key(run_id)
    try:
        data, tag = store.read_tagged(key)
    except ArtifactNotFound:
        return None, None
    try:
        state = ServingState.from_bytes(data)
    except (OSError, ValueError, KeyError) as err:  # pyarrow's ArrowInvalid is a ValueError
        log.warning("%s cannot be read (%s): rebuilt from the bundle and the scored months", key, type(err).__name__)
        return None, tag
    return (state, tag) if state.run_id == run_id else (None, tag)


def current_state(store: ArtifactStore, run_id: str, labelled: Callable[[], pd.DataFrame],
                  tags: dict[str, str] | None = None) -> ServingState:
    """The state of champion `run_id`, caught up with the scored months (`tags`: the predictions listing, if
    the caller has it); built from its bundle history (`labelled()`, only called then) when there is none."""
    tags = store.tags(PREDICTIONS_PREFIX) if tags is None else tags
    state, _ = _read(store, run_id)
    return (state or ServingState.start(run_id, labelled())).caught_up(store, tags)


def update_state(store: ArtifactStore, run_id: str, labelled: Callable[[], pd.DataFrame]) -> ServingState:
    """Catch the stored state up with the scored months and write it (compare-and-swap: a concurrent writer's
    state is read again and caught up in turn)."""
    for _ in range(WRITE_ATTEMPTS):
        state, tag = _read(store, run_id)
        before = state
        state = (state or ServingState.start(run_id, labelled())).caught_up(store, store.tags(PREDICTIONS_PREFIX))
        if state is before:
            return state
        try:
            store.replace(serving_state_key(run_id), state.to_bytes(), tag)
            return state
        except ArtifactChanged:
            continue
    raise ArtifactChanged(f"{serving_state_key(run_id)} kept changing while it was written ({WRITE_ATTEMPTS} attempts)")
