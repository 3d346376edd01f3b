import numpy as np
import pandas as pd
import pytest

from shared import schema
from shared.layout import Artifact, artifact_key, bundle_prefix
from shared.model.bundle import load_bundle
from shared.model.seal import BundleIntegrityError
from shared.serving.champion import promote, read_champion
from shared.serving.predictions import read_predictions
from shared.settings import Settings
from shared.store import LocalStore, read_table


@pytest.fixture()
def trained(trained_store):
    return trained_store


def test_bundle_has_no_pickle_and_a_full_manifest(trained):
    store, final = trained
    keys = store.list(bundle_prefix(final["run_id"]))
    names = sorted(k.rsplit("/", 1)[1] for k in keys)
    assert names == sorted(["model.ubj", "features.json", "judged.ubj", "judged_features.json", "feature_schema.json",
                            "metros.json", "params.json", "metrics.json", "metadata.json", "history.parquet",
                            "calibration.json", "drift_reference.json", "smoke.json", "manifest.json"])
    assert not any(k.endswith((".pkl", ".pickle", ".joblib")) for k in store.list(""))


def test_the_served_model_learned_every_labelled_month_and_scores_only_months_it_did_not(trained):
    """The served model is refitted on every labelled month; the months it learned that the judged model did
    not (eval and holdout) are scored by the judged one, so predicted-vs-actual figures stay out of sample."""
    store, final = trained
    bundle = load_bundle(store, final["run_id"])
    splits = {name: read_table(store, artifact_key(final["run_id"], Artifact.of_split("clean", name)))
              for name in ("train", "eval", "holdout")}
    assert bundle.served.trained_through == splits["holdout"][schema.DATE].max().strftime("%Y-%m")
    assert bundle.judged.trained_through == splits["train"][schema.DATE].max().strftime("%Y-%m")
    scored = read_predictions(store)  # the run's batch stage scored its holdout
    assert len(scored) and (scored["trained_through"] == bundle.judged.trained_through).all()
    assert (scored["date"].dt.strftime("%Y-%m") > scored["trained_through"]).all()
    np.testing.assert_allclose(scored.sort_values(["date", "zipcode"])["predicted"].to_numpy()[:5],
                               bundle.judged.predict(splits["holdout"].sort_values([schema.DATE, schema.ZIPCODE]).head(5),
                                                     bundle.schema.names, bundle.history, bundle.calibration).price,
                               rtol=1e-6)
    later = splits["holdout"].tail(3).assign(**{schema.DATE: pd.Timestamp("2030-01-31")})
    assert (bundle.trained_through(later) == bundle.served.trained_through).all()


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
            "import shared.model.bundle, shared.serving.champion, shared.serving.batch, shared.serving.predictions,"
            " shared.serving.system_history;"
            "bad = [m for m in ('mlflow', 'optuna') if m in sys.modules]; print(bad); sys.exit(bool(bad))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_nowcast_of_several_months_widens_the_later_months_intervals_by_the_earlier_months_misses(trained):
    """`predict_clean` of the holdout's first three months without their price: the first month's intervals are
    the calibration's, each later month's are scaled by the misses of the months before it, measured against
    the prices the history knows (shared.model.adaptation)."""
    from shared.model.adaptation import LIMIT, RATE

    store, final = trained
    bundle = load_bundle(store, final["run_id"])
    holdout = read_table(store, artifact_key(final["run_id"], Artifact.of_split("clean", "holdout")))
    first = sorted(holdout[schema.DATE].unique())[:3]
    rows = holdout.loc[holdout[schema.DATE].isin(first)].assign(**{schema.TARGET: np.nan}).reset_index(drop=True)
    together = bundle.predict_clean(rows)
    width = 0.0
    for month in first:
        mine = (rows[schema.DATE] == month).to_numpy()
        alone = bundle.predict_clean(rows.loc[mine].reset_index(drop=True))
        np.testing.assert_allclose(together.price[mine], alone.price, rtol=1e-9)
        np.testing.assert_allclose(np.log(together.high[mine] / together.price[mine]),
                                   np.exp(width) * np.log(alone.high / alone.price), rtol=1e-9)
        actual = holdout.loc[holdout[schema.DATE] == month, schema.TARGET].to_numpy()
        missed = np.mean((actual < together.low[mine]) | (actual > together.high[mine]))
        width = float(np.clip(width + RATE * (missed - (1 - bundle.calibration.level)), -LIMIT, LIMIT))
    assert width != 0.0  # the months did teach something
