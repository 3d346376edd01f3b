"""Why this price: a prediction taken apart into what it is made of, in the log price where the parts add up.

A prediction's log price is (1 - w) * (base + s * booster output) + w * naive, where the base is the
anchor (the zip's last known index value moved by the extrapolation, else its price-level reference)
moved part of the way to the market's move for the row's horizon bucket, s the calibration's booster
weight and w the weight of the naive forecaster blended in (`shared.model.calibration`). The booster
output splits exactly into one contribution per feature and a bias (XGBoost's own SHAP values,
`pred_contribs`). Written as anchor + (1 - w) * (base - anchor) + w * (naive - anchor) + (1 - w) * s *
(contributions + bias), the parts are the anchor (the level) and moves away from it, and they sum to the
log of the prediction: exp(part) is the factor each multiplies the price by.
One contribution costs about as much as a hundred predictions, so the API bounds how many records ask.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shared.model.calibration import Terms
from shared.reports import LABELS

ANCHOR, BIAS, OTHERS, MARKET = "anchor", "bias", "other features", "market move"
TOP_PARTS = 10  # the largest parts shown per prediction (the rest summed as OTHERS)

_MARKETS = {"median_ppsf": "median sale price per sq ft", "median_list_ppsf": "median list price per sq ft",
            "median_list_price": "median list price"}
_WHAT = {"since_index": "move since the last known index value", "change_3": "change over 3 months",
         "change_12": "change over 12 months"}
DESCRIPTIONS = {
    ANCHOR: "the price level it starts from: the zip's last known index value (else its price-level reference)",
    BIAS: "the booster's average correction",
    MARKET: "the market's move since the last known index value, at the weight calibrated for this horizon",
    OTHERS: "every other feature's contribution, summed",
    "extrapolated_move": "the index's move since its last known value, extrapolated (its momentum and the market's)",
    "reference_vs_anchor": "how the market's price level compares with the anchor",
    "metro_since_index": "the metro's market move since the last known index value",
    "metro_target_enc": "the metro's usual price level",
    "zipcode_freq": "how many months of data the zip code has",
    "index_age": "months since the last known index value",
    "index_trend_1": "the index's growth in its last known month",
    "index_trend_3": "the index's mean monthly growth over 3 months",
    "index_trend_12": "the index's mean monthly growth over 12 months",
    "quarter": "the quarter of the year", "month": "the month of the year (its season)",
    **{f"{scope}{c}_{what}": f"the {'metro' if scope else 'zip'}'s {label}: {_WHAT[what]}"
       for scope in ("", "metro_") for c, label in _MARKETS.items() for what in _WHAT},
}


def describe(name: str) -> str:
    """A feature's plain description (its column name where none is written)."""
    if name.startswith("naive "):
        return f"the move of the naive forecaster blended in for this horizon: {LABELS.get(name[6:], name[6:])}"
    return DESCRIPTIONS.get(name, name.replace("_", " "))


@dataclass
class Explanation:
    """One row's parts: name -> its share of the log price (they sum to `log_price`)."""

    log_price: float
    parts: dict[str, float]

    def top(self, n: int) -> list[tuple[str, float]]:
        """The anchor (the level the rest moves), the n largest other parts by size, and the rest summed
        as OTHERS: still adding up to the log price."""
        moves = sorted(((k, v) for k, v in self.parts.items() if k != ANCHOR), key=lambda kv: -abs(kv[1]))
        rest = sum(v for _, v in moves[n:])
        return [(ANCHOR, self.parts[ANCHOR]), *moves[:n], *([(OTHERS, rest)] if len(moves) > n else [])]


def explanations(anchor: np.ndarray, contributions: np.ndarray, names: list[str], terms: Terms) -> list[Explanation]:
    """Per row, from the anchor, the booster's contributions (rows x (features + bias), XGBoost's order)
    and the row's calibration terms (its base, booster weight, blend weight, the naive forecaster blended
    and its log price)."""
    out = []
    for i in range(len(anchor)):
        blend = terms.blend[i]
        booster = (1 - blend) * terms.shrink[i]
        parts = {ANCHOR: anchor[i]}
        if terms.base[i] != anchor[i]:  # the market's move from the anchor, at its weight
            parts[MARKET] = (1 - blend) * (terms.base[i] - anchor[i])
        parts.update({name: booster * c for name, c in zip(names, contributions[i, :-1])})
        parts[BIAS] = booster * contributions[i, -1]
        if blend > 0:  # the naive forecaster's move from the anchor, at its weight
            parts[f"naive {terms.names[i]}"] = blend * (terms.other[i] - anchor[i])
        out.append(Explanation(log_price=float(sum(parts.values())), parts={k: float(v) for k, v in parts.items()}))
    return out
