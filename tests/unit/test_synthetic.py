import numpy as np

from shared import schema
from shared.data.metros import FULL_SIZE_ZIPS, METROS
from shared.data.synthetic import generate, month_ends, zips_per_metro


def test_full_size_matches_housets_shape():
    assert FULL_SIZE_ZIPS == 6226
    assert len(month_ends()) == 142
    assert FULL_SIZE_ZIPS * 142 == 884_092
    assert zips_per_metro(FULL_SIZE_ZIPS).tolist() == [m.zips for m in METROS]


def test_columns_order_and_every_zip_every_month(small_data):
    rows, metros = small_data
    assert list(rows.columns) == schema.COLUMNS
    assert list(metros.columns) == schema.METROS_COLUMNS
    assert len(rows) == rows["zipcode"].nunique() * 142
    assert rows["date"].min() == "2012-03-31" and rows["date"].max() == "2023-12-31"
    assert rows["price"].notna().all() and (rows["price"] > 0).all()


def test_deterministic_for_a_seed():
    a, _ = generate(zips=40, seed=3)
    b, _ = generate(zips=40, seed=3)
    c, _ = generate(zips=40, seed=4)
    assert a.equals(b)
    assert not a.equals(c)


def test_has_the_mess_cleaning_exists_for():
    rows, _ = generate(zips=1500, seed=1)
    names = set(rows["city_full"])
    assert "DC_Metro" in names and "Denver-Aurora-Lakewood" in names and "Denver-Aurora-Centennial" in names
    assert any(n.isupper() for n in names) and any("\u2013" in n for n in names)
    assert (rows["median_list_price"] > 19_000_000).any()
    market_nan = rows[schema.MARKET_STATS].isna().mean()
    assert (market_nan > 0.01).all() and (market_nan < 0.10).all()
    stale = rows.duplicated(subset=[c for c in schema.COLUMNS if c not in ("date", "year")])
    assert 0 < stale.sum() < 0.01 * len(rows)


def test_boom_lifts_prices_and_noise_shrinks_with_volume(small_data):
    rows, _ = small_data
    by_year = rows.groupby("year")["price"].median()
    assert by_year[2022] > 1.2 * by_year[2019]
    ratio = np.log(rows["median_sale_price"] / rows["price"])
    few, many = ratio[rows["homes_sold"] <= 3], ratio[rows["homes_sold"] >= 30]
    assert few.std() > 2 * many.std()
