"""Plotly figures built from plain frames (no Streamlit here, so each one is testable on its own)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from dashboard.data import metro_label

ACTUAL, PREDICTED, HIGHLIGHT = "#1f77b4", "#ff7f0e", "rgba(255, 127, 14, 0.15)"


def _month_start(rows: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(dict(year=rows["year"], month=rows["month"], day=1))


def monthly_series(summary_rows: pd.DataFrame, year: int, month: int) -> go.Figure:
    """Mean actual vs mean predicted per month for the selected region, the selected month marked."""
    rows = summary_rows.sort_values(["year", "month"])
    when = _month_start(rows)
    band = []
    if {"mean_low", "mean_high"} <= set(rows) and rows["mean_low"].notna().any():
        band = [go.Scatter(x=when, y=rows["mean_high"], line=dict(width=0), showlegend=False, hoverinfo="skip"),
                go.Scatter(x=when, y=rows["mean_low"], line=dict(width=0), fill="tonexty", fillcolor=HIGHLIGHT,
                           name="interval (mean bounds)")]
    known = rows["mean_actual"].notna().to_numpy()  # months not known yet: no point (plotly warns on NaN)
    fig = go.Figure([
        *band,
        go.Scatter(x=when[known], y=rows["mean_actual"][known], name="actual (mean)", line=dict(color=ACTUAL)),
        go.Scatter(x=when, y=rows["mean_predicted"], name="predicted (mean)", line=dict(color=PREDICTED, dash="dash")),
    ])
    fig.add_vline(x=pd.Timestamp(year, month, 1), line=dict(color="grey", dash="dot"))
    fig.update_layout(title="Monthly mean home value: predicted vs actual", yaxis_title="USD",
                      margin=dict(t=50, b=30), legend=dict(orientation="h"))
    return fig


def zip_history(rows: pd.DataFrame, zipcode: int, year: int, month: int) -> go.Figure:
    """One zip code over its scored months: actual price where known, prediction and its interval."""
    known = rows["actual"].notna().to_numpy()
    fig = go.Figure([
        go.Scatter(x=rows["date"], y=rows["high"], line=dict(width=0), showlegend=False, hoverinfo="skip"),
        go.Scatter(x=rows["date"], y=rows["low"], line=dict(width=0), fill="tonexty", fillcolor=HIGHLIGHT, name="interval"),
        go.Scatter(x=rows["date"][known], y=rows["actual"][known], name="actual", line=dict(color=ACTUAL)),
        go.Scatter(x=rows["date"], y=rows["predicted"], name="predicted", line=dict(color=PREDICTED, dash="dash")),
    ])
    fig.add_vline(x=pd.Timestamp(year, month, 1) + pd.offsets.MonthEnd(0), line=dict(color="grey", dash="dot"))
    fig.update_layout(title=f"Zip code {zipcode:05d}, every scored month", yaxis_title="USD", margin=dict(t=50, b=30),
                      legend=dict(orientation="h"))
    return fig


def actual_vs_predicted(rows: pd.DataFrame) -> go.Figure:
    """One point per zip code of the selected month, on the y = x line when the model is right; for a month
    whose prices are not known yet, the distribution of its predictions instead."""
    known = rows.dropna(subset=["actual"])
    if rows.empty or known.empty:
        return predicted_distribution(rows)
    top = float(max(known["actual"].max(), known["predicted"].max())) if len(known) else 1.0
    fig = go.Figure([
        go.Scattergl(x=known["actual"], y=known["predicted"], mode="markers", name="zip codes",
                     marker=dict(size=5, color=PREDICTED, opacity=0.6),
                     text=known["zipcode"].astype("str") + " " + known["metro"].map(metro_label),
                     hovertemplate="%{text}<br>actual %{x:$,.0f}<br>predicted %{y:$,.0f}<extra></extra>"),
        go.Scatter(x=[0, top], y=[0, top], mode="lines", name="perfect", line=dict(color="grey", dash="dot")),
    ])
    fig.update_layout(title=f"Predicted vs actual, {len(known):,} zip codes", xaxis_title="actual (USD)",
                      yaxis_title="predicted (USD)", margin=dict(t=50, b=30), legend=dict(orientation="h"))
    return fig


def predicted_distribution(rows: pd.DataFrame) -> go.Figure:
    """How the month's predictions spread over zip codes (its actual prices are not known yet)."""
    fig = go.Figure(go.Histogram(x=rows["predicted"], nbinsx=40, marker=dict(color=PREDICTED), name="zip codes"))
    fig.update_layout(title=f"Predicted values, {len(rows):,} zip codes (actuals not yet known)",
                      xaxis_title="predicted (USD)", yaxis_title="zip codes", margin=dict(t=50, b=30))
    return fig


def yearly_trend(per_year: pd.DataFrame, year: int) -> go.Figure:
    """Per year the mean actual and predicted value over the same (known) months; the mean prediction of
    months not known yet apart, with how many months it covers."""
    known = per_year.dropna(subset=["mean_actual"])
    ahead = per_year.dropna(subset=["mean_predicted_ahead"])
    fig = go.Figure([
        go.Scatter(x=known["year"], y=known["mean_actual"], name="actual", mode="lines+markers", line=dict(color=ACTUAL),
                   customdata=known["months"], hovertemplate="%{x}: %{y:$,.0f} over %{customdata} month(s)<extra></extra>"),
        go.Scatter(x=known["year"], y=known["mean_predicted"], name="predicted (same months)", mode="lines+markers",
                   line=dict(color=PREDICTED, dash="dash")),
        go.Scatter(x=ahead["year"], y=ahead["mean_predicted_ahead"], name="predicted, actuals not yet known",
                   mode="markers+text", marker=dict(color=PREDICTED, symbol="diamond-open", size=10),
                   text=[f"{n} month(s)" for n in ahead["months_ahead"]], textposition="top center"),
    ])
    fig.add_vrect(x0=year - 0.5, x1=year + 0.5, fillcolor=HIGHLIGHT, line_width=0, annotation_text=str(year))
    fig.update_layout(title="Yearly trend (selected year highlighted)", xaxis=dict(dtick=1), yaxis_title="USD",
                      margin=dict(t=50, b=30), legend=dict(orientation="h"))
    return fig


def skill_by_horizon(backtest: pd.DataFrame) -> go.Figure:
    """Skill (model MAE / the best baseline's MAE: the naive forecasters, and AutoTheta months ahead) per
    horizon bucket, one line per split and mode; below the dotted line at 1 the model beats every one."""
    fig = go.Figure()
    for (split, mode), rows in backtest.loc[backtest["horizon"] != "all"].groupby(["split", "mode"], sort=False):
        fig.add_trace(go.Scatter(x=rows["horizon"], y=rows["skill"], mode="lines+markers", name=f"{split}, {mode}",
                                 customdata=rows[["best naive", "coverage"]],
                                 hovertemplate="%{x} months: skill %{y:.3f} vs %{customdata[0]}<br>"
                                               "interval coverage %{customdata[1]:.0%}<extra></extra>"))
    fig.add_hline(y=1, line=dict(color="grey", dash="dot"))
    fig.update_layout(title="Skill by horizon (below 1: better than the best baseline)",
                      xaxis=dict(title="months ahead of the last known index", type="category"),
                      yaxis_title="model MAE / best baseline MAE", margin=dict(t=50, b=30), legend=dict(orientation="h", y=-0.3))
    return fig


def error_map(metro_rows: pd.DataFrame) -> go.Figure:
    """Each metro at its coordinates, coloured by mean % error. Base layers are off: with any of them on,
    plotly.js downloads its map outlines from a CDN, and the dashboard must work with no outside network."""
    rows = metro_rows.dropna(subset=["lat", "lng"])
    errors = rows["mean_pct_error"].notna().any()  # else a month not known yet: coloured by mean prediction
    colour, label = ("mean_pct_error", "% error") if errors else ("mean_predicted", "mean predicted")
    fig = go.Figure(go.Scattergeo(
        lat=rows["lat"], lon=rows["lng"], mode="markers+text", text=rows["metro"].map(lambda m: metro_label(m).split("-")[0]),
        textposition="top center", textfont=dict(size=9),
        marker=dict(size=(rows["count"] ** 0.5).clip(6, 30), color=rows[colour].fillna(0), colorscale="RdYlGn_r",
                    cmin=0, colorbar=dict(title=label), line=dict(width=0.5, color="black")),
        customdata=rows[["mae", "mean_pct_error", "count"]].fillna(0) if errors else rows[["mean_predicted", "count"]],
        hovertemplate=("%{text}<br>MAE %{customdata[0]:$,.0f}<br>%{customdata[1]:.1f}% error<br>%{customdata[2]} zips"
                       if errors else "%{text}<br>mean predicted %{customdata[0]:$,.0f}<br>%{customdata[1]} zips")
                      + "<extra></extra>",
    ))
    fig.update_geos(visible=False, projection_type="albers usa", lataxis_showgrid=True, lonaxis_showgrid=True)
    fig.update_layout(title="Error by metro" if errors else "Mean prediction by metro (actuals not yet known)",
                      margin=dict(t=50, b=0, l=0, r=0), height=420)
    return fig


def live_accuracy(live: pd.DataFrame, level: float | None) -> go.Figure:
    """Per month, the served model's skill against the best naive forecaster (below 1: it beats them all)
    and its interval's coverage (the nominal `level` marked), on the months' prices as they arrived."""
    rows = live.sort_values(["year", "month"])
    when = _month_start(rows)
    fig = go.Figure([
        go.Scatter(x=when, y=rows["skill"], name="skill (MAE / best naive MAE)", mode="lines+markers",
                   line=dict(color=PREDICTED)),
        go.Scatter(x=when, y=rows["coverage"], name="interval coverage", mode="lines+markers", line=dict(color=ACTUAL)),
    ])
    if "alarmed" in rows and rows["alarmed"].any():  # the months an alarm watches: lost, under-covered, drifted
        marked = rows["alarmed"].to_numpy()
        fig.add_trace(go.Scatter(x=when[marked], y=rows["skill"][marked].fillna(1.0), mode="markers", name="alarm condition",
                                 marker=dict(symbol="x", size=12, color="crimson"), text=rows["alarms"][marked],
                                 hovertemplate="%{x|%Y-%m}: %{text}<extra></extra>"))
    fig.add_hline(y=1.0, line=dict(color=PREDICTED, dash="dot"))
    if level is not None:
        fig.add_hline(y=level, line=dict(color=ACTUAL, dash="dot"))
    fig.update_layout(title="Live accuracy: the served model on each month's prices as they arrived",
                      margin=dict(t=50, b=30), legend=dict(orientation="h"))
    return fig
