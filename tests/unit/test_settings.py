"""Each consumer reads only its own settings, on one base."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.settings import CONSUMERS, ApiSettings, DashboardSettings, ScoringSettings, Settings, StoreSettings


def test_a_bad_pipeline_variable_stops_the_pipeline_only(monkeypatch):
    monkeypatch.setenv("HOUSING_TRIALS", "many")
    monkeypatch.setenv("HOUSING_STORE", "s3://bucket/prefix")
    with pytest.raises(ValidationError, match="trials"):
        Settings()
    assert ApiSettings().store == DashboardSettings().store == ScoringSettings().store == "s3://bucket/prefix"


def test_every_setting_has_a_consumer_and_one_meaning():
    classes, seen = [StoreSettings], {}
    while classes:  # every subclass of the base, however deep
        kind = classes.pop()
        classes += kind.__subclasses__()
        for name, field in kind.model_fields.items():
            seen.setdefault(name, field.description)
            assert seen[name] == field.description, f"{name} means two things"
    assert set(seen) == {name for kind in CONSUMERS for name in kind.model_fields}
