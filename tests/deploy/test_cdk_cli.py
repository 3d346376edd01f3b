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

ROOT = Path(__file__).resolve().parents[2]


def _synth(out: Path, *args: str) -> subprocess.CompletedProcess:
    """`npx cdk synth` with the pinned CLI (installed first if missing), offline, into `out`."""
    cli = ROOT / "node_modules" / ".bin" / "cdk"
    if not cli.exists():  # the pinned CLI from package-lock.json, as .ci/run installs it
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=ROOT, check=True, timeout=600)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20", "CDK_DISABLE_CLI_TELEMETRY": "true",
                "AWS_EC2_METADATA_DISABLED": "true", "PATH": os.environ["PATH"]})
    return subprocess.run([shutil.which("npx") or "npx", "--no-install", "cdk", "synth", "--no-notices", "--quiet",
                           "--output", str(out), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_cdk_cli_synthesizes_offline(tmp_path):
    assert json.loads((ROOT / "package.json").read_text())["devDependencies"]["aws-cdk"].startswith("2.")
    result = _synth(tmp_path / "cdk.out")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    template = json.loads((tmp_path / "cdk.out" / "HousingMlops.template.json").read_text())
    assert any(r["Type"] == "AWS::StepFunctions::StateMachine" for r in template["Resources"].values())
    assets = json.loads((tmp_path / "cdk.out" / "HousingMlops.assets.json").read_text())["dockerImages"]
    sources = sorted((a["source"]["dockerFile"], a["source"].get("dockerBuildTarget", "")) for a in assets.values())
    assert sources == [("Dockerfile.lambda", "api"), ("Dockerfile.lambda", "pipeline"), ("Dockerfile.streamlit", "")]
    assert all(a["source"]["platform"] == "linux/amd64" for a in assets.values())


def test_the_cli_s_json_context_is_the_deployment_s_settings(tmp_path):
    """As the README documents it: `-c housing='{...}'` replaces cdk.json's object (the CLI passes a string)."""
    result = _synth(tmp_path / "cdk.out", "-c", 'housing={"trials": 7, "api_auth": "api_key"}')
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    template = json.loads((tmp_path / "cdk.out" / "HousingMlops.template.json").read_text())
    resources = template["Resources"].values()
    assert any(r["Type"] == "AWS::SecretsManager::Secret" for r in resources)  # api_key: the keys' secret
    variables = [r["Properties"].get("Environment", {}).get("Variables", {}) for r in resources
                 if r["Type"] == "AWS::Lambda::Function"]
    trials = {v.get("HOUSING_TRIALS") for v in variables if "HOUSING_STORE" in v}
    assert trials == {"7"}
    broken = _synth(tmp_path / "broken.out", "-c", "housing={trials: 7}")
    assert broken.returncode != 0 and "is not JSON" in broken.stdout + broken.stderr
