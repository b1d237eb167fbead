"""Prometheus metrics against a real ZooKeeper: values, subsets, no key, disabled."""

from __future__ import annotations

import time

from prometheus_client.parser import text_string_to_metric_families

from pvc.state import tree
from pvc.state.store import Store
from tests.integration.api.support import (
    client,
    make_config,
    register_node,
    standard_cluster,
)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics_carry_node_and_cluster_figures(store: Store) -> None:
    tree.initialize(store)
    register_node(store, "hv1", coordinator_state="primary", cpu_count=16, load=2.5)
    register_node(store, "hv2", daemon_state="dead", keepalive=time.time() - 999)
    store.write("config.primary_node", "hv1")
    store.write("config.maintenance", True)
    r = client(store, headers=None).get("/api/v1/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    m = samples(r.text)
    hv1, hv2 = (("node", "hv1"),), (("node", "hv2"),)
    assert m[("pvc_node_cpu_count", hv1)] == 16
    assert m[("pvc_node_load", hv1)] == 2.5
    assert m[("pvc_node_memory_total", hv1)] == 16000
    assert m[("pvc_node_memory_provisioned", hv1)] == 4096
    assert m[("pvc_node_vcpus_allocated", hv1)] == 4
    assert m[("pvc_node_health", hv1)] == 100 and m[("pvc_node_health", hv2)] == 0
    state = (
        ("coordinator_state", "primary"),
        ("daemon_state", "run"),
        ("domain_state", "ready"),
        ("mode", "coordinator"),
        ("node", "hv1"),
    )
    assert m[("pvc_node_state_info", state)] == 1
    assert m[("pvc_cluster_health", ())] == 100  # no fault arises in maintenance (as in PVC)
    assert m[("pvc_cluster_maintenance", ())] == 1
    assert m[("pvc_cluster_primary_info", (("node", "hv1"),))] == 1
    assert m[("pvc_cluster_nodes", (("daemon_state", "dead"), ("domain_state", "ready")))] == 1
    assert m[("pvc_cluster_node_count", ())] == 2
    assert m[("pvc_cluster_cpu_total", ())] == 16  # the dead node's cores do not count
    assert m[("pvc_cluster_vm_count", ())] == 0
    store.write("config.maintenance", False)
    m = samples(client(store, headers=None).get("/api/v1/metrics").text)
    assert m[("pvc_cluster_health", ())] == 50  # the dead node's DEAD_NODE
    assert m[("pvc_cluster_maintenance", ())] == 0


def test_metric_subsets(store: Store) -> None:
    standard_cluster(store)
    c = client(store, headers=None)
    health = {k[0] for k in samples(c.get("/api/v1/metrics/health").text)}
    resource = {k[0] for k in samples(c.get("/api/v1/metrics/resource").text)}
    everything = {k[0] for k in samples(c.get("/api/v1/metrics").text)}
    assert "pvc_cluster_health" in health and "pvc_node_load" not in health
    assert "pvc_node_load" in resource and "pvc_cluster_health" not in resource
    assert everything == health | resource


def test_metrics_disabled(store: Store) -> None:
    standard_cluster(store)
    cfg = make_config(subsystem={"enable_prometheus": False})
    for path in ("/api/v1/metrics", "/api/v1/metrics/health", "/api/v1/metrics/resource"):
        r = client(store, cfg, headers=None).get(path)
        assert r.status_code == 400 and "enable_prometheus" in r.json()["message"]
