"""Helpers shared by the API integration tests (this module holds no tests itself):
a pvc.conf, node records written the way a node daemon writes them, and a test client."""

from __future__ import annotations

import copy
import time
from typing import Any

from fastapi.testclient import TestClient

from pvc.api.app import create_app
from pvc.common import config as pvcconfig
from pvc.db.prepared import PreparedDatabase
from pvc.drivers.storage.base import Storage
from pvc.state import tree
from pvc.state.store import Store

TOKEN = "s3cret-token"
HEADERS = {"X-Api-Key": TOKEN}

RAW_CONFIG: dict[str, Any] = {
    "cluster": {
        "name": "testcluster",
        "all_nodes": ["hv1", "hv2", "hv3", "hv4"],
        "coordinator_nodes": ["hv1", "hv2", "hv3"],
        "networks": {
            name: {
                "device": dev,
                "mtu": 1500,
                "domain": f"{name}.local",
                "node_ip_selection": "by-id",
                "ipv4": {
                    "network_address": net,
                    "netmask": "255.255.255.0",
                    "floating_address": floating,
                    "gateway_address": "",
                },
            }
            for name, dev, net, floating in (
                ("upstream", "ens4", "10.0.0.0", "10.0.0.250"),
                ("cluster", "ens5", "10.0.1.0", "10.0.1.250"),
                ("storage", "ens6", "10.0.2.0", "10.0.2.250"),
            )
        },
    },
    "timer": {"keepalive_interval": 2},
    # the task broker on loopback where nothing listens: a test that reaches for it is
    # refused at once and sends nothing off this machine
    "database": {"keydb": {"hostname": "127.0.0.1", "port": 9}},
    "fencing": {"intervals": {"fence_intervals": 3}},
    "logging": {"node_log_lines": 50},
    "subsystem": {"enable_prometheus": True},
    "api": {
        "listen": {"address": "127.0.0.1", "port": 7370},
        "authentication": {"enabled": True, "secret_key": "session-secret", "source": "token"},
        "token": [{"description": "test", "token": TOKEN}],
        "ssl": {"enabled": False},
    },
}


def raw_config(**sections: Any) -> dict[str, Any]:
    raw = copy.deepcopy(RAW_CONFIG)
    for key, value in sections.items():
        raw[key] = {**raw.get(key, {}), **value}
    return raw


def make_config(**sections: Any) -> pvcconfig.Config:
    return pvcconfig.parse(raw_config(**sections))


def register_node(
    store: Store,
    name: str,
    mode: str = "coordinator",
    daemon_state: str = "run",
    coordinator_state: str = "secondary",
    domain_state: str = "ready",
    keepalive: float | None = None,
    cpu_count: int = 8,
    load: float = 1.5,
    memory: dict[str, int] | None = None,
    running: list[str] | None = None,
) -> None:
    """Create a node record with every node key (as a starting node daemon does), then
    publish states, static data and stats (as its keepalive does)."""
    txn = store.txn()
    for key in store.schema.object_keys("node"):
        value = mode if key.name == "node" else key.default
        txn.create(key.name, value, node=name)
    txn.commit()
    running = running or []
    store.txn().set("node.daemon_state", daemon_state, node=name).set(
        "node.coordinator_state", coordinator_state, node=name
    ).set("node.domain_state", domain_state, node=name).set(
        "node.keepalive", time.time() if keepalive is None else keepalive, node=name
    ).set("node.pvc_version", "0.1.0", node=name).set(
        "node.static",
        {"cpu_count": cpu_count, "kernel": "6.1.0-18-amd64", "os": "GNU/Linux", "arch": "x86_64"},
        node=name,
    ).set(
        "node.stats",
        {
            "load": load,
            "memory": memory
            or {
                "total": 16000,
                "used": 4000,
                "free": 12000,
                "allocated": 2048,
                "provisioned": 4096,
            },
            "vcpu_allocated": 4,
            "domains_count": len(running),
            "running_domains": running,
        },
        node=name,
    ).commit()


def standard_cluster(store: Store) -> None:
    """hv1 primary, hv2 and hv3 secondary coordinators, hv4 a hypervisor; all running."""
    tree.initialize(store)
    register_node(
        store, "hv1", coordinator_state="primary", running=["0b5c3a52-3e0e-4d0a-9c6e-1a2b3c4d5e6f"]
    )
    register_node(store, "hv2")
    register_node(store, "hv3")
    register_node(
        store,
        "hv4",
        mode="hypervisor",
        coordinator_state="client",
        domain_state="flushed",
        cpu_count=4,
    )
    store.write("config.primary_node", "hv1")
    store.write("config.upstream_ip", "10.0.0.250/24")


def client(
    store: Store, config: pvcconfig.Config | None = None, headers: dict[str, str] | None = HEADERS,
    storage: Storage | None = None, database: PreparedDatabase | None = None,
) -> TestClient:
    app = create_app(config or make_config(), store, storage, database=database)
    return TestClient(app, headers=headers, raise_server_exceptions=False)
