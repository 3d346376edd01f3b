"""The CI deploy job can publish the images: buildx on the docker driver (images land where `docker tag`
finds them), and the pinned CDK CLI is the one that turns off provenance attestations."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_the_deploy_job_builds_with_the_docker_driver():
    workflow = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())
    steps = workflow["jobs"]["deploy"]["steps"]
    [buildx] = [s for s in steps if str(s.get("uses", "")).startswith("docker/setup-buildx-action")]
    assert buildx.get("with", {}).get("driver") == "docker"


def test_the_pinned_cdk_cli_turns_off_provenance_attestations_itself():
    cli = (ROOT / "node_modules/aws-cdk/lib/index.js").read_text()
    assert 'BUILDX_NO_DEFAULT_ATTESTATIONS: "1"' in cli
