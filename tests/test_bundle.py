import pytest

from shared.bundle import BundleIntegrityError, load_bundle
from shared.champion import promote, read_champion
from shared.layout import bundle_prefix
from shared.settings import Settings
from shared.store import LocalStore


@pytest.fixture()
def trained(trained_store):
    return trained_store


def test_bundle_has_no_pickle_and_a_full_manifest(trained):
    store, final = trained
    keys = store.list(bundle_prefix(final["run_id"]))
    names = sorted(k.rsplit("/", 1)[1] for k in keys)
    assert names == sorted(["model.ubj", "features.json", "feature_schema.json", "metros.json", "params.json",
                            "metrics.json", "metadata.json", "history.parquet", "manifest.json"])
    assert not any(k.endswith((".pkl", ".pickle", ".joblib")) for k in store.list(""))


def test_tampered_bundle_is_refused(trained, tmp_path):
    store, final = trained
    copy = LocalStore(tmp_path / "copy")
    for key in store.list(bundle_prefix(final["run_id"])):
        copy.write_bytes(key, store.read_bytes(key))
    load_bundle(copy, final["run_id"])
    copy.write_bytes(bundle_prefix(final["run_id"]) + "params.json", b'{"max_depth": 99}')
    with pytest.raises(BundleIntegrityError, match="params.json"):
        load_bundle(copy, final["run_id"])
    with pytest.raises(BundleIntegrityError, match="params.json"):
        promote(copy, final["run_id"], "manual", Settings(mlflow_registry=False))
    assert read_champion(copy) is None


def test_serving_path_imports_no_training_stack():
    import subprocess
    import sys

    # scikit-learn is absent from the serving image: simulate that (xgboost imports it when present).
    code = ("import sys; sys.modules['sklearn'] = None;"
            "import shared.bundle, shared.champion, shared.batch;"
            "bad = [m for m in ('mlflow', 'optuna') if m in sys.modules]; print(bad); sys.exit(bool(bad))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
