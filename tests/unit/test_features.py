import json

import numpy as np
import pandas as pd

from shared.data.preprocess import clean_for_training
from shared.data.validation import ensure_valid, validate_housing
from shared.model.encoders import FrequencyEncoder, GroupStatisticEncoder, Keyed
from shared.model.features import DROPPED, FEATURES, FeatureBuilder


def test_frequency_encoder_unseen_is_zero():
    enc = FrequencyEncoder("k").fit(_keyed(["a", "a", "b", "c", None]))
    assert enc.transform(_keyed(["a", "z", None])).tolist() == [0.5, 0.0, 0.0]  # shares of the rows with a key


def _keyed(values) -> dict[str, Keyed]:
    return {"k": Keyed.of(pd.Series(values, dtype="str"))}


def test_target_encoding_never_sees_a_rows_own_target():
    rng = np.random.default_rng(0)
    frame = _keyed(rng.choice(list("abc"), 300))
    values = pd.Series(rng.normal(size=300))
    before = GroupStatisticEncoder("k").fit_transform(frame, values, seed=1)
    changed = values.copy()
    changed[17] = 1e6  # a wild target on one row must not move that row's own encoding
    after = GroupStatisticEncoder("k").fit_transform(frame, changed, seed=1)
    assert after[17] == before[17]
    assert not np.allclose(after, before)  # ...while rows in other folds do see it


def test_encoders_round_trip_through_json():
    frame = _keyed(["a", "b", "a"])
    enc = GroupStatisticEncoder("k", statistic="median")
    enc.fit_transform(frame, pd.Series([1.0, 2.0, 3.0]))
    again = GroupStatisticEncoder.from_dict(json.loads(json.dumps(enc.to_dict())))
    assert again.transform(frame).tolist() == enc.transform(frame).tolist()


def test_one_schema_for_every_split_and_json_state(rows, metros):
    cleaned, _ = clean_for_training(ensure_valid(validate_housing(rows)), metros)
    train, later = cleaned[cleaned["date"] < "2020-01-01"], cleaned[cleaned["date"] >= "2022-01-01"]
    builder = FeatureBuilder(seed=3)
    fitted = builder.fit_transform(train)
    restored = FeatureBuilder.from_dict(json.loads(json.dumps(builder.to_dict())))
    a, b = builder.transform(later), restored.transform(later)
    assert list(fitted.X.columns) == list(a.X.columns) == FEATURES
    pd.testing.assert_frame_equal(a.X, b.X)
    assert np.isfinite(a.reference).all() and np.isfinite(fitted.reference).all()
    for dropped in DROPPED:
        assert dropped not in FEATURES


def test_reference_falls_back_when_a_row_has_no_market_prices(rows, metros):
    cleaned, _ = clean_for_training(ensure_valid(validate_housing(rows)), metros)
    builder = FeatureBuilder()
    builder.fit_transform(cleaned)
    blank = cleaned.head(3).assign(median_ppsf=np.nan, median_list_ppsf=np.nan, median_list_price=np.nan)
    assert np.isfinite(builder.transform(blank).reference).all()
