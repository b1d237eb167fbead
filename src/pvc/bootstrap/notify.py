"""Webhooks: every stage and every failure of a bootstrap, posted as JSON in the order
they happened (Slack and Mattermost take the default body: `text` is what they show).

The body is a template: each string in it may name `{icon}`, `{message}`, `{cluster}`,
`{node}`, `{stage}` and `{status}`, which are put in as plain text (nothing else of the
template is interpreted). A sender thread posts them one after another, trying each a few
times, so a slow or absent receiver never holds the daemon up; what cannot be delivered
is logged.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
from dataclasses import dataclass, field
from typing import Any

import httpx

from pvc.bootstrap import stages

log = logging.getLogger(__name__)

DEFAULT_ICONS = {
    stages.INFO: "\N{INFORMATION SOURCE}", stages.BEGIN: "🤞", stages.SUCCESS: "✅", stages.FAILURE: "❌",
    stages.COMPLETED: "👌",
}
DEFAULT_BODY: dict[str, Any] = {
    "text": "{icon} {message}", "cluster": "{cluster}", "node": "{node}", "stage": "{stage}",
    "status": "{status}",
}
FIELD = re.compile(r"\{(icon|message|cluster|node|stage|status)\}")
ATTEMPTS = 3
TIMEOUT = 5.0


@dataclass(frozen=True)
class WebhookSettings:
    uri: str = ""  # "" = no webhook
    method: str = "POST"
    body: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_BODY))
    icons: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_ICONS))
    completed_triggerword: str = "completed"  # said in the message when a cluster is done


def render(template: Any, values: dict[str, str]) -> Any:
    """The body with the values put into its strings."""
    if isinstance(template, str):
        return FIELD.sub(lambda m: values[m.group(1)], template)
    if isinstance(template, dict):
        return {k: render(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [render(v, values) for v in template]
    return template


class Notifier:
    def __init__(self, settings: WebhookSettings) -> None:
        self.settings = settings
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.settings.uri and self._thread is None:
            self._thread = threading.Thread(target=self._send_all, name="webhooks",
                                            daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Deliver what is queued (for at most `timeout` s), then stop."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
            self._thread = None

    def body(self, cluster: str, node: str, stage: str, status: str, message: str
             ) -> dict[str, Any]:
        values = {"icon": self.settings.icons.get(status, ""), "message": message,
                  "cluster": cluster, "node": node, "stage": stage, "status": status}
        rendered = render(self.settings.body, values)
        return rendered if isinstance(rendered, dict) else {"text": str(rendered)}

    def send(self, cluster: str, node: str, stage: str, status: str, message: str) -> None:
        log.info("[%s%s] %s: %s", cluster, f"/{node}" if node else "", stage, message)
        if self.settings.uri:
            self._queue.put(self.body(cluster, node, stage, status, message))

    def _send_all(self) -> None:
        with httpx.Client(timeout=TIMEOUT) as client:
            while (body := self._queue.get()) is not None:
                for attempt in range(1, ATTEMPTS + 1):
                    try:
                        client.request(self.settings.method, self.settings.uri,
                                       json=body).raise_for_status()
                        break
                    except httpx.HTTPError as exc:
                        if attempt == ATTEMPTS:
                            log.warning("Webhook to %s failed %d times, the last: %s",
                                        self.settings.uri, ATTEMPTS, exc)
