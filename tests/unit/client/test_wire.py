"""ApiClient against a real HTTP server on 127.0.0.1: the bytes PVC's API receives."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from pvc.client import ApiClient, Connection
from pvc.common.errors import NotFound, Unavailable


class Recorder(BaseHTTPRequestHandler):
    seen: list[dict[str, Any]] = []

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        url = urlsplit(self.path)
        self.seen.append(
            {
                "method": self.command,
                "path": url.path,
                "query": parse_qsl(url.query, keep_blank_values=True),
                "key": self.headers.get("X-Api-Key"),
                "ctype": self.headers.get("Content-Type"),
                "body": body,
            }
        )
        if url.path.endswith("/node/ghost"):
            status, answer = 404, {"message": "Node ghost not found."}
        elif url.path.endswith("/status") and self.command == "GET":
            status, answer = 200, {"primary_node": "hv1"}
        else:
            status, answer = 200, {"message": "done"}
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _handle

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[int, list[dict[str, Any]]]]:
    Recorder.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1], Recorder.seen
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_requests_on_the_wire(server: tuple[int, list[dict[str, Any]]]) -> None:
    port, seen = server
    with ApiClient(Connection("t", "127.0.0.1", port, api_key="K1")) as api:
        assert api.status() == {"primary_node": "hv1"}
        assert api.restore('{"a": 1}') == "done"
        assert api.node_domain_state("hv2", "flush", wait=True) == "done"
        with pytest.raises(NotFound, match="Node ghost not found"):
            api.node_info("ghost")
    assert seen[0] == {
        "method": "GET",
        "path": "/api/v1/status",
        "query": [],
        "key": "K1",
        "ctype": None,
        "body": "",
    }
    assert seen[1]["method"] == "POST"
    assert seen[1]["path"] == "/api/v1/restore"
    assert seen[1]["query"] == [("yes-i-really-mean-it", "yes")]
    assert seen[1]["ctype"] == "application/x-www-form-urlencoded"
    assert parse_qsl(seen[1]["body"]) == [("cluster_data", '{"a": 1}')]
    assert seen[2]["query"] == [("state", "flush"), ("wait", "True")]
    assert len(seen) == 4  # the 404 GET is not retried


def test_unreachable_api_is_unavailable() -> None:
    with socket.socket() as sock:  # find a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    api = ApiClient(Connection("t", "127.0.0.1", port), connect_window=0.0)
    with pytest.raises(Unavailable, match=f"Cannot connect to the API at http://127.0.0.1:{port}"):
        api.status()
