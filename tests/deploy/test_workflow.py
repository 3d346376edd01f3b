"""The GitHub Actions workflow: actionlint-clean; deploys only from main, with OIDC role credentials (no
stored keys), and builds images the CDK can publish: buildx on the docker driver (the docker-container
builder keeps its images in the build cache, where the CDK's `docker tag` finds nothing), without the
provenance attestations Lambda rejects (the pinned CDK CLI turns them off itself)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"


def test_actionlint_is_clean():
    result = subprocess.run([str(Path(sys.executable).parent / "actionlint"), "-no-color", str(WORKFLOW)],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_deploy_uses_oidc_from_main_only():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    jobs = workflow["jobs"]
    assert set(workflow[True]) == {"pull_request", "push"}  # YAML reads the key `on` as True
    assert "bash .ci/run" in str(jobs["test"]["steps"])
    assert "cdk synth" in str(jobs["synth"]["steps"])
    deploy = jobs["deploy"]
    assert deploy["if"] == "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    assert set(deploy["needs"]) == {"test", "synth"}
    assert deploy["permissions"]["id-token"] == "write"
    [buildx] = [s for s in deploy["steps"] if str(s.get("uses", "")).startswith("docker/setup-buildx-action")]
    assert buildx.get("with", {}).get("driver") == "docker"
    assert 'BUILDX_NO_DEFAULT_ATTESTATIONS: "1"' in (ROOT / "node_modules/aws-cdk/lib/index.js").read_text()
    [credentials] = [s for s in deploy["steps"] if "configure-aws-credentials" in s.get("uses", "")]
    assert "role-to-assume" in credentials["with"]
    assert "aws-access-key-id" not in credentials["with"] and "AWS_SECRET_ACCESS_KEY" not in WORKFLOW.read_text()
