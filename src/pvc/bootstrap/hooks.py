"""The hooks of a cluster's bootstrap.yml, run in order once Ansible has configured it:

- `script`: `args: {script: "..."}` (shell text) or `{path: files/x.sh}` (a file of the
  repository), run as root on each target node;
- `copy`: `args: {source: files/x, destination: /etc/x, mode: "0644"}`, a file of the
  repository copied to each target node;
- `webhook`: `args: {uri: ..., method: POST, body: {...}}`, posted once from the daemon.

`osd`, `osddb`, `pool` and `network` (PVC's own objects, made through the cluster's API)
are not run yet: a cluster that has them stops with that said, before any hook runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from pvc.bootstrap import ansible
from pvc.bootstrap.config import Hook
from pvc.common.errors import BackendError, InvalidArgument

RUNNABLE = ("script", "copy", "webhook")


def check(hooks: tuple[Hook, ...]) -> None:
    for hook in hooks:
        if hook.type not in RUNNABLE:
            raise InvalidArgument(f"hook {hook.name!r}: type {hook.type} is not run by this "
                                  f"pvcbootstrapd yet (it runs {', '.join(RUNNABLE)})")


def _repo_file(repo: Path, hook: Hook, key: str) -> Path:
    given = str(hook.args.get(key) or "")
    path = (repo / given).resolve()
    if not given or not path.is_relative_to(repo.resolve()) or not path.is_file():
        raise InvalidArgument(f"hook {hook.name!r}: {key} {given!r} is not a file of the "
                              "repository")
    return path


def run(hooks: tuple[Hook, ...], repo: Path, targets: Callable[[Hook], list[str]],
        inventory: Path, key: Path | None, log: Path,
        progress: Callable[[str], None]) -> None:
    """Run every hook in order; `targets(hook)` are the fully qualified names it runs on."""
    check(hooks)
    for hook in hooks:
        progress(f"hook {hook.name!r} ({hook.type})")
        if hook.type == "webhook":
            _webhook(hook)
            continue
        pattern = ":".join(targets(hook))
        what = f"hook {hook.name!r}"
        if hook.type == "script":
            if hook.args.get("path"):
                ansible.adhoc(repo, pattern, "ansible.builtin.script",
                              str(_repo_file(repo, hook, "path")), inventory, key, log, what)
            else:
                text = str(hook.args.get("script") or "")
                if not text.strip():
                    raise InvalidArgument(f"{what}: args has neither script nor path")
                ansible.adhoc(repo, pattern, "ansible.builtin.shell", text, inventory, key,
                              log, what)
        else:  # copy
            destination = str(hook.args.get("destination") or "")
            if not destination.startswith("/"):
                raise InvalidArgument(f"{what}: destination {destination!r} is not an "
                                      "absolute path")
            mode = str(hook.args.get("mode") or "0644")
            ansible.adhoc(repo, pattern, "ansible.builtin.copy", json.dumps({
                "src": str(_repo_file(repo, hook, "source")), "dest": destination,
                "mode": mode}), inventory, key, log, what)


def _webhook(hook: Hook) -> None:
    uri = str(hook.args.get("uri") or "")
    if not uri.startswith(("http://", "https://")):
        raise InvalidArgument(f"hook {hook.name!r}: uri {uri!r} is not an http(s) URL")
    body: Any = hook.args.get("body") or {"text": f"hook {hook.name}"}
    try:
        httpx.request(str(hook.args.get("method") or "POST"), uri, json=body,
                      timeout=30).raise_for_status()
    except httpx.HTTPError as exc:
        raise BackendError(f"hook {hook.name!r}: {exc}") from exc
