"""The training pipeline on AWS, generated from `stepfunctions.graph.TRAINING_PIPELINE`: one container
Lambda per Lambda stage, one Fargate task definition per Fargate stage (train+tune, and any stage the
`fargate_stages` context moves there) and per Lambda stage's fallback, and the state machine that runs them.

Each stage becomes a task state with the graph's retry policy and a Catch that records the failure and
ends in a Fail state; the graph's gate becomes a Choice. Payloads carry the stage event (S3 keys, never data).
A Fargate stage's event goes through the store (`lambdas.task`): a state puts it, the task runs the stage on
it and puts the event the stage returns, and a state reads that back as the next state. Before it, a Choice
sizes the task from the rows validate counted, or for validate from the input files' rows told when the run
started (`infra_cdk.task_sizes`): a Pass state per size puts its CPU
and memory at SIZE_FIELD, which RunTask's overrides read. A Lambda stage with a Fargate fallback starts with
a Choice too: its function while the rows fit it, else the states of a Fargate stage, named <Stage>Task*.
"""

from __future__ import annotations

import json

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra_cdk.access import grant_store, store_function
from infra_cdk.config import RUN_TIMEOUT_S, DeployConfig
from infra_cdk.images import Images
from infra_cdk.nag import acknowledge, arn_of
from infra_cdk.storage import Storage
from infra_cdk.task_sizes import fargate_fallbacks, function_capacity, size_ladder
from lambdas.task import RUN_ID_VARIABLE
from shared.layout import STAGE_EVENTS, stage_event_key
from stepfunctions.graph import ERROR_FIELD, FAILED_STAGE_FIELD, FARGATE, GATE_PASSED_PATH, PipelineGraph, Stage

FAILED = "RecordFailure"
ROWS_PATH = "$.rows"  # StageEvent.rows: what the stages after validate are sized from
INPUT_ROWS_PATH = "$.input_rows"  # StageEvent.input_rows: what validate, the first stage, is sized from
SIZE_FIELD = "task_size"  # where a Fargate stage's size is put before its RunTask (not part of StageEvent)


def state_name(stage: Stage) -> str:
    return stage.name.capitalize()


class UndeployableGraph(ValueError):
    """The graph asks for something this deployment cannot run as the local runner does."""


def check_deployable(graph: PipelineGraph) -> None:
    """Refuse graphs the state machine would not run faithfully: the failure path invokes the finishing
    stage's function, so that stage must be a Lambda; nor may a stage need an artifact no earlier stage makes."""
    if graph.stage(graph.finish).compute == FARGATE:
        raise UndeployableGraph(f"the finishing stage {graph.finish!r} runs on Fargate, but the failure path invokes it "
                                "as a function; it must be a Lambda stage")
    graph.check_artifacts()


class Pipeline(Construct):
    def __init__(self, scope: Construct, id: str, *, graph: PipelineGraph, config: DeployConfig, storage: Storage,
                 images: Images, cluster: ecs.ICluster, environment: dict[str, str]):
        super().__init__(scope, id)
        check_deployable(graph)
        self.config, self.storage, self.environment = config, storage, environment
        self.log_retention = logs.RetentionDays[config.log_retention]
        self.functions: dict[str, lambda_.DockerImageFunction] = {}
        self.task_definitions: dict[str, ecs.FargateTaskDefinition] = {}
        self.task_security_group = ec2.SecurityGroup(
            self, "task-sg", vpc=cluster.vpc, allow_all_outbound=True,
            description="pipeline tasks: no inbound traffic, outbound to S3/ECR/MLflow")
        # A Lambda stage whose run outgrows its function runs as a Fargate task instead (infra_cdk.task_sizes).
        self.fallbacks = fargate_fallbacks(graph) if config.fargate_fallback else {}
        self.first = graph.stages[0].name
        for stage in graph.stages:
            if stage.compute == FARGATE:
                self.task_definitions[stage.name] = self._task_definition(stage, images)
            else:
                self.functions[stage.name] = self._function(stage, images)
            if stage.name in self.fallbacks:
                self.task_definitions[stage.name] = self._task_definition(self.fallbacks[stage.name], images)
        self.state_machine = self._state_machine(graph, cluster)

    def roles_of(self, stage: str) -> list[iam.IRole]:
        """The roles stage `stage` runs with: its function's and its task's (a fallback has both)."""
        return ([self.functions[stage].role] if stage in self.functions else []) + (
            [self.task_definitions[stage].task_role] if stage in self.task_definitions else [])

    def _function(self, stage: Stage, images: Images) -> lambda_.DockerImageFunction:
        return store_function(
            self, stage.name, code=images.pipeline_code(stage.handler), config=self.config, bucket=self.storage.bucket,
            environment=self.environment, reads=stage.reads, writes=stage.writes,
            memory_size=stage.memory_mb,
            timeout=Duration.seconds(stage.timeout_s), description=f"housing pipeline stage '{stage.name}' ({stage.handler})")

    def _task_definition(self, stage: Stage, images: Images) -> ecs.FargateTaskDefinition:
        task = ecs.FargateTaskDefinition(
            self, f"{stage.name}-task", cpu=int(stage.vcpu * 1024), memory_limit_mib=stage.memory_mb,
            runtime_platform=ecs.RuntimePlatform(cpu_architecture=ecs.CpuArchitecture.X86_64,
                                                 operating_system_family=ecs.OperatingSystemFamily.LINUX))
        log_group = logs.LogGroup(self, f"{stage.name}-task-logs", retention=self.log_retention,
                                  removal_policy=RemovalPolicy.DESTROY)
        task.add_container(
            stage.name,
            image=images.pipeline_container(),
            # The Lambda base image's entrypoint is the Lambda runtime; the task runs the stage as a program.
            entry_point=["python3", "-m", "lambdas.task"],
            command=[stage.name],
            environment=self.environment,
            logging=ecs.LogDrivers.aws_logs(stream_prefix=stage.name, log_group=log_group),
        )
        grant_store(task.task_role, self.storage.bucket, self.config.store_prefix, stage.reads, stage.writes, task)
        acknowledge(task, "AwsSolutions-ECS2", "the environment holds only the store URL and pipeline settings, no secrets")
        acknowledge(task, "AwsSolutions-IAM5", "ecr:GetAuthorizationToken accepts no resource-level permission",
                    findings=["Resource::*"])
        return task

    def _lambda_state(self, stage: Stage) -> sfn.TaskStateBase:
        """The whole state (the stage event) is the payload; the function's return value is the next state."""
        state = tasks.LambdaInvoke(
            self, state_name(stage), lambda_function=self.functions[stage.name], payload_response_only=True,
            retry_on_service_exceptions=False, task_timeout=sfn.Timeout.duration(Duration.seconds(stage.timeout_s)))
        _retried(state, stage)
        return state

    def _fargate_path(self, stage: Stage, name: str, cluster: ecs.ICluster
                      ) -> tuple[sfn.Choice, sfn.TaskStateBase, list[sfn.TaskStateBase]]:
        """A Fargate stage's states, named from `name`: the Choice that sizes its task (the entry), a Pass
        state per size, the put of its event, RunTask, and the get of the event the task returns (the exit);
        and the three that can fail."""
        size, passes = self._size_states(stage, name)
        put, get = self._event_states(stage, name)
        task = self.task_definitions[stage.name]
        run = tasks.EcsRunTask(
            self, name,
            integration_pattern=sfn.IntegrationPattern.RUN_JOB,
            cluster=cluster, task_definition=task,
            launch_target=tasks.EcsFargateLaunchTarget(platform_version=ecs.FargatePlatformVersion.LATEST),
            assign_public_ip=True,
            subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            security_groups=[self.task_security_group],
            cpu=sfn.JsonPath.string_at(f"$.{SIZE_FIELD}.cpu"),
            memory_mib=sfn.JsonPath.string_at(f"$.{SIZE_FIELD}.memory"),
            container_overrides=[tasks.ContainerOverride(
                container_definition=task.find_container(stage.name),
                environment=[tasks.TaskEnvironmentVariable(name=RUN_ID_VARIABLE,
                                                           value=sfn.JsonPath.string_at("$.run_id"))],
            )],
            # The task's own output is the ECS description; the stage's event comes back through the store.
            result_path=sfn.JsonPath.DISCARD,
            task_timeout=sfn.Timeout.duration(Duration.seconds(stage.timeout_s)),
        )
        _retried(run, stage)
        for state in passes:
            state.next(put)
        put.next(run).next(get)
        return size, get, [put, run, get]

    def _event_states(self, stage: Stage, name: str) -> tuple[sfn.TaskStateBase, sfn.TaskStateBase]:
        """Around a Fargate stage: the state that puts its event in the store, and the one that reads back the
        event the task put (`lambdas.task`) as the next state."""
        bucket, prefix = self.storage.bucket, self.config.store_prefix
        events = [bucket.arn_for_objects(f"{prefix}{STAGE_EVENTS}*")]

        def key(part: str) -> str:
            return sfn.JsonPath.format(prefix + stage_event_key("{}", stage.name, part), sfn.JsonPath.string_at("$.run_id"))

        put = tasks.CallAwsService(
            self, f"{name}Input", service="s3", action="putObject", iam_resources=events,
            parameters={"Bucket": bucket.bucket_name, "Key": key("in"), "ContentType": "application/json",
                        "Body": sfn.JsonPath.json_to_string(sfn.JsonPath.object_at("$"))},
            result_path=sfn.JsonPath.DISCARD)
        get = tasks.CallAwsService(
            self, f"{name}Output", service="s3", action="getObject", iam_resources=events,
            parameters={"Bucket": bucket.bucket_name, "Key": key("out")},
            result_selector={"event": sfn.JsonPath.string_to_json(sfn.JsonPath.string_at("$.Body"))},
            output_path="$.event")
        return put, get

    def _size_states(self, stage: Stage, name: str) -> tuple[sfn.Choice, list[sfn.Pass]]:
        """Before a Fargate stage: a Choice on the event's row count, and a Pass state per size of its ladder
        that puts that size at SIZE_FIELD (the first size when no stage has counted the rows yet)."""
        ladder = size_ladder(stage, self.config.fargate_max_memory_mb)
        passes = {size: sfn.Pass(self, f"{name}On{size.name}", result_path=f"$.{SIZE_FIELD}",
                                 result=sfn.Result.from_object({"cpu": str(size.cpu), "memory": str(size.memory_mb)}))
                  for size in ladder}
        rows = self._rows_path(stage)
        choice = sfn.Choice(self, f"{name}Size", comment=f"the {stage.name} task's size from the rows the run learns from")
        uncounted = sfn.Condition.or_(sfn.Condition.not_(sfn.Condition.is_present(rows)),
                                      sfn.Condition.not_(sfn.Condition.is_numeric(rows)))  # null: not told
        choice.when(uncounted, passes[ladder[0]])
        for size in ladder[:-1]:
            choice.when(sfn.Condition.number_less_than_equals(rows, size.max_rows), passes[size])
        choice.otherwise(passes[ladder[-1]])
        return choice, list(passes.values())

    def _rows_path(self, stage: Stage) -> str:
        """Where the rows `stage` is sized from are: the input files' for the first stage, else validate's count."""
        return INPUT_ROWS_PATH if stage.name == self.first else ROWS_PATH

    def _stage_states(self, stage: Stage, cluster: ecs.ICluster
                      ) -> tuple[sfn.IChainable, list[sfn.TaskStateBase], list[sfn.TaskStateBase]]:
        """A stage's states: the one it starts with, the ones the next stage follows, the ones that can fail.
        A Lambda stage with a Fargate fallback starts with a Choice: the function while the run's rows fit
        its memory (its modelled peak with HEADROOM), else the fallback task, sized from the rows too."""
        if stage.compute == FARGATE:
            entry, exit_, failing = self._fargate_path(stage, state_name(stage), cluster)
            return entry, [exit_], failing
        function = self._lambda_state(stage)
        if stage.name not in self.fallbacks:
            return function, [function], [function]
        task_entry, task_exit, task_failing = self._fargate_path(self.fallbacks[stage.name], f"{state_name(stage)}Task",
                                                                 cluster)
        fits = function_capacity(stage)
        where = sfn.Choice(self, f"{state_name(stage)}Where",
                           comment=f"the function while the rows fit its memory ({fits:,} rows), else a Fargate task")
        rows = self._rows_path(stage)
        where.when(sfn.Condition.and_(sfn.Condition.is_present(rows), sfn.Condition.is_numeric(rows),
                                      sfn.Condition.number_greater_than(rows, fits)), task_entry)
        where.otherwise(function)
        return where, [function, task_exit], [function, *task_failing]

    def _state_machine(self, graph: PipelineGraph, cluster: ecs.ICluster) -> sfn.StateMachine:
        finish = graph.stage(graph.finish)
        failed = sfn.Fail(self, "Failed", error="PipelineFailed",
                          cause="a stage failed; the run record (runs/<id>/run.json) says which and why")
        record_failure = tasks.LambdaInvoke(
            self, FAILED, lambda_function=self.functions[finish.name], payload_response_only=True,
            retry_on_service_exceptions=False,
        )
        _retried(record_failure, finish)
        record_failure.next(failed)

        entries: dict[str, sfn.IChainable] = {}  # the state a stage starts with
        exits: dict[str, list[sfn.TaskStateBase]] = {}  # the states the next stage follows
        for stage in graph.stages:
            entries[stage.name], exits[stage.name], failing = self._stage_states(stage, cluster)
            # Which stage failed travels beside the Catch's {"Error", "Cause"}: one failure record from both executors.
            named = sfn.Pass(self, f"{state_name(stage)}Failed", result=sfn.Result.from_string(stage.name),
                             result_path=f"$.{FAILED_STAGE_FIELD}")
            named.next(record_failure)
            for part in failing:
                part.add_catch(named, errors=["States.ALL"], result_path=f"$.{ERROR_FIELD}")
        for stage in graph.stages:
            if stage.name == graph.gate.after:
                gate = sfn.Choice(self, "Gate", comment="promote only a candidate that passed the gate")
                gate.when(sfn.Condition.boolean_equals(GATE_PASSED_PATH, True), entries[graph.gate.on_pass])
                gate.otherwise(entries[graph.gate.on_fail])
                following: sfn.IChainable = gate
            elif stage.name == graph.finish:
                following = sfn.Succeed(self, "Done")
            else:
                following = entries[graph.next_of(stage.name)]
            for state in exits[stage.name]:
                state.next(following)

        log_group = logs.LogGroup(self, "state-machine-logs", retention=self.log_retention,
                                  removal_policy=RemovalPolicy.DESTROY)
        machine = sfn.StateMachine(
            self, "Training",
            definition_body=sfn.DefinitionBody.from_chainable(entries[graph.stages[0].name]),
            timeout=Duration.seconds(RUN_TIMEOUT_S),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
        )
        acknowledge(machine, "AwsSolutions-IAM5",
                    "X-Ray tracing and CloudWatch Logs delivery accept no resource-level permissions",
                    findings=["Resource::*"])
        acknowledge(machine, "AwsSolutions-IAM5",
                    "each stage function is named; ':*' only adds its own versions and aliases",
                    findings=[f"Resource::{arn_of(fn)}:*" for fn in self.functions.values()])
        acknowledge(machine, "AwsSolutions-IAM5",
                    "ecs:RunTask is granted on each task definition's own family; ':*' covers its revisions",
                    findings=[f"Resource::{_task_family_arn(task)}:*" for task in self.task_definitions.values()])
        if self.task_definitions:
            acknowledge(machine, "AwsSolutions-IAM5",
                        "the Fargate stages' events are put and read under runs/*/events/: a run's id is known only "
                        "at run time", findings=[f"Resource::{arn_of(self.storage.bucket)}/{self.config.store_prefix}"
                                                 f"{STAGE_EVENTS}*"])
        return machine


def _task_family_arn(task: ecs.TaskDefinition) -> str:
    """The task definition ARN without its revision, as the RunTask grant spells it (and cdk-nag prints it)."""
    ref = Stack.of(task).resolve(task.task_definition_arn)
    parts = [{"Fn::Select": [i, {"Fn::Split": [":", ref]}]} for i in range(1, 5)]
    family = {"Fn::Select": [5, {"Fn::Split": [":", ref]}]}
    names = [{"Fn::Select": [i, {"Fn::Split": ["/", family]}]} for i in range(2)]
    return "arn:" + ":".join(json.dumps(p, separators=(",", ":")) for p in parts) + ":" + "/".join(
        json.dumps(n, separators=(",", ":")) for n in names)


def _retried(state: sfn.TaskStateBase, stage: Stage) -> None:
    """The stage's retry policy on the state that runs it."""
    if stage.retry.attempts:
        state.add_retry(errors=list(stage.retry.errors), max_attempts=stage.retry.attempts,
                        interval=Duration.seconds(stage.retry.interval_s), backoff_rate=stage.retry.backoff)
