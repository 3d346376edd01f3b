"""The 30 HouseTS metros: codes, current census names, the names the data still uses, and their centres.

The generator draws its data from this table; the cleaning stage uses the old->new name map. Prices and
growth rates are rough public orders of magnitude, used only to make synthetic data look plausible.
"""

from __future__ import annotations

from typing import NamedTuple


class Metro(NamedTuple):
    code: str
    name: str  # current census name, as in the metros table
    data_name: str  # the name the HouseTS rows carry (sometimes an older census name)
    lat: float
    lng: float
    base_price: float  # typical home value in 2012
    growth: float  # yearly appreciation before 2020
    zips: int  # zip codes in the full-size data


METROS: list[Metro] = [
    Metro("ATL", "Atlanta-Sandy Springs-Roswell", "Atlanta-Sandy Springs-Alpharetta", 33.75, -84.39, 150_000, 0.075, 290),
    Metro("AUS", "Austin-Round Rock-San Marcos", "Austin-Round Rock-Georgetown", 30.27, -97.74, 220_000, 0.080, 95),
    Metro("BAL", "Baltimore-Columbia-Towson", "Baltimore-Columbia-Towson", 39.29, -76.61, 230_000, 0.030, 150),
    Metro("BOS", "Boston-Cambridge-Newton", "Boston-Cambridge-Newton", 42.36, -71.06, 380_000, 0.055, 280),
    Metro("CHI", "Chicago-Naperville-Elgin", "Chicago-Naperville-Elgin", 41.88, -87.63, 200_000, 0.035, 440),
    Metro("CIN", "Cincinnati", "Cincinnati", 39.10, -84.51, 140_000, 0.040, 140),
    Metro("CLT", "Charlotte-Concord-Gastonia", "Charlotte-Concord-Gastonia", 35.23, -80.84, 160_000, 0.060, 130),
    Metro("DAL", "Dallas-Fort Worth-Arlington", "Dallas-Fort Worth-Arlington", 32.78, -96.80, 170_000, 0.070, 280),
    Metro("DC", "Washington-Arlington-Alexandria", "DC_Metro", 38.91, -77.04, 360_000, 0.035, 300),
    Metro("DEN", "Denver-Aurora-Centennial", "Denver-Aurora-Lakewood", 39.74, -104.99, 250_000, 0.085, 120),
    Metro("DET", "Detroit-Warren-Dearborn", "Detroit-Warren-Dearborn", 42.33, -83.05, 110_000, 0.080, 200),
    Metro("HOU", "Houston-Pasadena-The Woodlands", "Houston-The Woodlands-Sugar Land", 29.76, -95.37, 170_000, 0.050, 230),
    Metro("LAS", "Las Vegas-Henderson-North Las Vegas", "Las Vegas-Henderson-Paradise", 36.17, -115.14, 130_000, 0.095, 70),
    Metro("LAX", "Los Angeles-Long Beach-Anaheim", "Los Angeles-Long Beach-Anaheim", 34.05, -118.24, 420_000, 0.070, 440),
    Metro("MIA", "Miami-Fort Lauderdale-West Palm Beach", "Miami-Fort Lauderdale-Pompano Beach", 25.76, -80.19,
          210_000, 0.080, 190),
    Metro("MSP", "Minneapolis-St. Paul-Bloomington", "Minneapolis-St. Paul-Bloomington", 44.98, -93.27, 200_000, 0.050, 210),
    Metro("NSH", "Nashville-Davidson--Murfreesboro--Franklin", "Nashville-Davidson--Murfreesboro--Franklin", 36.16,
          -86.78, 170_000, 0.075, 110),
    Metro("NYC", "New York-Newark-Jersey City", "New York-Newark-Jersey City", 40.71, -74.01, 400_000, 0.040, 720),
    Metro("ORL", "Orlando-Kissimmee-Sanford", "Orlando-Kissimmee-Sanford", 28.54, -81.38, 140_000, 0.080, 100),
    Metro("PGH", "Pittsburgh", "Pittsburgh", 40.44, -79.99, 120_000, 0.035, 200),
    Metro("PHL", "Philadelphia-Camden-Wilmington", "Philadelphia-Camden-Wilmington", 39.95, -75.17, 220_000, 0.030, 330),
    Metro("PHX", "Phoenix-Mesa-Chandler", "Phoenix-Mesa-Chandler", 33.45, -112.07, 160_000, 0.090, 140),
    Metro("POR", "Portland-Vancouver-Hillsboro", "Portland-Vancouver-Hillsboro", 45.52, -122.68, 240_000, 0.075, 120),
    Metro("RIC", "Richmond", "Richmond", 37.54, -77.44, 190_000, 0.040, 90),
    Metro("SAC", "Sacramento-Roseville-Folsom", "Sacramento-Roseville-Folsom", 38.58, -121.49, 220_000, 0.080, 90),
    Metro("SD", "San Diego-Chula Vista-Carlsbad", "San Diego-Chula Vista-Carlsbad", 32.72, -117.16, 380_000, 0.065, 100),
    Metro("SEA", "Seattle-Tacoma-Bellevue", "Seattle-Tacoma-Bellevue", 47.61, -122.33, 300_000, 0.085, 180),
    Metro("SFO", "San Francisco-Oakland-Fremont", "San Francisco-Oakland-Berkeley", 37.77, -122.42, 550_000, 0.080, 160),
    Metro("STL", "St. Louis", "St. Louis", 38.63, -90.20, 130_000, 0.035, 220),
    Metro("TPA", "Tampa-St. Petersburg-Clearwater", "Tampa-St. Petersburg-Clearwater", 27.95, -82.46, 130_000, 0.085, 101),
]

FULL_SIZE_ZIPS = sum(m.zips for m in METROS)
