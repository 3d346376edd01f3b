"""Feature engineering: one fitted `FeatureBuilder` turns cleaned rows into the model's matrix, the same
way for train, eval, holdout, batch months and API requests.

Beyond the usual features (date parts, zip frequency, metro target encoding, market statistics, points
of interest, census, coordinates) it adds a *price level reference*: the row's own same-month
market prices (per square foot, listed per square foot, listed) each lifted to the zip's price-index scale
by a per-zip offset learned on training rows. The model then learns the log ratio of the index to that
reference. A tree ensemble cannot predict values above those it was trained on, so learning the level
directly fails in 2022-23 when prices left the training range; the ratio stays in range. Every input is
known when a month's market statistics are published, before the index for that month is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel

from shared import schema
from shared.data import history
from shared.data.history import HistoryFeatures, ZipHistory
from shared.model import baselines
from shared.model.encoders import FrequencyEncoder, GroupStatisticEncoder, Keyed, Keys
from shared.model.extrapolation import Extrapolation
from shared.schema import METRO

ZIP_KEY = "zip_key"
# The training matrix (written by the features stage, read by training) carries each row's anchor and
# reference in these columns.
ANCHOR_COLUMN, REFERENCE_COLUMN = "_anchor", "_reference"
# (feature name, market column it scales, volume column that says how noisy that column is)
LEVEL_SOURCES = [
    ("level_ppsf", "median_ppsf", "homes_sold"),
    ("level_list_ppsf", "median_list_ppsf", "new_listings"),
    ("level_list_price", "median_list_price", "new_listings"),
]
# Money-valued market columns enter the model as log ratios to the reference, not as levels: levels leave
# the training range as prices rise, ratios do not.
RELATIVE = ["median_list_price", "median_ppsf", "median_list_ppsf"]
# Columns that only drift upward with time (the year itself; census money figures, which also trail the
# market by years). As inputs to a ratio model they teach it that "later" means "lower ratio", which was
# true of no year in training and costs 20-40% of holdout MAE on the synthetic data; so they are dropped.
DRIFTING = ["year", "Median Home Value", "Per Capita Income", "Median Rent"]
DROPPED = [schema.DATE, schema.CITY_FULL, schema.CITY, schema.ZIPCODE, "median_sale_price", *DRIFTING]
# Columns taken from the cleaned rows as they are (the RELATIVE ones are rescaled afterwards).
PASSTHROUGH = [
    *[c for c in schema.MARKET_STATS if c not in DROPPED],
    *schema.POI, *[c for c in schema.CENSUS if c not in DROPPED],
    "lat", "lng",
]
FEATURES = ["quarter", "month", *PASSTHROUGH, "zipcode_freq", "metro_target_enc", *(name for name, _, _ in LEVEL_SOURCES),
            "reference_vs_anchor", "extrapolated_move", *history.FEATURES]
# How far back the index a training row may see is cut (months): a served model meets rows one month after
# the last published index (nowcast) and up to two years after the last month it was judged on (horizon).
# Training rows draw their cut from this range, a third of them the nowcast's one month.
TRAINING_INDEX_AGES = (1, 24)
NOWCAST_SHARE = 1 / 3
# Tuning judges trials on the training split's last TUNING_MONTHS months (flagged in VALIDATION_COLUMN of
# the tuning matrix); the eval split stays untouched for the gate.
TUNING_MONTHS = 12
VALIDATION_COLUMN = "_validation"


@dataclass
class Features:
    """The model's input matrix and, per row, the log price level its output is relative to (the anchor:
    the last index value the history rule allows, else the price-level reference), and the reference."""

    X: pd.DataFrame
    anchor: np.ndarray
    reference: np.ndarray
    past: HistoryFeatures | None = None  # what the history rule let each row see (None when read from a matrix)

    @property
    def history(self) -> HistoryFeatures:
        """`past`, which every transform sets; features read back from a matrix have none."""
        if self.past is None:
            raise ValueError("these features were read from a stored matrix: they carry no history features")
        return self.past

    def to_price(self, model_output: np.ndarray) -> np.ndarray:
        return np.exp(self.anchor + model_output)

    def target(self, prices: pd.Series) -> np.ndarray:
        return np.log(prices.to_numpy(dtype="float64")) - self.anchor

    def to_matrix(self, rows: pd.DataFrame) -> pd.DataFrame:
        """The training matrix: the features, the anchor and reference, and the rows' price."""
        return self.X.assign(**{ANCHOR_COLUMN: self.anchor, REFERENCE_COLUMN: self.reference,
                                schema.TARGET: rows[schema.TARGET].to_numpy()})

    @classmethod
    def from_matrix(cls, matrix: pd.DataFrame) -> Features:
        return cls(X=matrix[FEATURES], anchor=matrix[ANCHOR_COLUMN].to_numpy(),
                   reference=matrix[REFERENCE_COLUMN].to_numpy())


def tuning_matrix(train: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The matrix tuning fits and judges trials on. The training split's last TUNING_MONTHS months are the
    validation rows, featurised by encoders fitted on the months before them only, as the eval split is by
    the final model: no trial's training rows (nor their target encodings) see a validation month's price.
    Validation rows see the index as training rows do (cut at a drawn age, under the history rule)."""
    months = history.month_numbers(train[schema.DATE])
    held = months > months.max() - TUNING_MONTHS
    if held.all():
        raise ValueError(f"the training split spans {TUNING_MONTHS} months or fewer: nothing is left to tune on "
                         "before its last months (give train_end a later date or more data)")
    fit_rows, val_rows = train.loc[~held].reset_index(drop=True), train.loc[held].reset_index(drop=True)
    builder = FeatureBuilder(seed)
    fit = builder.fit_transform(fit_rows)
    known_through = months[held] - builder._training_ages(len(val_rows))
    val = builder.transform(val_rows, ZipHistory(train), known_through)
    return pd.concat([fit.to_matrix(fit_rows).assign(**{VALIDATION_COLUMN: False}),
                      val.to_matrix(val_rows).assign(**{VALIDATION_COLUMN: True})], ignore_index=True)


class FeatureSchema(BaseModel):
    names: list[str]
    dtypes: dict[str, str]
    target: str = schema.TARGET
    target_transform: str = "log(price) - anchor"


def feature_schema() -> FeatureSchema:
    return FeatureSchema(names=FEATURES, dtypes={n: "float64" for n in FEATURES})


def _keys(frame: pd.DataFrame) -> Keys:
    """The columns the encoders are keyed on, each factorized once: the zip (as text, whole) and the metro."""
    codes, zips = pd.factorize(frame[schema.ZIPCODE].round())  # each distinct zip written out once
    return {ZIP_KEY: Keyed(codes, [str(int(z)) for z in zips]), METRO: Keyed.of(frame[METRO])}


def _log(values: pd.Series) -> pd.Series:
    """`history.log_positive` of a column, keeping its index."""
    return pd.Series(history.log_positive(values.to_numpy(dtype="float64")), index=values.index)


class FeatureBuilder:
    def __init__(self, seed: int = 0):
        self.seed = seed
        self.zip_freq = FrequencyEncoder(ZIP_KEY)
        self.metro_enc = GroupStatisticEncoder(METRO, statistic="mean")
        self.level_offsets = {name: GroupStatisticEncoder(ZIP_KEY, statistic="median") for name, _, _ in LEVEL_SOURCES}
        self.zip_level = GroupStatisticEncoder(ZIP_KEY, statistic="median")  # last resort: the zip's usual level
        self.extrapolation = Extrapolation()
        self.damping = 1.0  # the damped-trend baseline's factor, fitted on the training rows

    def fit_transform(self, train: pd.DataFrame) -> Features:
        """Fit every encoder on the training rows; return their out-of-fold features. Each row sees the
        index only up to a cut drawn from TRAINING_INDEX_AGES (the history rule still applies)."""
        keys = _keys(train)
        log_price = np.log(train[schema.TARGET])
        self.zip_freq.fit(keys)
        metro_enc = self.metro_enc.fit_transform(keys, log_price, seed=self.seed)
        offsets = {
            name: self.level_offsets[name].fit_transform(keys, log_price - _log(train[column]), seed=self.seed)
            for name, column, _ in LEVEL_SOURCES
        }
        zip_level = self.zip_level.fit_transform(keys, log_price, seed=self.seed)
        months = history.month_numbers(train[schema.DATE])
        past = ZipHistory(train).features(train, months - self._training_ages(len(train)))
        self.extrapolation.fit(past, log_price.to_numpy(), months)
        self.damping = baselines.fit_damping(past, log_price.to_numpy())
        return self._assemble(train, keys, metro_enc, offsets, zip_level, past)

    def _training_ages(self, n: int) -> np.ndarray:
        rng = np.random.default_rng(self.seed)
        low, high = TRAINING_INDEX_AGES
        return np.where(rng.random(n) < NOWCAST_SHARE, low, rng.integers(low, high + 1, n))

    def transform(self, frame: pd.DataFrame, seen: ZipHistory | None = None,
                  known_through: int | np.ndarray | None = None) -> Features:
        """Features of rows to predict, with the history the system has seen (`seen`) and, in horizon mode,
        the last month whose index may be used (`known_through`, a month number)."""
        keys = _keys(frame)
        offsets = {name: enc.transform(keys) for name, enc in self.level_offsets.items()}
        past = (seen or ZipHistory()).features(frame, known_through)
        return self._assemble(frame, keys, self.metro_enc.transform(keys), offsets, self.zip_level.transform(keys), past)

    def baselines(self, past: HistoryFeatures) -> dict[str, np.ndarray]:
        """The naive forecasters' log prices for rows that saw `past` (shared.model.baselines)."""
        return baselines.forecasts(past, self.damping)

    def _assemble(self, frame: pd.DataFrame, keys: Keys, metro_enc, offsets, zip_level,
                  past: HistoryFeatures) -> Features:
        # Columns gathered as arrays and framed once, as one block: inserting 40 columns one by one, or
        # framing 60 separate ones, costs more than the model itself on a one-row API request.
        months = frame[schema.DATE].to_numpy(dtype="datetime64[M]")
        month = np.where(np.isnat(months), np.nan, months.astype("int64") % 12 + 1.0)
        out = {"quarter": (month - 1) // 3 + 1, "month": month}
        out.update(zip(PASSTHROUGH, frame[PASSTHROUGH].to_numpy(dtype="float64").T))
        out["zipcode_freq"] = self.zip_freq.transform(keys)
        out["metro_target_enc"] = np.asarray(metro_enc, dtype="float64")
        # Each source's estimate of the zip's log price level, and their volume-weighted mean; with no
        # source at all (no sales, no listings) the zip's usual level from training.
        weighted_sum = np.zeros(len(frame))
        weights = np.zeros(len(frame))
        levels = {}
        for name, column, volume in LEVEL_SOURCES:
            level = history.log_positive(frame[column].to_numpy(dtype="float64")) + offsets[name]
            volumes = frame[volume].to_numpy(dtype="float64")
            weight = np.maximum(np.where(np.isnan(volumes), 1, volumes), 1)
            known = ~np.isnan(level)
            weighted_sum += np.where(known, level * weight, 0)
            weights += np.where(known, weight, 0)
            levels[name] = level
        reference = np.where(weights > 0, weighted_sum / np.where(weights > 0, weights, 1), zip_level)
        # The anchor: the last index value the rule allows moved as the extrapolation says (its growth and
        # the market's moves since), else the reference. The model learns the rest; its target stays in the
        # range it was trained on even when prices move in ways no training year did (a booster cannot
        # predict beyond that range; the extrapolation can).
        moved = self.extrapolation.move(past)
        anchor = np.where(np.isnan(past.last_index), reference, past.last_index + moved)
        for name, level in levels.items():
            out[name] = level - anchor
        for col in RELATIVE:
            out[col] = history.log_positive(out[col]) - anchor
        out["reference_vs_anchor"] = reference - anchor
        out["extrapolated_move"] = np.where(np.isnan(past.last_index), np.nan, moved)
        out.update(past.columns)
        block = np.empty((len(FEATURES), len(frame)))  # one block, which the frame takes as it is (no copy)
        for i, name in enumerate(FEATURES):
            block[i] = out[name]
        return Features(X=pd.DataFrame(block.T, columns=FEATURES, copy=False), anchor=anchor, reference=reference,
                        past=past)

    def to_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "zip_freq": self.zip_freq.to_dict(),
            "metro_enc": self.metro_enc.to_dict(),
            "level_offsets": {name: enc.to_dict() for name, enc in self.level_offsets.items()},
            "zip_level": self.zip_level.to_dict(),
            "extrapolation": self.extrapolation.to_dict(),
            "damping": self.damping,
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> FeatureBuilder:
        builder = cls(state["seed"])
        builder.zip_freq = FrequencyEncoder.from_dict(state["zip_freq"])
        builder.metro_enc = GroupStatisticEncoder.from_dict(state["metro_enc"])
        builder.level_offsets = {n: GroupStatisticEncoder.from_dict(s) for n, s in state["level_offsets"].items()}
        builder.zip_level = GroupStatisticEncoder.from_dict(state["zip_level"])
        builder.extrapolation = Extrapolation.from_dict(state["extrapolation"])
        builder.damping = float(state["damping"])
        return builder
