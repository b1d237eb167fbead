"""The installer's answers: an answer file read, every bad answer refused with its key and
line, and answers written back to a file that reads the same."""

from __future__ import annotations

import ipaddress

import pytest

from pvc.installer import answers as ans
from pvc.installer.answers import AnswerError, DiskChoice

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJ1c3lib3hfdGVzdF9rZXlfYmFzZTY0X3N0dWZm admin@x"

GOOD = f"""
# hv1 of the lab
hostname = HV1.Example.Net.
disk = detect:QEMU:8GB:0
interface = 52:54:00:AA:BB:01   # the bootstrap NIC
vlan = 100
address = 10.0.0.11/24
gateway = 10.0.0.1
nameserver = 10.0.0.1
nameserver = 2001:db8::53
ssh_key = {KEY}
mirror = http://10.0.0.1:3142/deb.debian.org/debian/
filesystem = xfs
package = vim
package = htop
checkin_url = http://10.0.0.1:9999/checkin/host
"""


def test_a_full_answer_file_is_read() -> None:
    a = ans.parse(GOOD)
    assert a.hostname == "hv1.example.net" and a.short_hostname == "hv1"
    assert a.domain == "example.net"
    assert a.disk == DiskChoice(model="QEMU", size_bytes=8 * 1000**3, index=0)
    assert a.interface == "52:54:00:aa:bb:01" and a.vlan == 100
    assert a.address == ipaddress.ip_interface("10.0.0.11/24")
    assert a.gateway == ipaddress.ip_address("10.0.0.1")
    assert [str(n) for n in a.nameservers] == ["10.0.0.1", "2001:db8::53"]
    assert a.ssh_keys == (KEY,) and a.deploy_user == "deploy"
    assert a.mirror == "http://10.0.0.1:3142/deb.debian.org/debian"
    assert (a.filesystem, a.packages) == ("xfs", ("vim", "htop"))
    assert a.checkin_url == "http://10.0.0.1:9999/checkin/host"


def test_the_fewest_answers_mean_dhcp_ext4_and_debians_mirror() -> None:
    a = ans.parse(f"hostname = n1.lab\ndisk = /dev/vda\ninterface = ens3\nssh_key = {KEY}\n")
    assert (a.address, a.gateway, a.vlan) == (None, None, None)
    assert (a.filesystem, a.mirror) == ("ext4", ans.DEFAULT_MIRROR)
    assert a.disk == DiskChoice(path="/dev/vda")


def test_rendered_answers_read_back_the_same() -> None:
    a = ans.parse(GOOD)
    assert ans.parse(ans.render(a)) == a
    dhcp = ans.parse(f"hostname = n1.lab\ndisk = /dev/vda\ninterface = ens3\nssh_key = {KEY}\n")
    assert ans.parse(ans.render(dhcp)) == dhcp


def bad(**change: str) -> str:
    lines = {"hostname": "hv1.example.net", "disk": "/dev/vda", "interface": "ens3",
             "address": "10.0.0.11/24", "gateway": "10.0.0.1", "ssh_key": KEY}
    lines.update(change)
    return "".join(f"{k} = {v}\n" for k, v in lines.items() if v is not None)


@pytest.mark.parametrize(("text", "message"), [
    (bad(hostname="hv1"), "line 1: hostname 'hv1' is not a fully qualified name"),
    (bad(hostname="hv_1.lab"), "line 1: hostname"),
    (bad(disk="sda"), "line 2: disk 'sda' is neither a device path"),
    (bad(disk="/dev/../etc/passwd"), "line 2: disk"),
    (bad(disk="detect:INTEL:huge:0"), "line 2: disk 'detect:INTEL:huge:0': size 'huge'"),
    (bad(disk="detect:INTEL"), "line 2: disk 'detect:INTEL': a detect rule is"),
    (bad(interface="eth0; reboot"), "line 3: interface 'eth0; reboot' is neither"),
    (bad(address="10.0.0.300/24"), "line 4: address '10.0.0.300/24' is not a host address"),
    (bad(address="10.0.0.11"), "line 4: address '10.0.0.11' is not a host address"),
    (bad(address="10.0.0.0/24"), "line 4: address"),
    (bad(gateway="10.0.1.1"), "line 5: gateway 10.0.1.1 is not in 10.0.0.0/24"),
    (bad(gateway="10.0.0.11"), "line 5: gateway 10.0.0.11 is the node's own address"),
    (bad(gateway="ten"), "line 5: gateway 'ten' is not an IP address"),
    (bad(address="dhcp"), "line 5: gateway is only for a static address"),
    (bad(ssh_key="not a key"), "line 6: ssh_key 'not a key'"),
    (bad(ssh_key=None), "answer file: ssh_key or ssh_keys_url is missing"),
    (bad(hostname=None), "answer file: hostname is missing"),
    (bad(vlan="5000"), "line 7: vlan '5000' is not a VLAN id"),
    (bad(mirror="ftp://x/debian"), "line 7: mirror 'ftp://x/debian' is not an http"),
    (bad(filesystem="btrfs"), "line 7: filesystem 'btrfs' is not one of ext4, xfs"),
    (bad(deploy_user="root"), "line 7: deploy_user 'root'"),
    (bad(package="vim;rm"), "line 7: package 'vim;rm'"),
    (bad(colour="blue"), "line 7: unknown key 'colour'"),
    (bad() + "disk = /dev/vdb\n", "line 2: disk is given 2 times"),
    (bad() + "just words\n", "line 7: not 'key = value'"),
])
def test_a_bad_answer_is_refused_naming_its_line_and_key(text: str, message: str) -> None:
    with pytest.raises(AnswerError) as err:
        ans.parse(text)
    assert err.value.message.startswith("answer file"), err.value.message
    assert message in err.value.message, err.value.message


@pytest.mark.parametrize(("text", "size"), [
    ("800GB", 800 * 1000**3), ("1.8T", 1_800_000_000_000), ("512g", 512 * 1000**3),
    ("100", 100), ("8 GiB", 8 * 1000**3), ("x", None), ("", None)])
def test_sizes(text: str, size: int | None) -> None:
    assert ans.size_bytes(text) == size


@pytest.mark.parametrize("rule", ["detect:INTEL:800GB:0", "detect::8GB:1", "detect:QEMU::0",
                                  "detect::1500MB:0", "detect::123B:0"])
def test_a_detect_rule_reads_back_as_written(rule: str) -> None:
    assert str(ans.disk(rule)) == rule
