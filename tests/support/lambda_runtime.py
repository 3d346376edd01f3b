"""A small server of the Lambda Runtime API, for starting our images as Lambda starts them.

No Lambda runtime emulator can be downloaded here (AWS publishes aws-lambda-rie on GitHub only), so the
tests serve the four calls a runtime makes themselves: next invocation, invocation response, invocation
error and init error (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html). The runtime
interface client inside the image (awslambdaric, started by the image's entry point with its CMD) polls this
server exactly as it polls Lambda's.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/2018-06-01/runtime"


@dataclass
class Outcome:
    """How one invocation ended: `payload` on success, else `error` ({"errorType", "errorMessage", ...})."""

    payload: object = None
    error: dict | None = None
    init_error: bool = False


class FunctionError(Exception):
    def __init__(self, error: dict, init: bool = False):
        self.error, self.init = error, init
        kind = "init error" if init else "function error"
        super().__init__(f"{kind} {error.get('errorType')}: {error.get('errorMessage')}")


class RuntimeAPI:
    """One function's Runtime API on 127.0.0.1 (a random port): `address` goes into the container as
    AWS_LAMBDA_RUNTIME_API; `invoke` hands the runtime an event and waits for its answer."""

    def __init__(self, function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test",
                 timeout_s: float = 300):
        self.function_arn, self.timeout_s = function_arn, timeout_s
        self._events: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self._outcomes: dict[str, queue.Queue[Outcome]] = {}
        self._init_errors: queue.Queue[Outcome] = queue.Queue()
        self.first_poll_at: float | None = None  # perf_counter() of the first "next invocation": init is over
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def invoke(self, event: object, process=None, timeout_s: float | None = None) -> object:
        """The handler's answer to `event`; FunctionError if it raised (or the runtime failed to start).
        `process` (the container's) is watched so that a runtime that dies is reported at once."""
        request_id = str(uuid.uuid4())
        answers = self._outcomes[request_id] = queue.Queue()
        self._events.put((request_id, json.dumps(event).encode()))
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        while True:
            for source in (answers, self._init_errors):
                try:
                    outcome = source.get(timeout=0.05)
                except queue.Empty:
                    continue
                if outcome.error is not None:
                    raise FunctionError(outcome.error, init=outcome.init_error)
                return outcome.payload
            if process is not None and process.poll() is not None:
                raise FunctionError({"errorType": "Runtime.ExitError",
                                     "errorMessage": f"the runtime exited with code {process.returncode}"}, init=True)
            if time.monotonic() > deadline:
                raise TimeoutError(f"no answer to invocation {request_id} within {timeout_s or self.timeout_s} s")

    def _handler_class(self):
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet: the test reports what matters
                pass

            def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_GET(self):
                if self.path != f"{PREFIX}/invocation/next":
                    return self._reply(404, b'{"errorMessage": "unknown path"}')
                if api.first_poll_at is None:
                    api.first_poll_at = time.perf_counter()
                request_id, event = api._events.get()  # long poll, as Lambda does
                deadline_ms = int((time.time() + api.timeout_s) * 1000)
                self._reply(200, event, {"Lambda-Runtime-Aws-Request-Id": request_id,
                                         "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
                                         "Lambda-Runtime-Invoked-Function-Arn": api.function_arn,
                                         "Lambda-Runtime-Trace-Id": f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]}"})

            def do_POST(self):
                body = self._body()
                parts = self.path.removeprefix(PREFIX).strip("/").split("/")
                if parts == ["init", "error"]:
                    api._init_errors.put(Outcome(error=_error(body), init_error=True))
                elif len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
                    answers = api._outcomes.get(parts[1])
                    if answers is None:
                        return self._reply(400, b'{"errorMessage": "unknown request id"}')
                    answers.put(Outcome(payload=json.loads(body) if body else None) if parts[2] == "response"
                                else Outcome(error=_error(body)))
                else:
                    return self._reply(404, b'{"errorMessage": "unknown path"}')
                self._reply(202, b'{"status": "OK"}')

        return Handler


def _error(body: bytes) -> dict:
    try:
        return json.loads(body)
    except ValueError:
        return {"errorType": "Runtime.Unknown", "errorMessage": body.decode(errors="replace")}
