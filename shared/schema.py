"""The HouseTS table contract: column names in file order, their kinds, and the columns each stage uses."""

from __future__ import annotations

TARGET = "price"
# The market medians a zip's history keeps beside its index values (shared.data.history).
MARKET_LEVELS = ["median_ppsf", "median_list_ppsf", "median_list_price"]
DATE = "date"
# Dates a record may carry (HouseTS starts in 2012): year 1 or 9999 is a typo, not a month to score.
FIRST_DATE, LAST_DATE = "2000-01-01", "2100-12-31"
ZIPCODE = "zipcode"
CITY = "city"
CITY_FULL = "city_full"

MARKET_STATS = [
    "median_sale_price",
    "median_list_price",
    "median_ppsf",
    "median_list_ppsf",
    "homes_sold",
    "pending_sales",
    "new_listings",
    "inventory",
    "median_dom",
    "avg_sale_to_list",
    "sold_above_list",
    "off_market_in_two_weeks",
]
POI = ["bank", "bus", "hospital", "mall", "park", "restaurant", "school", "station", "supermarket"]
CENSUS = [
    "Total Population",
    "Median Age",
    "Per Capita Income",
    "Total Families Below Poverty",
    "Total Housing Units",
    "Median Rent",
    "Median Home Value",
    "Total Labor Force",
    "Unemployed Population",
    "Total School Age Population",
    "Total School Enrollment",
    "Median Commute Time",
]

COLUMNS = [DATE, *MARKET_STATS, CITY, ZIPCODE, "year", *POI, *CENSUS, TARGET, CITY_FULL]
NUMERIC = [c for c in COLUMNS if c not in (DATE, CITY, CITY_FULL)]
TEXT = [CITY, CITY_FULL]
# Columns that must be present and non-negative when present.
NON_NEGATIVE = [c for c in NUMERIC if c not in ("year", ZIPCODE)]
# Columns an API caller or a new month's file cannot know; never required at prediction time.
UNKNOWN_AT_PREDICTION = [TARGET]
# One row per zip code and month.
KEY = [ZIPCODE, DATE]

METROS_COLUMNS = ["metro_full", "lat", "lng"]
# Columns cleaning adds: the normalized metro name every later stage keys on, and its display form (the
# metros table's spelling, shown to users and accepted in any case).
METRO = "metro"
METRO_NAME = "metro_name"

ALL_REGIONS = "All regions"  # the summaries' row of every zip, beside one per metro
