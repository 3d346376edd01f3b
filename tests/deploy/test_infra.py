"""The CDK app, synthesized once (with cdk-nag's AWS Solutions checks as a validation plugin: synthesis
itself fails on an unacknowledged finding), asserted resource by resource, then linted with cfn-lint."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from infra_cdk.task_sizes import fargate_fallbacks, function_capacity, size_ladder
from lambdas.task import RUN_ID_VARIABLE
from shared.layout import CHAMPION_KEY
from stepfunctions.graph import FARGATE, FARGATE_RETRY, TRAINING_PIPELINE
from tests.conftest import ALL_OPTIONS
from tests.support.infra import cdk_context, image_functions, resolve_definition

pytestmark = pytest.mark.slow

LAMBDA_STAGES = [s for s in TRAINING_PIPELINE.stages if s.compute != FARGATE]


def resources(template_json, kind):
    return {k: r for k, r in template_json["Resources"].items() if r["Type"] == kind}


def statements_of(template_json, role_logical_id):
    """Every IAM statement attached to a role (through its inline policies)."""
    found = []
    for policy in resources(template_json, "AWS::IAM::Policy").values():
        if {"Ref": role_logical_id} in policy["Properties"]["Roles"]:
            found.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return found


def object_grants(statements, action):
    """The S3 key patterns a role may use `action` on, from its Allow statements' object ARNs."""
    keys = set()
    for statement in statements:
        if statement.get("Effect", "Allow") != "Allow":
            continue
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if action not in actions:
            continue
        for resource in statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]:
            if isinstance(resource, dict) and "Fn::Join" in resource:
                keys.add(resource["Fn::Join"][1][-1].lstrip("/"))
    return keys


def test_bucket_is_hardened(synthesized):
    _, template, tj = synthesized
    data = next(r for r in resources(tj, "AWS::S3::Bucket").values() if "LoggingConfiguration" in r["Properties"])
    props = data["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"]
    rules = {r.get("Id"): r for r in props["LifecycleConfiguration"]["Rules"]}
    assert rules["quarantine"]["Prefix"] == "quarantine/" and rules["quarantine"]["ExpirationInDays"] == 90
    assert rules["old-versions"]["NoncurrentVersionExpiration"]["NoncurrentDays"] == 30
    assert rules["old-runs"]["Prefix"] == "runs/" and rules["old-runs"]["Transitions"][0]["StorageClass"] == "STANDARD_IA"
    notifications = next(iter(resources(tj, "Custom::S3BucketNotifications").values()))
    assert notifications["Properties"]["NotificationConfiguration"] == {"EventBridgeConfiguration": {}}
    for policy in resources(tj, "AWS::S3::BucketPolicy").values():
        denies = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
        assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in denies)


def test_one_container_lambda_per_light_stage_sized_from_the_graph(synthesized):
    _, _, tj = synthesized
    functions = {r["Properties"]["ImageConfig"]["Command"][0]: r["Properties"]
                 for r in resources(tj, "AWS::Lambda::Function").values() if r["Properties"].get("PackageType") == "Image"}
    for stage in LAMBDA_STAGES:
        props = functions[stage.handler.replace(":", ".")]
        assert props["MemorySize"] == stage.memory_mb and props["Timeout"] == stage.timeout_s
        assert props["Architectures"] == ["x86_64"]
        assert props["Environment"]["Variables"]["HOUSING_STORE"]
        # No tracking server configured: MLflow writes to Lambda's only writable place, the registry is off.
        assert props["Environment"]["Variables"]["HOUSING_MLFLOW_TRACKING_URI"] == "sqlite:////tmp/mlflow.db"
        assert props["Environment"]["Variables"]["HOUSING_MLFLOW_REGISTRY"] == "false"
    assert {"lambdas.triggers.start_training", "lambdas.score.handler"} <= set(functions)
    # The trigger writes the run config into each run's event: it must see the deployment's settings.
    trigger_env = functions["lambdas.triggers.start_training"]["Environment"]["Variables"]
    context = cdk_context()["housing"]
    assert trigger_env["HOUSING_TRIALS"] == str(context["trials"])
    assert trigger_env["HOUSING_TUNE_TIMEOUT"] == str(context["tune_timeout_s"])
    # No function reserves concurrency: Lambda keeps 100 units unreserved, and a new account may have only
    # 10 (CREATE_FAILED). A month's files are compare-and-swap writes instead (tests/unit/test_month_writes.py).
    assert not any("ReservedConcurrentExecutions" in props for props in functions.values())
    # A new account may take at most 3008 MB per function until a quota increase: no default asks for more.
    over = {name: props["MemorySize"] for name, props in functions.items() if props["MemorySize"] > 3008}
    assert not over, over


def test_a_function_s_memory_may_be_raised_above_the_default(synthesized_with_options):
    from infra_cdk.config import load_config

    _, _, tj = synthesized_with_options
    sizes = {r["Properties"]["ImageConfig"]["Command"][0]: r["Properties"]["MemorySize"]
             for r in resources(tj, "AWS::Lambda::Function").values() if r["Properties"].get("PackageType") == "Image"}
    assert sizes["lambdas.stages.validate.handler"] == 6144 and sizes["lambdas.score.handler"] == 4096
    assert sizes["lambdas.stages.split.handler"] == 3008
    with pytest.raises(ValueError, match="functions are"):
        load_config({"function_memory_mb": {"valdate": 6144}})
    with pytest.raises(ValueError, match="128 to 10240"):
        load_config({"function_memory_mb": {"validate": 20000}})


def test_training_runs_as_a_fargate_task(synthesized):
    _, _, tj = synthesized
    train = TRAINING_PIPELINE.stage("train")
    [task] = [r["Properties"] for r in resources(tj, "AWS::ECS::TaskDefinition").values()
              if r["Properties"]["ContainerDefinitions"][0]["Name"] == "train"]
    assert task["Cpu"] == str(int(train.vcpu * 1024)) and task["Memory"] == str(train.memory_mb)
    assert task["RuntimePlatform"]["CpuArchitecture"] == "X86_64"
    assert task["ContainerDefinitions"][0]["EntryPoint"] == ["python3", "-m", "lambdas.task"]
    assert task["ContainerDefinitions"][0]["Command"] == ["train"]


def test_fargate_stages_move_stages_onto_tasks_of_their_size(synthesized_with_options):
    from infra_cdk.config import load_config

    _, _, tj = synthesized_with_options
    tasks = {r["Properties"]["ContainerDefinitions"][0]["Name"]: r["Properties"]
             for r in resources(tj, "AWS::ECS::TaskDefinition").values()}
    for name, size in ALL_OPTIONS["fargate_stages"].items():
        assert (tasks[name]["Cpu"], tasks[name]["Memory"]) == (str(size["cpu"]), str(size["memory_mb"]))
        assert tasks[name]["ContainerDefinitions"][0]["Command"] == [name]
    commands = {p["ImageConfig"]["Command"][0] for p in image_functions(tj).values()}
    assert not {f"lambdas.stages.{name}.handler" for name in ALL_OPTIONS["fargate_stages"]} & commands
    states = resolve_definition(tj)["States"]
    assert states["Evaluate"]["TimeoutSeconds"] == ALL_OPTIONS["fargate_stages"]["evaluate"]["timeout_s"]
    assert states["Evaluate"]["Retry"][0]["ErrorEquals"] == list(FARGATE_RETRY.errors)
    # The store's prefix is in the keys of the events the state machine puts and reads.
    assert states["FeaturesInput"]["Parameters"]["Key.$"] == "States.Format('env/runs/{}/events/features.in.json', $.run_id)"
    train = load_config({"train_cpu": 8192, "train_memory_mb": 32768, "tune_timeout_s": 7200}).pipeline_graph().stage("train")
    assert (train.vcpu, train.memory_mb, train.timeout_s) == (8, 32768, 7200 + 1800)
    with pytest.raises(ValueError, match="tune_timeout_s"):  # the run's 6 hours must hold the other stages too
        load_config({"tune_timeout_s": 20000})
    with pytest.raises(ValueError, match="the stages it can move are"):
        load_config({"fargate_stages": {"record": {"cpu": 1024, "memory_mb": 2048}}})
    with pytest.raises(ValueError, match="in both fargate_stages and function_memory_mb"):
        load_config({"fargate_stages": {"validate": {"cpu": 1024, "memory_mb": 2048}}, "function_memory_mb": {"validate": 4096}})
    with pytest.raises(ValueError, match="fargate_stages.features.memory_mb 40000 with fargate_stages.features.cpu 4096"):
        load_config({"fargate_stages": {"features": {"cpu": 4096, "memory_mb": 40000}}})
    with pytest.raises(ValueError, match="fargate_max_memory_mb 100000: not a memory Fargate offers"):
        load_config({"fargate_max_memory_mb": 100000})


@pytest.mark.parametrize("which", ["synthesized", "synthesized_with_options"])
def test_state_machine_follows_the_graph(which, request):
    from infra_cdk.config import AFTER_TUNING_S, load_config

    _, _, tj = request.getfixturevalue(which)
    context = {**cdk_context()["housing"], **(ALL_OPTIONS if "options" in which else {})}
    config = load_config(context)
    graph = config.pipeline_graph()
    fallbacks = fargate_fallbacks(graph)
    # The default deployment gives every Lambda stage but record a fallback task.
    assert set(fallbacks) == {s.name for s in graph.stages[:-1] if s.compute != FARGATE}
    # The training state's timeout follows the tuning budget.
    assert graph.stage("train").timeout_s == context["tune_timeout_s"] + AFTER_TUNING_S
    asl = resolve_definition(tj)
    states = asl["States"]
    names = {s.name: s.name.capitalize() for s in graph.stages}
    entry, exits, expected = {}, {}, {"Gate", "RecordFailure", "Failed", "Done"}
    for stage in graph.stages:
        name = names[stage.name]
        expected.add(f"{name}Failed")
        # Validate is sized from the input files' rows, told when the run starts; the others from its count.
        rows = "$.input_rows" if stage is graph.stages[0] else "$.rows"
        if stage.compute == FARGATE:
            entry[name], exits[name] = f"{name}Size", [f"{name}Output"]
            expected |= _fargate_states(states, stage, name, config.fargate_max_memory_mb, rows)
        elif stage.name in fallbacks:
            # The function while the run's rows fit its memory, else the fallback task, sized from the rows.
            entry[name], exits[name] = f"{name}Where", [name, f"{name}TaskOutput"]
            task = f"{name}Task"
            expected |= {entry[name], name, *_fargate_states(states, fallbacks[stage.name], task,
                                                               config.fargate_max_memory_mb, rows)}
            assert states[entry[name]]["Choices"] == [{"And": [
                {"Variable": rows, "IsPresent": True}, {"Variable": rows, "IsNumeric": True},
                {"Variable": rows, "NumericGreaterThan": function_capacity(stage)}], "Next": f"{task}Size"}]
            assert states[entry[name]]["Default"] == name
            assert states[task]["TimeoutSeconds"] == fallbacks[stage.name].timeout_s
        else:
            entry[name], exits[name] = name, [name]
            expected.add(name)
    assert asl["StartAt"] == entry["Validate"]
    assert set(states) == expected
    path = ["Validate", "Split", "Preprocess", "Features", "Train", "Evaluate"]
    for here, after in zip(path, path[1:]):
        assert {states[state]["Next"] for state in exits[here]} == {entry[after]}
    assert {states[state]["Next"] for state in exits["Evaluate"]} == {"Gate"}
    assert states["Gate"]["Choices"] == [{"Variable": "$.gate.passed", "BooleanEquals": True, "Next": entry["Promote"]}]
    assert states["Gate"]["Default"] == entry["Record"]
    assert {states[state]["Next"] for state in exits["Promote"]} == {entry["Batch"]}
    assert {states[state]["Next"] for state in exits["Batch"]} == {entry["Record"]}
    assert states["Record"]["Next"] == "Done"
    assert states["RecordFailure"]["Next"] == "Failed" and states["Failed"]["Type"] == "Fail"
    for stage in graph.stages:
        name = names[stage.name]
        catch = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": f"{name}Failed"}]
        runs = [(stage, name)] if stage.name not in fallbacks else [(stage, name), (fallbacks[stage.name], f"{name}Task")]
        for runner, state_name in runs:  # every state that runs the stage, and the puts and gets around a task
            state = states[state_name]
            parts = [state_name] if runner.compute != FARGATE else [f"{state_name}Input", state_name, f"{state_name}Output"]
            assert all(states[part]["Catch"] == catch for part in parts)
            [retry] = state["Retry"]
            assert retry["ErrorEquals"] == list(runner.retry.errors) and retry["MaxAttempts"] == runner.retry.attempts
            assert retry["BackoffRate"] == runner.retry.backoff and state["TimeoutSeconds"] == runner.timeout_s
            # A stage that timed out is not run again: it is deterministic, and would only time out twice more.
            assert "States.Timeout" not in retry["ErrorEquals"] and "States.ALL" not in retry["ErrorEquals"]
            if runner.compute == "lambda":  # the errors AWS recommends retrying for Lambda tasks
                assert {"Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException",
                        "Lambda.ClientExecutionTimeoutException", "Lambda.TooManyRequestsException"} <= set(retry["ErrorEquals"])
            else:
                assert "AmazonECS.Unknown" in retry["ErrorEquals"]
        assert states[f"{name}Failed"] == {"Type": "Pass", "Result": stage.name, "ResultPath": "$.failed_stage",
                                           "Next": "RecordFailure"}


def _fargate_states(states: dict, stage, name: str, max_memory_mb: int, rows: str) -> set[str]:
    """A Fargate stage's states named from `name`, checked: the Choice that sizes the task from the rows at
    `rows`, a Pass state per size of its ladder, the put of its event, RunTask with the size as its
    overrides, and the get of the event the task returns."""
    ladder = size_ladder(stage, max_memory_mb)
    run, put, get, choice = states[name], states[f"{name}Input"], states[f"{name}Output"], states[f"{name}Size"]
    # A task takes no payload and returns none: its event is put in the store before it and read back after.
    assert run["Resource"].endswith(":states:::ecs:runTask.sync") and run["ResultPath"] is None
    [override] = run["Parameters"]["Overrides"]["ContainerOverrides"]
    assert override["Environment"] == [{"Name": RUN_ID_VARIABLE, "Value.$": "$.run_id"}]
    assert (run["Parameters"]["Overrides"]["Cpu.$"], run["Parameters"]["Overrides"]["Memory.$"]) == (
        "$.task_size.cpu", "$.task_size.memory")
    assert put["Resource"].endswith(":states:::aws-sdk:s3:putObject") and put["ResultPath"] is None
    assert put["Parameters"]["Body.$"] == "States.JsonToString($)" and put["Next"] == name and run["Next"] == f"{name}Output"
    assert get["Resource"].endswith(":states:::aws-sdk:s3:getObject")
    assert get["ResultSelector"] == {"event.$": "States.StringToJson($.Body)"} and get["OutputPath"] == "$.event"
    assert choice["Type"] == "Choice" and choice["Choices"][0]["Next"] == f"{name}On{ladder[0].name}"
    assert choice["Choices"][0]["Or"] == [{"Not": {"Variable": rows, "IsPresent": True}},
                                          {"Not": {"Variable": rows, "IsNumeric": True}}]  # not told: the first size
    assert [(rule["Variable"], rule["NumericLessThanEquals"], rule["Next"]) for rule in choice["Choices"][1:]] == [
        (rows, size.max_rows, f"{name}On{size.name}") for size in ladder[:-1]]
    assert choice["Default"] == f"{name}On{ladder[-1].name}"
    for size in ladder:
        assert states[f"{name}On{size.name}"] == {
            "Type": "Pass", "Result": {"cpu": str(size.cpu), "memory": str(size.memory_mb)},
            "ResultPath": "$.task_size", "Next": f"{name}Input"}
    return {name, f"{name}Size", f"{name}Input", f"{name}Output", *(f"{name}On{size.name}" for size in ladder)}


def test_state_machine_logs_and_traces(synthesized):
    _, _, tj = synthesized
    [machine] = resources(tj, "AWS::StepFunctions::StateMachine").values()
    assert machine["Properties"]["TracingConfiguration"] == {"Enabled": True}
    assert machine["Properties"]["LoggingConfiguration"]["Level"] == "ALL"


def test_rules_route_uploads_and_the_schedule(synthesized):
    _, _, tj = synthesized
    rules = list(resources(tj, "AWS::Events::Rule").values())
    patterns = {json.dumps(r["Properties"].get("EventPattern", {}).get("detail", {}).get("object")): r for r in rules}
    raw = patterns[json.dumps({"key": [{"prefix": "raw/"}]})]["Properties"]
    incoming = patterns[json.dumps({"key": [{"prefix": "incoming/"}]})]["Properties"]
    for rule in (raw, incoming):
        assert rule["EventPattern"]["source"] == ["aws.s3"] and rule["EventPattern"]["detail-type"] == ["Object Created"]
    functions = {k: r["Properties"]["ImageConfig"]["Command"][0] for k, r in resources(tj, "AWS::Lambda::Function").items()
                 if "ImageConfig" in r["Properties"]}
    target = lambda rule: functions[rule["Targets"][0]["Arn"]["Fn::GetAtt"][0]]  # noqa: E731
    assert target(raw) == "lambdas.triggers.start_training" and target(incoming) == "lambdas.score.handler"
    schedules = {r["Properties"]["ScheduleExpression"]: target(r["Properties"])
                 for r in rules if "ScheduleExpression" in r["Properties"]}
    assert schedules == {cdk_context()["housing"]["scoring_schedule"]: "lambdas.score.handler",
                         cdk_context()["housing"]["training_schedule"]: "lambdas.triggers.start_training"}
    # A model-health alarm going to ALARM starts a retraining.
    [retrain] = [r["Properties"] for r in rules if r["Properties"].get("EventPattern", {}).get("source") == ["aws.cloudwatch"]]
    alarms = {k: r["Properties"]["MetricName"] for k, r in resources(tj, "AWS::CloudWatch::Alarm").items()}
    assert retrain["EventPattern"]["detail-type"] == ["CloudWatch Alarm State Change"]
    assert retrain["EventPattern"]["detail"] == {"state": {"value": ["ALARM"]}}
    assert {alarms[a["Fn::GetAtt"][0]] for a in retrain["EventPattern"]["resources"]} == {
        "DriftedMonths", "SkillDecayMonths", "CoverageDecayMonths"}
    assert target(retrain) == "lambdas.triggers.start_training"


def test_load_balancer_serves_the_api_lambda_and_the_dashboard(synthesized):
    _, _, tj = synthesized
    [alb] = resources(tj, "AWS::ElasticLoadBalancingV2::LoadBalancer").values()
    attributes = {a["Key"]: a["Value"] for a in alb["Properties"]["LoadBalancerAttributes"]}
    assert attributes["idle_timeout.timeout_seconds"] == "3600" and attributes["access_logs.s3.enabled"] == "true"
    listeners = {r["Properties"]["Port"]: r["Properties"]
                 for r in resources(tj, "AWS::ElasticLoadBalancingV2::Listener").values()}
    groups = resources(tj, "AWS::ElasticLoadBalancingV2::TargetGroup")
    api_group = groups[listeners[80]["DefaultActions"][0]["TargetGroupArn"]["Ref"]]["Properties"]
    assert api_group["TargetType"] == "lambda" and api_group["HealthCheckPath"] == "/health"
    dashboard_group = groups[listeners[8501]["DefaultActions"][0]["TargetGroupArn"]["Ref"]]["Properties"]
    assert dashboard_group["HealthCheckPath"] == "/_stcore/health" and dashboard_group["Port"] == 8501
    sticky = {a["Key"]: a["Value"] for a in dashboard_group["TargetGroupAttributes"]}
    assert sticky["stickiness.enabled"] == "true" and sticky["stickiness.type"] == "lb_cookie"
    alias = resources(tj, "AWS::Lambda::Alias")[api_group["Targets"][0]["Id"]["Ref"]]["Properties"]  # the alias, never $LATEST
    target = alias["FunctionName"]["Ref"]
    assert alias["Name"] == "live"
    command = resources(tj, "AWS::Lambda::Function")[target]["Properties"]["ImageConfig"]["Command"]
    assert command == ["lambdas.api.handler.handler"]


def _rollout(tj: dict) -> tuple[dict, dict, dict, dict]:
    """The API's alias (with its update policy), deployment group, pre-traffic hook function and its policy."""
    [(alias_id, alias)] = resources(tj, "AWS::Lambda::Alias").items()
    [group] = resources(tj, "AWS::CodeDeploy::DeploymentGroup").values()
    hook_id = alias["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]["BeforeAllowTrafficHook"]["Ref"]
    hook = resources(tj, "AWS::Lambda::Function")[hook_id]
    role = hook["Properties"]["Role"]["Fn::GetAtt"][0]
    policy = next(p["Properties"]["PolicyDocument"] for p in resources(tj, "AWS::IAM::Policy").values()
                  if {"Ref": role} in p["Properties"]["Roles"])
    return alias, group["Properties"], hook["Properties"], policy


def test_a_new_api_version_takes_traffic_only_after_its_check_and_rolls_back_on_alarm(synthesized):
    _, _, tj = synthesized
    alias, group, hook, policy = _rollout(tj)
    assert hook["ImageConfig"]["Command"] == ["lambdas.api.rollout_check.handler"]
    version = alias["Properties"]["FunctionVersion"]["Fn::GetAtt"][0]
    assert hook["Environment"]["Variables"]["HOUSING_API_VERSION"] == {"Ref": version}  # the version, not the alias
    assert "ProvisionedConcurrencyConfig" not in alias["Properties"]
    assert group["DeploymentConfigName"] == "CodeDeployDefault.LambdaCanary10Percent5Minutes"
    assert group["DeploymentStyle"] == {"DeploymentOption": "WITH_TRAFFIC_CONTROL", "DeploymentType": "BLUE_GREEN"}
    assert set(group["AutoRollbackConfiguration"]["Events"]) == {"DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_REQUEST",
                                                                 "DEPLOYMENT_STOP_ON_ALARM"}
    alarms = resources(tj, "AWS::CloudWatch::Alarm")
    watched = {alarms[a["Name"]["Ref"]]["Properties"]["MetricName"]: alarms[a["Name"]["Ref"]]["Properties"]
               for a in group["AlarmConfiguration"]["Alarms"]}
    assert set(watched) == {"Errors", "HTTPCode_Target_5XX_Count", "Duration"}
    assert watched["Duration"]["ExtendedStatistic"] == "p99" and watched["Duration"]["Threshold"] == 2000
    assert {d["Name"] for d in watched["Errors"]["Dimensions"]} == {"FunctionName", "Resource"}  # the alias's
    statements = policy["Statement"]
    invoke = [s for s in statements if s["Action"] == "lambda:InvokeFunction"]
    assert invoke == [{"Action": "lambda:InvokeFunction", "Effect": "Allow", "Resource": {"Ref": version}}]
    reads = next(s for s in statements if s["Action"] == "s3:GetObject")["Resource"]
    assert sorted(r["Fn::Join"][1][1] for r in reads) == ["/models/champion.json", "/monitoring/live/interval_misses.json",
                                                          "/runs/*/model/*"]
    assert not any("s3:PutObject" in s["Action"] for s in statements)
    assert any(s["Action"] == "codedeploy:PutLifecycleEventHookExecutionStatus" for s in statements)


def test_the_dashboard_can_run_on_a_schedule(synthesized, synthesized_with_options):
    assert not resources(synthesized[2], "AWS::ApplicationAutoScaling::ScalableTarget")  # always on by default
    [target] = resources(synthesized_with_options[2], "AWS::ApplicationAutoScaling::ScalableTarget").values()
    props = target["Properties"]
    assert (props["MinCapacity"], props["MaxCapacity"], props["ScalableDimension"]) == (0, 1, "ecs:service:DesiredCount")
    actions = {a["ScheduledActionName"]: a for a in props["ScheduledActions"]}
    assert {(a["Schedule"], a["ScalableTargetAction"]["MinCapacity"], a["ScalableTargetAction"]["MaxCapacity"], a["Timezone"])
            for a in actions.values()} == {("cron(0 7 ? * MON-FRI *)", 1, 1, "Europe/Berlin"),
                                           ("cron(0 19 ? * MON-FRI *)", 0, 0, "Europe/Berlin")}


def test_dashboard_hours_are_checked_at_synth_time():
    from pydantic import ValidationError

    from infra_cdk.config import load_config

    with pytest.raises(ValidationError, match="IANA time zone"):
        load_config({"dashboard_hours": {"start": "cron(0 7 * * ? *)", "stop": "cron(0 19 * * ? *)", "time_zone": "Mars/Base"}})
    with pytest.raises(ValidationError, match="stop"):
        load_config({"dashboard_hours": {"start": "cron(0 7 * * ? *)"}})


def test_the_rollout_and_provisioned_concurrency_follow_the_context(synthesized_with_options):
    _, _, tj = synthesized_with_options
    alias, group, hook, policy = _rollout(tj)
    assert alias["Properties"]["ProvisionedConcurrencyConfig"] == {"ProvisionedConcurrentExecutions": 2}
    assert group["DeploymentConfigName"] == "CodeDeployDefault.LambdaLinear10PercentEvery1Minute"
    alarms = resources(tj, "AWS::CloudWatch::Alarm")
    assert any(alarms[a["Name"]["Ref"]]["Properties"].get("Threshold") == 900 for a in group["AlarmConfiguration"]["Alarms"])
    assert "HOUSING_API_KEY_SECRET" in hook["Environment"]["Variables"]  # it sends a key the API accepts
    assert any("secretsmanager:GetSecretValue" in s["Action"] for s in policy["Statement"])


def test_every_role_gets_only_its_stages_prefixes(synthesized):
    _, _, tj = synthesized
    roles = {}
    for fn in resources(tj, "AWS::Lambda::Function").values():
        if "ImageConfig" in fn["Properties"]:
            roles[fn["Properties"]["ImageConfig"]["Command"][0]] = fn["Properties"]["Role"]["Fn::GetAtt"][0]
    for stage in LAMBDA_STAGES:
        statements = statements_of(tj, roles[stage.handler.replace(":", ".")])
        wanted_writes = {k + ("*" if k.endswith("/") else "") for k in stage.writes}
        wanted_reads = wanted_writes | {k + ("*" if k.endswith("/") else "") for k in stage.reads}
        assert object_grants(statements, "s3:PutObject") == wanted_writes, stage.name
        assert object_grants(statements, "s3:GetObject") == wanted_reads, stage.name
        assert not any("s3:*" in json.dumps(s["Action"]) or s["Action"] == "*" for s in statements)
    # Each task's role (training, and every fallback) gets its stage's prefixes and the events it is handed.
    graph = TRAINING_PIPELINE
    tasks = {**fargate_fallbacks(graph), **{s.name: s for s in graph.stages if s.compute == FARGATE}}
    task_roles = {r["Properties"]["ContainerDefinitions"][0]["Name"]: r["Properties"]["TaskRoleArn"]["Fn::GetAtt"][0]
                  for r in resources(tj, "AWS::ECS::TaskDefinition").values()}
    assert set(tasks) <= set(task_roles)
    for name, stage in tasks.items():
        statements = statements_of(tj, task_roles[name])
        wanted_writes = {k + ("*" if k.endswith("/") else "") for k in stage.writes}
        assert "runs/*/events/*" in wanted_writes
        assert object_grants(statements, "s3:PutObject") == wanted_writes, name
        assert object_grants(statements, "s3:GetObject") == wanted_writes | {
            k + ("*" if k.endswith("/") else "") for k in stage.reads}, name
    promote = statements_of(tj, roles["lambdas.stages.promote.handler"])
    # The pointer, its record in the promotion history, its model card, and the new champion's serving state.
    assert object_grants(promote, "s3:PutObject") == {"models/champion.json", "models/promotions/*", "models/cards/*",
                                                      "serving/*"}


def test_only_training_writes_bundles_and_only_once_and_the_api_reads_no_training_data(synthesized):
    _, _, tj = synthesized
    roles = {fn["Properties"]["ImageConfig"]["Command"][0]: fn["Properties"]["Role"]["Fn::GetAtt"][0]
             for fn in resources(tj, "AWS::Lambda::Function").values() if "ImageConfig" in fn["Properties"]}

    def denies(statements):
        return [(s.get("Condition"), object_grants([{**s, "Effect": "Allow"}], "s3:PutObject"))
                for s in statements if s["Effect"] == "Deny"]

    pointer_cas = ({"Null": {"s3:if-match": "true", "s3:if-none-match": "true"}}, {"models/champion.json"})
    for stage in LAMBDA_STAGES:
        expected = [(None, {"runs/*/model/*"})] if "runs/" in stage.writes else []
        if CHAMPION_KEY in stage.writes:  # the pointer: a PUT without If-Match / If-None-Match is denied
            expected.append(pointer_cas)
        assert denies(statements_of(tj, roles[stage.handler.replace(":", ".")])) == expected, stage.name
    assert any(CHAMPION_KEY in stage.writes for stage in LAMBDA_STAGES)
    train = next(r for r in resources(tj, "AWS::ECS::TaskDefinition").values()
                 if r["Properties"]["ContainerDefinitions"][0]["Name"] == "train")
    assert denies(statements_of(tj, train["Properties"]["TaskRoleArn"]["Fn::GetAtt"][0])) == \
        [({"Null": {"s3:if-none-match": "true"}}, {"runs/*/model/*"})]
    # promote's fallback task moves the pointer under the same compare-and-swap condition as its function.
    promote = next(r for r in resources(tj, "AWS::ECS::TaskDefinition").values()
                   if r["Properties"]["ContainerDefinitions"][0]["Name"] == "promote")
    assert denies(statements_of(tj, promote["Properties"]["TaskRoleArn"]["Fn::GetAtt"][0])) == [pointer_cas]
    api = statements_of(tj, roles["lambdas.api.handler.handler"])
    assert object_grants(api, "s3:GetObject") == {"models/champion.json", "models/promotions/*", "models/cards/*",
                                                  "runs/*/model/*", "predictions/*", "serving/*", "monitoring/live/*",
                                                  "monitoring/drift/*"}
    assert not object_grants(api, "s3:PutObject")


def test_log_groups_have_retention_and_an_alarm_watches_failures(synthesized):
    _, _, tj = synthesized
    assert all(g["Properties"].get("RetentionInDays") == 30 for g in resources(tj, "AWS::Logs::LogGroup").values())
    alarms = {a["Properties"]["MetricName"]: a["Properties"] for a in resources(tj, "AWS::CloudWatch::Alarm").values()}
    assert set(alarms) == {"ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted", "Errors",
                           "DriftedMonths", "SkillDecayMonths", "CoverageDecayMonths",
                           "WorstMetroSkillDecayMonths", "WorstMetroCoverageDecayMonths",  # one metro's decay
                           "HTTPCode_Target_5XX_Count", "Duration"}  # the API's rollout alarms (its Errors too)
    # The model's health: monthly data, each metric counting months itself; no datum keeps the state.
    for name, months in {"DriftedMonths": 2, "SkillDecayMonths": 2, "CoverageDecayMonths": 2,
                         "WorstMetroSkillDecayMonths": 3, "WorstMetroCoverageDecayMonths": 3}.items():
        alarm = alarms[name]
        assert alarm["Namespace"] == "HousingMlops/Model" and alarm["Dimensions"] == [{"Name": "service", "Value": "score"}]
        assert alarm["Threshold"] == months and alarm["TreatMissingData"] == "ignore" and alarm["Period"] == 86400
        assert alarm["Statistic"] == "Maximum" and alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    # Only all regions' decay retrains; one metro's notifies.
    [rule] = [r["Properties"] for r in resources(tj, "AWS::Events::Rule").values()
              if r["Properties"].get("EventPattern", {}).get("source") == ["aws.cloudwatch"]]
    watched = {alarm_id for ref in rule["EventPattern"]["resources"] for alarm_id in [ref["Fn::GetAtt"][0]]}
    names = {lid: a["Properties"]["MetricName"] for lid, a in resources(tj, "AWS::CloudWatch::Alarm").items()}
    assert {names[lid] for lid in watched} == {"DriftedMonths", "SkillDecayMonths", "CoverageDecayMonths"}


def test_model_health_alarm_thresholds_come_from_the_context(synthesized_with_options):
    _, _, tj = synthesized_with_options
    thresholds = {a["Properties"]["MetricName"]: a["Properties"]["Threshold"]
                  for a in resources(tj, "AWS::CloudWatch::Alarm").values()}
    assert (thresholds["DriftedMonths"], thresholds["SkillDecayMonths"], thresholds["CoverageDecayMonths"]) == (3, 4, 2)


def test_acknowledgements_all_carry_reasons(synthesized):
    stack, _, _ = synthesized
    import aws_cdk as cdk

    reasons = {}
    for construct in stack.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                reasons.update(entry.data)
    ours = {rule.removeprefix("Annotation::"): reason for rule, reason in reasons.items() if "AwsSolutions" in rule}
    assert len(ours) >= 10 and all(len(reason) > 40 for reason in ours.values()), ours
    # Only wildcard findings and the few rules that cannot be fixed are acknowledged; nothing broad.
    assert {rule.split("[")[0] for rule in ours} <= {"AwsSolutions-IAM5", "AwsSolutions-IAM4", "AwsSolutions-ECS2",
                                                    "AwsSolutions-EC23", "AwsSolutions-S1"}
    assert all("[" in rule for rule in ours if rule.startswith(("AwsSolutions-IAM5", "AwsSolutions-IAM4")))


def test_an_unacknowledged_wildcard_fails_synthesis():
    from aws_cdk import aws_iam as iam

    from infra_cdk.app import build_app

    app, stack = build_app(cdk_context())
    role = stack.pipeline.functions["record"].role
    role.add_to_principal_policy(iam.PolicyStatement(actions=["s3:*"], resources=["*"]))
    with pytest.raises(Exception, match="Validation failed|ValidationFailed"):
        app.synth()


def test_cfn_lint_finds_no_errors(synthesized, tmp_path):
    _, _, tj = synthesized
    path = tmp_path / "template.json"
    path.write_text(json.dumps(tj))
    result = subprocess.run([sys.executable, "-m", "cfnlint", "--format", "parseable", str(path)],
                            capture_output=True, text=True)
    errors = [line for line in result.stdout.splitlines() if ":E" in line]
    assert not errors and not result.returncode & 2, result.stdout + result.stderr


def test_https_cognito_mlflow_and_alarm_email_options_synthesize_cleanly(synthesized_with_options):
    """The optional parts, all switched on: HTTPS listeners (80 redirects), a Cognito login in front of the
    dashboard, the SageMaker-managed MLflow server wired into training and promotion, alarm e-mails, API keys."""
    _, _, tj = synthesized_with_options
    listeners = {r["Properties"]["Port"]: r["Properties"]
                 for r in resources(tj, "AWS::ElasticLoadBalancingV2::Listener").values()}
    assert listeners[443]["Protocol"] == "HTTPS" and listeners[8443]["Protocol"] == "HTTPS"
    assert listeners[80]["DefaultActions"][0]["Type"] == "redirect"
    assert [a["Type"] for a in listeners[8443]["DefaultActions"]] == ["authenticate-cognito", "forward"]
    [server] = resources(tj, "AWS::SageMaker::MlflowTrackingServer").values()
    assert server["Properties"]["ArtifactStoreUri"]["Fn::Join"][1][-1] == "/env/mlflow/"
    # The MLflow client writes a run's artifacts to the artifact store with the training task's own role.
    task = next(r for r in resources(tj, "AWS::ECS::TaskDefinition").values()
                if r["Properties"]["ContainerDefinitions"][0]["Name"] == "train")
    task_role = task["Properties"]["TaskRoleArn"]["Fn::GetAtt"][0]
    assert "env/mlflow/*" in object_grants(statements_of(tj, task_role), "s3:PutObject")
    train = next(r for r in resources(tj, "AWS::ECS::TaskDefinition").values()
                 if r["Properties"]["ContainerDefinitions"][0]["Name"] == "train")
    env = {e["Name"]: e["Value"] for e in train["Properties"]["ContainerDefinitions"][0]["Environment"]}
    assert "HOUSING_MLFLOW_TRACKING_URI" in env and "HOUSING_MLFLOW_REGISTRY" not in env
    assert env["HOUSING_GATE_VS_BASELINE"] == "0.4" and env["HOUSING_TRAIN_END"] == "2021-01-01"
    assert resources(tj, "AWS::SNS::Subscription")
    # The login's domain prefix is this stack's in this account (prefixes are global per region).
    [domain] = resources(tj, "AWS::Cognito::UserPoolDomain").values()
    assert domain["Properties"]["Domain"] == {"Fn::Join": ["", ["housing-housingmlops-", {"Ref": "AWS::AccountId"}]]}
    # The topic's key is one CloudWatch may use (the AWS managed alias/aws/sns key would drop every alarm).
    [topic] = resources(tj, "AWS::SNS::Topic").values()
    key_id = topic["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0]
    key_policy = resources(tj, "AWS::KMS::Key")[key_id]["Properties"]["KeyPolicy"]["Statement"]
    assert any(st.get("Principal") == {"Service": "cloudwatch.amazonaws.com"} and "kms:GenerateDataKey*" in st["Action"]
               for st in key_policy)
    assert all(len(a["Properties"]["AlarmActions"]) == 1 for a in resources(tj, "AWS::CloudWatch::Alarm").values())
    dashboard = next(r for r in resources(tj, "AWS::ECS::TaskDefinition").values()
                     if r["Properties"]["ContainerDefinitions"][0]["Name"] == "streamlit")
    env = {e["Name"]: e["Value"] for e in dashboard["Properties"]["ContainerDefinitions"][0]["Environment"]}
    # The form reaches the API's live alias through the Lambda API, which a narrowed allowed_cidr cannot block.
    [alias_id] = resources(tj, "AWS::Lambda::Alias")
    assert env["API_URL"] == {"Fn::Join": ["", ["lambda:", {"Ref": alias_id}]]}
    invokes = [st["Resource"] for st in statements_of(tj, dashboard["Properties"]["TaskRoleArn"]["Fn::GetAtt"][0])
               if st["Action"] == "lambda:InvokeFunction"]
    assert invokes == [{"Ref": alias_id}], invokes
    assert any(o["Value"] == "https://housing.example.com:443" for o in tj["Outputs"].values())  # the ALB still serves users
    # The prefix is a folder everywhere: grants, rules and the store URL (never "envruns/*" or "envraw/").
    text = json.dumps(tj)
    assert "/env/runs/*" in text and "envruns" not in text and "envraw" not in text
    rules = [r["Properties"]["EventPattern"] for r in resources(tj, "AWS::Events::Rule").values()
             if "EventPattern" in r["Properties"] and r["Properties"]["EventPattern"]["source"] == ["aws.s3"]]
    assert {p["detail"]["object"]["key"][0]["prefix"] for p in rules} == {"env/raw/", "env/incoming/"}
    store = next(fn["Properties"]["Environment"]["Variables"]["HOUSING_STORE"]
                 for fn in resources(tj, "AWS::Lambda::Function").values() if "ImageConfig" in fn["Properties"])
    assert store["Fn::Join"][1][-1].endswith("/env")


def test_graphs_the_deployment_cannot_run_faithfully_are_refused():
    import dataclasses

    from infra_cdk.pipeline import UndeployableGraph, check_deployable
    from stepfunctions.graph import TRAINING_PIPELINE

    check_deployable(TRAINING_PIPELINE)
    check_deployable(TRAINING_PIPELINE.on_fargate({"evaluate": {}, "features": {}}))  # the gate's stage on a task too
    with pytest.raises(UndeployableGraph, match="finishing stage 'record' runs on Fargate"):
        check_deployable(TRAINING_PIPELINE.on_fargate({"record": {}}))
    from shared.layout import Artifact
    from stepfunctions.graph import ArtifactOrderError

    batch_first = dataclasses.replace(TRAINING_PIPELINE, stages=tuple(
        dataclasses.replace(s, needs=(*s.needs, Artifact.EVALUATION)) if s.name == "split" else s
        for s in TRAINING_PIPELINE.stages))
    with pytest.raises(ArtifactOrderError, match="split needs 'evaluation'"):
        check_deployable(batch_first)


def test_api_exposure_is_said_at_synth_time(synthesized, synthesized_with_options):
    from aws_cdk.assertions import Annotations, Match

    stack, _, tj = synthesized
    Annotations.from_stack(stack).has_warning("*", Match.string_like_regexp("prediction API is reachable by anyone"))
    [access] = [o["Value"] for name, o in tj["Outputs"].items() if name.startswith("ApiApiAccess")]
    assert access == "HTTP (unencrypted) from 0.0.0.0/0 (the whole internet), no authentication"

    stack, _, tj = synthesized_with_options
    Annotations.from_stack(stack).has_no_warning("*", Match.string_like_regexp("prediction API is reachable by anyone"))
    [access] = [o["Value"] for name, o in tj["Outputs"].items() if name.startswith("ApiApiAccess")]
    assert access.startswith("HTTPS from 0.0.0.0/0") and "x-api-key header required" in access
    api = next(fn["Properties"] for fn in resources(tj, "AWS::Lambda::Function").values()
               if fn["Properties"].get("ImageConfig", {}).get("Command") == ["lambdas.api.handler.handler"])
    [secret_id] = resources(tj, "AWS::SecretsManager::Secret")
    assert api["Environment"]["Variables"]["HOUSING_API_KEY_SECRET"] == {"Ref": secret_id}
    reads = [s for s in statements_of(tj, api["Role"]["Fn::GetAtt"][0]) if "secretsmanager:GetSecretValue" in s["Action"]]
    assert reads and all(s["Resource"] == {"Ref": secret_id} for s in reads)
    dashboard = next(r for r in resources(tj, "AWS::ECS::TaskDefinition").values()
                     if r["Properties"]["ContainerDefinitions"][0]["Name"] == "streamlit")
    assert dashboard["Properties"]["ContainerDefinitions"][0]["Secrets"] == [{"Name": "API_KEY", "ValueFrom": {"Ref": secret_id}}]


def test_store_prefix_is_a_folder():
    from infra_cdk.config import load_config

    assert [load_config({"store_prefix": p}).store_prefix for p in ("env", "/env/", "env/", "", "a/b")] == \
        ["env/", "env/", "env/", "", "a/b/"]
    with pytest.raises(ValueError, match="store_prefix"):
        load_config({"store_prefix": "env/*"})


def test_the_context_may_be_the_json_text_the_cli_passes():
    """`npx cdk deploy -c housing='{...}'` hands the app a string, not a mapping."""
    from infra_cdk.config import load_config

    assert load_config('{"trials": 50, "api_auth": "api_key"}') == load_config({"trials": 50, "api_auth": "api_key"})
    with pytest.raises(ValueError, match="not JSON"):
        load_config("{trials: 50}")
    with pytest.raises(ValueError, match="JSON object"):
        load_config("[1, 2]")
    with pytest.raises(ValueError, match="trials"):
        load_config('{"trials": 0}')


def test_cognito_without_https_is_refused():
    from infra_cdk.config import load_config

    with pytest.raises(ValueError, match="certificate_arn"):
        load_config({"cognito_login": True})
    with pytest.raises(ValueError, match="gate_vs_basline"):
        load_config({"settings": {"gate_vs_basline": 0.4}})


@pytest.mark.parametrize(("context", "needle"), [
    ({"settings": {"store": "s3://elsewhere"}}, "may not set what the stack owns: store"),
    ({"settings": {"trials": "abc"}}, "may not set what the stack owns: trials"),
    ({"settings": {"gate_vs_baseline": "abc"}}, "invalid values: gate_vs_baseline"),
    ({"settings": {"train_end": "soon"}}, "invalid values: train_end"),
    ({"train_cpu": 4096, "train_memory_mb": 4096}, "8192 to 30720 MB"),
    ({"train_cpu": 3000}, "Fargate offers"),
])
def test_deploy_settings_are_checked_at_synth_time(context, needle):
    """As the functions will read them, before anything is deployed (they failed inside every Lambda)."""
    from infra_cdk.config import load_config

    with pytest.raises(ValueError, match=needle):
        load_config(context)
    assert load_config({"settings": {"gate_coverage": "[0.6, 0.95]", "gate_vs_naive": "none"}, "train_cpu": 8192,
                        "train_memory_mb": 32768})
