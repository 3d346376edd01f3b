"""The S3 permissions the deployment grants each stage come from `Stage.reads` / `Stage.writes` in the
graph; this runs the real pipeline and checks that every key each stage touches is inside what it declares
(so the least-privilege policies are not just narrow, but enough)."""

from __future__ import annotations

import pytest

import lambdas.stage_event
import stepfunctions.local_runner as local_runner
from lambdas.stage_event import new_run_event
from shared.layout import BUNDLES, covered
from shared.settings import Settings
from shared.store import LocalStore, write_table
from stepfunctions.graph import TRAINING_PIPELINE
from tests.support.stores import AuditedStore, ungranted

pytestmark = pytest.mark.slow


def test_every_stage_stays_inside_its_declared_prefixes(monkeypatch, tmp_path, small_data):
    store = LocalStore(tmp_path / "store")
    rows, metros = small_data
    write_table(store, "raw/data.parquet", rows)
    write_table(store, "reference/metros.parquet", metros)
    log, stage = [], [None]
    real_resolve = local_runner.resolve

    def resolve(handler_path):
        handler = real_resolve(handler_path)
        name = next(s.name for s in TRAINING_PIPELINE.stages if s.handler == handler_path)

        def in_stage(event, context=None):
            stage[0] = name
            return handler(event, context)
        return in_stage

    monkeypatch.setattr(local_runner, "resolve", resolve)
    monkeypatch.setattr(lambdas.stage_event, "open_store", lambda url: AuditedStore(LocalStore(url), log, stage))
    event = new_run_event(store.url, "raw/data.parquet", "reference/metros.parquet",
                          Settings(store=store.url, trials=2).run_config(), "audit")
    local_runner.run_graph(TRAINING_PIPELINE, event)

    assert {name for name, _, _ in log} == {s.name for s in TRAINING_PIPELINE.stages}
    assert not ungranted(log), ungranted(log)
    # Only the stage declaring BUNDLES writes a model bundle (the deployment denies it to every other role).
    bundle_writers = {name for name, op, key in log if op == "write" and covered(key, (BUNDLES,))}
    assert bundle_writers == {s.name for s in TRAINING_PIPELINE.stages if BUNDLES in s.writes} == {"train"}


def test_the_dashboard_the_api_and_scoring_stay_inside_their_grants(trained_store, tmp_path, monkeypatch):
    """Each component outside the graph runs its real code on a store that records every key it touches
    (on AWS an access outside its grants is AccessDenied: the dashboard once stopped halfway down the page)."""
    import shutil

    from fastapi.testclient import TestClient

    import dashboard.data
    import lambdas.api.app
    from lambdas.api.app import create_app
    from shared.data.quarantine import InputRejected
    from shared.serving.incoming import score_incoming
    from tests.support.stores import source_rows

    shutil.copytree(trained_store[0].root, tmp_path / "store")
    store = LocalStore(tmp_path / "store")
    log: list[tuple[str, str, str]] = []

    monkeypatch.setattr(dashboard.data, "open_store", lambda url: AuditedStore(LocalStore(url), log, ["dashboard"]))
    assert dashboard.data.load_summary(store.url) is not None
    assert len(dashboard.data.load_month(store.url, 2023, 12, "All regions"))
    assert dashboard.data.champion_metrics(store.url) is not None and dashboard.data.champion_backtest(store.url) is not None

    monkeypatch.setattr(lambdas.api.app, "open_store", lambda url: AuditedStore(LocalStore(url), log, ["api"]))
    client = TestClient(create_app(store.url, refresh_seconds=0))
    december = source_rows(store)
    december = december.loc[december["date"].astype("str").str.startswith("2023-12")]
    record = {"date": "2024-01-31", "zipcode": int(december["zipcode"].iloc[0]), "city_full": december["city_full"].iloc[0]}
    for response in (client.get("/health"), client.get("/model"), client.get("/summary"),
                     client.get("/predictions", params={"year": 2023, "month": 12}),
                     client.post("/predict", json={"records": [record]})):
        assert response.status_code == 200, response.text
    # CodeDeploy's pre-traffic hook, asking a version of the API (audited as the API) through ALB events.
    from mangum import Mangum

    from lambdas.api.rollout_check import check_version
    version = Mangum(create_app(store.url, refresh_seconds=0), lifespan="off")
    assert check_version(lambda event: version(event, None), AuditedStore(store, log, ["rollout-check"])) == []

    scoring = AuditedStore(store, log, ["score"])
    store.write_bytes("incoming/2024-01.csv", december.drop(columns=["price"]).assign(date="2024-01-31", year=2024)
                      .to_csv(index=False).encode())
    assert score_incoming(scoring, "incoming/2024-01.csv")["scored"]
    store.write_bytes("incoming/bad.csv", b"not,a,housets\nfile,at,all\n")
    with pytest.raises(InputRejected):
        score_incoming(scoring, "incoming/bad.csv")

    assert {name for name, _, _ in log} == {"dashboard", "api", "rollout-check", "score"}
    assert not ungranted(log), ungranted(log)
