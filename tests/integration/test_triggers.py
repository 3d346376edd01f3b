"""The trigger handlers with the events EventBridge really delivers for S3 uploads and schedules, against
moto's S3 and Step Functions; and the synthesized rules' patterns routing real S3 notifications."""

from __future__ import annotations

import json

import boto3
import pandas as pd
import pytest
from moto import mock_aws

from lambdas.s3_events import MalformedEvent
from lambdas.score import handler as score
from lambdas.stage_event import NoMetrosTable, new_run_event, prepare_run
from lambdas.triggers import start_training
from shared.data.quarantine import InputRejected
from shared.serving.predictions import read_summary, scored_months
from shared.settings import get_settings
from shared.store import S3Store, read_json
from tests.support.stores import copy_served_state

BUCKET = "housing-data"


def s3_event(key: str, etag: str = "b1946ac92492d2347c6235b4d2611184", bucket: str = BUCKET) -> dict:
    """An `Object Created` event as S3 sends it to EventBridge."""
    return {
        "version": "0", "id": "17793124-05d4-b198-2fde-7ededc63b103", "detail-type": "Object Created",
        "source": "aws.s3", "account": "123456789012", "time": "2026-11-26T06:00:00Z", "region": "us-east-1",
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {"version": "0", "bucket": {"name": bucket},
                   "object": {"key": key, "size": 1024, "etag": etag, "version-id": "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e",
                              "sequencer": "00617F08299329D189"},
                   "request-id": "N4N7GDK58NMKJ12R", "requester": "123456789012", "source-ip-address": "198.51.100.7",
                   "reason": "PutObject"},
    }


SCHEDULED = {"version": "0", "id": "89d1a02d-5ec7-412e-82f5-13505f849b41", "detail-type": "Scheduled Event",
             "source": "aws.events", "account": "123456789012", "time": "2026-12-01T06:00:00Z", "region": "us-east-1",
             "resources": ["arn:aws:events:us-east-1:123456789012:rule/HousingMlops-MonthlyScoring"], "detail": {}}


def upload_inputs(aws, rows, metros) -> None:
    """A small training file under raw/ and the metros table under reference/."""
    aws.write_bytes("raw/housets.csv", rows.head(50).to_csv(index=False).encode())
    aws.write_bytes("reference/usmetros.csv", metros.to_csv(index=False).encode())


@pytest.fixture()
def aws(monkeypatch):
    for var, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "HOUSING_STORE": f"s3://{BUCKET}"}.items():
        monkeypatch.setenv(var, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    get_settings.cache_clear()
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        yield S3Store(f"s3://{BUCKET}")


@pytest.fixture()
def state_machine(aws, monkeypatch):
    client = boto3.client("stepfunctions")
    arn = client.create_state_machine(
        name="training", roleArn="arn:aws:iam::123456789012:role/sfn",
        definition=json.dumps({"StartAt": "Wait", "States": {"Wait": {"Type": "Pass", "End": True}}}))["stateMachineArn"]
    monkeypatch.setenv("TRAINING_STATE_MACHINE_ARN", arn)
    return client, arn


def test_raw_upload_starts_one_run_named_after_it(aws, state_machine, small_data):
    client, arn = state_machine
    rows, metros = small_data
    upload_inputs(aws, rows, metros)
    first = start_training(s3_event("raw/housets.csv"))
    assert first["started"] is True and first["run_id"].startswith("run-") and first["attempt"] == 1
    [execution] = client.list_executions(stateMachineArn=arn)["executions"]
    assert execution["name"] == first["run_id"]
    sent = json.loads(client.describe_execution(executionArn=execution["executionArn"])["input"])
    assert sent["input_key"] == "raw/housets.csv" and sent["metros_key"] == "reference/usmetros.csv"
    assert sent["store"] == f"s3://{BUCKET}" and sent["run_id"] == first["run_id"]
    assert sent == {**new_run_event(sent["store"], sent["input_key"], sent["metros_key"], get_settings().run_config(), "x"),
                    "run_id": first["run_id"], "trigger": "upload of raw/housets.csv",
                    "input_rows": 50}  # told before validate, which is sized from it (a short CSV: counted)

    again = start_training(s3_event("raw/housets.csv"))  # EventBridge delivers at least once
    assert again == {"started": False, "run_id": first["run_id"], "reason": "already started"}
    assert len(client.list_executions(stateMachineArn=arn)["executions"]) == 1

    changed = start_training(s3_event("raw/housets.csv", etag="0f343b0931126a20f133d67c2b018a3b"))
    assert changed["started"] is True and changed["run_id"] != first["run_id"]


def test_starting_a_run_stays_inside_the_trigger_s_grants(aws, state_machine, small_data, monkeypatch):
    """The real handler on a store that records every key it touches, checked against its grants (a
    labelled incoming/ file and a quarantined one among them: the quarantine is read too)."""
    import lambdas.triggers
    from tests.support.stores import AuditedStore
    from tests.support.stores import ungranted as _outside

    rows, metros = small_data
    upload_inputs(aws, rows, metros)
    aws.write_bytes("incoming/2024-01.csv", rows.head(5).to_csv(index=False).encode())
    log = []
    monkeypatch.setattr(lambdas.triggers, "S3Store", lambda url: AuditedStore(S3Store(url), log, ["start-training"]))
    assert start_training(s3_event("raw/housets.csv"))["started"] is True
    assert any(key.startswith("quarantine/") for _, _, key in log) and not _outside(log), _outside(log)


def test_a_run_that_ended_without_success_is_retried_by_the_next_event(aws, state_machine, small_data):
    client, arn = state_machine
    rows, metros = small_data
    upload_inputs(aws, rows, metros)
    first = start_training(s3_event("raw/housets.csv"))
    client.stop_execution(executionArn=first["execution_arn"], error="States.TaskFailed")  # ABORTED
    retried = start_training(s3_event("raw/housets.csv"))
    assert retried["started"] is True and retried["run_id"] == first["run_id"] and retried["attempt"] == 2
    assert retried["execution_arn"].endswith(f":{first['run_id']}-attempt-2")
    sent = json.loads(client.describe_execution(executionArn=retried["execution_arn"])["input"])
    assert sent["run_id"] == first["run_id"]  # the same run: a new attempt of it
    # While the retry runs (or once it succeeded), a repeat starts nothing.
    assert start_training(s3_event("raw/housets.csv"))["reason"] == "already started"
    assert len(client.list_executions(stateMachineArn=arn)["executions"]) == 2


@pytest.mark.parametrize("key", ["incoming/2024-01.csv", "raw/", "notes/readme.txt"])
def test_other_keys_start_nothing(aws, state_machine, key):
    client, arn = state_machine
    assert start_training(s3_event(key))["started"] is False
    assert start_training(s3_event("raw/x.csv", bucket="someone-else"))["started"] is False
    assert client.list_executions(stateMachineArn=arn)["executions"] == []


def test_training_without_a_metros_table_says_so(aws, state_machine, small_data):
    aws.write_bytes("raw/housets.csv", small_data[0].head(5).to_csv(index=False).encode())
    with pytest.raises(NoMetrosTable, match="reference/"):
        start_training(s3_event("raw/housets.csv"))


def test_a_store_with_two_metros_tables_trains_with_the_one_written_last_as_housing_run_does(aws, state_machine,
                                                                                             small_data, monkeypatch):
    """A store set up by a synthetic `housing run` (reference/metros.parquet), then `housing run --metros
    usmetros.csv`, holds two tables: the first upload trains with the one the CLI used last, not an error."""
    client, arn = state_machine
    rows, metros = small_data
    upload_inputs(aws, rows, metros)  # reference/usmetros.csv
    times = {"reference/usmetros.csv": 1.0, "reference/metros.parquet": 2.0, "raw/housets.csv": 3.0}
    aws.write_bytes("reference/metros.parquet", metros.to_parquet(index=False))
    monkeypatch.setattr(S3Store, "modified", lambda self, key: times[key])  # S3's clock ticks by seconds
    started = start_training(s3_event("raw/housets.csv"))
    sent = json.loads(client.describe_execution(executionArn=started["execution_arn"])["input"])
    assert sent["metros_key"] == "reference/metros.parquet"
    cli = prepare_run(aws, "raw/housets.csv", get_settings().run_config())  # what `housing run` would start
    assert cli["metros_key"] == sent["metros_key"]


def test_monthly_retraining_learns_new_labelled_months_and_nothing_else(aws, state_machine, small_data):
    client, arn = state_machine
    rows, metros = small_data
    retraining = {**SCHEDULED, "resources": ["arn:aws:events:us-east-1:123456789012:rule/HousingMlops-MonthlyRetraining"]}
    assert start_training(retraining) == {"started": False, "reason": "nothing under raw/"}
    upload_inputs(aws, rows, metros)
    first = start_training(retraining)
    assert first["started"] is True
    assert start_training(retraining) == {"started": False, "run_id": first["run_id"], "reason": "already started"}

    aws.write_bytes("incoming/2024-01.csv", rows.head(5).drop(columns=["price"]).to_csv(index=False).encode())
    assert start_training(retraining)["started"] is False  # a month sent only to be scored teaches nothing
    aws.write_bytes("incoming/2024-01.csv", rows.head(5).to_csv(index=False).encode())
    second = start_training(retraining)
    assert second["started"] is True and second["run_id"] != first["run_id"]
    sent = json.loads(client.describe_execution(executionArn=second["execution_arn"])["input"])
    assert sent["input_key"] == "raw/housets.csv" and sent["incoming_keys"] == ["incoming/2024-01.csv"]
    # An upload names the same inputs as the schedule did: it is the same run.
    assert start_training(s3_event("raw/housets.csv", etag=aws.tag("raw/housets.csv").strip('"')))["started"] is False


def test_a_model_health_alarm_retrains_once_and_the_run_says_why(aws, state_machine, small_data):
    client, arn = state_machine
    upload_inputs(aws, *small_data)
    alarm = {"version": "0", "id": "c4c1c1c9-6542-e61b-6ef0-8c4d36933a92", "detail-type": "CloudWatch Alarm State Change",
             "source": "aws.cloudwatch", "account": "123456789012", "time": "2026-12-01T06:10:00Z", "region": "us-east-1",
             "resources": ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:HousingMlops-ModelSkillDecay"],
             "detail": {"alarmName": "HousingMlops-ModelSkillDecay", "state": {"value": "ALARM"}}}
    started = start_training(alarm)
    assert started["started"] is True
    sent = json.loads(client.describe_execution(executionArn=started["execution_arn"])["input"])
    assert sent["trigger"] == "alarm HousingMlops-ModelSkillDecay" and sent["input_key"] == "raw/housets.csv"
    # The alarm again (or the schedule) with nothing new to learn: the same run, so nothing starts.
    assert start_training(alarm) == {"started": False, "run_id": started["run_id"], "reason": "already started"}
    assert start_training(SCHEDULED)["started"] is False


@pytest.fixture(scope="module")
def served_objects() -> dict[str, bytes]:
    """The bucket's objects after the first `copy_served_state`, to lay the same state in the next tests'
    buckets without summarizing every scored month again (a summary names its predictions by their ETag,
    S3's digest of the bytes, so the same bytes keep them consistent)."""
    return {}


@pytest.fixture()
def scoring_store(aws, trained_store, served_objects):
    """moto's bucket holding a real champion and the batch predictions of its run."""
    store, _ = trained_store
    if served_objects:
        for key, data in served_objects.items():
            aws.write_bytes(key, data)
    else:
        copy_served_state(store, aws)
        served_objects.update({key: aws.read_bytes(key) for key in aws.list("")})
    return aws, pd.read_parquet(store.locate("raw/data.parquet"))


def test_incoming_month_is_scored_and_the_schedule_is_idempotent(scoring_store):
    store, raw = scoring_store
    december = raw.loc[raw["date"].astype("str").str.startswith("2023-12")]
    january = december.drop(columns=["price"]).assign(date="2024-01-31", year=2024)
    store.write_bytes("incoming/2024-01.csv", january.to_csv(index=False).encode())

    answer = score(s3_event("incoming/2024-01.csv"))
    assert answer["scored"] is True and answer["rows"] == len(january)
    assert (2024, 1) in scored_months(store)
    summary = read_summary(store)
    assert len(summary.loc[(summary["year"] == 2024) & (summary["metro"] == "All regions")]) == 1

    assert score(SCHEDULED) == {"scored": False, "key": "incoming/2024-01.csv", "reason": "already scored"}


def test_keys_arrive_url_encoded_as_s3_sends_them(aws, state_machine, small_data):
    """S3 URL-encodes object keys in its events (a space arrives as '+', '+' as '%2B')."""
    rows, metros = small_data
    aws.write_bytes("raw/house ts+2024.csv", rows.head(50).to_csv(index=False).encode())
    aws.write_bytes("reference/usmetros.csv", metros.to_csv(index=False).encode())
    started = start_training(s3_event("raw/house+ts%2B2024.csv"))
    assert started["started"] is True
    client, arn = state_machine
    [execution] = client.list_executions(stateMachineArn=arn)["executions"]
    assert json.loads(client.describe_execution(executionArn=execution["executionArn"])["input"])["input_key"] == \
        "raw/house ts+2024.csv"


def test_a_deleted_object_starts_nothing(aws, state_machine, small_data):
    aws.write_bytes("reference/usmetros.csv", small_data[1].to_csv(index=False).encode())
    assert start_training(s3_event("raw/gone.csv")) == {"started": False, "reason": "the object no longer exists"}
    client, arn = state_machine
    assert client.list_executions(stateMachineArn=arn)["executions"] == []


@pytest.mark.parametrize("handler", [start_training, score])
def test_a_malformed_event_is_a_clear_error(aws, state_machine, handler):
    event = s3_event("raw/x.csv")
    del event["detail"]["object"]
    with pytest.raises(MalformedEvent, match="detail.object.key"):
        handler(event)


def test_a_rejected_incoming_file_is_quarantined_with_its_report(scoring_store):
    store, raw = scoring_store
    bad = raw.head(20).assign(date="2024-01-31", homes_sold=-5)
    store.write_bytes("incoming/2024-01.csv", bad.to_csv(index=False).encode())
    with pytest.raises(InputRejected, match="quarantine/incoming-"):
        score(s3_event("incoming/2024-01.csv"))
    [report_key] = [k for k in store.list("quarantine/") if k.endswith("report.json")]
    report = read_json(store, report_key)
    assert report["input_key"] == "incoming/2024-01.csv" and report["rejected"] == ["incoming/2024-01.csv"]
    assert store.read_bytes(report["quarantined_copies"][0]) == store.read_bytes("incoming/2024-01.csv")
    assert any(p["column"] == "homes_sold" for p in report["reports"][0]["problems"])
    assert (2024, 1) not in scored_months(store)


def test_schedule_scores_the_latest_unscored_month(scoring_store):
    store, raw = scoring_store
    december = raw.loc[raw["date"].astype("str").str.startswith("2023-12")].drop(columns=["price"])
    store.write_bytes("incoming/2024-01.csv", december.assign(date="2024-01-31", year=2024).to_csv(index=False).encode())
    store.write_bytes("incoming/2024-02.csv", december.assign(date="2024-02-29", year=2024).to_csv(index=False).encode())
    answer = score(SCHEDULED)
    assert answer["scored"] is True and answer["key"] == "incoming/2024-02.csv"
    assert (2024, 2) in scored_months(store) and (2024, 1) not in scored_months(store)


def test_schedule_takes_the_file_written_last_not_the_last_name(scoring_store):
    import time

    store, raw = scoring_store
    december = raw.loc[raw["date"].astype("str").str.startswith("2023-12")].drop(columns=["price"])
    store.write_bytes("incoming/zz-february.csv", december.assign(date="2024-02-29", year=2024).to_csv(index=False).encode())
    time.sleep(1.1)  # S3 keeps times to the second
    store.write_bytes("incoming/aa-march.csv", december.assign(date="2024-03-31", year=2024).to_csv(index=False).encode())
    assert score(SCHEDULED)["key"] == "incoming/aa-march.csv"


def test_schedule_with_nothing_incoming_does_nothing(aws):
    assert score(SCHEDULED) == {"scored": False, "reason": "nothing under incoming/"}


@pytest.mark.slow  # synthesizes the CDK app
def test_synthesized_rules_route_only_their_prefixes(aws, synthesized):
    """moto's S3 with EventBridge notifications on, the rules' patterns exactly as synthesized, each rule
    routed to a queue (moto's EventBridge cannot target Step Functions or image Lambdas)."""
    _, _, template = synthesized
    s3, events, sqs = boto3.client("s3"), boto3.client("events"), boto3.client("sqs")
    s3.put_bucket_notification_configuration(Bucket=BUCKET, NotificationConfiguration={"EventBridgeConfiguration": {}})
    queues = {}
    for logical_id, rule in template["Resources"].items():
        pattern = rule["Properties"].get("EventPattern") if rule["Type"] == "AWS::Events::Rule" else None
        if not pattern or pattern["source"] != ["aws.s3"]:  # the model-health alarms' rule: tested in test_infra
            continue
        pattern = json.loads(json.dumps(pattern).replace(json.dumps({"Ref": _bucket_id(template)}), json.dumps(BUCKET)))
        url = sqs.create_queue(QueueName=logical_id)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name=logical_id, EventPattern=json.dumps(pattern))
        events.put_targets(Rule=logical_id, Targets=[{"Id": "queue", "Arn": queue_arn}])
        queues[pattern["detail"]["object"]["key"][0]["prefix"]] = url
    assert set(queues) == {"raw/", "incoming/"}
    for key in ("raw/housets.csv", "incoming/2024-01.csv", "reference/usmetros.csv", "runs/x/run.json", "rawdata.csv"):
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"x")
    for prefix, url in queues.items():
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        keys = [json.loads(m["Body"])["detail"]["object"]["key"] for m in messages]
        assert keys == [f"{prefix}{'housets.csv' if prefix == 'raw/' else '2024-01.csv'}"], (prefix, keys)


def _bucket_id(template: dict) -> str:
    return next(k for k, r in template["Resources"].items()
                if r["Type"] == "AWS::S3::Bucket" and "LoggingConfiguration" in r["Properties"])


def test_scoring_publishes_the_model_s_health_as_embedded_metrics(scoring_store, capsys):
    """A month sent in with its prices: the score function's one EMF log line carries the live figures and
    the drift counts the stack's alarms watch, equal to the store's records."""
    from shared.model.drift import read_drift_report
    from shared.serving.monitoring import live_accuracy

    store, raw = scoring_store
    december = raw.loc[raw["date"].astype("str").str.startswith("2023-12")]
    january = december.assign(date="2024-01-31", year=2024, price=december["price"] * 1.005)
    store.write_bytes("incoming/2024-01.csv", january.to_csv(index=False).encode())
    capsys.readouterr()
    answer = score(s3_event("incoming/2024-01.csv"))
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    lines = [{k: v[0] if isinstance(v, list) and len(v) == 1 else v for k, v in b.items()} for b in lines]  # EMF may list
    [blob] = [b for b in lines if "metro" not in b]
    [directive] = blob["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "HousingMlops/Model" and directive["Dimensions"] == [["service"]]
    assert blob["service"] == "score"
    live = live_accuracy(store, metro="All regions").iloc[0]
    assert blob["LiveSkill"] == pytest.approx(live["skill"]) and blob["LiveCoverage"] == pytest.approx(100 * live["coverage"])
    assert blob["DriftAlerts"] == len(read_drift_report(store).alerts) and blob["DriftedMonths"] in (0, 1)
    assert blob["SkillDecayMonths"] == int(live["skill"] > 1.0) and answer["health"]["LiveSkill"] == blob["LiveSkill"]
    # Each metro's own figures, one line each with a `metro` dimension; the worst metro's months in the main line.
    per_metro = live_accuracy(store).query("metro != 'All regions'")
    by_metro = {(b["metro"], name): b[name] for b in lines if "metro" in b
                for name in ("LiveSkill", "SkillDecayMonths") if name in b}
    assert all(b["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service", "metro"]] for b in lines if "metro" in b)
    for row in per_metro.itertuples():
        assert by_metro[row.metro, "SkillDecayMonths"] == int(row.skill > 1.0)
        if pd.notna(row.skill):
            assert by_metro[row.metro, "LiveSkill"] == pytest.approx(row.skill)
    assert blob["WorstMetroSkillDecayMonths"] == max(int(s > 1.0) for s in per_metro["skill"])
