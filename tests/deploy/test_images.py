"""The Dockerfiles, checked without building them: hadolint-clean, every file they copy is in the build
context, bases pinned, every handler or command they or the CDK app name exists and imports, and each
image's exact requirement set installs from binary wheels for the images' platform. (The images are built
and started in tests/deploy/test_images_run.py and tests/deploy/test_state_machine.py.)"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.markers import Marker

from stepfunctions.graph import TRAINING_PIPELINE

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = ["Dockerfile.lambda", "Dockerfile.streamlit"]
HADOLINT = Path(sys.executable).parent / "hadolint"


def instructions(name: str) -> list[tuple[str, str]]:
    text = (ROOT / name).read_text().replace("\\\n", " ")
    return [(m[1].upper(), m[2].strip()) for m in re.finditer(r"^\s*([A-Za-z]+)\s+(.*)$", text, re.M)
            if not m[0].lstrip().startswith("#")]


def arg_defaults(name: str) -> dict[str, str]:
    return dict(args.split("=", 1) for kind, args in instructions(name) if kind == "ARG" and "=" in args)


def resolve_handler(dotted: str):
    module, _, attr = dotted.rpartition(".")
    return getattr(importlib.import_module(module), attr)


@pytest.mark.parametrize("name", [*DOCKERFILES, "docker/standin/lambda-python.Containerfile",
                                  "docker/standin/python.Containerfile"])
def test_hadolint_is_clean(name):
    result = subprocess.run([str(HADOLINT), "--no-color", str(ROOT / name)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", DOCKERFILES)
def test_copied_sources_exist_and_pass_dockerignore(name):
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    for kind, args in instructions(name):
        if kind != "COPY" or args.startswith("--from"):
            continue
        for source in args.split()[:-1]:
            assert (ROOT / source).exists(), f"{name}: COPY {source} does not exist"
            assert source.rstrip("/").split("/")[0] in allowed, f"{name}: {source} is excluded by .dockerignore"


@pytest.mark.parametrize("name", DOCKERFILES)
def test_base_images_are_pinned(name):
    """Every base is pinned; build arguments stand for bases (docker/build-local.sh substitutes stand-ins),
    so their defaults, which `cdk deploy` builds on, are what must be pinned."""
    stages, defaults = set(), arg_defaults(name)
    for kind, args in instructions(name):
        if kind == "FROM":
            image, *rest = args.split()
            image = re.sub(r"\$\{(\w+)\}", lambda m: defaults[m[1]], image)
            if image not in stages:  # a FROM naming an earlier stage is not a base image
                assert ":" in image and not image.endswith(":latest"), f"{name}: {image} is not pinned"
            if len(rest) == 2 and rest[0].upper() == "AS":
                stages.add(rest[1])


@pytest.mark.slow  # imports the CDK (its jsii runtime takes seconds) and every handler module
def test_lambda_image_commands_import():
    default_cmds = [json.loads(args) for kind, args in instructions("Dockerfile.lambda") if kind == "CMD"]
    from infra_cdk.images import API_HANDLER  # the CDK's import takes seconds: only where it is used

    names = {cmd[0] for cmd in default_cmds} | {API_HANDLER, "lambdas.triggers.start_training", "lambdas.score.handler"}
    names |= {s.handler.replace(":", ".") for s in TRAINING_PIPELINE.stages}
    for name in sorted(names):
        assert callable(resolve_handler(name)), name


def test_task_entrypoint_and_dashboard_command_exist():
    assert importlib.util.find_spec("lambdas.task") is not None  # every Fargate stage's program
    assert "__main__" in (ROOT / "lambdas" / "task.py").read_text()
    [cmd] = [json.loads(args) for kind, args in instructions("Dockerfile.streamlit") if kind == "CMD"]
    assert cmd[:4] == ["python3", "-m", "streamlit", "run"] and (ROOT / cmd[4]).exists()


def test_api_image_leaves_out_the_training_stack():
    """The API target installs the lock file's runtime + `api` group only: no scikit-learn, MLflow, Optuna."""
    exported = subprocess.run(["uv", "export", "--frozen", "--no-emit-project", "--no-default-groups", "--group", "api",
                               "--no-hashes"], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    # What the image installs: requirement lines whose markers hold on Lambda (Linux x86_64, Python 3.13).
    lambda_env = {"sys_platform": "linux", "platform_machine": "x86_64", "python_full_version": "3.13.5",
                  "python_version": "3.13", "platform_system": "Linux", "os_name": "posix",
                  "implementation_name": "cpython"}
    packages = set()
    for line in exported.splitlines():
        if "==" in line and not line.lstrip().startswith("#"):
            requirement, _, marker = line.partition(";")
            if not marker.strip() or Marker(marker.strip()).evaluate(lambda_env):
                packages.add(requirement.split("==")[0].strip().lower())
    assert {"fastapi", "mangum", "xgboost-cpu", "pandas"} <= packages
    assert not packages & {"scikit-learn", "mlflow", "mlflow-skinny", "optuna", "nvidia-nccl-cu12"}


def test_pipeline_image_can_track_to_a_sagemaker_mlflow_server():
    """With `create_mlflow_server` the tracking URI is the server's ARN: MLflow needs the plugin for it."""
    from importlib.metadata import entry_points

    exported = subprocess.run(["uv", "export", "--frozen", "--no-emit-project", "--no-default-groups", "--group",
                               "pipeline", "--no-hashes"], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert "sagemaker-mlflow==" in exported
    assert "arn" in {e.name for e in entry_points(group="mlflow.tracking_store")}
    assert "sagemaker" in (ROOT / "docker" / "slim-site-packages.py").read_text()  # its botocore model is kept


def test_the_images_keep_the_botocore_model_of_every_service_the_code_calls():
    """The slimming drops botocore's models of services the code never calls: a client of a dropped one is
    UnknownServiceError in the image only (the rollout check's `lambda` and `codedeploy` once were)."""
    import runpy

    kept = runpy.run_path(str(ROOT / "docker" / "slim-site-packages.py"), run_name="slim")["BOTOCORE_KEPT"]
    called = {m for folder in ("shared", "lambdas", "dashboard", "stepfunctions")
              for path in (ROOT / folder).rglob("*.py")
              for m in re.findall(r"boto3\.client\(\s*[\"'](\w+)[\"']", path.read_text())}
    assert {"s3", "lambda", "codedeploy", "secretsmanager", "stepfunctions"} <= called
    assert called <= kept, sorted(called - kept)


IMAGE_GROUPS = {"api": ["--api"], "pipeline": [], "dashboard": []}


def test_each_image_installs_its_group_with_the_shared_script():
    """The Dockerfiles install packages only through docker/install-packages.sh, one group per image."""
    text = (ROOT / "Dockerfile.lambda").read_text() + (ROOT / "Dockerfile.streamlit").read_text()
    calls = re.findall(r"install-packages\.sh /tmp/build (\w+) \S+ ?(--api)?", text)
    assert sorted((group, flag) for group, flag in calls) == [("api", "--api"), ("dashboard", ""), ("pipeline", "")]
    assert "pip install" not in text.replace("uv pip install", "")  # no other installer


def test_one_version_of_each_package_for_every_python():
    """Development (3.11) and the images (3.13) must run the same numpy, SciPy and XGBoost: the lock may not
    fork on the Python version for anything an image installs."""
    groups = [arg for group in IMAGE_GROUPS for arg in ("--group", group)]
    exported = subprocess.run(["uv", "export", "--frozen", "--no-emit-project", "--no-default-groups", *groups,
                               "--no-hashes"], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    forks = [line for line in exported.splitlines() if "python_full_version" in line or "python_version" in line]
    assert not forks, forks


@pytest.mark.slow
@pytest.mark.parametrize("group", IMAGE_GROUPS)
def test_image_packages_install_from_binary_wheels_for_the_base(group, tmp_path):
    """docker/install-packages.sh, as the Dockerfile runs it, on this machine: the lock file's export for the
    image, binary wheels only, for x86_64 manylinux_2_34 (Amazon Linux 2023's glibc) and Python 3.13. A
    package that would have to be built from source fails it."""
    uv = os.environ.get("UV") or shutil.which("uv")
    env = {**os.environ, "PATH": f"{Path(uv).parent}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    site = tmp_path / "site"
    result = subprocess.run(["sh", str(ROOT / "docker" / "install-packages.sh"), str(ROOT), group, str(site),
                             *IMAGE_GROUPS[group]], capture_output=True, text=True, env=env, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    extensions = {p.name for p in site.glob("numpy/_core/_multiarray_umath*.so")}
    assert extensions == {"_multiarray_umath.cpython-313-x86_64-linux-gnu.so"}, extensions
    assert list(site.glob("xgboost/lib/libxgboost.so")) and not list(site.glob("**/tests/__init__.py"))
