"""Hooks that cannot run are refused before any runs; a hook's file must be the
repository's; PVC object hooks are the `pvc` commands they stand for (the webhook and
Ansible runs have their tests on real servers)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pvc.bootstrap import hooks
from pvc.bootstrap.config import Hook
from pvc.common.errors import InvalidArgument


def test_a_bad_hook_stops_the_cluster_before_any_hook_runs() -> None:
    ran: list[str] = []
    with pytest.raises(InvalidArgument, match="hook 'data': unknown argument 'device'"):
        hooks.run((Hook("tell", "webhook", ("all",), {"uri": "http://127.0.0.1:9/"}),
                   Hook("data", "osd", ("all",), {"device": "/dev/sdb"})),
                  Path("/nonexistent"), lambda h: [], Path("/x"), None, Path("/x.log"),
                  ran.append)
    assert ran == []


@pytest.mark.parametrize(("hook", "why"), [
    (Hook("db", "osddb", ("all",), {"disk": "/dev/nvme0n1"}),
     "hook 'db' (osddb): external OSD database devices are not supported"),
    (Hook("osd", "osd", ("all",), {"disk": "/dev/sdb", "ext_db_size": "20G"}),
     "hook 'osd' (osd): external OSD database devices are not supported"),
    (Hook("osd", "osd", ("all",), {"disk": "/dev/sdb", "count": 2}),
     "hook 'osd' (osd): split OSDs (count 2) are not supported"),
])
def test_what_this_pvcs_storage_does_not_do_stops_the_cluster_before_any_hook_runs(
        hook: Hook, why: str) -> None:
    ran: list[str] = []
    with pytest.raises(InvalidArgument, match=re.escape(why)):
        hooks.run((Hook("tell", "webhook", ("all",), {"uri": "http://127.0.0.1:9/"}), hook),
                  Path("/nonexistent"), lambda h: [], Path("/x"), None, Path("/x.log"),
                  ran.append)
    assert ran == []
    # one OSD per device, its database on it: fine
    hooks.check((Hook("osd", "osd", ("all",), {"disk": "/dev/sdb", "count": 1}),))


@pytest.mark.parametrize(("hook", "argv"), [
    (Hook("db", "osddb", ("all",), {"disk": "/dev/nvme0n1"}),
     "pvc --timeout 300 storage osd create-db-vg hv2 /dev/nvme0n1 --yes --wait"),
    (Hook("osd", "osd", ("all",), {"disk": "detect:INTEL:480GB:1", "weight": 0.5,
                                   "ext_db_ratio": 0.05, "count": 2}),
     "pvc --timeout 300 storage osd add hv2 detect:INTEL:480GB:1 --weight 0.5 --ext-db-ratio 0.05 "
     "--osd-count 2 --yes --wait"),
    (Hook("vms", "pool", ("hv1",), {"name": "vms", "pgs": 64, "tier": "ssd",
                                    "replcfg": "copies=3,mincopies=2"}),
     "pvc --timeout 300 storage pool add vms 64 --tier ssd --replcfg copies=3,mincopies=2"),
    (Hook("net", "network", ("all",), {
        "vni": 1001, "description": "web", "type": "managed", "ipnet": "10.1.1.0/24",
        "gateway": "10.1.1.1", "dhcp": True, "dhcp_start": "10.1.1.100",
        "dhcp_end": "10.1.1.199", "dns_servers": ["10.0.0.53", "10.0.0.54"],
        "ipnet6": "fd00:1::/64"}),
     "pvc --timeout 300 network add 1001 --description web --type managed --dns-server 10.0.0.53 "
     "--dns-server 10.0.0.54 --ipnet 10.1.1.0/24 --ipnet6 fd00:1::/64 --gateway 10.1.1.1 "
     "--dhcp --dhcp-start 10.1.1.100 --dhcp-end 10.1.1.199"),
    (Hook("vlan", "network", ("all",), {"vni": 101, "description": "office", "type": "bridged",
                                        "dhcp": False}),
     "pvc --timeout 300 network add 101 --description office --type bridged --no-dhcp"),
])
def test_pvc_object_hooks_are_pvc_commands(hook: Hook, argv: str) -> None:
    assert " ".join(hooks.pvc_argv(hook, "hv2")) == argv


@pytest.mark.parametrize(("hook", "message"), [
    (Hook("o", "osd", ("all",), {}), "hook 'o': argument 'disk' is needed"),
    (Hook("o", "osd", ("all",), {"disk": "/dev/sdb; reboot"}), "disk '/dev/sdb; reboot' is "
     "not one word"),
    (Hook("o", "osd", ("all",), {"disk": "--help"}), "disk '--help' is not one word"),
    (Hook("p", "pool", ("all",), {"name": "vms"}), "argument 'pgs' is needed"),
    (Hook("p", "pool", ("all",), {"name": "vms", "pgs": 64, "size": 3}),
     "unknown argument 'size' (a pool hook takes name, pgs, tier, replcfg)"),
    (Hook("n", "network", ("all",), {"vni": 5, "description": "a b"}), "description 'a b'"),
    (Hook("n", "network", ("all",), {"vni": 5, "dhcp": "yes"}), "dhcp is true or false"),
    (Hook("n", "network", ("all",), {"vni": {"x": 1}}), "vni "),
])
def test_bad_pvc_object_hooks_are_refused(hook: Hook, message: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        hooks.check((hook,))
    assert message in err.value.message, err.value.message


@pytest.mark.parametrize("source", ["../outside", "/etc/passwd", "files/missing", ""])
def test_a_copy_source_outside_the_repository_is_refused(tmp_path: Path, source: str
                                                         ) -> None:
    repo = tmp_path / "repo"
    (repo / "files").mkdir(parents=True)
    (tmp_path / "outside").write_text("secret")
    hook = Hook("c", "copy", ("all",), {"source": source, "destination": "/etc/x"})
    with pytest.raises(InvalidArgument, match="is not a file of the repository"):
        hooks.run((hook,), repo, lambda h: ["hv1.example.net"], tmp_path / "inv.yml", None,
                  tmp_path / "log", lambda text: None)
