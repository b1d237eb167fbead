"""The provisioner's create flow on the development cluster: `pvc provisioner create`
runs a profile's script in stages on the primary's worker, with the volumes mapped as
block devices on that node (this kernel has no RBD driver: qemu-storage-daemon's FUSE
export on a loop device), and the VM it defines runs on RBD.

The guests here are the tiny test guest booted straight from its kernel (a script
argument of the noop example): what they print tells whose disk they run from."""

from __future__ import annotations

import json
import re
import tarfile
from pathlib import Path
from typing import Any

import dns.query
import dns.zone
import pytest

from pvc.devcluster import configs, debian, demo
from pvc.provisioner.examples import debootstrap
from tests import ovasupport
from tests.system.conftest import DevCluster
from tests.system.vmhelpers import aggregated_dns, api, console, info

pytestmark = pytest.mark.system

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "src" / "pvc" / "provisioner" / "examples"
MARK = "PVCMARK:base:END"
DISK_LINE = re.compile(r"^pvc-disk (\S+) \d+$")
USERDATA = """#cloud-config
runcmd:
  - echo "PVC-CLOUD-INIT-DONE $(hostname)" > /dev/ttyS0
"""

FAILING_SCRIPT = '''
from pvc.provisioner import VMBuilder


class VMBuilderScript(VMBuilder):
    def prepare(self):
        self.create_volumes()
        self.make_filesystems()
        self.mount_volumes()
        (self.target / "var" / "made-in-prepare").write_text("yes")

    def install(self):
        raise RuntimeError("install broke on purpose")

    def cleanup(self):
        self.unmount_volumes()
        # evidence that cleanup ran, which the build does not take away
        self.runtime.create_volume("vms", self.vm_name + "_cleanup_ran", 4 << 20)
'''


def volumes(dc: DevCluster) -> set[str]:
    out = dc.pvc("storage", "volume", "list", "--format", "json").stdout
    return {f"{v['pool']}/{v['name']}" for v in json.loads(out)}


def vm_names(dc: DevCluster) -> set[str]:
    return {v["name"] for v in json.loads(dc.pvc("vm", "list", "--format", "json").stdout)}


def leftovers(dc: DevCluster, node: str) -> dict[str, str]:
    """What a build could leave on its node: loop devices, export daemons, work dirs."""
    def run(*cmd: str) -> str:
        return dc.dev("exec", node, "--", *cmd, check=False).stdout.strip()

    workdirs = sorted(configs.worker_tmp(dc.spec, node).glob("pvc-provision-*"))
    return {"loops": run("losetup", "--list", "--noheadings"),
            "daemons": run("pgrep", "-a", "-f", "qemu-storage-daemon"),
            "workdirs": " ".join(str(p) for p in workdirs)}


@pytest.fixture(scope="module")
def prepared(devcluster_3: DevCluster, tmp_path_factory: pytest.TempPathFactory) -> DevCluster:
    """Network 100, a base volume whose first bytes are a marker, the noop example and
    the failing script, and the templates and profiles of the tests."""
    dc = devcluster_3
    work = tmp_path_factory.mktemp("provisioner")
    dc.pvc("network", "add", "100", "--description", "net100", "--type", "managed",
           "--ipnet", "10.100.0.0/24", "--gateway", "10.100.0.1", "--dhcp", "--dhcp-start",
           "10.100.0.100", "--dhcp-end", "10.100.0.199")
    dc.pvc("storage", "volume", "add", "vms", "base", "64M")
    base = work / "base.raw"
    base.write_bytes(MARK.encode().ljust(4096, b"\0"))
    dc.pvc("storage", "volume", "upload", "vms", "base", str(base), "--format", "raw")
    dc.pvc("provisioner", "script", "add", "noop", str(EXAMPLES / "noop.py"))
    failing = work / "failing.py"
    failing.write_text(FAILING_SCRIPT)
    dc.pvc("provisioner", "script", "add", "failing", str(failing))
    dc.pvc("provisioner", "template", "system", "add", "tiny", "--vcpus", "1", "--vram",
           "128", "--serial")
    dc.pvc("provisioner", "template", "network", "add", "net", "--mac-template",
           "{prefix}:{vmid}:{netid}:01")
    dc.pvc("provisioner", "template", "network", "vni", "add", "net", "100")
    dc.pvc("provisioner", "template", "storage", "add", "clone")
    dc.pvc("provisioner", "template", "storage", "disk", "add", "clone", "vda", "-p", "vms",
           "-i", "base")
    dc.pvc("provisioner", "template", "storage", "add", "fs")
    for disk, mountpoint in (("vda", "/"), ("vdb", "/var")):
        dc.pvc("provisioner", "template", "storage", "disk", "add", "fs", disk, "-p", "vms",
               "-s", "1", "--filesystem", "ext4", "-m", mountpoint)
    image = demo.image(dc.spec)
    dc.pvc("provisioner", "profile", "add", "clone", "-s", "tiny", "-n", "net", "-t", "clone",
           "-x", "noop", "-a", f"kernel={image.kernel}", "-a", f"initrd={image.initrd}",
           "-a", f"cmdline={image.cmdline} pvc.disk=1")
    dc.pvc("provisioner", "profile", "add", "failing", "-s", "tiny", "-t", "fs", "-x",
           "failing")
    return dc


def disk_text(dc: DevCluster, name: str) -> list[str]:
    return [m.group(1) for line in console(dc, name) if (m := DISK_LINE.match(line))]


def test_a_vm_cloned_from_a_base_volume_runs_from_its_clone(prepared: DevCluster) -> None:
    dc = prepared
    primary = dc.primary()
    before = volumes(dc)
    res = dc.pvc("provisioner", "create", "web7", "clone", "--wait",
                 "-a", "cmdline=" + f"{demo.image(dc.spec).cmdline} pvc.disk=1 pvc.name=web7")
    assert 'VM "web7" was built from profile "clone"' in res.stdout + res.stderr
    assert "in state start" in res.stdout + res.stderr
    assert volumes(dc) - before == {"vms/web7_vda"}
    vm: dict[str, Any] = info(dc, "web7")
    assert vm["state"] == "start" and vm["profile"] == "clone"
    # the template's MAC ({vmid} of web7 is 07) on the template's network
    assert [(n["vni"], n["mac"]) for n in vm["networks"]] == [("100", "52:54:01:07:00:01")]
    assert [d["name"] for d in vm["disks"]] == ["vms/web7_vda"]
    # the guest reads the base volume's marker from its own disk, the clone
    dc.wait_for("the guest to read its disk", lambda: MARK in disk_text(dc, "web7"),
                timeout=90, interval=1)
    assert leftovers(dc, primary) == {"loops": "", "daemons": "", "workdirs": ""}
    with api(dc) as c:
        r = c.post("/provisioner/create", params={"name": "web7", "profile": "clone"})
        assert r.status_code == 400 and "already exists" in r.json()["message"], r.text
        r = c.delete("/vm/web7", params={"delete_disks": "true"})
        assert r.status_code == 200, r.text
    assert "vms/web7_vda" not in volumes(dc) and "vms/base" in volumes(dc)


def test_a_script_failing_in_install_reports_its_stage_runs_cleanup_and_leaves_nothing(
        prepared: DevCluster) -> None:
    dc = prepared
    primary = dc.primary()
    before = volumes(dc)
    res = dc.pvc("provisioner", "create", "bad1", "failing", "--wait", check=False)
    said = res.stdout + res.stderr
    assert res.returncode != 0, said
    assert "failed in stage 7/9 (install)" in said
    assert "install broke on purpose" in said
    assert "cleanup() ran" in said
    assert "bad1" not in vm_names(dc)
    # only cleanup()'s evidence is left: the VM's two volumes (made, formatted, mounted
    # and written in prepare) are gone, and so is every mapping, mount and work dir
    assert volumes(dc) - before == {"vms/bad1_cleanup_ran"}
    assert leftovers(dc, primary) == {"loops": "", "daemons": "", "workdirs": ""}
    dc.pvc("storage", "volume", "remove", "vms", "bad1_cleanup_ran", "--yes")


def test_bad_requests_are_refused_before_anything_is_made(prepared: DevCluster) -> None:
    dc = prepared
    before_vms, before_volumes = vm_names(dc), volumes(dc)
    with api(dc) as c:
        cases = [
            ({"name": "x1", "profile": "nosuch"}, "nosuch"),
            ({"name": "bad name", "profile": "clone"}, "VM name"),
            ({"name": "x1", "profile": "clone", "define_vm": "false"}, "define_vm"),
            ({"name": "x1", "profile": "clone", "arg": "no-equals"}, "no-equals"),
        ]
        for params, named in cases:
            r = c.post("/provisioner/create", params=params)
            assert r.status_code == 400, (params, r.text)
            assert named in r.json()["message"], (params, r.text)
    # a disk bigger than its pool is refused by the task's checks
    dc.pvc("provisioner", "template", "storage", "add", "huge")
    dc.pvc("provisioner", "template", "storage", "disk", "add", "huge", "vda", "-p", "vms",
           "-s", "4096")
    dc.pvc("provisioner", "profile", "add", "huge", "-s", "tiny", "-t", "huge", "-x", "noop")
    res = dc.pvc("provisioner", "create", "huge1", "huge", "--wait", check=False)
    assert res.returncode != 0
    said = res.stdout + res.stderr
    assert 'disks in pool "vms" need' in said and "free space" in said, said
    assert vm_names(dc) == before_vms and volumes(dc) == before_volumes


def test_an_ova_made_here_imports_and_deploys_and_a_broken_one_leaves_nothing(
        prepared: DevCluster, tmp_path: Path) -> None:
    dc = prepared
    before = volumes(dc)
    raw = tmp_path / "disk.raw"
    raw.write_bytes(b"PVCMARK:ova:END".ljust(8 << 20, b"\0"))
    vmdk = ovasupport.vmdk_from(raw, tmp_path / "tiny-disk1.vmdk")
    archive = ovasupport.ova(tmp_path / "tiny.ova",
                             ovasupport.ovf("tiny", 1, 128, [(vmdk.name, 8 << 20)]), [vmdk])
    dc.pvc("provisioner", "ova", "upload", "tinyova", str(archive), "-p", "vms")
    listing = json.loads(dc.pvc("provisioner", "ova", "list", "--format", "json").stdout)
    assert [(v["disk_id"], v["volume_name"], v["volume_format"], v["disk_size_gb"])
            for v in listing[0]["volumes"]] == [("sda", "ova_tinyova_sda", "vmdk", "1")]
    profile = json.loads(dc.pvc("provisioner", "profile", "list", "tinyova", "--format",
                                "json").stdout)[0]
    assert (profile["type"], profile["ova"], profile["system_template"]) == \
        ("ova", "tinyova", "tinyova")
    # deployed by the built-in ova script: the VMDK converted to raw into the VM's disk
    image = demo.image(dc.spec)
    dc.pvc("provisioner", "profile", "modify", "tinyova", "-a", "bus=virtio",
           "-a", f"kernel={image.kernel}", "-a", f"initrd={image.initrd}",
           "-a", f"cmdline={image.cmdline} pvc.disk=1")
    dc.pvc("provisioner", "create", "ova1", "tinyova", "--wait")
    assert [d["name"] for d in info(dc, "ova1")["disks"]] == ["vms/ova1_vda"]
    dc.wait_for("the guest to read its converted disk",
                lambda: "PVCMARK:ova:END" in disk_text(dc, "ova1"), timeout=90, interval=1)
    with api(dc) as c:
        r = c.delete("/vm/ova1", params={"delete_disks": "true"})
        assert r.status_code == 200, r.text
    # an archive whose descriptor does not come first is refused; nothing stays
    broken = tmp_path / "broken.ova"
    with tarfile.open(broken, "w") as tar:
        tar.add(vmdk, arcname=vmdk.name)
    res = dc.pvc("provisioner", "ova", "upload", "broken", str(broken), "-p", "vms",
                 check=False)
    assert res.returncode != 0 and "does not start with its .ovf" in res.stdout + res.stderr
    dc.pvc("provisioner", "ova", "remove", "tinyova", "--yes")
    assert volumes(dc) == before
    res = dc.pvc("provisioner", "ova", "list", "--format", "json")
    assert json.loads(res.stdout) == []
    assert "tinyova" not in dc.pvc("provisioner", "profile", "list", "--format", "raw").stdout


@pytest.fixture(scope="module")
def debian_profile(prepared: DevCluster, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The debootstrap example with the packages fetched on the host (the nodes reach no
    mirror), a 2 GB ext4 root disk, the VM on network 100 and user-data whose runcmd
    prints a marker on the serial console."""
    dc = prepared
    work = tmp_path_factory.mktemp("debian")
    tarball = debian.tarball(debootstrap.PACKAGES)
    (work / "userdata.yaml").write_text(USERDATA)
    dc.pvc("provisioner", "userdata", "add", "marker", str(work / "userdata.yaml"))
    dc.pvc("provisioner", "script", "add", "debootstrap", str(EXAMPLES / "debootstrap.py"))
    dc.pvc("provisioner", "template", "system", "add", "deb", "--vcpus", "1", "--vram", "512",
           "--serial")
    dc.pvc("provisioner", "template", "storage", "add", "deb")
    dc.pvc("provisioner", "template", "storage", "disk", "add", "deb", "vda", "-p", "vms",
           "-s", "2", "--filesystem", "ext4", "-m", "/")
    dc.pvc("provisioner", "profile", "add", "debian12", "-s", "deb", "-n", "net", "-t", "deb",
           "-u", "marker", "-x", "debootstrap", "-a", f"tarball={tarball}")
    return "debian12"


def test_a_debian_vm_built_by_debootstrap_runs_the_profiles_user_data_with_cloud_init(
        prepared: DevCluster, debian_profile: str) -> None:
    dc = prepared
    res = dc.pvc("provisioner", "create", "deb1", debian_profile, "--wait", timeout=1200)
    assert "in state start" in res.stdout + res.stderr
    vm = info(dc, "deb1")
    assert [d["name"] for d in vm["disks"]] == ["vms/deb1_vda"]
    assert [n["mac"] for n in vm["networks"]] == ["52:54:01:01:00:01"]
    # booted from its own disk (EXTLINUX), cloud-init fetched the user-data from the
    # metadata service as an EC2 data source and ran its runcmd
    # (cloud-init's final message, which names the data source, comes after runcmd's
    # output, so both are waited for together)
    def ran_from_ec2() -> bool:
        lines = console(dc, "deb1")
        return (any(line.strip() == "PVC-CLOUD-INIT-DONE deb1" for line in lines)
                and any("Datasource DataSourceEc2" in line for line in lines))

    dc.wait_for("cloud-init's runcmd marker and final message", ran_from_ec2,
                timeout=600, interval=5)
    # its name resolves through the DNS aggregator on the upstream floating address, as an
    # upstream resolver would ask it, to the address of its lease; and the zone transfers
    mac = vm["networks"][0]["mac"]
    leases = {e["mac_address"]: e["ip4_address"] for e in json.loads(
        dc.pvc("network", "dhcp", "list", "100", "--format", "json").stdout)}
    domain = json.loads(dc.pvc("network", "info", "100", "--format", "json").stdout)["domain"]
    assert dc.wait_for("deb1 in the aggregated DNS", lambda: aggregated_dns(
        dc, f"deb1.{domain}"), timeout=60) == [leases[mac]]
    server = str(dc.spec.floating_address("upstream"))
    zone = dns.zone.from_xfr(dns.query.xfr(server, domain, timeout=10), check_origin=False)
    assert zone.get_rdataset("deb1", "A") is not None
