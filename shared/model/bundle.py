"""The model bundle: everything needed to go from raw HouseTS rows to prices, with no pickle and no
training stack (only pandas, numpy and xgboost are imported here, so the API image stays small).

Files under `runs/<run_id>/model/`: the served XGBoost model and the one the gate judged in UBJ, the fitted
feature encoders of each and the metros table as JSON, the zips' history (the labelled months the run saw,
Parquet), the feature schema, params, training metrics, metadata, the calibration the eval backtest
taught it (booster shrink and interval bounds per horizon bucket, shared.model.calibration), the rollout check's
requests and answers (shared.model.smoke), and `manifest.json`
with a SHA-256 of each; the manifest is written last, so a bundle without one is incomplete.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from shared.data.history import ZipHistory, month_number, month_numbers
from shared.data.preprocess import CleaningReport, clean_for_scoring
from shared.data.validation import ensure_valid, validate_housing
from shared.layout import bundle_prefix
from shared.model.adaptation import adapted
from shared.model.backtest import ORIGIN_STEP, backtest
from shared.model.calibration import MARKET_SOURCES, Calibration, Forecast, Parts
from shared.model.drift import DriftReference
from shared.model.explain import Explanation, explanations
from shared.model.features import FeatureBuilder, Features, FeatureSchema
from shared.model.seal import (
    DRIFT_REFERENCE_FILE,
    HISTORY_FILE,
    JSON_FILES,
    JUDGED_MODEL_FILE,
    MANIFEST,
    MODEL_FILE,
    SMOKE_FILE,
    seal,
    verify_bundle,
)
from shared.model.smoke import SmokeSet
from shared.schema import DATE, TARGET, ZIPCODE
from shared.store import ArtifactStore, frame_of, json_bytes, parquet_bytes


@dataclass
class FittedModel:
    """A booster, the feature encoders fitted with it, and the last month it learned from (YYYY-MM)."""

    booster: xgb.Booster
    features: FeatureBuilder
    trained_through: str

    def correction(self, feats: Features, names: list[str]) -> np.ndarray:
        """The booster's output: the log correction to each row's anchor."""
        # inplace_predict skips building a DMatrix (a third of a one-row request's time); columns are
        # passed in the schema's order, the order the booster was trained on.
        X = feats.X if feats.X.columns.tolist() == names else feats.X[names]  # selecting 40 columns costs a row's prediction
        return self.booster.inplace_predict(X.to_numpy(dtype="float32"))

    def parts(self, feats: Features, names: list[str], correction: np.ndarray | None = None) -> Parts:
        """What the calibration makes these rows' predictions of (`correction`: the booster's output where
        the caller has it already)."""
        past = feats.history
        return Parts(anchor=feats.anchor, correction=self.correction(feats, names) if correction is None else correction,
                     naive=self.features.baselines(past), age=past.age,
                     markets={name: past.columns[name] for name in MARKET_SOURCES})

    def predict(self, cleaned: pd.DataFrame, names: list[str], seen: ZipHistory, calibration: Calibration,
                known_through: int | None = None) -> Forecast:
        return calibration.apply(self.parts(self.features.transform(cleaned, seen, known_through), names))

    def explain(self, cleaned: pd.DataFrame, names: list[str], seen: ZipHistory, calibration: Calibration,
                exact: bool = True) -> list[Explanation]:
        """Each row's prediction taken apart (shared.model.explain): XGBoost's per-feature contributions, weighed as
        `predict` weighs the booster, plus the anchor and the naive forecaster blended in. `exact`: TreeSHAP
        (about a hundred predictions' cost per row, more for deep trees); else XGBoost's approximate ones
        (each split's change along the row's path: a prediction's cost), which add up to the price too."""
        feats = self.features.transform(cleaned, seen)
        matrix = xgb.DMatrix(feats.X[names].to_numpy(dtype="float32"), feature_names=names)
        contributions = self.booster.predict(matrix, pred_contribs=True, approx_contribs=not exact)
        terms = calibration.terms(self.parts(feats, names, correction=contributions.sum(axis=1)))
        return explanations(feats.anchor, contributions, names, terms)

    def backtest(self, rows: pd.DataFrame, seen: ZipHistory, names: list[str], step: int = ORIGIN_STEP) -> pd.DataFrame:
        """This model's rolling-origin backtest over `rows` (shared.model.backtest), with the naive forecasters."""
        def predict(part: pd.DataFrame, known: ZipHistory, origin: int | None) -> tuple[Features, np.ndarray]:
            feats = self.features.transform(part, known, origin)
            return feats, self.correction(feats, names)
        return backtest(rows, seen, predict, lambda feats: self.features.baselines(feats.history), step)

    def learned(self, cleaned: pd.DataFrame) -> np.ndarray:
        """Which rows' months this model learned from."""
        return month_numbers(cleaned[DATE]) <= month_number(self.trained_through)


@dataclass
class ModelBundle:
    """Two fitted models of one run: `judged`, fitted on the training split, is what evaluation and the
    gate judged; `served`, refitted with the same parameters on every labelled month the run saw, answers
    months after those. A row is never predicted by a model that learned its month when the other did not
    (see `scorers`), so figures shown against actual prices stay out of sample."""

    run_id: str
    served: FittedModel
    judged: FittedModel
    schema: FeatureSchema
    metros: pd.DataFrame
    params: dict[str, Any]
    metrics: dict[str, Any]
    metadata: dict[str, Any]
    labelled: pd.DataFrame  # the labelled months the run saw (at least the history's COLUMNS)
    calibration: Calibration
    drift_reference: DriftReference | None = None  # None in bundles made before drift monitoring
    smoke: SmokeSet | None = None  # the rollout check's requests and answers (shared.model.smoke); None in older bundles

    @cached_property
    def history(self) -> ZipHistory:
        """The zips' history of the labelled months, built on first use: serving recent months takes the
        serving state instead (shared.serving.serving_state), so most processes never pay for this one."""
        return ZipHistory(self.labelled)

    def scorers(self, cleaned: pd.DataFrame) -> np.ndarray:
        """Per row, True where the judged model scores it: a month the served model learned and the judged
        did not. Months both learned (training months) go to the served one: no model is out of sample there."""
        return self.served.learned(cleaned) & ~self.judged.learned(cleaned)

    def trained_through(self, cleaned: pd.DataFrame) -> np.ndarray:
        """Per row, the last month the model that scores it learned from (recorded beside predictions)."""
        return np.where(self.scorers(cleaned), self.judged.trained_through, self.served.trained_through)

    def predict_clean(self, cleaned: pd.DataFrame, seen: ZipHistory | None = None,
                      known_through: int | None = None, live: Mapping[int, float] | None = None) -> Forecast:
        """Prices for rows that went through cleaning, with what the system has seen (by default the months
        the run saw) and, in horizon mode, the last month whose index may be used (a month number). In
        nowcast mode the intervals adapt to the misses of the months before (`live`: the live series' per
        month, shared.serving.monitoring.live_misses; and the rows' own earlier months)."""
        seen = self.history if seen is None else seen
        judged = self.scorers(cleaned)
        if judged.all() or not judged.any():
            model = self.judged if judged.any() else self.served
            forecast = model.predict(cleaned, self.schema.names, seen, self.calibration, known_through)
        else:
            # Both models: each predicts every row, so the history each sees has all the rows' months (a
            # smaller part alone would miss the other's), and each row keeps its own model's price. Rebuilding
            # the history with the rows instead costs a second per request on a full-size store.
            mine, other = (model.predict(cleaned, self.schema.names, seen, self.calibration, known_through)
                           for model in (self.judged, self.served))
            forecast = mine.where(judged, other)
        return forecast if known_through is not None else self._adapted(forecast, cleaned, seen, judged, live or {})

    def _adapted(self, forecast: Forecast, cleaned: pd.DataFrame, seen: ZipHistory, judged: np.ndarray,
                 live: Mapping[int, float]) -> Forecast:
        """Nowcast intervals adapted to the months before (shared.model.adaptation): the live ones, and the
        rows' own earlier months, whose price counts where it is known (the row's own, else the history's)
        and the model scoring the row did not learn it."""
        months = month_numbers(cleaned[DATE])
        if not len(months) or (months.min() == months.max() and not any(m < months.min() for m in live)):
            return forecast  # nothing earlier to learn from
        actual = np.full(len(months), np.nan)
        if months.min() < months.max():
            given = cleaned[TARGET].to_numpy(dtype="float64")
            known = seen.index_values(cleaned[ZIPCODE].to_numpy(dtype="float64"), months)
            learned = np.where(judged, self.judged.learned(cleaned), self.served.learned(cleaned))
            actual = np.where(learned, np.nan, np.where(np.isnan(given), known, given))
        return adapted(forecast, months, actual, self.calibration.level, recorded=live)

    def explain(self, cleaned: pd.DataFrame, seen: ZipHistory | None = None, exact: bool = True) -> list[Explanation]:
        """Why each row's price (cleaned rows, as `predict_clean` takes them): its parts, by the model that
        scores it, summing to the log of the unclipped prediction (`exact`: see FittedModel.explain)."""
        seen = self.history if seen is None else seen
        judged = self.scorers(cleaned)
        mine, other = (model.explain(cleaned, self.schema.names, seen, self.calibration, exact) if rows.any() else []
                       for model, rows in ((self.judged, judged), (self.served, ~judged)))
        return [mine[i] if judged[i] else other[i] for i in range(len(cleaned))]

    def supported_range(self) -> tuple[float, float]:
        """The prices a prediction may take: 10x around those the model was trained on. Beyond, a forecast
        says more about the record's market values (1e12 for median_ppsf, say) than about a home; raw
        predictions are clipped to it (`predict_raw`) and the caller is told (shared.serving.caveats)."""
        low, high = self.metadata.get("price_range") or (0.0, np.inf)
        return low / 10, high * 10

    def predict_raw(self, raw: pd.DataFrame, source: str = "input", seen: ZipHistory | None = None,
                    live: Mapping[int, float] | None = None) -> tuple[Forecast, CleaningReport, pd.DataFrame]:
        """Validate, clean and score HouseTS-shaped rows: one prediction (with its interval, adapted to the
        `live` misses, see `predict_clean`) per input row, in order. Returns the forecast, the cleaning
        report, and the cleaned rows (metro names, coordinates)."""
        return self.predict_typed(ensure_valid(validate_housing(raw, source=source, for_prediction=True)), seen, live)

    def predict_typed(self, typed: pd.DataFrame, seen: ZipHistory | None = None,
                      live: Mapping[int, float] | None = None) -> tuple[Forecast, CleaningReport, pd.DataFrame]:
        """`predict_raw` of rows that passed validation already (as `validate_housing` types them)."""
        cleaned, report = clean_for_scoring(typed, self.metros)
        low, high = self.supported_range()
        forecast = self.predict_clean(cleaned, seen, live=live)
        clipped = Forecast(price=np.clip(forecast.price, low, high), low=np.clip(forecast.low, low, high),
                           high=np.clip(forecast.high, low, high), naive=forecast.naive)
        return clipped, report, cleaned

    def save(self, store: ArtifactStore) -> dict[str, bytes]:
        """Write every file, then the manifest (last: it seals the bundle); return what was written. Every
        write is create-only: a bundle is written once and never again (on AWS only this write may touch
        runs/*/model/, and only with If-None-Match)."""
        prefix = bundle_prefix(self.run_id)
        files = {
            MODEL_FILE: bytes(self.served.booster.save_raw("ubj")),
            "features.json": json_bytes(self.served.features.to_dict()),
            JUDGED_MODEL_FILE: bytes(self.judged.booster.save_raw("ubj")),
            "judged_features.json": json_bytes(self.judged.features.to_dict()),
            "feature_schema.json": json_bytes(self.schema.model_dump()),
            "metros.json": json_bytes(self.metros.to_dict(orient="list")),
            "params.json": json_bytes(self.params),
            "metrics.json": json_bytes(self.metrics),
            "metadata.json": json_bytes(self.metadata),
            "calibration.json": json_bytes(self.calibration.to_dict()),
            HISTORY_FILE: parquet_bytes(self.history.frame),
        }
        if self.drift_reference is not None:
            files[DRIFT_REFERENCE_FILE] = json_bytes(self.drift_reference.model_dump())
        if self.smoke is not None:
            files[SMOKE_FILE] = json_bytes(self.smoke.model_dump())
        for name, data in files.items():
            store.write_bytes(prefix + name, data, create_only=True)
        files[MANIFEST] = seal(store, self.run_id, files)
        return files


def load_bundle(store: ArtifactStore, run_id: str, threads: int = 0) -> ModelBundle:
    """The sealed bundle of `run_id`, checked against its manifest. `threads`: XGBoost's prediction threads
    (0: every core, for batches). A server answering small requests wants 1: a row costs a fraction of a
    millisecond, and OpenMP's threads wait for a free core (one row on 2 cores: 0.31 ms against 0.17 with
    both busy, 24 ms against 0.24 while another process trained XGBoost)."""
    files = verify_bundle(store, run_id)
    state = {name: json.loads(files[name]) for name in JSON_FILES}

    def fitted(model_file: str, features_file: str, through: str) -> FittedModel:
        booster = xgb.Booster({"nthread": threads})
        booster.load_model(bytearray(files[model_file]))
        return FittedModel(booster, FeatureBuilder.from_dict(state[features_file]), state["metadata.json"][through])

    return ModelBundle(
        run_id=run_id,
        served=fitted(MODEL_FILE, "features.json", "trained_through"),
        judged=fitted(JUDGED_MODEL_FILE, "judged_features.json", "judged_trained_through"),
        schema=FeatureSchema(**state["feature_schema.json"]),
        metros=pd.DataFrame(state["metros.json"]),
        params=state["params.json"],
        metrics=state["metrics.json"],
        metadata=state["metadata.json"],
        labelled=frame_of(files[HISTORY_FILE]),
        calibration=Calibration.from_dict(state["calibration.json"]),
        drift_reference=(DriftReference.model_validate_json(files[DRIFT_REFERENCE_FILE])
                         if DRIFT_REFERENCE_FILE in files else None),
        smoke=SmokeSet.model_validate_json(files[SMOKE_FILE]) if SMOKE_FILE in files else None,
    )
