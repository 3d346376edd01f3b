"""The two AWS calls CodeDeploy's pre-traffic hook makes that moto does not serve: Lambda's Invoke (moto runs
functions in Docker, which these machines lack) and CodeDeploy's PutLifecycleEventHookExecutionStatus (not
in moto). A server on loopback answers both as the services' REST-JSON and JSON 1.1 protocols do, so the hook
runs unmodified inside its image with AWS_ENDPOINT_URL_LAMBDA / AWS_ENDPOINT_URL_CODEDEPLOY pointed here.
Invocations are handed to the functions given (the API image, started as Lambda starts it)."""

from __future__ import annotations

import contextlib
import json
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.support.lambda_runtime import FunctionError

INVOKE_PATH = "/2015-03-31/functions/"
HOOK_STATUS_TARGET = "CodeDeploy_20141006.PutLifecycleEventHookExecutionStatus"


class ControlPlane:
    def __init__(self, functions: dict[str, Callable[[object], object]]):
        self.functions = functions  # function name or ARN -> invoke(event) -> response
        self.hook_statuses: list[dict] = []  # each PutLifecycleEventHookExecutionStatus request's body
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def _handler(self):
        plane = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"null")
                if self.headers.get("X-Amz-Target") == HOOK_STATUS_TARGET:
                    plane.hook_statuses.append(body)
                    return self._send(200, {"lifecycleEventHookExecutionId": body["lifecycleEventHookExecutionId"]})
                if self.path.startswith(INVOKE_PATH) and self.path.endswith("/invocations"):
                    name = urllib.parse.unquote(self.path[len(INVOKE_PATH):-len("/invocations")])
                    if name not in plane.functions:
                        return self._send(404, {"Type": "User", "message": f"Function not found: {name}"},
                                          {"x-amzn-ErrorType": "ResourceNotFoundException"})
                    try:
                        return self._send(200, plane.functions[name](body))
                    except FunctionError as err:
                        return self._send(200, err.error, {"X-Amz-Function-Error": "Unhandled"})
                self._send(400, {"message": f"not served here: {self.path} {self.headers.get('X-Amz-Target')}"})

        return Handler


@contextlib.contextmanager
def control_plane(functions: dict[str, Callable[[object], object]]) -> Iterator[ControlPlane]:
    plane = ControlPlane(functions)
    thread = threading.Thread(target=plane.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield plane
    finally:
        plane.server.shutdown()
        plane.server.server_close()
