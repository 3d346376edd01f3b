"""The Streamlit dashboard: filters (year, month, metro or All regions), predicted vs actual, errors per
metro and on a map, the yearly trend, one zip code's page (its history and why its price), the model's
health (live accuracy as months' prices arrived, the newest month's drift), and a form that asks the API
for one prediction.

Configuration: HOUSING_STORE (where the batch predictions are) and API_URL (the prediction API)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Any, TypeVar

import streamlit as st

from dashboard import charts
from dashboard.api_client import predict_one
from dashboard.data import (
    champion_backtest,
    champion_metrics,
    combine,
    contributions,
    landing_month,
    load_card,
    load_drift,
    load_live,
    load_month,
    load_summary,
    load_zip,
    metro_label,
    yearly,
)
from shared.reports import BASELINES, LABELS
from shared.schema import ALL_REGIONS
from shared.settings import DashboardSettings, get_settings
from shared.store import ArtifactAccessDenied

CACHE_S = 60  # a newly scored month shows up within a minute

st.set_page_config(page_title="Housing price predictions", layout="wide")
settings = get_settings(DashboardSettings)
store_url, api_url, api_key = settings.store, settings.api_url, settings.first_api_key()

summary_of = st.cache_data(ttl=CACHE_S, show_spinner=False)(load_summary)
month_of = st.cache_data(ttl=CACHE_S, show_spinner=False, max_entries=64)(load_month)
champion_metrics_of = st.cache_data(ttl=CACHE_S, show_spinner=False)(champion_metrics)
champion_backtest_of = st.cache_data(ttl=CACHE_S, show_spinner=False)(champion_backtest)
live_of = st.cache_data(ttl=CACHE_S, show_spinner=False)(load_live)
drift_of = st.cache_data(ttl=CACHE_S, show_spinner=False)(load_drift)
card_of = st.cache_data(ttl=CACHE_S, show_spinner=False)(load_card)
zip_of = st.cache_data(ttl=CACHE_S, show_spinner=False, max_entries=64)(load_zip)


def _interval_level() -> float | None:
    """The champion's interval level as it was trained (its card), not a setting of this process."""
    try:
        card = card_of(store_url)
    except ArtifactAccessDenied:
        return None
    return card.interval_level if card else None


level = _interval_level()
T = TypeVar("T")


def pick(container: Any, label: str, options: Sequence[T], **kwargs: Any) -> T:
    """A selectbox over options that are never empty: its choice is never None (Streamlit types it so)."""
    chosen = container.selectbox(label, options, **kwargs)
    if chosen is None:
        raise RuntimeError(f"{label}: nothing to choose from")
    return chosen


st.title("Zip-code home values: predictions vs actuals")
summary = summary_of(store_url)
if summary is None or summary.empty:
    st.info(f"No batch predictions in {store_url} yet. Run `housing run` (or `housing batch`) to score the "
            "holdout months, then reload this page.")
    st.stop()

with st.sidebar:
    st.header("Filters")
    # It opens on the newest month whose actual prices are known (the error views need them); newer months,
    # scored before their prices are published, are one click away.
    first_year, first_month = landing_month(summary)
    years = sorted(summary["year"].unique().tolist())
    year = pick(st, "Year", years, index=years.index(first_year), key="year")
    months = sorted(summary.loc[summary["year"] == year, "month"].unique().tolist())
    month = pick(st, "Month", months, index=months.index(first_month) if year == first_year else len(months) - 1,
                         key="month", format_func=lambda m: dt.date(2000, m, 1).strftime("%B"))
    metros = [ALL_REGIONS] + sorted(m for m in summary["metro"].unique() if m != ALL_REGIONS)
    metro = pick(st, "Region", metros, key="metro", format_func=metro_label)
    st.caption(f"Model {summary['model_run_id'].iloc[-1]} · store {store_url}")

region = summary.loc[summary["metro"] == metro]
selected = region.loc[(region["year"] == year) & (region["month"] == month)]
stats = combine(selected)
when = dt.date(int(year), int(month), 1).strftime("%B %Y")

st.subheader(f"{metro_label(metro)}, {when}")
stat_cols = st.columns(4)
if stats["rows"]:
    stat_cols[0].metric("MAE", f"${stats['mae']:,.0f}")
    stat_cols[1].metric("RMSE", f"${stats['rmse']:,.0f}")
    stat_cols[2].metric("Mean % error", f"{stats['mean_pct_error']:.1f}%")
    stat_cols[3].metric("Zip codes", f"{stats['rows']:,}")
else:  # the normal state of the newest month: predicted, its prices not published yet
    st.info(f"Actual prices for {when} are not known yet: these are the predictions and their intervals; the "
            "error figures appear once a file with the month's prices is scored.")
    stat_cols[0].metric("Mean predicted", f"${stats['mean_predicted']:,.0f}" if stats["predicted"] else "-")
    stat_cols[1].metric("Mean interval", f"${stats['mean_low'] / 1e3:,.0f}k to ${stats['mean_high'] / 1e3:,.0f}k"
                   if stats["predicted"] and math.isfinite(stats["mean_low"]) else "-")
    stat_cols[2].metric("Actuals", "not known yet")
    stat_cols[3].metric("Zip codes predicted", f"{stats['predicted']:,}")

left, right = st.columns(2)
left.plotly_chart(charts.monthly_series(region, year, month), key="series")
scored = month_of(store_url, year, month, metro)
right.plotly_chart(charts.actual_vs_predicted(scored), key="scatter")

left, right = st.columns(2)
left.plotly_chart(charts.yearly_trend(yearly(summary, metro), year), key="trend")
per_metro = summary.loc[(summary["metro"] != ALL_REGIONS) & (summary["year"] == year) & (summary["month"] == month)]
right.plotly_chart(charts.error_map(per_metro), key="map")

st.subheader(f"Errors per metro, {when}" if stats["rows"] else f"Predictions per metro, {when} (actuals not yet known)")
table = per_metro.assign(metro=per_metro["metro"].map(metro_label)).sort_values(
    "mae" if stats["rows"] else "mean_predicted", ascending=False)
shown = ["metro", "count", "mae", "rmse", "mean_pct_error", "mean_actual", "mean_predicted"] if stats["rows"] else [
    "metro", "count", "mean_predicted", "mean_low", "mean_high"]
st.dataframe(
    table[shown],
    hide_index=True, key="errors",
    column_config={
        "count": "zip codes",
        "mean_low": st.column_config.NumberColumn("mean low", format="dollar"),
        "mean_high": st.column_config.NumberColumn("mean high", format="dollar"),
        "mae": st.column_config.NumberColumn("MAE", format="dollar"),
        "rmse": st.column_config.NumberColumn("RMSE", format="dollar"),
        "mean_pct_error": st.column_config.NumberColumn("% error", format="%.1f%%"),
        "mean_actual": st.column_config.NumberColumn("mean actual", format="dollar"),
        "mean_predicted": st.column_config.NumberColumn("mean predicted", format="dollar"),
    },
)

st.subheader(f"One zip code, {when}")
if scored.empty:
    st.write(f"No zip code of {metro_label(metro)} was scored for {when}.")
else:
    cities = dict(zip(scored["zipcode"], scored["city"].fillna("")))
    picked = pick(st, "Zip code", sorted(cities), key="zip", format_func=lambda z: f"{z:05d} {cities[z]}".strip())
    row = scored.loc[scored["zipcode"] == picked].iloc[0]
    cols = st.columns(3)
    cols[0].metric("Predicted", f"${row['predicted']:,.0f}")
    cols[1].metric(f"{level:.0%} interval" if level else "Interval", f"${row['low'] / 1e3:,.0f}k to ${row['high'] / 1e3:,.0f}k"
                   if math.isfinite(row["low"]) and math.isfinite(row["high"]) else "-")
    cols[2].metric("Actual", f"${row['actual']:,.0f}" if math.isfinite(row["actual"]) else "not known yet")
    left, right = st.columns(2)
    left.plotly_chart(charts.zip_history(zip_of(store_url, int(picked)), int(picked), year, month), key="zip-history")
    parts = contributions(row.get("why"))
    if parts is None:
        right.caption(f"{when}'s prices are not taken apart: batch scoring explains the newest month of each file it "
                      "scores (every zip's newest price). Pick that month, or ask the API (`POST /predict?explain=true`).")
    else:
        right.caption("Why this price: the level it starts from (the zip's last known index value) and what moves it, "
                      "from XGBoost's approximate contributions (each split's change along the zip's path) weighed as "
                      "the prediction weighs them; they multiply to the price. The API's `?explain=true` gives the "
                      "exact ones (TreeSHAP), which may share the moves out differently.")
        right.dataframe(parts, hide_index=True, key="zip-why")

st.subheader("Forecasting skill of the champion, by horizon")
def _champion_part(load, missing: str):
    """A part read from the champion pointer, or None after saying why not: `missing` when there is none, the
    store's refusal (a missing grant) when it refuses; the rest of the page (the API form among it) renders."""
    try:
        part = load(store_url)
    except ArtifactAccessDenied as err:
        st.error(str(err))
        return None
    if part is None:
        st.write(missing)
    return part


backtest = _champion_part(champion_backtest_of, "No champion with a backtest yet.")
if backtest is not None:
    st.caption("Rolling-origin backtest: from origins every few months, each month up to 24 months ahead predicted "
               "from what was known at the origin (horizon), and each month from the month before (nowcast). "
               "Eval figures are cross-fitted over origins; holdout figures use nothing fitted on those months.")
    st.plotly_chart(charts.skill_by_horizon(backtest), key="skill")
    money = {c: st.column_config.NumberColumn(format="dollar") for c in ("model", *(LABELS[w] for w in BASELINES))}
    st.dataframe(backtest, hide_index=True, key="backtest", column_config={
        **money, "skill": st.column_config.NumberColumn(format="%.3f"),
        "coverage": st.column_config.NumberColumn(format="percent"),
        "median width": st.column_config.NumberColumn(format="percent")})

with st.expander("The model against the naive predictors"):
    model_metrics = _champion_part(champion_metrics_of, "No champion yet.")
    if model_metrics is not None:
        st.caption("Eval and holdout MAE of the champion when it was evaluated, beside the forecasters a "
                   "practitioner tries first (horizon mode from each split's first month; nowcast month by month).")
        st.dataframe(model_metrics, hide_index=True, key="naive",
                     column_config={"MAE": st.column_config.NumberColumn(format="dollar"),
                                    "MAPE": st.column_config.NumberColumn(format="percent")})

st.subheader("Model health")
live = live_of(store_url, metro, settings.monitor_skill_above, settings.monitor_coverage_below)
if live.empty:
    st.write(f"No live accuracy for {metro_label(metro)} yet: it is recorded when a month is sent in with its "
             "prices (`housing batch --input YYYY-MM.csv`, or an upload under incoming/), before any run learns them.")
else:
    st.plotly_chart(charts.live_accuracy(live, level), key="live")
    st.dataframe(live.assign(month=live["year"].astype(str) + "-" + live["month"].map("{:02d}".format))[
        ["month", "model_run_id", "with_actual", "mae", "mean_pct_error", "skill", "best_naive", "coverage", "alarms"]],
        hide_index=True, key="live-table", column_config={
            "model_run_id": "model", "with_actual": "rows", "mae": st.column_config.NumberColumn("MAE", format="dollar"),
            "mean_pct_error": st.column_config.NumberColumn("% error", format="%.2f%%"),
            "skill": st.column_config.NumberColumn(format="%.2f"), "coverage": st.column_config.NumberColumn(format="percent")})
drift = drift_of(store_url)
if drift is not None:
    header, inputs = drift
    said = (f"Drift of the newest scored month ({header['source']}, {header['rows']:,} rows) against the training "
            f"data's same calendar month: PSI above {header['thresholds']['alert']:g} in "
            f"{', '.join(header['alerts']) or 'no input'}; above {header['thresholds']['warn']:g} in "
            f"{', '.join(header['warnings']) or 'no other input'}; "
            f"{header['unseen_zipcodes']} zip code(s) never seen in training.")
    (st.warning if header["alerts"] else st.caption)(said)
    st.dataframe(inputs, hide_index=True, key="drift", column_config={
        "PSI": st.column_config.NumberColumn(format="%.3f"), "missing": st.column_config.NumberColumn(format="percent"),
        "outside range": st.column_config.NumberColumn(format="percent")})

with st.expander("Model card"):
    card = _champion_part(card_of, "No model card for the champion yet: one is written when a run is promoted.")
    if card is not None:
        st.markdown(f"**{card.run_id}**, trained {card.trained_at or '-'} on {card.training_window[0]} to "
                    f"{card.training_window[1]} ({card.rows or 0:,} rows); it learned through {card.trained_through}, "
                    f"and its figures are on months after {card.judged_trained_through}. Intervals at "
                    f"{card.interval_level:.0%}. Drift is measured against {card.drift_reference}.")
        st.markdown("**Known limits**\n" + "\n".join(f"- {limit}" for limit in card.known_limits))
        st.dataframe([{"metro": metro_label(m), "MAE": f.mae, "MAPE": f.mape, "rows": f.rows}
                      for m, f in sorted(card.per_metro.items(), key=lambda kv: -kv[1].mae)],
                     hide_index=True, key="card-metros",
                     column_config={"MAE": st.column_config.NumberColumn(format="dollar"),
                                    "MAPE": st.column_config.NumberColumn(format="percent")})

st.subheader("Ask the API for one prediction")
with st.form("predict"):
    c1, c2, c3 = st.columns(3)
    # Defaults from the month shown: one of its zip codes and that zip's metro.
    example_zip, example_metro = (int(scored["zipcode"].iloc[0]), scored["metro"].iloc[0]) if len(scored) else (1017, None)
    zipcode = c1.number_input("Zip code", min_value=0, max_value=99999, step=1, value=example_zip)
    named = metros[1:]
    metro_name = pick(c2, "Metro", named, format_func=metro_label,
                      index=named.index(example_metro) if example_metro in named else 0)
    month_date = c3.date_input("Month", value=dt.date(int(year), int(month), 1))
    c1, c2, c3 = st.columns(3)
    ppsf = c1.number_input("Median price per sq ft (sold)", min_value=0.0, value=250.0)
    list_ppsf = c2.number_input("Median list price per sq ft", min_value=0.0, value=260.0)
    list_price = c3.number_input("Median list price", min_value=0.0, value=450000.0, step=1000.0)
    c1, c2, _ = st.columns(3)
    homes_sold = c1.number_input("Homes sold", min_value=0, value=20)
    new_listings = c2.number_input("New listings", min_value=0, value=25)
    submitted = st.form_submit_button("Predict")
if submitted:
    answer = predict_one(api_url, {
        "date": month_date.isoformat(), "zipcode": int(zipcode), "city_full": metro_label(metro_name),
        "median_ppsf": ppsf, "median_list_ppsf": list_ppsf, "median_list_price": list_price,
        "homes_sold": homes_sold, "new_listings": new_listings,
    }, api_key)
    if answer.error:
        st.error(answer.error)
    else:
        interval = (f", {answer.level:.0%} interval ${answer.low:,.0f} to ${answer.high:,.0f}"
                    if answer.low is not None and answer.level else "")
        st.success(f"Predicted value: ${answer.price:,.0f}{interval} (model {answer.model_run_id})")
        for warning in answer.warnings or []:
            st.warning(warning)
