"""Helpers shared by the VM API tests (this module holds no tests itself): domain XML, a
cluster with VMs, and a stand-in node daemon that reports outcomes from a thread."""

from __future__ import annotations

import threading
import time
import uuid as uuidlib
from typing import Any

from fastapi.testclient import TestClient

from pvc.common import vm
from pvc.state.store import Store
from tests.integration.api.support import client, standard_cluster

API = "/api/v1"


def domain_xml(
    name: str,
    uuid: str | None = None,
    memory: int = 64,
    vcpus: int = 1,
    nics: list[tuple[str, str]] | None = None,
    disks: list[str] | None = None,
    description: str = "",
) -> str:
    """A small domain; `nics` are (bridge, mac) pairs, `disks` rbd volume names (pool/vol)."""
    uid = uuid or str(uuidlib.uuid5(uuidlib.NAMESPACE_DNS, name))
    nic_xml = "".join(
        f"<interface type='bridge'><mac address='{mac}'/><source bridge='{br}'/>"
        "<model type='virtio'/></interface>"
        for br, mac in (nics or [])
    )
    disk_xml = "".join(
        f"<disk type='network' device='disk'><source protocol='rbd' name='{vol}'/>"
        f"<target dev='sd{chr(97 + i)}' bus='scsi'/></disk>"
        for i, vol in enumerate(disks or [])
    )
    desc = f"<description>{description}</description>" if description else ""
    return (
        f"<domain type='qemu'><name>{name}</name><uuid>{uid}</uuid>{desc}"
        f"<memory unit='MiB'>{memory}</memory><vcpu>{vcpus}</vcpu>"
        "<cpu><topology sockets='1' cores='1' threads='1'/></cpu>"
        "<os><type arch='x86_64' machine='pc'>hvm</type></os><features><acpi/><apic/></features>"
        f"<devices><emulator>/usr/bin/qemu-system-x86_64</emulator>{disk_xml}{nic_xml}"
        "<controller type='scsi' model='virtio-scsi'/>"
        f"<serial type='pty'><log file='/var/log/libvirt/{name}.log'/></serial></devices>"
        "</domain>"
    )


def uuid_of(name: str) -> str:
    return str(uuidlib.uuid5(uuidlib.NAMESPACE_DNS, name))


def define(c: TestClient, name: str, form: bool = True, **params: Any) -> dict[str, Any]:
    """POST /vm with the XML in a form body (as PVC clients send it); the JSON answer."""
    xml = params.pop("xml", None) or domain_xml(name)
    if form:
        r = c.post(f"{API}/vm", params=params, data={"xml": xml})
    else:
        r = c.post(f"{API}/vm", params={**params, "xml": xml})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def vm_cluster(store: Store, *names: str, **params: Any) -> TestClient:
    """The standard cluster (hv1-hv3 ready, hv4 flushed) with the VMs `names` defined."""
    standard_cluster(store)
    c = client(store)
    for name in names:
        define(c, name, **params)
    return c


def info(c: TestClient, name: str) -> dict[str, Any]:
    r = c.get(f"{API}/vm/{name}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert isinstance(body, list) and len(body) == 1
    item: dict[str, Any] = body[0]
    return item


def set_status(store: Store, uuid: str, **changes: Any) -> None:
    status = vm.status_of(store.read("domain.status", domain=uuid))
    store.write("domain.status", {**status, **changes}, domain=uuid)


def set_running(store: Store, node: str, uuids: list[str]) -> None:
    stats = dict(store.read("node.stats", node=node) or {})
    store.write("node.stats", {**stats, "running_domains": uuids}, node=node)


def node_started(store: Store, node: str, uuid: str) -> None:
    """What a node daemon does after libvirt created the domain: acknowledge the start
    request it carried out, and list the domain as running."""
    status = vm.status_of(store.read("domain.status", domain=uuid))
    seq = int((status["intent"] or {}).get("seq", 0))
    store.write("domain.status", {**status, "started": seq}, domain=uuid)
    set_running(store, node, [uuid])


def later(delay: float, action: Any) -> threading.Thread:
    """Run `action()` after `delay` seconds in a thread: the node daemon's reaction."""

    def run() -> None:
        time.sleep(delay)
        action()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread
