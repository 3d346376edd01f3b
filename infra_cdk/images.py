"""The container images, built by `cdk deploy` from the Dockerfiles at the repository root.

Every image is built for linux/amd64, also on an Arm laptop: the CPU-only XGBoost wheel (`xgboost-cpu`,
which spares the images the ~470 MB NCCL GPU library) is published for x86_64 only.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import IgnoreMode
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

ROOT = Path(__file__).resolve().parent.parent
PLATFORM = ecr_assets.Platform.LINUX_AMD64
API_HANDLER = "lambdas.api.handler.handler"
ROLLOUT_CHECK_HANDLER = "lambdas.api.rollout_check.handler"  # CodeDeploy's pre-traffic hook, in the API image


def _asset(scope: Construct, id: str, file: str, target: str | None = None) -> ecr_assets.DockerImageAsset:
    return ecr_assets.DockerImageAsset(
        scope, id, directory=str(ROOT), file=file, target=target, platform=PLATFORM,
        ignore_mode=IgnoreMode.DOCKER,  # .dockerignore decides what is staged and hashed
    )


class Images(Construct):
    """One pipeline image (every stage, the triggers, the training task), a slim API image, the dashboard."""

    def __init__(self, scope: Construct, id: str):
        super().__init__(scope, id)
        self.pipeline = _asset(self, "Pipeline", "Dockerfile.lambda", target="pipeline")
        self.api = _asset(self, "Api", "Dockerfile.lambda", target="api")
        self.dashboard = _asset(self, "Dashboard", "Dockerfile.streamlit")

    def pipeline_code(self, handler: str) -> lambda_.DockerImageCode:
        """The pipeline image with its CMD set to one handler ("module:function" as in the graph)."""
        return lambda_.DockerImageCode.from_ecr(
            self.pipeline.repository, tag_or_digest=self.pipeline.image_tag, cmd=[handler.replace(":", ".")])

    def api_code(self, handler: str = API_HANDLER) -> lambda_.DockerImageCode:
        return lambda_.DockerImageCode.from_ecr(self.api.repository, tag_or_digest=self.api.image_tag,
                                                cmd=[handler])

    def pipeline_container(self) -> ecs.ContainerImage:
        return ecs.ContainerImage.from_docker_image_asset(self.pipeline)

    def dashboard_container(self) -> ecs.ContainerImage:
        return ecs.ContainerImage.from_docker_image_asset(self.dashboard)
