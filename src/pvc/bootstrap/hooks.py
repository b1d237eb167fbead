"""The hooks of a cluster's bootstrap.yml, run in order once Ansible has configured it:

- `script`: `args: {script: "..."}` (shell text) or `{path: files/x.sh}` (a file of the
  repository), run as root on each target node;
- `copy`: `args: {source: files/x, destination: /etc/x, mode: "0644"}`, a file of the
  repository copied to each target node;
- `webhook`: `args: {uri: ..., method: POST, body: {...}}`, posted once from the daemon;
- PVC's own objects, made with the `pvc` CLI on a node (as root, over Ansible, so with
  the cluster's own client configuration), waiting for each task to finish:
  - `osddb`: `{disk}`, the OSD database volume group on each target node;
  - `osd`: `{disk, weight, ext_db_ratio, ext_db_size, count}`, OSDs on each target node;
  (PVC's whole surface; this PVC keeps each OSD's database on its device, one OSD per
  device, so `osddb`, `ext_db_*` and a `count` other than 1 are refused by the check)
  - `pool`: `{name, pgs, tier, replcfg}`, once (on the first target);
  - `network`: `{vni, description, type, mtu, domain, dns_servers, ipnet, ipnet6,
    gateway, gateway6, dhcp, dhcp_start, dhcp_end}`, once (on the first target).

Every hook is checked before the first one runs: a hook with an unknown argument or a
value that is not one plain word stops the cluster with nothing run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from pvc.bootstrap import ansible
from pvc.bootstrap.config import Hook
from pvc.common.errors import BackendError, InvalidArgument

RUNNABLE = ("script", "copy", "webhook", "osddb", "osd", "pool", "network")
WORD = re.compile(r"[A-Za-z0-9_.,:=/+@][A-Za-z0-9_.,:=/+@-]{0,199}")
# each PVC object hook: its command, the arguments that are positional (in order, all
# required) and the options ({argument: flag}); per_node: once on every target, with
# the node's name first
PVC_HOOKS: dict[str, tuple[tuple[str, ...], tuple[str, ...], dict[str, str], bool]] = {
    "osddb": (("storage", "osd", "create-db-vg"), ("disk",), {}, True),
    "osd": (("storage", "osd", "add"), ("disk",), {
        "weight": "--weight", "ext_db_ratio": "--ext-db-ratio",
        "ext_db_size": "--ext-db-size", "count": "--osd-count"}, True),
    "pool": (("storage", "pool", "add"), ("name", "pgs"), {
        "tier": "--tier", "replcfg": "--replcfg"}, False),
    "network": (("network", "add"), ("vni",), {
        "description": "--description", "type": "--type", "mtu": "--mtu",
        "domain": "--domain", "dns_servers": "--dns-server", "ipnet": "--ipnet",
        "ipnet6": "--ipnet6", "gateway": "--gateway", "gateway6": "--gateway6",
        "dhcp": "--dhcp", "dhcp_start": "--dhcp-start", "dhcp_end": "--dhcp-end"}, False),
}
CONFIRMED = {"osddb": ("--yes", "--wait"), "osd": ("--yes", "--wait")}
# seconds the CLI waits for each answer of the API: a cluster just bootstrapped may still
# be busy starting (on the chain's emulated servers, a task's submission took over 30 s)
API_TIMEOUT = 300


# what this PVC's storage does not do (its API refuses them): refused before any hook
# runs rather than by the API halfway through the hooks
NO_EXTERNAL_DB = ("external OSD database devices are not supported: each OSD keeps its "
                  "database on its own device")


def unsupported(hook: Hook) -> str | None:
    if hook.type == "osddb" or (hook.type == "osd" and any(
            hook.args.get(key) not in (None, "") for key in ("ext_db_ratio", "ext_db_size"))):
        return NO_EXTERNAL_DB
    if hook.type == "osd" and hook.args.get("count") not in (None, "", 1, "1"):
        return f"split OSDs (count {hook.args['count']}) are not supported: one OSD per device"
    return None


def check(hooks: tuple[Hook, ...]) -> None:
    for hook in hooks:
        if hook.type not in RUNNABLE:
            raise InvalidArgument(f"hook {hook.name!r}: type {hook.type} is not run by this "
                                  f"pvcbootstrapd (it runs {', '.join(RUNNABLE)})")
        if hook.type in PVC_HOOKS:
            pvc_argv(hook, "hv1")
            why = unsupported(hook)
            if why is not None:
                raise InvalidArgument(f"hook {hook.name!r} ({hook.type}): {why}")


def _word(hook: Hook, key: str, value: Any) -> str:
    text = str(value).lower() if isinstance(value, bool) else str(value)
    if isinstance(value, (dict, list)) or not WORD.fullmatch(text):
        raise InvalidArgument(f"hook {hook.name!r}: {key} {text[:60]!r} is not one word of "
                              "letters, digits and _ . , : = / + @ -")
    return text


def pvc_argv(hook: Hook, node: str) -> list[str]:
    """The `pvc` command line of a PVC object hook (on `node`, for those per node)."""
    command, positional, options, per_node = PVC_HOOKS[hook.type]
    where = f"hook {hook.name!r}"
    unknown = sorted(set(hook.args) - set(positional) - set(options))
    if unknown:
        raise InvalidArgument(f"{where}: unknown argument {unknown[0]!r} (a {hook.type} hook "
                              f"takes {', '.join((*positional, *options))})")
    missing = [key for key in positional if hook.args.get(key) in (None, "")]
    if missing:
        raise InvalidArgument(f"{where}: argument {missing[0]!r} is needed")
    argv = ["pvc", "--timeout", str(API_TIMEOUT), *command, *([node] if per_node else [])]
    argv += [_word(hook, key, hook.args[key]) for key in positional]
    for key, flag in options.items():
        value = hook.args.get(key)
        if value is None:
            continue
        if key == "dhcp":
            if not isinstance(value, bool):
                raise InvalidArgument(f"{where}: dhcp is true or false")
            argv.append("--dhcp" if value else "--no-dhcp")
            continue
        for item in value if isinstance(value, list) and key == "dns_servers" else [value]:
            argv += [flag, _word(hook, key, item)]
    return argv + list(CONFIRMED.get(hook.type, ()))


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
        hosts = targets(hook)
        pattern = ":".join(hosts)
        what = f"hook {hook.name!r}"
        if hook.type in PVC_HOOKS:
            per_node = PVC_HOOKS[hook.type][3]
            for host in hosts if per_node else hosts[:1]:
                argv = pvc_argv(hook, host.split(".", 1)[0])
                progress(f"hook {hook.name!r}: {' '.join(argv)} on {host}")
                ansible.adhoc(repo, host, "ansible.builtin.command",
                              json.dumps({"argv": argv}), inventory, key, log, what)
        elif hook.type == "script":
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
