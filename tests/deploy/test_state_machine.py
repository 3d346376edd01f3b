"""The synthesized state machine definition EXECUTED by a real Amazon States Language interpreter (moto's),
the store on moto's S3. Every Lambda task runs the handler its function's CMD names and the training task
its task definition's program: in this process (fast, for the unhappy paths), or in the real images built by
docker/build-local.sh, started as Lambda and ECS start them and reaching S3 through moto's server on
loopback. Either way it must end where the local runner ends."""

from __future__ import annotations

import contextlib
import json
import time

import boto3
import moto
import numpy as np
import pandas as pd
import pytest
from moto import mock_aws

from lambdas.stage_event import prepare_run
from lambdas.task import RUN_ID_VARIABLE, run_task
from shared.layout import METROS_KEY
from shared.runs import Failure, read_run_record
from shared.serving.champion import read_champion
from shared.serving.predictions import read_summary
from shared.settings import Settings, get_settings
from shared.store import LocalStore, S3Store, open_store, read_table, write_table
from stepfunctions.graph import TRAINING_PIPELINE
from stepfunctions.local_runner import StageFailed, resolve, run_graph
from tests.support.containers import IMAGES, Container, LambdaFunction, build_images, moto_s3_server
from tests.support.infra import (
    cdk_context,
    data_bucket_id,
    function_environment,
    image_functions,
    resolve_definition,
    task_container,
    task_environment,
)
from tests.support.lambda_runtime import FunctionError

pytestmark = pytest.mark.slow

BUCKET = "housing-sfn"
ACCOUNT, REGION = "123456789012", "us-east-1"
MOTO_VERSION = "5.2.5"


class Faults:
    """What the test asks the stand-ins to do: fail a stage, throttle the next Lambda invocations."""

    def __init__(self):
        self.fail_stage: str | None = None
        self.throttles: dict[str, int] = {}
        self.invocations: list[str] = []
        self.sleeps: list[float] = []
        self.task_overrides: list[dict] = []  # each RunTask's overrides, as Step Functions sent them


class HandlerFailed(Exception):
    """A handler raised: what the Lambda runtime reports as errorType / errorMessage."""

    def __init__(self, error_type: str, message: str):
        self.error_type, self.message = error_type, message
        super().__init__(f"{error_type}: {message}")


class InProcess:
    """Handlers and the training program called in this process."""

    def __init__(self, template: dict):
        self.commands = {lid: props["ImageConfig"]["Command"][0] for lid, props in image_functions(template).items()}

    def invoke(self, logical_id: str, event: dict) -> dict:
        module, _, function = self.commands[logical_id].rpartition(".")
        try:
            return resolve(f"{module}:{function}")(event, None)
        except Exception as exc:  # what the Lambda runtime does with an uncaught exception
            raise HandlerFailed(type(exc).__name__, str(exc)) from exc

    def run_task(self, container: dict, overrides: dict[str, str]) -> None:
        assert container["EntryPoint"] == ["python3", "-m", "lambdas.task"]
        [stage] = container["Command"]
        run_task(stage, overrides[RUN_ID_VARIABLE], open_store(get_settings().store))

    def close(self) -> None:
        pass


class InContainers:
    """Each function started from the pipeline image as Lambda starts it (its CMD, the template's environment,
    read-only task root, kept warm between invocations); the training task run from the same image with the
    task definition's entry point and environment plus the state machine's overrides. S3 is moto's server on
    loopback, sharing this process's moto state."""

    def __init__(self, template: dict):
        build_images()
        self.template = template
        self.resources = contextlib.ExitStack()
        self.aws = self.resources.enter_context(moto_s3_server())
        self.box = Container(IMAGES["pipeline"])
        self.resources.callback(self.box.remove)
        self.functions: dict[str, LambdaFunction] = {}
        self.name_of = lambda logical_id: logical_id  # set by aws_world: the bucket's and other resources' names

    def invoke(self, logical_id: str, event: dict) -> dict:
        if logical_id not in self.functions:
            command = image_functions(self.template)[logical_id]["ImageConfig"]["Command"][0]
            env = {**function_environment(self.template, logical_id, self.name_of), **self.aws}
            self.functions[logical_id] = LambdaFunction(self.box, command, env, name=logical_id)
        try:
            return self.functions[logical_id].invoke(event)
        except FunctionError as exc:
            raise HandlerFailed(exc.error.get("errorType", "Unknown"), exc.error.get("errorMessage", "")) from exc

    def run_task(self, container: dict, overrides: dict[str, str]) -> None:
        env = task_environment(container, self.name_of)
        argv = [*container["EntryPoint"], *container.get("Command", [])]
        code, output = self.box.run(argv, {**env, **overrides, **self.aws, "AWS_EXECUTION_ENV": "AWS_ECS_FARGATE"})
        if code != 0:
            raise RuntimeError(f"the {container['Name']} container exited with code {code}: {output[-1500:]}")
        # What the awslogs driver would send to CloudWatch: the task's progress, not only its final event.
        if container["Name"] == "train":
            assert "trial 1/" in output and "bundle sealed" in output, f"the training task logged nothing: {output[-1500:]}"

    def close(self) -> None:
        for function in self.functions.values():
            function.close()
        self.resources.close()


@pytest.fixture()
def template(request) -> dict:
    """The synthesized template whose state machine runs: the default deployment's, or (parametrized
    indirectly with a fixture's name) another's."""
    _, _, synthesized = request.getfixturevalue(getattr(request, "param", "synthesized"))
    return synthesized


@pytest.fixture(scope="session")
def synthesized_on_fargate():
    """The app with the `fargate_stages` context moving features and evaluate (the gate's stage) onto tasks."""
    from tests.support.infra import synthesize

    context = cdk_context()
    context["housing"] = {**context["housing"], "fargate_stages": {"features": {"cpu": 1024, "memory_mb": 4096},
                                                                   "evaluate": {"cpu": 1024, "memory_mb": 4096}}}
    stack, synthesized = synthesize(context)
    return stack, synthesized, synthesized.to_json()


@pytest.fixture(scope="session")
def synthesized_with_fallbacks():
    """The app with validate's, features' and evaluate's functions too small for any rows (128 MB), so every
    run sends them to their Fargate fallback tasks."""
    from tests.support.infra import synthesize

    context = cdk_context()
    context["housing"] = {**context["housing"], "function_memory_mb": {"validate": 128, "features": 128, "evaluate": 128}}
    stack, synthesized = synthesize(context)
    return stack, synthesized, synthesized.to_json()


@pytest.fixture()
def executor(request, template):
    """Where handlers run: in this process, or (parametrized indirectly with "containers") in the images."""
    runner = InContainers(template) if getattr(request, "param", None) == "containers" else InProcess(template)
    yield runner
    runner.close()


@pytest.fixture()
def moto_runs_our_code(monkeypatch, template, executor):
    """Every patch of moto lives here, written against moto 5.2.5 (checked below):

    1. moto cannot run image-based Lambdas without Docker: `LambdaBackend.invoke` is replaced by the
       executor's invocation of the synthesized function (the handler its ImageConfig.Command names),
       answering exactly as Lambda does (an uncaught exception becomes FunctionError "Unhandled" with
       errorType/errorMessage).
    2. moto's ECS tasks never stop, so `ecs:runTask.sync` would wait forever: `run_task` runs the stage's
       container (its task definition's in the template) through the executor with the containerOverrides
       environment, then marks the task STOPPED; and a task whose program failed fails the state with
       States.TaskFailed, as Step Functions does for a non-zero exit code.
    3. moto reports every Lambda API error as "Exception"; Step Functions names it `Lambda.<Code>` (e.g.
       Lambda.TooManyRequestsException), which is what Retry policies match.
    4. moto's ECS integration passes Step Functions' PascalCase parameters to boto3 as they are (boto3 wants
       camelCase: `Cluster` -> `cluster`) and reads boto3's camelCase answer as if it were PascalCase; the
       parameters and the response are converted, as Step Functions does.
    5. moto's Fargate task asks its network interface for `private_dns_name`, which moto's NetworkInterface
       lacks; it is given the name EC2 would use.
    6. Retry back-off sleeps are recorded instead of slept.
    7. moto's aws-sdk integration puts S3 GetObject's Body in the state as boto3's stream; Step Functions
       gives it as text (what `States.StringToJson($.Body)` reads): the stream is read into text.
    """
    assert moto.__version__ == MOTO_VERSION, f"the moto patches below were written for moto {MOTO_VERSION}"
    from botocore.exceptions import ClientError
    from moto.awslambda.exceptions import LambdaClientError
    from moto.awslambda.models import LambdaBackend
    from moto.ec2.models.elastic_network_interfaces import NetworkInterface
    from moto.ecs.models import EC2ContainerServiceBackend
    from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent, FailureEventException
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_lambda
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_aws_sdk,
        state_task_service_ecs,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    commands = {lid: props["ImageConfig"]["Command"][0] for lid, props in image_functions(template).items()}
    faults = Faults()

    def invoke(self, function_name, qualifier, body, headers, response_headers):
        logical_id = function_name.rsplit(":", 1)[-1] if ":function:" in function_name else function_name
        name = commands[logical_id]
        if faults.throttles.get(name, 0) > 0:
            faults.throttles[name] -= 1
            raise LambdaClientError("TooManyRequestsException", "Rate exceeded")
        faults.invocations.append(name)
        try:
            if faults.fail_stage and name.startswith(f"lambdas.stages.{faults.fail_stage}."):
                raise HandlerFailed("RuntimeError", f"injected failure in {faults.fail_stage}")
            result = executor.invoke(logical_id, json.loads(body))
        except HandlerFailed as exc:
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps({"errorType": exc.error_type, "errorMessage": exc.message, "stackTrace": []}).encode()
        return json.dumps(result).encode()

    original_run_task = EC2ContainerServiceBackend.run_task
    failed_tasks: dict[str, str] = {}

    def run_task(self, *args, **kwargs):
        tasks = original_run_task(self, *args, **kwargs)
        for task in tasks:
            faults.task_overrides.append(task.overrides)
            env = {e["name"]: e["value"] for o in task.overrides.get("containerOverrides", []) for e in o.get("environment", [])}
            [override] = task.overrides["containerOverrides"]
            stage_container = task_container(template, override["name"])
            try:
                if faults.fail_stage == override["name"]:
                    raise RuntimeError(f"injected failure in {override['name']}")
                faults.invocations.append(" ".join(stage_container["EntryPoint"] + stage_container["Command"]))
                executor.run_task(stage_container, env)
            except Exception:  # the container exits non-zero (its output goes to the task's log stream)
                failed_tasks[task.task_arn] = override["name"]
                task.stopped_reason = "Essential container in task exited"
            task.last_status = "STOPPED"
            task.desired_status = "STOPPED"
        return tasks

    original_resolver = state_task_service_ecs.StateTaskServiceEcs._build_sync_resolver

    def build_sync_resolver(self, env, resource_runtime_part, normalised_parameters, state_credentials):
        resolver = original_resolver(self, env, resource_runtime_part, normalised_parameters, state_credentials)

        def resolve_and_fail():
            task = resolver()
            if task and task.get("TaskArn") in failed_tasks:
                # As Step Functions reports a failed task: its description, with the container's exit code.
                cause = json.dumps({**task, "Containers": [{"Name": failed_tasks[task["TaskArn"]], "ExitCode": 1,
                                                            "LastStatus": "STOPPED"}]})
                raise FailureEventException(FailureEvent(
                    env=env, error_name=StatesErrorName(typ=StatesErrorNameType.StatesTaskFailed),
                    event_type=HistoryEventType.TaskFailed,
                    event_details=EventDetails(taskFailedEventDetails=TaskFailedEventDetails(
                        error="States.TaskFailed", cause=cause, resource=self._get_sfn_resource(),
                        resourceType=self._get_sfn_resource_type()))))
            return task
        return resolve_and_fail

    original_from_error = state_task_lambda.StateTaskLambda._from_error

    def from_error(self, env, ex):
        if not isinstance(ex, ClientError):
            return original_from_error(self, env, ex)
        error = f"Lambda.{ex.response['Error']['Code']}"
        return FailureEvent(
            env=env, error_name=state_task_lambda.CustomErrorName(error), event_type=HistoryEventType.LambdaFunctionFailed,
            event_details=EventDetails(lambdaFunctionFailedEventDetails=state_task_lambda.LambdaFunctionFailedEventDetails(
                error=error, cause=ex.response["Error"]["Message"])))

    def ecs_parameters(self, parameters, boto_service_name=None, service_action_name=None):
        converted = _recase(parameters, lambda key: key[:1].lower() + key[1:])
        parameters.clear()
        parameters.update(converted)

    def ecs_response(self, response, boto_service_name=None, service_action_name=None):
        converted = _recase(response, lambda key: key[:1].upper() + key[1:])
        response.clear()
        response.update(converted)

    original_sdk_task = state_task_service_aws_sdk.StateTaskServiceAwsSdk._eval_service_task

    def sdk_task(self, env, *args, **kwargs):
        original_sdk_task(self, env, *args, **kwargs)
        response = env.stack[-1]
        if hasattr(response.get("Body"), "read"):
            response["Body"] = response["Body"].read().decode()

    monkeypatch.setattr(state_task_service_aws_sdk.StateTaskServiceAwsSdk, "_eval_service_task", sdk_task)
    monkeypatch.setattr(state_task_service_ecs.StateTaskServiceEcs, "_normalise_parameters", ecs_parameters)
    monkeypatch.setattr(state_task_service_ecs.StateTaskServiceEcs, "_normalise_response", ecs_response)
    monkeypatch.setattr(NetworkInterface, "private_dns_name", property(
        lambda eni: f"ip-{eni.private_ip_address.replace('.', '-')}.ec2.internal"), raising=False)
    monkeypatch.setattr(LambdaBackend, "invoke", invoke)
    monkeypatch.setattr(EC2ContainerServiceBackend, "run_task", run_task)
    monkeypatch.setattr(state_task_service_ecs.StateTaskServiceEcs, "_build_sync_resolver", build_sync_resolver)
    monkeypatch.setattr(state_task_lambda.StateTaskLambda, "_from_error", from_error)
    monkeypatch.setattr(retrier_decl, "time", _TimeWithoutSleep(faults.sleeps))
    return faults


def _recase(value, recase):
    """Dict keys renamed by `recase` at every depth (values, and list items that are strings, unchanged)."""
    if isinstance(value, dict):
        return {recase(k): _recase(v, recase) for k, v in value.items()}
    if isinstance(value, list):
        return [_recase(v, recase) for v in value]
    return value


class _TimeWithoutSleep:
    """The `time` module as moto's retrier sees it: sleeps are recorded, not slept (only there)."""

    def __init__(self, sleeps: list[float]):
        self.sleep = sleeps.append

    def __getattr__(self, name):
        return getattr(time, name)



@pytest.fixture()
def aws_world(monkeypatch, moto_runs_our_code, executor, template, small_data, tmp_path):
    """moto with the bucket (data and metros uploaded), the ECS cluster, task definitions and network the
    definition names, and the state machine created from the synthesized definition."""
    for var, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION,
                       "HOUSING_STORE": f"s3://{BUCKET}",
                       "HOUSING_MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}.items():
        monkeypatch.setenv(var, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    # The stage functions' own settings as deployed (the tracking file stays this test's).
    promote = next(r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"
                   and r["Properties"].get("ImageConfig", {}).get("Command") == ["lambdas.stages.promote.handler"])
    deployed = promote["Properties"]["Environment"]["Variables"]
    monkeypatch.setenv("HOUSING_MLFLOW_REGISTRY", deployed["HOUSING_MLFLOW_REGISTRY"])
    get_settings.cache_clear()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        store = S3Store(f"s3://{BUCKET}")
        rows, metros = small_data
        write_table(store, "raw/housets.parquet", rows)
        write_table(store, METROS_KEY, metros)

        ec2 = boto3.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/24")["Subnet"]["SubnetId"]
        group = ec2.create_security_group(GroupName="train", Description="train", VpcId=vpc)["GroupId"]
        ecs = boto3.client("ecs")
        # RunTask names each task definition by family (latest revision), as CDK writes it into the definition.
        families = {state["Parameters"]["Overrides"]["ContainerOverrides"][0]["Name"]: state["Parameters"]["TaskDefinition"]
                    for state in resolve_definition(template)["States"].values()
                    if state.get("Resource", "").endswith("ecs:runTask.sync")}
        names = {}
        for logical_id, resource in template["Resources"].items():
            kind, props = resource["Type"], resource.get("Properties", {})
            if kind == "AWS::ECS::Cluster":
                names[logical_id] = ecs.create_cluster(clusterName=logical_id)["cluster"]["clusterArn"]
            elif kind == "AWS::ECS::TaskDefinition" and props["ContainerDefinitions"][0]["Name"] in families:
                container = props["ContainerDefinitions"][0]
                ecs.register_task_definition(
                    family=families[container["Name"]],
                    requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu=props["Cpu"], memory=props["Memory"],
                    containerDefinitions=[{"name": container["Name"], "image": "pipeline:latest",
                                           "entryPoint": container["EntryPoint"], "essential": True,
                                           "cpu": int(props["Cpu"]), "memory": int(props["Memory"])}])
            elif kind == "AWS::EC2::Subnet":
                names[logical_id] = subnet
            elif kind == "AWS::EC2::SecurityGroup":
                names[logical_id] = group

        names[data_bucket_id(template)] = BUCKET

        def arn_of(logical_id: str) -> str:
            return names.get(logical_id) or f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{logical_id}"

        executor.name_of = arn_of
        definition = resolve_definition(template, arn_of)
        sfn = boto3.client("stepfunctions")
        machine = sfn.create_state_machine(name="training", definition=json.dumps(definition),
                                           roleArn=f"arn:aws:iam::{ACCOUNT}:role/training")["stateMachineArn"]
        yield store, sfn, machine


def run_execution(sfn, machine: str, event: dict, timeout_s: float = 180) -> dict:
    arn = sfn.start_execution(stateMachineArn=machine, name=event["run_id"], input=json.dumps(event))["executionArn"]
    deadline = time.monotonic() + timeout_s
    while True:
        described = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING":
            return {**described, "history": sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]}
        if time.monotonic() > deadline:
            history = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
            raise AssertionError(f"the execution did not finish; last events: {history[-4:]}")
        time.sleep(0.2)


def visited(execution: dict) -> list[str]:
    return [e["stateEnteredEventDetails"]["name"] for e in execution["history"] if "stateEnteredEventDetails" in e]


def training_event(store, trials: int = 2) -> dict:
    """The event a run starts with, as the trigger makes it (the input's rows told from its footer)."""
    config = Settings(store=store.url, trials=trials).run_config()
    return prepare_run(store, "raw/housets.parquet", config, METROS_KEY)


# The training task's size for the small data: its configured one (infra_cdk.task_sizes).
# Each stage but record first asks whether the run's rows fit its function (they do here).
PROMOTED_PATH = ["ValidateWhere", "Validate", "SplitWhere", "Split", "PreprocessWhere", "Preprocess", "FeaturesWhere", "Features",
                 "TrainSize", "TrainOn4vCpu16GB", "TrainInput", "Train", "TrainOutput", "EvaluateWhere", "Evaluate",
                 "Gate", "PromoteWhere", "Promote", "BatchWhere", "Batch", "Record", "Done"]


def assert_ends_like_the_local_runner(store, execution, event, small_data, tmp_path, path=tuple(PROMOTED_PATH)):
    assert execution["status"] == "SUCCEEDED", (visited(execution), read_run_record(store, event["run_id"]).error)
    assert visited(execution) == list(path)
    assert read_champion(store).run_id == event["run_id"]
    assert read_run_record(store, event["run_id"]).status == "promoted"

    # The same event through the local runner, on a local store with the same files.
    local = LocalStore(tmp_path / "local")
    rows, metros = small_data
    write_table(local, "raw/housets.parquet", rows)
    write_table(local, METROS_KEY, metros)
    run_graph(TRAINING_PIPELINE, {**event, "store": local.url})
    assert read_champion(local).run_id == read_champion(store).run_id
    assert read_run_record(local, event["run_id"]).artifacts == read_run_record(store, event["run_id"]).artifacts
    key = "predictions/year=2023/month=12/predictions.parquet"
    on_aws, here = read_table(store, key), read_table(local, key)
    np.testing.assert_allclose(on_aws["predicted"], here["predicted"], rtol=1e-9)
    pd.testing.assert_frame_equal(read_summary(store).drop(columns=["model_run_id"]),
                                  read_summary(local).drop(columns=["model_run_id"]), rtol=1e-9)


def test_definition_runs_end_to_end_like_the_local_runner(aws_world, small_data, tmp_path):
    store, sfn, machine = aws_world
    event = training_event(store)
    assert_ends_like_the_local_runner(store, run_execution(sfn, machine, event), event, small_data, tmp_path)


# Features' and evaluate's states on Fargate: moved there by `fargate_stages` (1 vCPU, 4 GB), or sent to their
# fallback tasks (2 vCPU, 8 GB) by a Choice on the rows, validate's too by the input's rows.
MOVED = {"synthesized_on_fargate": ("Features", "Evaluate"),
         "synthesized_with_fallbacks": ("Validate", "Features", "Evaluate")}
ON_FARGATE = {
    "synthesized_on_fargate": lambda s: [f"{s}Size", f"{s}On1vCpu4GB", f"{s}Input", s, f"{s}Output"],
    "synthesized_with_fallbacks": lambda s: [f"{s}Where", f"{s}TaskSize", f"{s}TaskOn2vCpu8GB", f"{s}TaskInput",
                                             f"{s}Task", f"{s}TaskOutput"],
}
TASK_SIZES = {"synthesized_on_fargate": ("1024", "4096"), "synthesized_with_fallbacks": ("2048", "8192")}


@pytest.mark.parametrize("template", list(ON_FARGATE), indirect=True)
def test_stages_on_fargate_hand_their_events_on_through_the_store(aws_world, moto_runs_our_code, small_data, tmp_path,
                                                                  request):
    """Features and evaluate (whose event carries the gate's decision) run as tasks, moved there by the
    context or sent to their fallback by the rows (and validate, the first stage, by the input's rows): the
    state machine puts each one's event in the store, the task runs the stage on it and puts the event it
    returns, which the next state reads back. The run ends where the local runner ends."""
    which = request.node.callspec.params["template"]
    store, sfn, machine = aws_world
    event = training_event(store)
    execution = run_execution(sfn, machine, event)
    moved = MOVED[which]
    path = [name for state in PROMOTED_PATH if state not in {f"{s}Where" for s in moved} for name in (
        ON_FARGATE[which](state) if state in moved else [state])]
    assert_ends_like_the_local_runner(store, execution, event, small_data, tmp_path, path)
    # Each task ran with the size the Choice picked for the rows (a few thousand: the first).
    rows = len(small_data[0])
    assert event["input_rows"] == rows  # the Parquet file's footer
    assert [(o["cpu"], o["memory"]) for o in moto_runs_our_code.task_overrides] == [
        *([TASK_SIZES[which]] * (len(moved) - 2)), TASK_SIZES[which], ("4096", "16384"), TASK_SIZES[which]]
    assert json.loads(store.read_bytes(f"runs/{event['run_id']}/events/features.in.json"))["rows"] == rows
    assert moto_runs_our_code.invocations.count("python3 -m lambdas.task evaluate") == 1
    assert "lambdas.stages.evaluate.handler" not in moto_runs_our_code.invocations
    returned = json.loads(store.read_bytes(f"runs/{event['run_id']}/events/evaluate.out.json"))
    assert returned["gate"]["passed"] is True and returned["artifacts"]["evaluation"].endswith("evaluation.json")


@pytest.mark.containers
@pytest.mark.parametrize("executor", ["containers"], indirect=True)
def test_definition_drives_the_real_images(aws_world, executor, small_data, tmp_path):
    """Every state runs in the pipeline image: each stage function from its CMD with the template's
    environment, the training task from its task definition's entry point, all through moto's S3 server."""
    store, sfn, machine = aws_world
    event = training_event(store)
    execution = run_execution(sfn, machine, event, timeout_s=900)
    logs = {name: fn.output()[-1500:] for name, fn in executor.functions.items()}
    assert execution["status"] == "SUCCEEDED", (visited(execution), read_run_record(store, event["run_id"]).error, logs)
    assert len(executor.functions) == 8  # every Lambda state ran in its own container
    assert_ends_like_the_local_runner(store, execution, event, small_data, tmp_path)


def test_rejected_candidate_skips_promote_and_a_throttle_is_retried(aws_world, moto_runs_our_code):
    """Also: forty years of monthly incoming/ files named in the event leave the training task's RunTask
    overrides far below ECS's 8,192 characters (the task is not given the list)."""
    store, sfn, machine = aws_world
    moto_runs_our_code.throttles["lambdas.stages.validate.handler"] = 1  # Lambda answers 429 once
    event = training_event(store)
    event = {**event, "config": {**event["config"], "gate_vs_baseline": 0.999},  # no model is 1000x the baseline
             "incoming_keys": [f"incoming/{y}-{m:02d}.csv" for y in range(1990, 2030) for m in range(1, 13)]}
    execution = run_execution(sfn, machine, event)
    [overrides] = moto_runs_our_code.task_overrides
    assert len(json.dumps(overrides)) < 4096 < 8192 < len(json.dumps(event))
    assert execution["status"] == "SUCCEEDED"
    assert visited(execution) == [*PROMOTED_PATH[:PROMOTED_PATH.index("Gate") + 1], "Record", "Done"]
    assert moto_runs_our_code.sleeps == [TRAINING_PIPELINE.stage("validate").retry.interval_s]
    assert moto_runs_our_code.invocations.count("lambdas.stages.validate.handler") == 1
    assert read_champion(store) is None
    assert read_run_record(store, event["run_id"]).status == "rejected"


def test_a_failure_is_recorded_the_same_by_both_executors(aws_world, moto_runs_our_code, monkeypatch, small_data,
                                                         tmp_path):
    store, sfn, machine = aws_world
    moto_runs_our_code.fail_stage = "evaluate"
    event = training_event(store)
    execution = run_execution(sfn, machine, event)
    assert execution["status"] == "FAILED" and visited(execution)[-3:] == ["EvaluateFailed", "RecordFailure", "Failed"]
    on_aws = read_run_record(store, event["run_id"])

    import lambdas.stages.evaluate

    def injected(event, context=None):
        raise RuntimeError("injected failure in evaluate")

    monkeypatch.setattr(lambdas.stages.evaluate, "handler", injected)
    local = LocalStore(tmp_path / "local")
    rows, metros = small_data
    write_table(local, "raw/housets.parquet", rows)
    write_table(local, METROS_KEY, metros)
    with pytest.raises(StageFailed):
        run_graph(TRAINING_PIPELINE, {**event, "store": local.url})
    here = read_run_record(local, event["run_id"])
    assert on_aws.status == here.status == "failed"
    assert on_aws.error == here.error == Failure(stage="evaluate", type="RuntimeError", message="injected failure in evaluate")


def test_failed_training_ends_in_the_failure_path_with_the_champion_untouched(aws_world, moto_runs_our_code):
    store, sfn, machine = aws_world
    first = training_event(store)
    assert run_execution(sfn, machine, first)["status"] == "SUCCEEDED"
    champion = read_champion(store)

    moto_runs_our_code.fail_stage = "train"
    second = training_event(store, trials=3)  # another config: another run
    execution = run_execution(sfn, machine, second)
    assert execution["status"] == "FAILED"
    assert visited(execution) == [*PROMOTED_PATH[:PROMOTED_PATH.index("Train") + 1], "TrainFailed", "RecordFailure",
                                  "Failed"]
    record = read_run_record(store, second["run_id"])
    assert record.status == "failed" and (record.error.stage, record.error.type) == ("train", "States.TaskFailed")
    assert record.error.message.startswith("Essential container in task exited (exit code 1)")
    assert read_champion(store) == champion
    assert store.exists("raw/housets.parquet")


def test_the_size_choice_picks_what_the_ladder_says_for_any_row_count(synthesized):
    """The synthesized Choice before the training task and its Pass states, run alone on moto's interpreter
    (ending where they hand on to the put of the event), against infra_cdk.task_sizes for row counts from
    none (a stage before validate) to past the largest size."""
    from infra_cdk.config import load_config
    from infra_cdk.task_sizes import size_for, size_ladder

    _, _, template = synthesized
    states = resolve_definition(template)["States"]
    sizing = {name: state for name, state in states.items() if name.startswith(("TrainSize", "TrainOn"))}
    for state in sizing.values():
        if state.get("Next") == "TrainInput":
            state["Next"] = "Sized"
    definition = {"StartAt": "TrainSize", "States": {**sizing, "Sized": {"Type": "Succeed"}}}
    config = load_config(cdk_context()["housing"])
    ladder = size_ladder(config.pipeline_graph().stage("train"), config.fargate_max_memory_mb)
    counts = [None, 0, 884_092, *(n for size in ladder for n in (size.max_rows, size.max_rows + 1)), 10**9]
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        sfn = boto3.client("stepfunctions", region_name=REGION)
        machine = sfn.create_state_machine(name="sizing", definition=json.dumps(definition),
                                           roleArn=f"arn:aws:iam::{ACCOUNT}:role/sizing")["stateMachineArn"]
        for rows in counts:
            execution = run_execution(sfn, machine, {"run_id": f"rows-{rows}", "rows": rows}, timeout_s=30)
            expected = size_for(ladder, rows)
            assert json.loads(execution["output"])["task_size"] == {"cpu": str(expected.cpu),
                                                                   "memory": str(expected.memory_mb)}, rows
        execution = run_execution(sfn, machine, {"run_id": "no-rows"}, timeout_s=30)  # an event without the field
        assert json.loads(execution["output"])["task_size"]["memory"] == str(ladder[0].memory_mb)
