"""Helpers for VM system tests: the API as raw v1 calls, the guest's console, and what
each node's libvirt really runs."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable
from typing import Any

import httpx
import libvirt

from pvc.devcluster import demo
from pvc.ops.node import logs
from tests.system.conftest import DevCluster

COUNTER = re.compile(r"^pvc-counter (\d+)$")
BOOTED = re.compile(r"^PVC-GUEST-BOOTED (\S+) (\S+)$")


def api(dc: DevCluster) -> httpx.Client:
    return httpx.Client(base_url=dc.spec.api_url(), headers={"X-Api-Key": dc.spec.api_key},
                        timeout=180)


def define(dc: DevCluster, name: str, node: str, memory: int = 128, start: bool = True) -> str:
    xml = demo.vm_xml(dc.spec, name, memory)
    with api(dc) as c:
        r = c.post("/vm", data={"xml": xml}, params={"node": node})
        assert r.status_code == 200, r.text
        if start:
            r = c.post(f"/vm/{name}/state", params={"state": "start", "wait": "true"})
            assert r.status_code == 200, r.text
    if start:
        wait_booted(dc, name)
    return str(info(dc, name)["uuid"])


def info(dc: DevCluster, name: str) -> dict[str, Any]:
    with api(dc) as c:
        r = c.get(f"/vm/{name}")
        assert r.status_code == 200, r.text
        body = r.json()
    return body[0] if isinstance(body, list) else body


def console(dc: DevCluster, name: str) -> list[str]:
    with api(dc) as c:
        r = c.get(f"/vm/{name}/console", params={"lines": 1000})
        assert r.status_code == 200, r.text
        return str(r.json()["data"]).splitlines()


def counters(lines: list[str]) -> list[int]:
    return [int(m.group(1)) for line in lines if (m := COUNTER.match(line))]


def boots(lines: list[str]) -> list[str]:
    return [m.group(2) for line in lines if (m := BOOTED.match(line))]


def wait_booted(dc: DevCluster, name: str, timeout: float = 60) -> None:
    dc.wait_for(f"{name} to boot", lambda: boots(console(dc, name)) and
                counters(console(dc, name)), timeout=timeout, interval=0.5)


def running_on(dc: DevCluster, uuid: str) -> list[str]:
    """The nodes whose libvirt runs the domain right now (asked directly, not the API)."""
    return [node for node in dc.spec.node_names if domain_state(dc, node, uuid) in (
        libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_PAUSED)]


def domain_state(dc: DevCluster, node: str, uuid: str) -> int | None:
    """The libvirt state of the domain on `node` (None: not there).

    No libvirt object may outlive this call, not even in a traceback: a domain freed
    at interpreter exit closes its connection then, and that waits for ever on a
    libvirtd whose node is gone."""
    conn = libvirt.open(f"qemu+tcp://{dc.spec.node_address(node, 'cluster').ip}/system")
    try:
        try:
            dom = conn.lookupByUUIDString(uuid)
        except libvirt.libvirtError:
            return None
        try:
            state: int = dom.state()[0]
            return state
        except libvirt.libvirtError:
            return None
        finally:
            del dom
    finally:
        conn.close()


def wait_running_on(dc: DevCluster, uuid: str, nodes: list[str], timeout: float = 60) -> None:
    try:
        dc.wait_for(f"{uuid} running on {nodes}", lambda: running_on(dc, uuid) == nodes,
                    timeout=timeout, interval=0.3)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{vm_story(dc, uuid)}") from None


def vm_story(dc: DevCluster, uuid: str) -> str:
    """What the cluster knows of a VM, for a failed test's report: its status, where
    libvirt runs it, and every node's recent log lines that name it."""
    out = []
    with contextlib.suppress(Exception):
        out.append(f"status: {dc.store.read('domain.status', domain=uuid)}")
        out.append(f"running on: {running_on(dc, uuid)}")
    name = uuid
    with contextlib.suppress(Exception):
        found = re.search(r"<name>([^<]+)</name>", dc.store.read("domain.xml", domain=uuid))
        name = found.group(1) if found else uuid
    for node in dc.spec.node_names:
        out += log_lines(dc, node, lambda line: name in line or uuid in line
                         or "eady" in line, 1000)[-25:]
    return "\n".join(out)


def log_lines(dc: DevCluster, node: str, wanted: Callable[[str], bool],
              lines: int) -> list[str]:
    """The node's wanted lines among the last `lines` of its log (from ZooKeeper), each
    marked with the node; none if it cannot be read (for a failed test's report)."""
    try:
        text = logs.node_log(dc.store, node, lines, 2000)
    except Exception:  # the cluster may be what failed: the report goes on without it
        return []
    return [f"  {node}: {line}" for line in text.splitlines() if wanted(line)]


def post(dc: DevCluster, path: str, **params: Any) -> httpx.Response:
    with api(dc) as c:
        return c.post(path, params={k: v for k, v in params.items() if v is not None})


def last_counter(dc: DevCluster, name: str) -> int:
    values = counters(console(dc, name))
    assert values, console(dc, name)
    return values[-1]


def wait_counter_above(dc: DevCluster, name: str, value: int, timeout: float = 30) -> None:
    dc.wait_for(f"{name}'s counter past {value}", lambda: last_counter(dc, name) > value,
                timeout=timeout, interval=0.5)


def settle(seconds: float) -> None:
    time.sleep(seconds)


def aggregated_dns(dc: DevCluster, fqdn: str) -> list[str]:
    """The A records of a name as the DNS aggregator on the upstream floating address
    answers them (as an upstream resolver would ask)."""
    import dns.message
    import dns.query

    answer = dns.query.udp(dns.message.make_query(fqdn, "A"),
                           str(dc.spec.floating_address("upstream")), timeout=2)
    return sorted(rr.to_text() for rrset in answer.answer for rr in rrset)
