"""The model bundle: everything needed to go from raw HouseTS rows to prices, with no pickle and no
training stack (only pandas, numpy and xgboost are imported here, so the API image stays small).

Files under `runs/<run_id>/model/`: the XGBoost model in UBJ, the fitted feature encoders and the metros
table as JSON, the zips' history (the labelled months the run saw, Parquet), the feature schema, params, training metrics, metadata, and `manifest.json` with a SHA-256
of each; the manifest is written last, so a bundle without one is incomplete.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from shared.features import FeatureBuilder, FeatureSchema
from shared.history import ZipHistory
from shared.layout import bundle_prefix
from shared.preprocess import CleaningReport, clean_for_scoring
from shared.store import ArtifactStore, frame_of, json_bytes, parquet_bytes, read_json
from shared.validation import ensure_valid, validate_housing

MODEL_FILE = "model.ubj"
HISTORY_FILE = "history.parquet"  # the labelled months the model knows: each zip's history at serving time
MANIFEST = "manifest.json"
JSON_FILES = ("features.json", "feature_schema.json", "metros.json", "params.json", "metrics.json", "metadata.json")


class BundleIntegrityError(RuntimeError):
    """A bundle file is missing or its content does not match the manifest."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class ModelBundle:
    run_id: str
    booster: xgb.Booster
    features: FeatureBuilder
    schema: FeatureSchema
    metros: pd.DataFrame
    params: dict[str, Any]
    metrics: dict[str, Any]
    metadata: dict[str, Any]
    history: ZipHistory

    def predict_clean(self, cleaned: pd.DataFrame, seen: ZipHistory | None = None,
                      known_through: int | None = None) -> np.ndarray:
        """Prices for rows that went through cleaning, with what the system has seen (by default the months
        the model knows) and, in horizon mode, the last month whose index may be used (a month number)."""
        feats = self.features.transform(cleaned, self.history if seen is None else seen, known_through)
        # inplace_predict skips building a DMatrix (a third of a one-row request's time); columns are
        # passed in the schema's order, the order the booster was trained on.
        return feats.to_price(self.booster.inplace_predict(feats.X[self.schema.names].to_numpy(dtype="float32")))

    def reference_prices(self, cleaned: pd.DataFrame) -> np.ndarray:
        """The price-level reference alone, as a prediction (the naive predictor the model must beat)."""
        return np.exp(self.features.transform(cleaned).reference)

    def implausible(self, prices: np.ndarray) -> np.ndarray:
        """Which predictions lie more than 10x outside the prices the model was trained on: a sign that the
        record's market values are wrong (1e12 for median_ppsf, say), not a forecast to act on."""
        low, high = self.metadata.get("price_range") or (0.0, np.inf)
        return ~((prices >= low / 10) & (prices <= high * 10))

    def predict_raw(self, raw: pd.DataFrame, source: str = "input", seen: ZipHistory | None = None,
                    ) -> tuple[np.ndarray, CleaningReport, pd.DataFrame]:
        """Validate, clean and score HouseTS-shaped rows: one prediction per input row, in order.

        Returns the prices, the cleaning report, and the cleaned rows (metro names and coordinates)."""
        typed = ensure_valid(validate_housing(raw, source=source, for_prediction=True))
        cleaned, report = clean_for_scoring(typed, self.metros)
        return self.predict_clean(cleaned, seen), report, cleaned

    def save(self, store: ArtifactStore) -> dict[str, bytes]:
        """Write every file, then the manifest (last: it seals the bundle); return what was written. Every
        write is create-only: a bundle is written once and never again (on AWS only this write may touch
        runs/*/model/, and only with If-None-Match)."""
        prefix = bundle_prefix(self.run_id)
        files = {
            MODEL_FILE: bytes(self.booster.save_raw("ubj")),
            "features.json": json_bytes(self.features.to_dict()),
            "feature_schema.json": json_bytes(self.schema.model_dump()),
            "metros.json": json_bytes(self.metros.to_dict(orient="list")),
            "params.json": json_bytes(self.params),
            "metrics.json": json_bytes(self.metrics),
            "metadata.json": json_bytes(self.metadata),
            HISTORY_FILE: parquet_bytes(self.history.frame),
        }
        for name, data in files.items():
            store.write_bytes(prefix + name, data, create_only=True)
        manifest = {
            "run_id": self.run_id,
            "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "files": {name: _sha256(data) for name, data in files.items()},
        }
        files[MANIFEST] = json_bytes(manifest)
        store.write_bytes(prefix + MANIFEST, files[MANIFEST], create_only=True)
        return files


def verify_bundle(store: ArtifactStore, run_id: str) -> dict[str, bytes]:
    """Read every file of a bundle and check it against the manifest; return the files' bytes."""
    prefix = bundle_prefix(run_id)
    if not store.exists(prefix + MANIFEST):
        raise BundleIntegrityError(f"run {run_id} has no sealed model bundle ({prefix + MANIFEST} missing)")
    manifest = read_json(store, prefix + MANIFEST)
    files = {}
    for name, expected in manifest["files"].items():
        if not store.exists(prefix + name):
            raise BundleIntegrityError(f"bundle {run_id}: {name} is listed in the manifest but missing")
        data = store.read_bytes(prefix + name)
        if _sha256(data) != expected:
            raise BundleIntegrityError(f"bundle {run_id}: {name} does not match its SHA-256 in the manifest")
        files[name] = data
    missing = [n for n in (MODEL_FILE, HISTORY_FILE, *JSON_FILES) if n not in files]
    if missing:
        raise BundleIntegrityError(f"bundle {run_id}: manifest lacks {', '.join(missing)}")
    return files


def load_bundle(store: ArtifactStore, run_id: str) -> ModelBundle:
    files = verify_bundle(store, run_id)
    booster = xgb.Booster()
    booster.load_model(bytearray(files[MODEL_FILE]))
    state = {name: json.loads(files[name]) for name in JSON_FILES}
    return ModelBundle(
        run_id=run_id,
        booster=booster,
        features=FeatureBuilder.from_dict(state["features.json"]),
        schema=FeatureSchema(**state["feature_schema.json"]),
        metros=pd.DataFrame(state["metros.json"]),
        params=state["params.json"],
        metrics=state["metrics.json"],
        metadata=state["metadata.json"],
        history=ZipHistory(frame_of(files[HISTORY_FILE])),
    )
