"""The images that `docker/build-local.sh` builds, started with buildah the way AWS starts them.

`podman run` cannot start containers on these machines (crun cannot set RLIMIT_NPROC), so a process is
started in a buildah working container with chroot isolation: the host's network (loopback reaches the
tests' servers), the image's environment and working directory, plus what the tests add. Lambda functions
get the image's ENTRYPOINT with the function's CMD, an unprivileged user and a read-only task root, as on
Lambda; ECS tasks get the task definition's entry point, command and environment.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.lambda_runtime import RuntimeAPI
from tests.support.tools import missing

ROOT = Path(__file__).resolve().parents[2]
IMAGES = {"api": "localhost/housing-api:local", "pipeline": "localhost/housing-pipeline:local",
          "dashboard": "localhost/housing-dashboard:local"}
TOOLS = ("podman", "buildah", "debootstrap")
LAMBDA_USER = "993:990"  # Lambda runs functions as an unprivileged user (sbx_user1051)
REGION = "us-east-1"


def build_images() -> None:
    """docker/build-local.sh: the stand-in bases once per machine, then the three images (layer-cached).
    Skips where podman, buildah or debootstrap is missing (fails instead under HOUSING_REQUIRE_CONTAINERS=1)."""
    if reason := missing(TOOLS, "apt-get install podman buildah debootstrap", "HOUSING_REQUIRE_CONTAINERS"):
        pytest.skip(reason)
    result = subprocess.run(["bash", str(ROOT / "docker" / "build-local.sh")], capture_output=True, text=True)
    assert result.returncode == 0, f"docker/build-local.sh failed:\n{result.stderr[-5000:]}"


@dataclass(frozen=True)
class ImageConfig:
    entrypoint: list[str]
    cmd: list[str]
    env: dict[str, str]
    size_bytes: int

    @classmethod
    def of(cls, image: str) -> ImageConfig:
        [info] = json.loads(subprocess.run(["podman", "image", "inspect", image], capture_output=True, text=True,
                                           check=True).stdout)
        config = info.get("Config") or {}
        env = dict(item.split("=", 1) for item in config.get("Env") or [])
        return cls(config.get("Entrypoint") or [], config.get("Cmd") or [], env, int(info["Size"]))


class Container:
    """A buildah working container of `image`; each `start` is one process in it."""

    def __init__(self, image: str):
        self.image, self.config = image, ImageConfig.of(image)
        self.name = f"housing-test-{uuid.uuid4().hex[:10]}"
        subprocess.run(["buildah", "from", "--pull-never", "--quiet", "--name", self.name, image],
                       check=True, capture_output=True)
        self.root = Path(subprocess.run(["buildah", "mount", self.name], check=True, capture_output=True,
                                        text=True).stdout.strip())

    def start(self, argv: list[str], env: dict[str, str], *, user: str | None = None, read_only: tuple[str, ...] = (),
              log: Path | None = None, cpus: int | None = None) -> subprocess.Popen:
        """Start `argv` in the container with `env` added to the image's own environment; `read_only`
        folders are mounted read-only over themselves; `cpus` pins it to that many CPUs (taskset: a Lambda
        of 1769 MB has one vCPU). Output goes to `log` (a temporary file by default)."""
        command = ["buildah", "run", "--isolation", "chroot"]
        if cpus:
            command = ["taskset", "--cpu-list", f"0-{cpus - 1}", *command]
        if user:
            command += ["--user", user]
        for folder in read_only:
            command += ["--mount", f"type=bind,src={self.root}/{folder.lstrip('/')},dst={folder},ro=true"]
        for name, value in env.items():
            command += ["--env", f"{name}={value}"]
        log = log or Path(tempfile.mkstemp(prefix=f"{self.name}-", suffix=".log")[1])
        with log.open("ab") as output:  # the child keeps its own copy
            process = subprocess.Popen([*command, self.name, "--", *argv], stdout=output, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
        process.log = log  # type: ignore[attr-defined]
        return process

    def run(self, argv: list[str], env: dict[str, str], timeout_s: float = 600, **kwargs) -> tuple[int, str]:
        """Run `argv` to its end: (exit code, output)."""
        process = self.start(argv, env, **kwargs)
        try:
            code = process.wait(timeout=timeout_s)
        finally:
            stop(process)
        return code, output_of(process)

    def remove(self) -> None:
        subprocess.run(["buildah", "rm", self.name], capture_output=True)


def stop(process: subprocess.Popen) -> None:
    """End a started process and everything it started (buildah and the program inside)."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def output_of(process: subprocess.Popen, tail: int = 6000) -> str:
    return Path(process.log).read_text(errors="replace")[-tail:]  # type: ignore[attr-defined]


@contextlib.contextmanager
def container(image: str) -> Iterator[Container]:
    box = Container(image)
    try:
        yield box
    finally:
        box.remove()


@contextlib.contextmanager
def moto_s3_server() -> Iterator[dict[str, str]]:
    """moto's server on loopback (sharing this process's moto state): the AWS variables a container needs to
    reach it, the endpoint in AWS_ENDPOINT_URL as boto3 reads it."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield {"AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": "testing",
               "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION}
    finally:
        server.stop()


def lambda_environment(function_name: str, memory_mb: int = 1024) -> dict[str, str]:
    """What Lambda itself sets in every function's environment (besides the function's own variables and
    the image's)."""
    return {"AWS_LAMBDA_FUNCTION_NAME": function_name, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function_name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": "2026/11/26/[$LATEST]0123456789abcdef", "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION, "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}


class LambdaFunction:
    """One function as Lambda runs it: the image's ENTRYPOINT with the function's CMD (the handler), the
    function's environment, an unprivileged user, a read-only task root; started on the first invocation and
    kept warm for the next ones, as an execution environment is."""

    def __init__(self, box: Container, handler: str, env: dict[str, str], name: str = "housing-test",
                 cpus: int | None = None):
        self.box, self.handler, self.name, self.cpus = box, handler, name, cpus
        self.env = {**lambda_environment(name), **env}
        self.runtime = RuntimeAPI(function_arn=f"arn:aws:lambda:{REGION}:123456789012:function:{name}")
        self.process: subprocess.Popen | None = None
        self.started_at = 0.0

    def start(self) -> None:
        task_root = self.box.config.env.get("LAMBDA_TASK_ROOT", "/var/task")
        self.started_at = time.perf_counter()
        self.process = self.box.start([*self.box.config.entrypoint, self.handler],
                                      {**self.env, "AWS_LAMBDA_RUNTIME_API": self.runtime.address},
                                      user=LAMBDA_USER, read_only=(task_root,), cpus=self.cpus)

    def invoke(self, event: object, timeout_s: float = 600) -> object:
        if self.process is None or self.process.poll() is not None:
            self.start()
        return self.runtime.invoke(event, process=self.process, timeout_s=timeout_s)

    def output(self) -> str:
        return output_of(self.process) if self.process else ""

    def close(self) -> None:
        if self.process is not None:
            stop(self.process)
        self.runtime.close()
