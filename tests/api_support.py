"""Helpers shared by the API tests: raw request records, a strict JSON reader, a live uvicorn server."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pandas as pd
import uvicorn

from shared import schema


def records_from(rows: pd.DataFrame) -> list[dict[str, Any]]:
    """HouseTS rows as an API caller would send them: no target, dates as text, missing values left out."""
    frame = rows.drop(columns=[schema.TARGET]).assign(date=rows[schema.DATE].astype("str"))
    return [{k: v for k, v in record.items() if not pd.isna(v)} for record in frame.to_dict(orient="records")]


def strict_json(text: str) -> Any:
    """Parse JSON refusing NaN / Infinity, which Python's json module would otherwise accept."""
    def refuse(constant: str):
        raise ValueError(f"{constant} in JSON")
    return json.loads(text, parse_constant=refuse)


@contextlib.contextmanager
def serving(app, port: int = 0) -> Iterator[str]:
    """Run an ASGI app with uvicorn on loopback in a thread; yield its base URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
