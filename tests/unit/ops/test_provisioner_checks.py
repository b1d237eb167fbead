"""The provisioner's pure checks: the target node, the MACs, the mkfs tools, the script
arguments."""

from __future__ import annotations

import re
from typing import Any

import pytest

from pvc.common.errors import InvalidArgument, InvalidState
from pvc.ops.node.records import Memory, NodeHealth, NodeRecord
from pvc.ops.provisioner import checks
from pvc.ops.provisioner.plan import BuildPlan, parse_arguments


def node(name: str, free: int, daemon: str = "run", domain: str = "ready") -> NodeRecord:
    return NodeRecord(name=name, mode="coordinator", daemon_state=daemon,
                      coordinator_state="secondary", domain_state=domain, keepalive=0.0,
                      pvc_version="", cpu_count=4, kernel="", os="", arch="", load=0.0,
                      memory=Memory(total=8192, free=free), vcpu_allocated=0,
                      domains_count=0, running_domains=(),
                      health=NodeHealth(100, (), False))


def plan(**changes: Any) -> BuildPlan:
    base: dict[str, Any] = {"profile": "p", "profile_type": "provisioner",
                            "system": {"vram_mb": 1024}, "script_name": "s", "script": ""}
    base.update(changes)
    return BuildPlan(**base)


def test_the_ready_node_with_most_free_memory_is_chosen() -> None:
    nodes = [node("hv1", 4000), node("hv2", 6000), node("hv3", 9000, domain="flushed")]
    assert checks.pick_node(nodes, 1024, []) == "hv2"
    assert checks.pick_node(nodes, 1024, ["hv1"]) == "hv1"


def test_memory_is_needed_with_512_mib_to_spare() -> None:
    with pytest.raises(InvalidState, match="1536 MiB"):
        checks.pick_node([node("hv1", 1535)], 1024, [])
    assert checks.pick_node([node("hv1", 1536)], 1024, []) == "hv1"
    with pytest.raises(InvalidState, match="No node is ready"):
        checks.pick_node([node("hv1", 9000, daemon="dead")], 1024, [])


def test_macs_come_from_the_template_and_must_differ() -> None:
    two = ("100", "200")
    assert checks.check_macs(plan(mac_template="{prefix}:{vmid}:{netid}:01", vnis=two),
                             "web12") == ["52:54:01:0c:00:01", "52:54:01:0c:01:01"]
    with pytest.raises(InvalidArgument, match="same MAC twice"):
        checks.check_macs(plan(mac_template="{prefix}:{vmid}:00:01", vnis=two), "web12")
    with pytest.raises(InvalidArgument, match="above 255"):
        checks.check_macs(plan(mac_template="{prefix}:{vmid}:{netid}:01", vnis=two), "w300")
    # without a template: random, fixed for the VM's life, distinct, libvirt's prefix
    found = checks.check_macs(plan(vnis=two), "web12")
    assert len(set(found)) == 2 and all(m.startswith("52:54:00:") for m in found)
    assert all(re.fullmatch(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}", m) for m in found)


def test_mkfs_tools_by_filesystem() -> None:
    assert checks.mkfs_tool("ext4") == "mkfs.ext4"
    assert checks.mkfs_tool("swap") == "mkswap"
    with pytest.raises(InvalidArgument):
        checks.mkfs_tool("ext4;rm -rf /")
    disks = checks.disks_of(plan(disks=({"pool": "vms", "disk_id": "sda",
                                         "filesystem": "zfs"},)), "w1")
    assert disks[0].volume == "w1_sda"
    with pytest.raises(InvalidState, match=r"no mkfs\.zfs"):
        checks.check_filesystems(disks, which=lambda tool: None)
    checks.check_filesystems(disks, which=lambda tool: f"/sbin/{tool}")


def test_script_arguments_merge_later_over_earlier() -> None:
    assert parse_arguments(["a=1", "b=x=y", "a=2", ""], "argument") == {"a": "2", "b": "x=y"}
    for bad in ("noequals", "a b=1", "a=1|2"):
        with pytest.raises(InvalidArgument, match="Invalid argument"):
            parse_arguments([bad], "argument")
