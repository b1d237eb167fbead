"""Webhooks: the body template, and delivery in order to a real HTTP receiver on
loopback (one that fails a request first: it is tried again)."""

from __future__ import annotations

import http.server
import json
import threading
from typing import Any

from pvc.bootstrap import notify, stages


def test_only_the_named_fields_are_put_into_the_template() -> None:
    body = notify.render({"text": "{icon} {message} {0} {message.__class__}",
                          "list": ["{node}", 3]},
                         {"icon": "I", "message": "m {node}", "cluster": "c", "node": "n",
                          "stage": "s", "status": "t"})
    assert body == {"text": "I m {node} {0} {message.__class__}", "list": ["n", 3]}


def test_every_report_arrives_in_order_even_after_a_failed_post() -> None:
    got: list[dict[str, Any]] = []
    failures = [500]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            code = failures.pop() if failures else 200
            if code == 200:
                got.append(body)
            self.send_response(code)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        sender = notify.Notifier(notify.WebhookSettings(
            uri=f"http://127.0.0.1:{server.server_address[1]}/hook"))
        sender.start()
        for i, stage in enumerate(("pxe-booting", "installing", "installed")):
            sender.send("c1", "hv1", stage, stages.BEGIN, f"step {i}")
        sender.stop()
    finally:
        server.shutdown()
    assert [(b["stage"], b["text"]) for b in got] == [
        ("pxe-booting", f"{notify.DEFAULT_ICONS['begin']} step 0"),
        ("installing", f"{notify.DEFAULT_ICONS['begin']} step 1"),
        ("installed", f"{notify.DEFAULT_ICONS['begin']} step 2")]
    assert all(b["cluster"] == "c1" and b["node"] == "hv1" for b in got)
