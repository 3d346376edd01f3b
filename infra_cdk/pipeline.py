"""The training pipeline on AWS, generated from `stepfunctions.graph.TRAINING_PIPELINE`: one container
Lambda per light stage, one Fargate task for train+tune, and the state machine that runs them.

Each stage becomes a task state with the graph's retry policy and a Catch that records the failure and
ends in a Fail state; the graph's gate becomes a Choice. Payloads carry the stage event (S3 keys, never data).
"""

from __future__ import annotations

import json

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra_cdk.access import grant_store, store_function
from infra_cdk.config import DeployConfig
from infra_cdk.images import Images
from infra_cdk.nag import acknowledge, arn_of
from infra_cdk.storage import Storage
from lambdas.stage_event import TASK_FIELDS, task_variable
from shared.layout import artifact_key
from stepfunctions.graph import ARTIFACTS_FIELD, ERROR_FIELD, FAILED_STAGE_FIELD, FARGATE, GATE_PASSED_PATH, PipelineGraph, Stage

TRAIN_CONTAINER = "train"
FAILED = "RecordFailure"


def state_name(stage: Stage) -> str:
    return stage.name.capitalize()


class UndeployableGraph(ValueError):
    """The graph asks for something this deployment cannot run as the local runner does."""


def check_deployable(graph: PipelineGraph) -> None:
    """Refuse graphs the state machine would not run faithfully: the deployment has one training task
    definition (one Fargate stage), and a Fargate task returns no event, so neither the gate's stage nor the
    finishing stage may be one. Nor may a stage need an artifact no earlier stage makes."""
    fargate = [s.name for s in graph.stages if s.compute == FARGATE]
    if len(fargate) != 1:
        raise UndeployableGraph(f"the deployment runs exactly one Fargate stage (the training task); the graph has "
                                f"{len(fargate)}: {fargate}. Make the others Lambda stages or add a task definition per stage.")
    for role, name in (("gate", graph.gate.after), ("finishing", graph.finish)):
        if graph.stage(name).compute == FARGATE:
            raise UndeployableGraph(f"the {role} stage {name!r} runs on Fargate, whose task returns no event to the "
                                    "state machine; it must be a Lambda stage")
    graph.check_artifacts()


class Pipeline(Construct):
    def __init__(self, scope: Construct, id: str, *, graph: PipelineGraph, config: DeployConfig, storage: Storage,
                 images: Images, cluster: ecs.ICluster, environment: dict[str, str]):
        super().__init__(scope, id)
        check_deployable(graph)
        self.config, self.storage, self.environment = config, storage, environment
        self.log_retention = logs.RetentionDays[config.log_retention]
        self.functions: dict[str, lambda_.DockerImageFunction] = {}
        for stage in graph.stages:
            if stage.compute != FARGATE:
                self.functions[stage.name] = self._function(stage, images)
        train = next(s for s in graph.stages if s.compute == FARGATE)
        self.task_definition, self.train_security_group = self._training_task(train, images, cluster)
        self.state_machine = self._state_machine(graph, cluster)

    def _function(self, stage: Stage, images: Images) -> lambda_.DockerImageFunction:
        return store_function(
            self, stage.name, code=images.pipeline_code(stage.handler), config=self.config, bucket=self.storage.bucket,
            environment=self.environment, reads=stage.reads, writes=stage.writes,
            memory_size=self.config.function_memory_mb.get(stage.name, stage.memory_mb),
            timeout=Duration.seconds(stage.timeout_s), description=f"housing pipeline stage '{stage.name}' ({stage.handler})")

    def _training_task(self, stage: Stage, images: Images, cluster: ecs.ICluster):
        task = ecs.FargateTaskDefinition(
            self, "train-task", cpu=self.config.train_cpu or int(stage.vcpu * 1024),
            memory_limit_mib=self.config.train_memory_mb or stage.memory_mb,
            runtime_platform=ecs.RuntimePlatform(cpu_architecture=ecs.CpuArchitecture.X86_64,
                                                 operating_system_family=ecs.OperatingSystemFamily.LINUX))
        log_group = logs.LogGroup(self, "train-logs", retention=self.log_retention, removal_policy=RemovalPolicy.DESTROY)
        task.add_container(
            TRAIN_CONTAINER,
            image=images.pipeline_container(),
            # The Lambda base image's entrypoint is the Lambda runtime; the task runs the stage as a program.
            entry_point=["python3", "-m", stage.handler.split(":")[0]],
            environment=self.environment,
            logging=ecs.LogDrivers.aws_logs(stream_prefix="train", log_group=log_group),
        )
        grant_store(task.task_role, self.storage.bucket, self.config.store_prefix, stage.reads, stage.writes, task)
        acknowledge(task, "AwsSolutions-ECS2", "the environment holds only the store URL and tuning settings, no secrets")
        acknowledge(task, "AwsSolutions-IAM5", "ecr:GetAuthorizationToken accepts no resource-level permission",
                    findings=["Resource::*"])
        security_group = ec2.SecurityGroup(self, "train-sg", vpc=cluster.vpc, allow_all_outbound=True,
                                           description="training task: no inbound traffic, outbound to S3/ECR/MLflow")
        return task, security_group

    def _task_state(self, stage: Stage, cluster: ecs.ICluster) -> sfn.TaskStateBase:
        timeout = sfn.Timeout.duration(Duration.seconds(stage.timeout_s))
        if stage.compute == FARGATE:
            container = self.task_definition.find_container(TRAIN_CONTAINER)
            return tasks.EcsRunTask(
                self, state_name(stage),
                integration_pattern=sfn.IntegrationPattern.RUN_JOB,
                cluster=cluster, task_definition=self.task_definition,
                launch_target=tasks.EcsFargateLaunchTarget(platform_version=ecs.FargatePlatformVersion.LATEST),
                assign_public_ip=True,
                subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
                security_groups=[self.train_security_group],
                container_overrides=[tasks.ContainerOverride(
                    container_definition=container,
                    environment=[tasks.TaskEnvironmentVariable(
                        name=task_variable(field),
                        value=sfn.JsonPath.json_to_string(sfn.JsonPath.object_at(f"$.{field}")) if is_object
                        else sfn.JsonPath.string_at(f"$.{field}"))
                        for field, is_object in TASK_FIELDS.items()],
                )],
                # The task's own output is the ECS description; the stage event flows on, and the next
                # state records what the task made (`_made`; the local runner does the same).
                result_path=sfn.JsonPath.DISCARD,
                task_timeout=timeout,
            )
        # The whole state (the stage event) is the payload; the function's return value is the next state.
        return tasks.LambdaInvoke(
            self, state_name(stage), lambda_function=self.functions[stage.name], payload_response_only=True,
            retry_on_service_exceptions=False, task_timeout=timeout,
        )

    def _state_machine(self, graph: PipelineGraph, cluster: ecs.ICluster) -> sfn.StateMachine:
        finish = graph.stage(graph.finish)
        failed = sfn.Fail(self, "Failed", error="PipelineFailed",
                          cause="a stage failed; the run record (runs/<id>/run.json) says which and why")
        record_failure = tasks.LambdaInvoke(
            self, FAILED, lambda_function=self.functions[finish.name], payload_response_only=True,
            retry_on_service_exceptions=False,
        )
        record_failure.add_retry(errors=list(finish.retry.errors), max_attempts=finish.retry.attempts,
                                 interval=Duration.seconds(finish.retry.interval_s), backoff_rate=finish.retry.backoff)
        record_failure.next(failed)

        states = {stage.name: self._task_state(stage, cluster) for stage in graph.stages}
        exits: dict[str, sfn.INextable] = dict(states)  # the state the next stage follows
        for stage in graph.stages:
            if stage.compute == FARGATE and stage.makes:
                exits[stage.name] = self._made(graph, stage)
                states[stage.name].next(exits[stage.name])
        for stage in graph.stages:
            state = states[stage.name]
            if stage.retry.attempts:
                state.add_retry(errors=list(stage.retry.errors), max_attempts=stage.retry.attempts,
                                interval=Duration.seconds(stage.retry.interval_s), backoff_rate=stage.retry.backoff)
            # Which stage failed travels beside the Catch's {"Error", "Cause"}: one failure record from both executors.
            named = sfn.Pass(self, f"{state_name(stage)}Failed", result=sfn.Result.from_string(stage.name),
                             result_path=f"$.{FAILED_STAGE_FIELD}")
            named.next(record_failure)
            state.add_catch(named, errors=["States.ALL"], result_path=f"$.{ERROR_FIELD}")
        for stage in graph.stages:
            if stage.name == graph.gate.after:
                gate = sfn.Choice(self, "Gate", comment="promote only a candidate that passed the gate")
                gate.when(sfn.Condition.boolean_equals(GATE_PASSED_PATH, True), states[graph.gate.on_pass])
                gate.otherwise(states[graph.gate.on_fail])
                exits[stage.name].next(gate)
            elif stage.name == graph.finish:
                exits[stage.name].next(sfn.Succeed(self, "Done"))
            else:
                exits[stage.name].next(states[graph.next_of(stage.name)])

        log_group = logs.LogGroup(self, "state-machine-logs", retention=self.log_retention,
                                  removal_policy=RemovalPolicy.DESTROY)
        machine = sfn.StateMachine(
            self, "Training",
            definition_body=sfn.DefinitionBody.from_chainable(states[graph.stages[0].name]),
            timeout=Duration.hours(6),
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
                    "ecs:RunTask is granted on the training task definition's own family; ':*' covers its revisions",
                    findings=[f"Resource::{_task_family_arn(self.task_definition)}:*"])
        return machine

    def _made(self, graph: PipelineGraph, stage: Stage) -> sfn.Pass:
        """After a Fargate stage, the event's artifacts with what it made added at their keys (the run id fixes
        them, `stepfunctions.graph.with_made`): the ones before it carried over, the new ones formatted."""
        earlier = {f"{a.value}.$": f"$.{ARTIFACTS_FIELD}.{a.value}" for a in graph.made_before(stage.name)}
        made = {f"{a.value}.$": f"States.Format('{artifact_key('{}', a)}', $.run_id)" for a in stage.makes}
        return sfn.Pass(self, f"{state_name(stage)}Made", parameters={**earlier, **made},
                        result_path=f"$.{ARTIFACTS_FIELD}")



def _task_family_arn(task: ecs.TaskDefinition) -> str:
    """The task definition ARN without its revision, as the RunTask grant spells it (and cdk-nag prints it)."""
    ref = Stack.of(task).resolve(task.task_definition_arn)
    parts = [{"Fn::Select": [i, {"Fn::Split": [":", ref]}]} for i in range(1, 5)]
    family = {"Fn::Select": [5, {"Fn::Split": [":", ref]}]}
    names = [{"Fn::Select": [i, {"Fn::Split": ["/", family]}]} for i in range(2)]
    return "arn:" + ":".join(json.dumps(p, separators=(",", ":")) for p in parts) + ":" + "/".join(
        json.dumps(n, separators=(",", ":")) for n in names)
