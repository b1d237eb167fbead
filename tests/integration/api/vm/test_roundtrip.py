"""`pvc vm ...` and `pvc node flush|ready` end to end: the CLI, our client, the API and a
real ZooKeeper (the HTTP hop is the in-process test transport)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from pvc.cli.context import CliState
from pvc.cli.main import cli
from pvc.common import vmxml
from pvc.ops.network import networks
from pvc.ops.network.spec import Limits
from pvc.state.store import Store
from tests.integration.api.support import TOKEN, client, standard_cluster
from tests.integration.api.vm.support import domain_xml, set_status, uuid_of


def pvc(store: Store, tmp_path: Path, *args: str) -> Result:
    conns = tmp_path / "pvc.json"
    conns.write_text(json.dumps({"t": {"host": "testserver", "port": 80, "scheme": "http",
                                       "api_key": TOKEN}}))
    transport = client(store, headers=None)._transport
    state = CliState(store=conns, transport=transport)
    return CliRunner().invoke(cli, ["-q", "-u", "-c", "t", *args], obj=state)


def test_the_vm_commands_round_trip(store: Store, tmp_path: Path) -> None:
    standard_cluster(store)
    networks.add(store, Limits(), 100, "net100", "managed")
    networks.add(store, Limits(), 200, "net200", "managed")
    xml_file = tmp_path / "web1.xml"
    xml_file.write_text(domain_xml("web1", nics=[("vmbr100", "52:54:00:00:00:01")]))
    r = pvc(store, tmp_path, "vm", "define", str(xml_file), "-t", "hv1", "-l", "hv1,hv2",
            "-a", "-g", "web", "-G", "prod")
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith('Added new VM with Name "web1"')
    listed = pvc(store, tmp_path, "vm", "list", "-n", "hv1", "-t", "web", "-f", "json")
    vm = json.loads(listed.stdout)[0]
    assert (vm["node"], vm["node_limit"], vm["node_autostart"]) == ("hv1", ["hv1", "hv2"], True)
    assert [(t["name"], t["protected"]) for t in vm["tags"]] == [("web", False), ("prod", True)]
    assert pvc(store, tmp_path, "vm", "list", "--negate", "-n", "hv1").exit_code == 2
    assert pvc(store, tmp_path, "vm", "start", "web1").stdout == 'Starting VM "web1".\n'
    r = pvc(store, tmp_path, "vm", "migrate", "web1", "--force-live")
    assert r.stdout == 'Migrating VM "web1" to node "hv2".\n'
    info = pvc(store, tmp_path, "vm", "info", "web1").stdout
    fields = dict(ln.split(":", 1) for ln in info.splitlines() if ": " in ln)
    assert (fields["State"].strip(), fields["Previous Node"].strip()) == ("migrate", "hv1")
    set_status(store, uuid_of("web1"), state="start")
    assert "hv1" in pvc(store, tmp_path, "vm", "unmigrate", "web1").stdout
    r = pvc(store, tmp_path, "vm", "rename", "web1", "web2")
    assert r.exit_code == 5 and "rename needs it stopped" in r.stderr  # a 400, as in PVC
    assert pvc(store, tmp_path, "vm", "tag", "add", "web1", "db", "-p").exit_code == 0
    assert "db" in pvc(store, tmp_path, "vm", "tag", "get", "web1").stdout
    assert pvc(store, tmp_path, "vm", "meta", "web1", "-A", "-m", "live").exit_code == 0
    assert pvc(store, tmp_path, "vm", "vcpu", "set", "web1", "4", "-t", "2,2,1", "-R").exit_code == 0
    assert pvc(store, tmp_path, "vm", "memory", "set", "web1", "256", "-R").exit_code == 0
    r = pvc(store, tmp_path, "vm", "network", "add", "web1", "200", "-a", "52:54:00:00:00:02",
            "-R")
    assert r.exit_code == 0, r.output
    spec = vmxml.parse(store.read("domain.xml", domain=uuid_of("web1")))
    assert (spec.vcpus, spec.topology, spec.memory_mib) == (4, "2/2/1", 256)
    assert [n.vni for n in spec.nics] == ["100", "200"]
    dumped = pvc(store, tmp_path, "vm", "dump", "web1").stdout
    assert vmxml.parse(dumped).uuid == uuid_of("web1")
    meta = json.loads(pvc(store, tmp_path, "vm", "info", "web1", "-f", "json").stdout)
    assert (meta["node_autostart"], meta["migration_method"]) == (False, "live")
    assert pvc(store, tmp_path, "vm", "stop", "web1").exit_code == 0
    assert pvc(store, tmp_path, "vm", "rename", "web1", "web2").exit_code == 0
    r = pvc(store, tmp_path, "vm", "undefine", "web2")
    assert r.stdout == 'Undefined VM "web2" from the cluster.\n'
    assert not store.exists("domain", domain=uuid_of("web1"))


def test_flush_and_ready_round_trip(store: Store, tmp_path: Path) -> None:
    standard_cluster(store)
    r = pvc(store, tmp_path, "node", "flush", "hv2")
    assert r.stdout == "Removing node hv2 from active service.\n"
    assert store.read("node.domain_state", node="hv2") == "flush"
    r = pvc(store, tmp_path, "node", "flush", "hv2", "--wait")
    assert r.exit_code == 0 and "already" in r.stdout
    store.write("node.domain_state", "flushed", node="hv2")
    r = pvc(store, tmp_path, "node", "ready", "hv2")
    assert r.stdout == "Restoring node hv2 to active service.\n"
    assert store.read("node.domain_state", node="hv2") == "unflush"
