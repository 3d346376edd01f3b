"""Each zip's own history as features, under one rule written here and nowhere else.

**The rule.** A row of month m may use the zip's market statistics of months <= m (they are published with
the month) and its index values (`price`) of months <= m - INDEX_DELAY (the index for a month comes out
after it), and never beyond `known_through` when the caller gives one (horizon mode: nothing after the
last month known when the model was judged). `cutoff_months` computes the last index month a row may see;
every index lookup goes through it.

The history is what the system has seen: the training rows, and the months it scored since. Rows being
predicted join it (a batch file carries several months; a request may carry a zip's preceding months),
so a row's own market statistics and its file's earlier months count; their prices count only through
the rule. A zip with no index history gets no index features (missing values, which the model was
trained with: the earliest training rows have none), and the price-level reference is its anchor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from shared import schema
from shared.schema import METRO

INDEX_DELAY = 1  # months between a month and the first month its index value may be used
# Market medians whose smoothed trajectory says how the zip's prices moved since its last known index.
MARKET_LEVELS = schema.MARKET_LEVELS
COLUMNS = [schema.ZIPCODE, METRO, schema.DATE, schema.TARGET, *MARKET_LEVELS]
MONTH = "month_number"  # the date as `month_numbers` gives it, in the arrays a grid is built from
INDEX = schema.TARGET
LAYERS = [INDEX, *MARKET_LEVELS]  # what a metro move is of (`_Grid._metro_moves`), by place: the log index, the smoothed medians
MAX_GAP, MAX_COLUMNS = 1 << 12, 1 << 20  # bounds of a move's gap and end column, to key a move by one integer
AGE = 0  # a move's gap that is the row's index age (since the last allowed index value)
MOVES_AT_ONCE = 1 << 16  # metro moves computed in one call: all of a request's, one kind of a training set's
FEW_MONTHS = 12  # a metro median asked at no more distinct months than this is computed at those months only
FEW_ROWS = 500  # rows to predict laid over a kept window of the history (an API request's most)
SMOOTHING = 3  # months in the trailing mean of a market median (one month's median rests on few sales)
# How far back the history loaded for a prediction reaches: an index value up to MAX_INDEX_AGE months old,
# and the longest window before it. An older last index value is not used (the reference anchors the row).
MAX_INDEX_AGE = 36
GROWTH_LAGS = 12  # months of the index's own monthly growth up to its last allowed value (a year: the season)
LOOKBACK = MAX_INDEX_AGE + GROWTH_LAGS + 1 + SMOOTHING  # the growth lags reach furthest (the 12-month windows: one less)
FEATURES = [
    "index_age", "index_trend_1", "index_trend_3", "index_trend_12",
    *(f"{scope}{c}_{what}" for scope in ("", "metro_") for c in MARKET_LEVELS
      for what in ("since_index", "change_3", "change_12")),
    "metro_since_index",
]


def month_numbers(dates: pd.Series) -> np.ndarray:
    """Months since year 0 (consecutive months differ by one)."""
    return dates.to_numpy(dtype="datetime64[M]").astype("int64") + 1970 * 12


def month_number(month: str) -> int:
    """A "YYYY-MM" month as `month_numbers` counts it."""
    year, number = month.split("-")[:2]
    return month_of(int(year), int(number))


def month_of(year, month):
    """The month number of a year and month (numbers, or arrays of them)."""
    return year * 12 + month - 1


def cutoff_months(months: np.ndarray, known_through: int | np.ndarray | None = None) -> np.ndarray:
    """The last month whose index value a row of each month may use (month numbers): the rule above."""
    cutoff = months - INDEX_DELAY
    return cutoff if known_through is None else np.minimum(cutoff, known_through)


@dataclass
class HistoryFeatures:
    """Per row: the log of the last index value the rule allows (NaN if none), the features, and the
    index's monthly log growth in the GROWTH_LAGS months up to that value (column 0: the month ending at
    it; NaN where a month is missing), the zip's own and its metro's (the median over the metro's zips).
    The baselines read the zip's growth, the model's extrapolation both."""

    last_index: np.ndarray
    columns: dict[str, np.ndarray]
    growth: np.ndarray
    metro_growth: np.ndarray

    @property
    def age(self) -> np.ndarray:
        """Months from the last allowed index value to the row's month (NaN without one)."""
        return self.columns["index_age"]


class ZipHistory:
    """The months the system has seen, per zip: index values and market medians (`COLUMNS`)."""

    WINDOWS_KEPT = 2  # the grids of the last few windows asked for (a serving process asks for one, month after month)

    def __init__(self, *frames: pd.DataFrame):
        """The months of `frames` (cleaned rows or a history's frame); where they overlap, later ones win."""
        frame = _compact(*frames)
        codes, metros = pd.factorize(frame[METRO].astype("str"))
        order = np.argsort(codes, kind="stable")  # metro order: the bundle's history file is written from this frame
        self.frame = frame.iloc[order].reset_index(drop=True)
        self._metro_code = {name: i for i, name in enumerate(metros)}
        # As arrays, metros as integer codes: a request's rows are laid over them without pandas or strings.
        self._cells = _cells(self.frame, codes[order].astype("int64"))
        self._windows: dict[tuple[int, int], _Grid] = {}

    def extended(self, *frames: pd.DataFrame) -> ZipHistory:
        """This history with more months; a later frame's row replaces an earlier one of the same zip and month."""
        return ZipHistory(self.frame, *frames)

    def features(self, rows: pd.DataFrame, known_through: int | np.ndarray | None = None) -> HistoryFeatures:
        """History features of `rows` (cleaned rows; they join the history first, see the module docstring).
        Rows dated outside the data's possible range (schema.FIRST_DATE..LAST_DATE) get none."""
        months = month_numbers(rows[schema.DATE])
        dates = rows[schema.DATE].to_numpy(dtype="datetime64[us]")  # arrays: pandas' per-call cost is a request's
        zip_codes = rows[schema.ZIPCODE].to_numpy(dtype="float64")
        usable = ((dates >= np.datetime64(schema.FIRST_DATE)) & (dates <= np.datetime64(schema.LAST_DATE))
                  & ~np.isnan(zip_codes))
        zips = np.where(usable, np.round(zip_codes), np.nan)
        if not usable.any():
            return HistoryFeatures(last_index=np.full(len(rows), np.nan),
                                   columns={name: np.full(len(rows), np.nan) for name in FEATURES},
                                   growth=np.full((len(rows), GROWTH_LAGS), np.nan),
                                   metro_growth=np.full((len(rows), GROWTH_LAGS), np.nan))
        # The months the rows can look back to, every zip's, with the rows' cells laid over them.
        start, end = months[usable].min() - LOOKBACK, months[usable].max()
        given = rows if usable.all() else rows.loc[usable]
        cells = _cells(given, _metro_codes(given[METRO], self._metro_code))
        if (start, end) in self._windows or len(given) <= FEW_ROWS:  # a request: the window kept, its rows laid over it
            grid: _Grid = _Overlay(self._window(start, end), cells)
        else:  # a training set or a month's file: nothing to reuse, so the window's cells and the rows at once
            grid = _Grid(_Layers.empty(start, end).laid_over(
                {name: np.concatenate([values, cells[name]]) for name, values in self._window_cells(start, end).items()}))
        return grid.features(zips, months, known_through)

    def _window_cells(self, start: int, end: int) -> dict[str, np.ndarray]:
        """The history's cells of months start..end."""
        inside = (self._cells[MONTH] >= start) & (self._cells[MONTH] <= end)
        return {name: values[inside] for name, values in self._cells.items()}

    def index_values(self, zips: np.ndarray, months: np.ndarray) -> np.ndarray:
        """The history's index value (price) of each zip and month (month numbers); NaN where it has none."""
        known = ~np.isnan(self._cells[schema.TARGET])
        keys = self._cells[schema.ZIPCODE][known] * 10**5 + self._cells[MONTH][known]  # exact in float64
        order = np.argsort(keys, kind="stable")
        keys, values = keys[order], self._cells[schema.TARGET][known][order]
        wanted = np.round(np.asarray(zips, dtype="float64")) * 10**5 + months
        at = np.minimum(np.searchsorted(keys, wanted), max(len(keys) - 1, 0))
        found = (keys[at] == wanted) if len(keys) else np.zeros(len(wanted), dtype=bool)
        return np.where(found, values[at] if len(keys) else np.nan, np.nan)

    def _window(self, start: int, end: int) -> _Grid:
        """The history's months start..end as a grid, built once per window (its metro tables as they are
        first asked for): a serving process's requests all ask for the same one, and lay their few rows over
        it instead of building it again."""
        grid = self._windows.get((start, end))
        if grid is None:  # two threads may both build it: the same grid, no lock on the request path
            grid = _Grid(_Layers.empty(start, end).laid_over(self._window_cells(start, end)))
            for oldest in list(self._windows)[:max(len(self._windows) + 1 - self.WINDOWS_KEPT, 0)]:
                self._windows.pop(oldest, None)
            self._windows[start, end] = grid
        return grid


def _compact(*frames: pd.DataFrame) -> pd.DataFrame:
    """The history columns, one row per zip and month: where several rows give one, each value is the last
    one given (a row to predict, with no price, keeps the price the history has for its month)."""
    out = pd.concat([pd.DataFrame({c: f[c] for c in COLUMNS if c in f}).reindex(columns=COLUMNS) for f in frames]
                    or [pd.DataFrame(columns=COLUMNS)], ignore_index=True)
    out[schema.ZIPCODE] = out[schema.ZIPCODE].astype("float64").round()
    out[schema.DATE] = pd.to_datetime(out[schema.DATE]).dt.to_period("M").dt.to_timestamp("M")
    out[METRO] = out[METRO].astype("object")
    for column in (schema.TARGET, *MARKET_LEVELS):
        out[column] = out[column].astype("float64")
    out = out.dropna(subset=[schema.ZIPCODE, schema.DATE]).reset_index(drop=True)
    if out.duplicated(subset=[schema.ZIPCODE, schema.DATE]).any():
        out = out.groupby([schema.ZIPCODE, schema.DATE], sort=False, as_index=False).last()
    return out


def _metro_codes(names: pd.Series, known: dict[str, int]) -> np.ndarray:
    """Each row's metro as the history's integer code; a metro the history lacks gets a code after its own.
    Looked up once per distinct name (a request names one or two)."""
    codes, distinct = pd.factorize(names.astype("str"))
    unknown = iter(range(len(known), len(known) + len(distinct)))
    return np.array([known[name] if name in known else next(unknown) for name in distinct] + [-1],
                    dtype="int64")[codes]


def _cells(frame: pd.DataFrame, metros: np.ndarray) -> dict[str, np.ndarray]:
    """The history columns of `frame` as arrays, dates as month numbers (MONTH), metros as the given integer
    codes; a column it lacks is NaN."""
    missing = np.full(len(frame), np.nan)
    return {
        schema.ZIPCODE: frame[schema.ZIPCODE].to_numpy(dtype="float64").round(),
        MONTH: month_numbers(frame[schema.DATE]),
        METRO: metros,
        **{c: frame[c].to_numpy(dtype="float64") if c in frame else missing for c in (schema.TARGET, *MARKET_LEVELS)},
    }


def log_positive(values: np.ndarray) -> np.ndarray:
    """The log of the positive values, NaN for the others (a price or median of 0 is missing, not -inf)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(np.where(values > 0, values, np.nan))


@dataclass(frozen=True)
class _Layers:
    """History on a dense zip x month grid of months first..first + width - 1, zips sorted: each zip's metro
    (an integer code), the log index and log market medians as given, and what is derived from them row by
    row (so a row given anew is derived again alone): the medians' trailing means (SMOOTHING), and per cell
    the column of the zip's latest known index value at or before it (-1: none yet)."""

    first: int
    zips: np.ndarray
    metro: np.ndarray
    index: np.ndarray
    markets: dict[str, np.ndarray]
    smoothed: dict[str, np.ndarray]
    last_known: np.ndarray

    @classmethod
    def empty(cls, first: int, last: int) -> _Layers:
        width = max(last - first + 1, 1)
        return cls(first, np.empty(0), np.empty(0, dtype="int64"), np.empty((0, width)),
                   {c: np.empty((0, width)) for c in MARKET_LEVELS}, {c: np.empty((0, width)) for c in MARKET_LEVELS},
                   np.empty((0, width), dtype="int64"))

    def of_zips(self, zips: np.ndarray) -> _Layers:
        """The rows of these zips only."""
        rows = np.flatnonzero(np.isin(self.zips, zips))
        return _Layers(self.first, self.zips[rows], self.metro[rows], self.index[rows],
                       {c: layer[rows] for c, layer in self.markets.items()},
                       {c: layer[rows] for c, layer in self.smoothed.items()}, self.last_known[rows])

    def laid_over(self, cells: dict[str, np.ndarray]) -> _Layers:
        """These zips and the zips `cells` give, with their values laid over these (`_cells` arrays within the
        months): a value given twice, the later one wins, a missing one never; a zip's metro is the last one
        named. Laid over no zips (a training set), or over a request's own zips (`_Overlay`)."""
        given = np.unique(cells[schema.ZIPCODE])
        kept = np.arange(len(self.zips))
        zips = np.union1d(self.zips[kept], given)
        known = np.searchsorted(zips, self.zips[kept])  # where each kept zip's row goes
        z, t = np.searchsorted(zips, cells[schema.ZIPCODE]), cells[MONTH] - self.first
        touched = np.unique(z)

        def carried(layer: np.ndarray, missing) -> np.ndarray:
            out = np.full((len(zips), layer.shape[1]), missing, dtype=layer.dtype)
            out[known] = layer[kept]
            return out

        def laid(layer: np.ndarray, values: np.ndarray) -> np.ndarray:
            out = carried(layer, np.nan)
            at = ~np.isnan(values)
            out[z[at], t[at]] = log_positive(values[at])
            return out

        metro = carried(self.metro[:, None], -1)[:, 0]
        metro[z] = cells[METRO]  # numpy assigns repeated cells in order: the last one named wins
        index = laid(self.index, cells[schema.TARGET])
        markets = {c: laid(layer, cells[c]) for c, layer in self.markets.items()}
        smoothed = {c: carried(layer, np.nan) for c, layer in self.smoothed.items()}
        for c, layer in smoothed.items():
            layer[touched] = trailing_mean(markets[c][touched], SMOOTHING)
        last_known = carried(self.last_known, -1)
        columns = np.where(~np.isnan(index[touched]), np.arange(index.shape[1]), -1)
        last_known[touched] = np.maximum.accumulate(columns, axis=1)
        return _Layers(self.first, zips, metro, index, markets, smoothed, last_known)


class _Grid:
    """History on a dense zip x month grid, so windows and "last known" are array operations."""

    def __init__(self, layers: _Layers):
        self.layers = layers
        self.zips, self.first, self.index, self.last_known = layers.zips, layers.first, layers.index, layers.last_known
        self.codes = np.unique(layers.metro[layers.metro >= 0])  # the metros' codes, made dense (none stays -1)
        self.metro = np.where(layers.metro >= 0, np.searchsorted(self.codes, layers.metro), -1)
        self.zips_of_metro = [np.flatnonzero(self.metro == m) for m in range(len(self.codes))]
        self.markets = layers.smoothed
        self._tables: dict[int, np.ndarray] = {}  # (metros x months) medians per (layer, gap), keyed as `_pair` keys

    @staticmethod
    def _at(layer: np.ndarray, z: np.ndarray, t: np.ndarray) -> np.ndarray:
        """layer[z, t], NaN where t lies outside the grid or z is unknown."""
        inside = (t >= 0) & (t < layer.shape[1]) & (z >= 0)
        return np.where(inside, layer[np.where(z >= 0, z, 0), np.clip(t, 0, layer.shape[1] - 1)], np.nan)

    def _last_index(self, z: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(log index, its column) of the latest index value at or before column t; (NaN, -1) if none."""
        inside = (t >= 0) & (z >= 0)
        col = np.where(inside, self.last_known[np.where(z >= 0, z, 0), np.clip(t, 0, self.last_known.shape[1] - 1)], -1)
        return np.where(col >= 0, self._at(self.index, z, col), np.nan), col

    def _layer(self, layer: int) -> np.ndarray:
        """Layer `layer` of LAYERS: the log index, or a smoothed market median."""
        return self.index if layer == 0 else self.markets[LAYERS[layer]]

    def _inside(self, gap: np.ndarray, metro: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Which moves exist: a gap of at least a month, both ends on the grid, a metro."""
        width = self.index.shape[1]
        return (gap >= 1) & (gap < width) & (metro >= 0) & (t - gap >= 0) & (t < width)

    def _moves_of(self, zips: np.ndarray, layer: np.ndarray, gap: np.ndarray, t: np.ndarray) -> np.ndarray:
        """(zips x moves): how far each zip's layer moved in each move's `gap` months to its column t."""
        out = np.empty((len(zips), len(t)))
        for one in np.unique(layer):
            these = layer == one
            values = self._layer(int(one))
            if 4 * len(zips) < len(values):  # a metro's zips: those rows' cells only
                out[:, these] = values[np.ix_(zips, t[these])] - values[np.ix_(zips, t[these] - gap[these])]
            else:  # most of the grid's: the columns first (a gather of few columns is a fast copy)
                out[:, these] = (values[:, t[these]] - values[:, t[these] - gap[these]])[zips]
        return out

    def _metro_moves(self, layer: np.ndarray, gap: np.ndarray, metro: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Per move asked (layer of LAYERS, gap, the grid's metro code, end column t), the median over the
        metro's zips of how far the layer moved in `gap` months to column t; NaN for a gap of 0 or beyond the
        grid, or where no zip has both. A (layer, gap) asked at a few months (a request) is computed at
        those months and metros only, all in one sort; asked at many, from its (metros x months) table."""
        out = np.full(len(t), np.nan)
        ok = self._inside(gap, metro, t)
        pair = _pair(layer, gap)
        if ok.sum() > MOVES_AT_ONCE:  # a training set's: every month
            by_table = ok
        else:
            pairs, ends = np.unique(np.unique(pair[ok] * MAX_COLUMNS + t[ok]) // MAX_COLUMNS, return_counts=True)
            by_table = ok & np.isin(pair, pairs[(ends > FEW_MONTHS) | np.isin(pairs, list(self._tables))])
        out[by_table] = self._tabled(layer[by_table], gap[by_table], metro[by_table], t[by_table])
        few = ok & ~by_table
        if few.any():
            asked = np.unique(metro[few])
            out[few] = _medians_of_moves([(self, [self.zips_of_metro[m] for m in asked])], asked,
                                         layer[few], gap[few], metro[few], t[few])
        return out

    def _tabled(self, layer: np.ndarray, gap: np.ndarray, metro: np.ndarray, t: np.ndarray) -> np.ndarray:
        """The moves' medians read from the (metros x end columns) tables, each computed once."""
        if not len(t):
            return np.empty(0)
        pair = _pair(layer, gap)
        pairs = np.flatnonzero(np.bincount(pair))
        for key in pairs.tolist():
            if key not in self._tables:
                one, g = divmod(key, MAX_GAP)
                values = self._layer(one)
                moves = np.full_like(values, np.nan)
                moves[:, g:] = values[:, g:] - values[:, :-g]
                self._tables[key] = np.vstack([_median_over_zips(moves[zips]) for zips in self.zips_of_metro]
                                              or [np.full(values.shape[1], np.nan)])
        tables = np.stack([self._tables[key] for key in pairs.tolist()])
        return tables[np.searchsorted(pairs, pair), metro, t]

    def features(self, zips: np.ndarray, months: np.ndarray, known_through) -> HistoryFeatures:
        pos = np.minimum(np.searchsorted(self.zips, zips), len(self.zips) - 1)
        z = np.where(self.zips[pos] == zips, pos, -1)
        t = months - self.first
        last, at = self._last_index(z, cutoff_months(months, known_through) - self.first)
        has = at >= 0
        age = np.where(has, t - at, 0)
        out = {"index_age": np.where(has, age, np.nan)}
        for window in (3, 12):
            before, _ = self._last_index(z, np.where(has, at - window, -1))
            out[f"index_trend_{window}"] = (last - before) / window
        metro = np.where(z >= 0, self.metro[np.maximum(z, 0)], -1)
        origin = np.where(has, at, -1)
        # Every metro move: each market median's since the index and over 3 and 12 months, and the index's
        # over each of the GROWTH_LAGS months up to its last allowed value. A request's are computed at once,
        # a training set's a kind at a time (MOVES_AT_ONCE), each kind's arrays made only then.
        kinds = [(layer, gap, 0) for layer in range(1, len(LAYERS)) for gap in (AGE, 3, 12)]
        kinds += [(0, 1, lag) for lag in range(GROWTH_LAGS)]

        def moves_of(layer: int, gap: int, lag: int) -> tuple[np.ndarray, np.ndarray]:  # (gaps, end columns)
            ends = np.where(has, origin - lag, -1) if layer == 0 else t
            return (age if gap == AGE else np.full_like(t, gap)), ends

        names = [f"metro_{column}_{what}" for column in self.markets for what in ("since_index", "change_3", "change_12")]
        metro_growth = np.empty((len(t), GROWTH_LAGS))
        step = max(MOVES_AT_ONCE // max(len(t), 1), 1)
        for i in range(0, len(kinds), step):
            part = kinds[i:i + step]
            gaps, ends = zip(*(moves_of(*kind) for kind in part))
            moves = self._metro_moves(np.repeat([layer for layer, _, _ in part], len(t)), np.concatenate(gaps),
                                      np.tile(metro, len(part)), np.concatenate(ends)).reshape(len(part), len(t))
            for k, values in enumerate(moves, start=i):
                if k < len(names):
                    out[names[k]] = values
                else:
                    metro_growth[:, k - len(names)] = values
        for column, smooth in self.markets.items():
            now = self._at(smooth, z, t)
            out[f"{column}_since_index"] = np.where(has, now - self._at(smooth, z, np.where(has, at, -1)), np.nan)
            out[f"{column}_change_3"] = now - self._at(smooth, z, t - 3)
            out[f"{column}_change_12"] = now - self._at(smooth, z, t - 12)
        growth = np.empty((len(t), GROWTH_LAGS))
        newer = self._at(self.index, z, np.where(has, at, -1))
        for lag in range(GROWTH_LAGS):  # a lag at a time: a training set's thirteen levels would be 100s of MB
            older = self._at(self.index, z, np.where(has, at - lag - 1, -1))
            growth[:, lag], newer = newer - older, older
        out["index_trend_1"] = growth[:, 0]
        with np.errstate(all="ignore"):
            stacked = np.vstack([out[f"metro_{c}_since_index"] for c in MARKET_LEVELS])
            known = ~np.isnan(stacked)
            out["metro_since_index"] = np.where(known.any(axis=0), np.nansum(stacked, axis=0) / known.sum(axis=0), np.nan)
        return HistoryFeatures(last_index=last, columns={name: out[name] for name in FEATURES}, growth=growth,
                               metro_growth=metro_growth)


class _Overlay(_Grid):
    """A request's rows laid over a window's grid (`base`) without copying it: the zips they give are a
    small grid of their own (their base rows with the rows laid over), and a metro move's median comes from
    the base's table unless one of those zips changes it (a value it moves between, or the metro's zips),
    in which case it is computed over the metro's zips, the given ones' own rows in place of the base's.
    The figures are those of the base's layers with the rows laid over (`_Layers.laid_over`)."""

    def __init__(self, base: _Grid, cells: dict[str, np.ndarray]):
        super().__init__(base.layers.of_zips(cells[schema.ZIPCODE]).laid_over(cells))
        self.base = base
        self.metro = self.layers.metro  # the history's codes (`_metro_moves` looks them up in the base)
        pos = np.minimum(np.searchsorted(base.zips, self.zips), max(len(base.zips) - 1, 0))
        found = (base.zips[pos] == self.zips) if len(base.zips) else np.zeros(len(self.zips), dtype=bool)
        self._in_base = np.where(found, pos, -1)
        before = np.where(found, base.codes[base.metro[pos]] if len(base.zips) else -1, -1)
        # The metros whose medians may differ from the base's: any a given zip is in, before or after; all of
        # a metro's months where a zip joined or left it, else the months where a given zip's value changed.
        self._touched = np.unique(np.concatenate([before[before >= 0], self.metro[self.metro >= 0]]))
        rejoined = np.isin(self._touched, np.concatenate([before, self.metro])[np.tile(self.metro != before, 2)])
        members = ((before == self._touched[:, None]) | (self.metro == self._touched[:, None])).astype("float64")
        self._changed = np.empty((len(LAYERS), len(self._touched), self.index.shape[1]), dtype=bool)
        for layer in range(len(LAYERS)):
            mine = self._layer(layer)
            theirs = np.full_like(mine, np.nan)
            theirs[found] = base._layer(layer)[pos[found]]
            differs = ~((mine == theirs) | (np.isnan(mine) & np.isnan(theirs)))
            self._changed[layer] = (members @ differs) > 0  # per metro, any of its given zips'
        self._changed |= rejoined[None, :, None]

    def _metro_moves(self, layer: np.ndarray, gap: np.ndarray, metro: np.ndarray, t: np.ndarray) -> np.ndarray:
        out = np.full(len(t), np.nan)
        ok = self._inside(gap, metro, t)
        at = np.minimum(np.searchsorted(self._touched, metro), max(len(self._touched) - 1, 0))
        changed = ok & (self._touched[at] == metro) if len(self._touched) else np.zeros(len(t), dtype=bool)
        rows = np.flatnonzero(changed)
        changed[rows] = (self._changed[layer[rows], at[rows], t[rows]]
                         | self._changed[layer[rows], at[rows], t[rows] - gap[rows]])
        code = np.minimum(np.searchsorted(self.base.codes, metro), max(len(self.base.codes) - 1, 0))
        same = ok & ~changed  # a metro the base has (any other is a given zip's, and changed)
        out[same] = self.base._tabled(layer[same], gap[same], code[same], t[same])
        if changed.any():
            asked = np.unique(metro[changed])
            i = np.minimum(np.searchsorted(self.base.codes, asked), max(len(self.base.codes) - 1, 0))
            known = (self.base.codes[i] == asked) if len(self.base.codes) else np.zeros(len(asked), dtype=bool)
            # The base's zips of each metro but the given ones (their own rows count instead).
            given = np.zeros(len(self.base.zips), dtype=bool)
            given[self._in_base[self._in_base >= 0]] = True
            base_zips = [zips[~given[zips]] for zips in
                         (self.base.zips_of_metro[j] if k else np.empty(0, dtype="int64") for j, k in zip(i, known))]
            out[changed] = _medians_of_moves([(self.base, base_zips), (self, [np.flatnonzero(self.metro == m)
                                                                              for m in asked])],
                                             asked, layer[changed], gap[changed], metro[changed], t[changed])
        return out


def _medians_of_moves(sources: list[tuple[_Grid, list[np.ndarray]]], asked: np.ndarray, layer: np.ndarray,
                      gap: np.ndarray, metro: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Per move (layer, gap, metro, end column t; every metro in `asked`), the median over the metro's zips
    of the move: each source grid gives, per asked metro, its rows of the metro's zips. One sort for all."""
    key = _pair(layer, gap) * MAX_COLUMNS + t
    combos = np.unique(key)
    pair, end = combos // MAX_COLUMNS, combos % MAX_COLUMNS
    blocks, groups = [], []
    for grid, zips_of in sources:
        blocks.append(grid._moves_of(np.concatenate(zips_of).astype("int64"), pair // MAX_GAP, pair % MAX_GAP, end))
        groups.append(np.repeat(np.arange(len(asked)), [len(z) for z in zips_of]))
    group = np.concatenate(groups)
    order = np.argsort(group, kind="stable")
    medians = _medians_by_group(np.vstack(blocks)[order], group[order])
    return medians[np.searchsorted(asked, metro), np.searchsorted(combos, key)]


def _pair(layer: np.ndarray, gap: np.ndarray) -> np.ndarray:
    """A move's layer and gap as one integer (its table's key)."""
    return layer * MAX_GAP + gap


def _median_over_zips(moves: np.ndarray) -> np.ndarray:
    """Per month (column), the median of the known values (NaN where none): np.nanmedian's result, without
    its per-call cost, which dominated a one-record request."""
    if not len(moves):  # a metro whose zips all name another metro in later rows
        return np.full(moves.shape[1], np.nan)
    known = (~np.isnan(moves)).sum(axis=0)
    ordered = np.sort(moves, axis=0)  # NaN sorts last
    low, high = np.maximum((known - 1) // 2, 0), np.maximum(known // 2, 0)
    middle = (np.take_along_axis(ordered, low[None], 0)[0] + np.take_along_axis(ordered, high[None], 0)[0]) / 2
    return np.where(known > 0, middle, np.nan)


def _medians_by_group(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Per group (0, 1, ... ; rows sorted by group) and column, the median of its rows' known values: each
    group's rows laid side by side (NaN-padded) and `_median_over_zips` taken once over all of them."""
    count = int(groups.max(initial=-1)) + 1
    sizes = np.bincount(groups, minlength=count)
    within = np.arange(len(groups)) - np.searchsorted(groups, groups)  # a row's place in its group
    padded = np.full((max(int(sizes.max(initial=0)), 1), count, values.shape[1]), np.nan)
    padded[within, groups] = values
    return _median_over_zips(padded.reshape(len(padded), -1)).reshape(count, values.shape[1])


def trailing_mean(layer: np.ndarray, window: int) -> np.ndarray:
    """Mean of the known values in each cell's trailing `window` months (the cell included)."""
    known = ~np.isnan(layer)
    sums = np.cumsum(np.where(known, layer, 0.0), axis=1)
    counts = np.cumsum(known, axis=1)
    sums[:, window:] -= sums[:, :-window].copy()
    counts[:, window:] -= counts[:, :-window].copy()
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
