"""A deterministic synthetic stand-in for the HouseTS data set (same columns, same shape, same mess).

The real file cannot be downloaded on every machine, so the embedded default and the tests use this. It
models what the pipeline has to cope with: a smoothed zip-level price index that follows metro trends,
seasonality and the 2020-22 boom; market medians whose noise shrinks with sales volume; static points of
interest; yearly census figures that drift (the home-value census figure lags the market by two years); and
the dirt the cleaning stage exists for (metro-name variants, a few stale duplicate rows, absurd list
prices, a few percent missing market statistics).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel

from shared import schema
from shared.data.history import trailing_mean
from shared.data.metros import FULL_SIZE_ZIPS, METROS

FIRST_MONTH = "2012-03-31"
LAST_MONTH = "2023-12-31"
BOOM_START = pd.Timestamp("2020-06-30")
BOOM_END = pd.Timestamp("2022-06-30")


class Assumptions(BaseModel, frozen=True):
    """What the generator takes for granted about a market. The defaults make the embedded data set; other
    values test whether a feature only fits this generator (the README reports both)."""

    market_noise: float = 0.22  # spread of a month's median sale/list price over one sale (shrinks with sqrt(sales))
    mix_bias: float = 0.05  # a zip's lasting gap between its sold homes' median and its index
    mix_drift: float = 0.0  # monthly random-walk step of that gap (the mix of homes sold changes)
    zip_drift: float = 0.004  # monthly random-walk step of a zip's index apart from its metro
    index_smoothing: int = 6  # months the index is smoothed over
    zip_growth: float = 0.015  # spread of zips' own yearly growth around their metro's
    list_premium: float = 0.03  # how far list prices sit above the index outside the boom
    after_boom_rates: tuple[float, float] = (-0.06, 0.03)  # range of the metros' yearly growth after the boom
    # The published index as a trailing mean of the homes' value over this many months: above 1 it trails
    # the market (its medians move first), as a smoothed index such as Zillow's does.
    published_window: int = 1


DEFAULT = Assumptions()
VARIED = Assumptions(market_noise=0.35, mix_bias=0.12, mix_drift=0.004, zip_drift=0.008, index_smoothing=3,
                     zip_growth=0.03, list_premium=0.06)
# A downturn after the eval months that no training month shows: every metro falls 10-20% a year after the boom.
DOWNTURN = Assumptions(after_boom_rates=(-0.20, -0.10))
# An index much smoother (its drift smoothed over 12 months, and published as a trailing 6-month mean of the
# homes' value, so it lags the market) or much noisier (no smoothing, three times the zips' own drift).
SMOOTH = Assumptions(index_smoothing=12, published_window=6)
NOISY = Assumptions(index_smoothing=1, zip_drift=0.012)
ASSUMPTIONS = {"default": DEFAULT, "varied": VARIED, "downturn": DOWNTURN, "smooth": SMOOTH, "noisy": NOISY}


def month_ends() -> pd.DatetimeIndex:
    return pd.date_range(FIRST_MONTH, LAST_MONTH, freq="ME")


def zips_per_metro(total: int) -> np.ndarray:
    """Share `total` zip codes among metros in proportion to their real sizes (largest remainder)."""
    if total < 1:
        raise ValueError(f"need at least 1 zip code, got {total}")
    weights = np.array([m.zips for m in METROS], dtype=float)
    if total < len(METROS):  # too few for every metro: one zip in each of the largest
        counts = np.zeros(len(METROS), dtype=int)
        counts[np.argsort(-weights, kind="stable")[:total]] = 1
        return counts
    exact = total * weights / weights.sum()
    counts = np.maximum(np.floor(exact).astype(int), 1)
    while counts.sum() > total:  # the minimum of one pushed us over: take from the largest
        counts[np.argmax(counts)] -= 1
    leftover = total - counts.sum()
    counts[np.argsort(-(exact - np.floor(exact)), kind="stable")[:leftover]] += 1
    return counts


class _Calendar:
    """What every zip shares month by month: the boom and after-boom phases, seasonality, sales shocks."""

    def __init__(self, dates: pd.DatetimeIndex):
        self.dates = dates
        self.years_in = np.arange(len(dates)) / 12.0
        self.boom = np.asarray((dates > BOOM_START) & (dates <= BOOM_END))
        self.after = np.asarray(dates > BOOM_END)
        # Spring/summer peak in prices (small) and in sales (large); sales dip in spring 2020 and fall in 2023.
        self.season = np.sin(2 * np.pi * (dates.month.to_numpy() - 3) / 12)
        self.sales_shock = np.ones(len(dates))
        self.sales_shock[(dates >= "2020-04-01") & (dates < "2020-07-01")] = 0.6
        self.sales_shock[dates.year == 2021] = 1.12
        self.sales_shock[dates.year == 2023] = 0.75


def generate(zips: int = FULL_SIZE_ZIPS, seed: int = 42,
             assumptions: Assumptions = DEFAULT) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (housing rows in HouseTS column order, metros table with metro_full/lat/lng).

    The parts draw from one random generator in a fixed order: the same seed gives the same file."""
    rng = np.random.default_rng(seed)
    a = assumptions
    calendar = _Calendar(month_ends())
    dates, n_months = calendar.dates, len(calendar.dates)
    metro_idx = np.repeat(np.arange(len(METROS)), zips_per_metro(zips))
    n_zips = len(metro_idx)

    value = _price_index(rng, calendar, metro_idx, a)
    market = _market_statistics(rng, calendar, value, a)
    poi = _points_of_interest(rng, n_zips, n_months)
    census = _census(rng, dates, value, n_zips)
    price = _published(value, a.published_window)

    # --- identifiers and the messy metro names ------------------------------------------------------------
    zipcodes = np.sort(rng.choice(np.arange(1001, 99951), n_zips, replace=False))
    codes = np.array([m.code for m in METROS])[metro_idx]
    city_full = np.array([_name_variant(rng, METROS[i]) for i in metro_idx], dtype=object)

    frame = pd.DataFrame({
        "date": np.tile(dates.strftime("%Y-%m-%d").to_numpy(), n_zips),
        **{k: v.ravel() for k, v in market.items()},
        "city": np.repeat(codes, n_months),
        "zipcode": np.repeat(zipcodes, n_months),
        "year": np.tile(dates.year.to_numpy(), n_zips),
        **{k: v.ravel() for k, v in poi.items()},
        **{k: v.ravel() for k, v in census.items()},
        "price": price.ravel(),
        "city_full": np.repeat(city_full, n_months),
    })
    _add_stale_duplicates(rng, frame, n_months)
    metros = pd.DataFrame({
        "metro_full": [m.name for m in METROS],
        "lat": [m.lat for m in METROS],
        "lng": [m.lng for m in METROS],
    })
    return frame[schema.COLUMNS], metros


def _price_index(rng: np.random.Generator, calendar: _Calendar, metro_idx: np.ndarray, a: Assumptions) -> np.ndarray:
    """The smoothed zip-level home value index (zips x months): metro trend and phases, a zip level and
    growth of its own, seasonality, and a slow random drift."""
    n_metros, n_months, n_zips = len(METROS), len(calendar.dates), len(metro_idx)
    growth = np.array([m.growth for m in METROS])
    boom_rate = rng.uniform(0.10, 0.24, n_metros)
    after_rate = rng.uniform(*a.after_boom_rates, n_metros)
    metro_monthly = np.where(calendar.boom, boom_rate[:, None],
                             np.where(calendar.after, after_rate[:, None], growth[:, None])) / 12
    metro_monthly += rng.normal(0, 0.002, (n_metros, n_months))
    metro_log = np.cumsum(metro_monthly, axis=1)

    zip_offset = rng.normal(0, 0.45, n_zips)
    zip_growth = rng.normal(0, a.zip_growth, n_zips)
    drift = np.cumsum(rng.normal(0, a.zip_drift, (n_zips, n_months)), axis=1)
    kernel = np.ones(a.index_smoothing) / a.index_smoothing  # a Zillow-style index is smoothed over months
    drift = np.apply_along_axis(lambda r: np.convolve(r, kernel, mode="same"), 1, drift)
    base = np.array([m.base_price for m in METROS])[metro_idx]
    log_price = (
        np.log(base)[:, None]
        + zip_offset[:, None]
        + metro_log[metro_idx]
        + zip_growth[:, None] * calendar.years_in
        + 0.01 * calendar.season
        + drift
    )
    return np.maximum(np.exp(log_price), 40_000).round(0)


def _published(value: np.ndarray, window: int) -> np.ndarray:
    """The index as published: the trailing geometric mean of the value over `window` months (fewer at the
    start); `window` 1 publishes the value itself."""
    return value if window <= 1 else np.exp(trailing_mean(np.log(value), window)).round(0)


def _market_statistics(rng: np.random.Generator, calendar: _Calendar, price: np.ndarray,
                       a: Assumptions) -> dict[str, np.ndarray]:
    """Redfin-style monthly medians and counts: medians over few sales are noisy where volume is low,
    missing where there were none; a few percent missing at random and a few absurd list prices."""
    shape: tuple[int, int] = (price.shape[0], price.shape[1])
    boom, after, season = calendar.boom, calendar.after, calendar.season
    volume = np.exp(rng.normal(2.4, 0.8, shape[0]))
    sales_rate = volume[:, None] * (1 + 0.3 * season) * calendar.sales_shock
    homes_sold = rng.poisson(sales_rate).astype(float)
    pending_sales = rng.poisson(sales_rate * 1.03).astype(float)
    new_listings = rng.poisson(sales_rate * 1.2).astype(float)
    tightness = np.where(boom, 1.6, np.where(after, 2.6, 3.2))
    inventory = rng.poisson(volume[:, None] * tightness).astype(float)

    sold_n = np.maximum(homes_sold, 1)
    listed_n = np.maximum(new_listings, 1)
    mix_bias = rng.normal(0, a.mix_bias, size=shape[0])[:, None]
    sqft = np.exp(rng.normal(np.log(1700), 0.25, size=shape[0]))[:, None]
    median_sale_price = price * np.exp(mix_bias + rng.standard_t(4, shape) * a.market_noise / np.sqrt(sold_n))
    median_ppsf = median_sale_price / (sqft * np.exp(rng.normal(0, 0.08, shape) / np.sqrt(sold_n)))
    list_premium = np.where(boom, 0.0, a.list_premium)
    median_list_price = price * np.exp(mix_bias + list_premium + rng.standard_t(4, shape) * a.market_noise / np.sqrt(listed_n))
    median_list_ppsf = median_list_price / (sqft * np.exp(rng.normal(0, 0.08, shape) / np.sqrt(listed_n)))
    heat = np.where(boom, 1.0, np.where(after, 0.3, 0.0))
    avg_sale_to_list = 0.975 + 0.045 * heat + rng.normal(0, 0.02, shape) / np.sqrt(sold_n)
    sold_above_list = np.clip(0.2 + 5 * (avg_sale_to_list - 0.975) + rng.normal(0, 0.08, shape), 0, 1)
    off_market = np.clip(0.3 + 4 * (avg_sale_to_list - 0.975) + rng.normal(0, 0.08, shape), 0, 1)
    median_dom = np.maximum(1, rng.gamma(4, (45 - 25 * heat) / 4, shape)).round(0)

    no_sales = homes_sold == 0
    for arr in (median_sale_price, median_ppsf, avg_sale_to_list, sold_above_list, median_dom):
        arr[no_sales] = np.nan
    for arr in (median_list_price, median_list_ppsf):
        arr[new_listings == 0] = np.nan
    market = {
        "median_sale_price": median_sale_price.round(0),
        "median_list_price": median_list_price.round(0),
        "median_ppsf": median_ppsf.round(2),
        "median_list_ppsf": median_list_ppsf.round(2),
        "homes_sold": homes_sold,
        "pending_sales": pending_sales,
        "new_listings": new_listings,
        "inventory": inventory,
        "median_dom": median_dom,
        "avg_sale_to_list": avg_sale_to_list.round(4),
        "sold_above_list": sold_above_list.round(4),
        "off_market_in_two_weeks": off_market.round(4),
    }
    if a.mix_drift:  # the mix of homes sold and listed wanders: a zip's medians drift apart from its index
        mix = np.exp(np.cumsum(rng.normal(0, a.mix_drift, shape), axis=1))
        for name in ("median_sale_price", "median_list_price", "median_ppsf", "median_list_ppsf"):
            market[name] = (market[name] * mix).round(2)
    for arr in market.values():  # a few percent missing at random, on top of the no-sales gaps
        arr[rng.random(shape) < 0.02] = np.nan
    absurd = rng.random(shape) < 0.0002
    market["median_list_price"][absurd] = rng.uniform(19.5e6, 40e6, absurd.sum()).round(0)
    return market


def _points_of_interest(rng: np.random.Generator, n_zips: int, n_months: int) -> dict[str, np.ndarray]:
    """Static counts of banks, bus stops, ... per zip (denser zips have more of everything)."""
    density = np.exp(rng.normal(0, 0.7, n_zips))
    poi_rates = {"bank": 5, "bus": 30, "hospital": 1, "mall": 1, "park": 8, "restaurant": 40,
                 "school": 10, "station": 2, "supermarket": 4}
    return {name: np.repeat(rng.poisson(rate * density), n_months).reshape(n_zips, n_months).astype(float)
            for name, rate in poi_rates.items()}


def _census(rng: np.random.Generator, dates: pd.DatetimeIndex, price: np.ndarray, n_zips: int) -> dict:
    """Yearly ACS-like figures per zip, repeated over the year's months."""
    years = dates.year.to_numpy()
    since = years - years[0]
    pop = np.exp(rng.normal(np.log(25_000), 0.6, n_zips))[:, None] * (1 + 0.01 * since)
    level = (price[:, :1] / 250_000) ** 0.5
    unemployment = {2012: .08, 2013: .074, 2014: .062, 2015: .053, 2016: .049, 2017: .044, 2018: .039,
                    2019: .037, 2020: .081, 2021: .054, 2022: .037, 2023: .036}
    unemp = np.array([unemployment[y] for y in years])
    # The census home value is a multi-year survey: it trails the market by about two years.
    lag_idx = np.clip(np.searchsorted(dates, pd.to_datetime([f"{y - 2}-06-30" for y in years])), 0, None)
    lagged = price[:, lag_idx] * np.exp(-0.05 * np.clip(2 - since, 0, 2))
    figures = {
        "Total Population": pop,
        "Median Age": rng.normal(38, 5, n_zips)[:, None] + 0.2 * since,
        "Per Capita Income": 32_000 * level * np.exp(rng.normal(0, 0.2, n_zips))[:, None] * 1.03 ** since,
        "Total Families Below Poverty": pop / 3.5 * rng.uniform(0.03, 0.2, n_zips)[:, None],
        "Total Housing Units": pop / rng.uniform(2.2, 2.9, n_zips)[:, None],
        "Median Rent": 1_100 * level ** 0.8 * 1.04 ** since,
        "Median Home Value": lagged * 0.92 * np.exp(rng.normal(0, 0.05, n_zips))[:, None],
        "Total Labor Force": pop * 0.52,
        "Unemployed Population": pop * 0.52 * unemp * np.exp(rng.normal(0, 0.2, n_zips))[:, None],
        "Total School Age Population": pop * 0.17,
        "Total School Enrollment": pop * 0.17 * rng.uniform(0.85, 0.98, n_zips)[:, None],
        "Median Commute Time": rng.normal(28, 5, n_zips)[:, None] + 0 * since,
    }
    out = {}
    for name, values in figures.items():
        values = np.broadcast_to(values, price.shape).round(1 if name in ("Median Age", "Median Commute Time") else 0)
        values = values.copy()
        values[rng.random(price.shape) < 0.003] = np.nan
        out[name] = values
    return out


def _name_variant(rng: np.random.Generator, metro) -> str:
    """How a zip's rows spell its metro: mostly the data's name, sometimes the current one or a mangled one."""
    name = metro.name if metro.data_name != metro.name and rng.random() < 0.3 else metro.data_name
    r = rng.random()
    if r < 0.05:
        name = name.upper()
    elif r < 0.10:
        name = name.replace("-", "\u2013")
    elif r < 0.14:
        name = name.replace("-", " - ").lower()
    elif r < 0.20 and metro.code in ("PGH", "CIN", "STL", "RIC"):
        name = name.split("-")[0].lower()
    return name


def _add_stale_duplicates(rng: np.random.Generator, frame: pd.DataFrame, n_months: int) -> None:
    """Copy a few rows' values from the zip's previous month: duplicates apart from date/year."""
    rows = np.flatnonzero((rng.random(len(frame)) < 0.002) & (np.arange(len(frame)) % n_months != 0))
    cols = [c for c in frame.columns if c not in ("date", "year")]
    frame.loc[rows, cols] = frame.loc[rows - 1, cols].to_numpy()
