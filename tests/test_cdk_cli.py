"""The real CDK CLI (`npx cdk`, pinned in package.json and installed by `.ci/run` with `npm ci`) synthesizes
the app from cdk.json offline: no credentials, no notices, no telemetry, no Docker."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


def test_cdk_cli_synthesizes_offline(tmp_path):
    cli = ROOT / "node_modules" / ".bin" / "cdk"
    if not cli.exists():  # the pinned CLI from package-lock.json, as .ci/run installs it
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=ROOT, check=True, timeout=600)
    assert json.loads((ROOT / "package.json").read_text())["devDependencies"]["aws-cdk"].startswith("2.")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20", "CDK_DISABLE_CLI_TELEMETRY": "true",
                "AWS_EC2_METADATA_DISABLED": "true", "PATH": os.environ["PATH"]})
    result = subprocess.run([shutil.which("npx") or "npx", "--no-install", "cdk", "synth", "--no-notices", "--quiet",
                             "--output", str(tmp_path / "cdk.out")], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    template = json.loads((tmp_path / "cdk.out" / "HousingMlops.template.json").read_text())
    assert any(r["Type"] == "AWS::StepFunctions::StateMachine" for r in template["Resources"].values())
    assets = json.loads((tmp_path / "cdk.out" / "HousingMlops.assets.json").read_text())["dockerImages"]
    sources = sorted((a["source"]["dockerFile"], a["source"].get("dockerBuildTarget", "")) for a in assets.values())
    assert sources == [("Dockerfile.lambda", "api"), ("Dockerfile.lambda", "pipeline"), ("Dockerfile.streamlit", "")]
    assert all(a["source"]["platform"] == "linux/amd64" for a in assets.values())
