"""Per-zip statistical forecasters from statsforecast (AutoTheta, optionally AutoETS) on the backtest's
origins: the yardstick practitioners reach for after the naive ones.

statsforecast 2.x requires pandas < 3, and this project runs pandas 3, so it is not in the lock file: this
script runs in an isolated environment of its own, started by `benchmarks/quality.py` as

    uv run --isolated --no-project --with statsforecast==2.1.1 python benchmarks/statistical.py PANEL ORIGINS OUT [--ets]

PANEL is a Parquet file of (zipcode, date, price), ORIGINS a JSON list of origin months (YYYY-MM-DD month
ends), OUT the Parquet file written: (zipcode, origin, date, model, forecast) with forecast the log price.
Every origin fits each zip's log index up to the origin and forecasts MAX_HORIZON months ahead.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import pandas as pd

MAX_HORIZON = 24  # shared.calibration's; this script runs without the project's packages, so it cannot import it
os.environ.setdefault("NIXTLA_ID_AS_COL", "1")


def main() -> None:
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS, AutoTheta

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("panel")
    parser.add_argument("origins")
    parser.add_argument("out")
    parser.add_argument("--ets", action="store_true", help="AutoETS too (about 8x AutoTheta's time)")
    args = parser.parse_args()
    panel = pd.read_parquet(args.panel).dropna(subset=["price"])
    panel = panel.assign(unique_id=panel["zipcode"].astype("int64"), ds=pd.to_datetime(panel["date"]),
                         y=np.log(panel["price"])).drop_duplicates(["unique_id", "ds"], keep="last")
    models = {"AutoTheta": AutoTheta(season_length=12)}
    if args.ets:
        models["AutoETS"] = AutoETS(season_length=1)
    parts, seconds = [], dict.fromkeys(models, 0.0)
    for origin in map(pd.Timestamp, json.load(open(args.origins))):
        known = panel.loc[panel["ds"] <= origin, ["unique_id", "ds", "y"]]
        known = known.loc[known.groupby("unique_id")["ds"].transform("max") == origin]  # zips with the origin's value
        for name, model in models.items():
            started = time.monotonic()
            forecast = StatsForecast(models=[model], freq="ME", n_jobs=1).forecast(df=known, h=MAX_HORIZON)
            seconds[name] += time.monotonic() - started
            column = next(c for c in forecast.columns if c not in ("unique_id", "ds"))
            parts.append(pd.DataFrame({"zipcode": forecast["unique_id"], "origin": origin, "date": forecast["ds"],
                                       "model": name, "forecast": forecast[column]}))
    pd.concat(parts, ignore_index=True).to_parquet(args.out)
    print(json.dumps({"seconds": seconds, "origins": len(json.load(open(args.origins))), "zips": panel["unique_id"].nunique()}))


if __name__ == "__main__":
    main()
