"""The drift statistics on their own: the population stability index of a sample against itself is 0, a
shifted one passes the alert band, and missing values and values outside the training range are counted."""

from __future__ import annotations

import numpy as np

from shared.model.drift import Distribution


def test_psi_bands_missing_and_range():
    rng = np.random.default_rng(1)
    training = rng.lognormal(5, 0.5, 5000)
    reference = Distribution.of(np.append(training, [np.nan] * 50))
    assert len(reference.shares) == len(reference.edges) + 1 == 10 and abs(reference.missing - 50 / 5050) < 1e-12
    same = reference.compare(training, warn=0.1, alert=0.2)
    assert same.psi < 1e-12 and same.level == "ok" and same.outside_range == 0
    scored = np.append(training[:900] * 3, [np.nan] * 100)
    shifted = reference.compare(scored, warn=0.1, alert=0.2)
    assert shifted.level == "alert" and shifted.psi > 1 and abs(shifted.missing - 0.1) < 1e-12
    assert shifted.outside_range == np.mean(training[:900] * 3 > training.max())
    assert reference.compare(np.full(10, np.nan), 0.1, 0.2).level == "no values"
