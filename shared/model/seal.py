"""A model bundle's seal: `manifest.json`, written last, with a SHA-256 of every file, and its check.

Apart from shared.model.bundle so that what only checks a bundle (`housing status`, promotion) does not import
xgboost (1.4 s of a command's start)."""

from __future__ import annotations

from shared.clock import utc_now
from shared.errors import HousingError
from shared.layout import bundle_prefix
from shared.store import ArtifactStore, digest, json_bytes, read_json

MODEL_FILE, JUDGED_MODEL_FILE = "model.ubj", "judged.ubj"  # the served model, the model the gate judged
HISTORY_FILE = "history.parquet"  # the labelled months the model knows: each zip's history at serving time
DRIFT_REFERENCE_FILE = "drift_reference.json"  # what the served model was trained on, for drift reports (optional)
SMOKE_FILE = "smoke.json"  # fixed requests and the prices the bundle gave them, for the API's rollout check (optional)
MANIFEST = "manifest.json"
JSON_FILES = ("features.json", "judged_features.json", "feature_schema.json", "metros.json", "params.json", "metrics.json",
              "metadata.json", "calibration.json")


class BundleIntegrityError(HousingError):
    """A bundle file is missing or its content does not match the manifest."""


class OutdatedBundle(BundleIntegrityError):
    """A sealed bundle made by an older version, without the files this one scores with."""


def seal(store: ArtifactStore, run_id: str, files: dict[str, bytes]) -> bytes:
    """Write the manifest of the bundle's `files` (already written), create-only; return its bytes."""
    manifest = json_bytes({
        "run_id": run_id,
        "created_at": utc_now(),
        "files": {name: digest(data) for name, data in files.items()},
    })
    store.write_bytes(bundle_prefix(run_id) + MANIFEST, manifest, create_only=True)
    return manifest


def verify_bundle(store: ArtifactStore, run_id: str) -> dict[str, bytes]:
    """Read every file of a bundle and check it against the manifest; return the files' bytes."""
    manifest = _manifest(store, run_id)
    if "calibration.json" not in manifest["files"]:
        raise OutdatedBundle(f"bundle {run_id} was made by an older version (no backtest calibration): train a "
                             "new model with `housing run --force`")
    files = {name: _checked(store, run_id, name, expected) for name, expected in manifest["files"].items()}
    missing = [n for n in (MODEL_FILE, JUDGED_MODEL_FILE, HISTORY_FILE, *JSON_FILES) if n not in files]
    if missing:
        raise BundleIntegrityError(f"bundle {run_id}: manifest lacks {', '.join(missing)}")
    return files


def sealed_file(store: ArtifactStore, run_id: str, name: str) -> bytes | None:
    """One file of a sealed bundle, checked against the manifest; None when the bundle was sealed without it."""
    expected = _manifest(store, run_id)["files"].get(name)
    return None if expected is None else _checked(store, run_id, name, expected)


def _manifest(store: ArtifactStore, run_id: str) -> dict:
    key = bundle_prefix(run_id) + MANIFEST
    if not store.exists(key):
        raise BundleIntegrityError(f"run {run_id} has no sealed model bundle ({key} missing)")
    return read_json(store, key)


def _checked(store: ArtifactStore, run_id: str, name: str, expected: str) -> bytes:
    key = bundle_prefix(run_id) + name
    if not store.exists(key):
        raise BundleIntegrityError(f"bundle {run_id}: {name} is listed in the manifest but missing")
    data = store.read_bytes(key)
    if digest(data) != expected:
        raise BundleIntegrityError(f"bundle {run_id}: {name} does not match its SHA-256 in the manifest")
    return data
