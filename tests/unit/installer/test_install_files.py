"""The files the installer writes onto a node: interfaces, apt sources, fstab, hosts."""

from __future__ import annotations

from pvc.installer import answers as ans
from pvc.installer import install

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJ1c3lib3hfdGVzdF9rZXlfYmFzZTY0X3N0dWZm admin@x"


def answers(**more: str) -> ans.Answers:
    text = f"hostname = hv1.example.net\ndisk = /dev/vda\ninterface = ens3\nssh_key = {KEY}\n"
    return ans.parse(text + "".join(f"{k} = {v}\n" for k, v in more.items()))


def test_a_static_address_on_a_vlan() -> None:
    text = install.interfaces_file(answers(vlan="100", address="10.0.0.11/24",
                                           gateway="10.0.0.1"), "ens3")
    assert "auto ens3\niface ens3 inet manual\n" in text
    assert ("auto ens3.100\niface ens3.100 inet static\n    address 10.0.0.11/24\n"
            "    gateway 10.0.0.1\n    vlan-raw-device ens3\n") in text


def test_dhcp_and_ipv6() -> None:
    assert "auto ens3\niface ens3 inet dhcp\n" in install.interfaces_file(answers(), "ens3")
    v6 = install.interfaces_file(answers(address="2001:db8::11/64"), "ens3")
    assert "iface ens3 inet6 static\n    address 2001:db8::11/64\n" in v6


def test_apt_sources_follow_the_mirror() -> None:
    lines = install.sources_list("http://10.0.0.1:3142/deb.debian.org/debian").splitlines()
    assert lines[0].startswith("deb http://10.0.0.1:3142/deb.debian.org/debian bookworm main")
    assert lines[2].startswith(
        "deb http://10.0.0.1:3142/deb.debian.org/debian-security bookworm-security main")
    other = install.sources_list("http://mirror.example.net/pub/debian-mirror")
    assert "deb http://security.debian.org/debian-security bookworm-security" in other


def test_fstab_and_hosts() -> None:
    uuids = {"/": "r", "/boot": "b", "/boot/efi": "E", "/var/lib/ceph": "c",
             "/var/lib/zookeeper": "z", "": "s"}
    lines = install.fstab(uuids, "xfs").splitlines()[1:]
    assert lines[0] == "UUID=r\t/\txfs\tdefaults\t0\t1"
    assert "UUID=E\t/boot/efi\tvfat\tumask=0077\t0\t2" in lines
    assert lines[-1] == "UUID=s\tnone\tswap\tsw\t0\t0"
    assert "127.0.1.1\thv1.example.net\thv1\n" in install.hosts_file(answers())
