"""The client-network links of a node, on the real kernel of a scratch network namespace
and a real ZooKeeper: networks created, changed and removed through `pvc.ops.network`
appear, change and disappear as bridges and VXLANs (VLANs where the kernel has them)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pvc.common.errors import BackendError
from pvc.drivers.network.links import NetlinkLinks
from pvc.node.network.datapath import NetworkLinks
from pvc.node.network.watch import NetworkWatch
from pvc.ops.network import networks
from pvc.ops.network.spec import limits_of
from pvc.state import tree
from pvc.state.store import Store
from tests.integration.api.support import make_config

CONFIG = make_config(guest_networking={"bridge_device": "ens4", "bridge_mtu": 1500})
LIMITS = limits_of(CONFIG)
MANAGED = {"ip4_network": "10.100.0.0/24"}


def ip(ns: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "-n", ns, *args], capture_output=True, text=True, check=check)


@pytest.fixture
def netns() -> Iterator[str]:
    """A namespace with the node's cluster device (ens5, hv1's address) and upstream (ens4)."""
    name = f"pvct-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        for dev, peer, addr in (("ens5", "ens5p", "10.0.1.1/24"), ("ens4", "ens4p", None)):
            ip(name, "link", "add", dev, "type", "veth", "peer", "name", peer)
            ip(name, "link", "set", dev, "up")
            ip(name, "link", "set", peer, "up")
            if addr:
                ip(name, "addr", "add", addr, "dev", dev)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


@pytest.fixture
def links(netns: str, store: Store) -> NetworkLinks:
    tree.initialize(store)
    return NetworkLinks(store, "hv1", CONFIG, NetlinkLinks(netns))


def vlans_supported(ns: str) -> bool:
    made = ip(ns, "link", "add", "link", "ens4", "name", "probe.9", "type", "vlan", "id", "9",
              check=False)
    if made.returncode == 0:
        ip(ns, "link", "del", "probe.9")
    return made.returncode == 0


def test_a_managed_network_is_a_bridge_and_a_vxlan_from_the_cluster_address(
        links: NetworkLinks, store: Store, netns: str) -> None:
    networks.add(store, LIMITS, 100, "net100", "managed", **MANAGED)
    assert links.sync() == []
    found = NetlinkLinks(netns).links()
    bridge, vxlan = found["vmbr100"], found["vxlan100"]
    assert (bridge.kind, bridge.mtu, bridge.up) == ("bridge", 1450, True)
    assert (vxlan.kind, vxlan.vni, vxlan.parent, vxlan.local, vxlan.learning) == (
        "vxlan", 100, "ens5", "10.0.1.1", False)
    assert (vxlan.master, vxlan.mtu, vxlan.up) == ("vmbr100", 1450, True)
    details = ip(netns, "-d", "link", "show", "vxlan100").stdout
    assert "dstport 4789" in details and "nolearning" in details
    # a change of MTU is applied to both; applying again changes nothing
    networks.modify(store, LIMITS, 100, mtu="1400")
    links.sync()
    found = NetlinkLinks(netns).links()
    assert (found["vmbr100"].mtu, found["vxlan100"].mtu) == (1400, 1400)
    before = ip(netns, "-o", "link", "show").stdout  # indexes: nothing made again
    links.sync()
    assert ip(netns, "-o", "link", "show").stdout == before
    networks.remove(store, 100)
    links.sync()
    assert not {"vmbr100", "vxlan100"} & set(NetlinkLinks(netns).links())


def test_links_of_ours_that_no_network_wants_are_removed_and_others_kept(
        links: NetworkLinks, netns: str) -> None:
    ip(netns, "link", "add", "vmbr7", "type", "bridge")
    ip(netns, "link", "add", "vmbrx", "type", "bridge")
    links.sync()
    present = set(NetlinkLinks(netns).links())
    assert "vmbr7" not in present
    assert {"vmbrx", "ens4", "ens5"} <= present


def test_a_wrong_vxlan_is_replaced(links: NetworkLinks, store: Store, netns: str) -> None:
    ip(netns, "link", "add", "vmbr100", "type", "bridge")
    ip(netns, "link", "add", "vxlan100", "type", "vxlan", "id", "999", "dstport", "4789",
       "local", "10.0.1.1", "dev", "ens5")
    networks.add(store, LIMITS, 100, "net100", "managed", **MANAGED)
    links.sync()
    vxlan = NetlinkLinks(netns).links()["vxlan100"]
    assert (vxlan.vni, vxlan.learning, vxlan.master) == (100, False, "vmbr100")


def test_a_bridged_network_is_a_vlan_of_the_bridge_device(
        links: NetworkLinks, store: Store, netns: str) -> None:
    networks.add(store, LIMITS, 200, "vlan200", "bridged")
    if vlans_supported(netns):
        assert links.sync() == []
        vlan = NetlinkLinks(netns).links()["vlan200"]
        assert (vlan.kind, vlan.vni, vlan.parent, vlan.master) == ("vlan", 200, "ens4",
                                                                   "vmbr200")
    else:
        # this kernel has no 802.1Q: the bridge is made, the VLAN refused with the reason
        assert links.sync() == [200]
        assert "vmbr200" in NetlinkLinks(netns).links()
        with pytest.raises(BackendError, match=r"802\.1Q"):
            NetlinkLinks(netns).ensure_vlan("vlan200", 200, "ens4", 1500, "vmbr200")


def test_watches_apply_a_new_network_within_moments(links: NetworkLinks, store: Store,
                                                    netns: str) -> None:
    watch = NetworkWatch(store)
    links.start(watch)
    watch.start()
    try:
        networks.add(store, LIMITS, 300, "net300", "managed", ip4_network="10.30.0.0/24")
        deadline = time.monotonic() + 5
        while "vxlan300" not in NetlinkLinks(netns).links():
            assert time.monotonic() < deadline, "the network did not appear within 5 s"
            time.sleep(0.05)
        networks.remove(store, 300)
        deadline = time.monotonic() + 5
        while "vmbr300" in NetlinkLinks(netns).links():
            assert time.monotonic() < deadline, "the network did not go within 5 s"
            time.sleep(0.05)
    finally:
        watch.stop()
        links.stop()


def test_links_are_read_whole_while_other_links_come_and_go(netns: str,
                                                             tmp_path: Path) -> None:
    """The kernel marks a dump as interrupted when links change while it is read (about one
    read in eight here, as when libvirt or another reconciler adds and removes devices):
    each read still answers, with every link that stayed."""
    steady = [f"keep{i}" for i in range(30)]
    for name in steady:
        ip(netns, "link", "add", name, "type", "bridge")
    batch = tmp_path / "churn"
    batch.write_text("link add churn0 type bridge\nlink del churn0\n" * 1000)
    churn = subprocess.Popen(
        ["sh", "-c", f"while :; do ip -n {netns} -force -batch {batch}; done"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        for _ in range(100):
            assert set(steady) <= set(NetlinkLinks(netns).links())
        assert churn.poll() is None, "the links stopped changing before the reads ended"
    finally:
        os.killpg(churn.pid, signal.SIGKILL)
        churn.wait()
