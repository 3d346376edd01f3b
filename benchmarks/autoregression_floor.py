"""How far any forecaster of the index's own past can beat momentum a month ahead, per generator assumption.

    uv run python benchmarks/autoregression_floor.py [--zips 600] [--assumptions default smooth ...]

A linear autoregression on each zip's monthly log growth (its last 6 months, its metro's mean growth of the
last 3, the same month a year earlier, the season) is fitted on every month but the data's last 36 and
scored on its last 24, nowcast (the index known through the month before). It prints the MAE of
persistence, momentum and the autoregression, and the autoregression's over the better of the two naive
forecasters: the floor the model's nowcast skill is compared with in the README ("What the model still
cannot do").
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from shared.data.synthetic import ASSUMPTIONS, generate  # noqa: E402

LAGS, METRO_LAGS, FIT_BEFORE, SCORED = 6, 3, 36, 24  # months


def floor(name: str, zips: int) -> dict[str, float]:
    rows, _ = generate(zips=zips, seed=42, assumptions=ASSUMPTIONS[name])
    rows = rows.drop_duplicates(["zipcode", "date"])
    index = rows.pivot(index="zipcode", columns="date", values="price").sort_index(axis=1)
    log_index = np.log(index.to_numpy())
    growth = np.diff(log_index, axis=1)  # column t: the growth into month t + 1
    metro = rows.groupby("zipcode")["city"].first().reindex(index.index).to_numpy()
    metro_growth = np.zeros_like(growth)
    for code in np.unique(metro):
        metro_growth[metro == code] = growth[metro == code].mean(axis=0)
    months = pd.to_datetime(index.columns[1:]).month.to_numpy()
    design, target, column = [], [], []
    for t in range(LAGS + 12, growth.shape[1]):
        season = 2 * np.pi * months[t] / 12
        inputs = [growth[:, t - k] for k in range(1, LAGS + 1)] + [metro_growth[:, t - k] for k in range(1, METRO_LAGS + 1)]
        inputs += [growth[:, t - 12], np.full(len(growth), np.sin(season)), np.full(len(growth), np.cos(season))]
        design.append(np.column_stack(inputs))
        target.append(growth[:, t])
        column.append(np.full(len(growth), t))
    x, y, t = np.vstack(design), np.concatenate(target), np.concatenate(column)
    fit, scored = t < growth.shape[1] - FIT_BEFORE, t >= growth.shape[1] - SCORED
    previous = np.exp(log_index[np.tile(np.arange(len(growth)), len(y) // len(growth)), t])[scored]
    actual = previous * np.exp(y[scored])

    def mae(predicted_growth: np.ndarray) -> float:
        return float(np.mean(np.abs(previous * np.exp(predicted_growth) - actual)))

    model = LinearRegression().fit(x[fit], y[fit])
    out = {"persistence": mae(np.zeros(scored.sum())), "momentum": mae(x[scored, 0]),
           "autoregression": mae(model.predict(x[scored]))}
    out["autoregression / best naive"] = out["autoregression"] / min(out["persistence"], out["momentum"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--zips", type=int, default=600)
    parser.add_argument("--assumptions", nargs="+", choices=list(ASSUMPTIONS), default=list(ASSUMPTIONS))
    args = parser.parse_args()
    print(f"| assumptions ({args.zips} zips) | persistence | momentum | autoregression | autoregression / best naive |")
    print("| --- | --- | --- | --- | --- |")
    for name in args.assumptions:
        f = floor(name, args.zips)
        print(f"| {name} | {f['persistence']:,.0f} | {f['momentum']:,.0f} | {f['autoregression']:,.0f} | "
              f"{f['autoregression / best naive']:.3f} |")


if __name__ == "__main__":
    main()
