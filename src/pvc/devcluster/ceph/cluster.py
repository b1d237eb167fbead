"""Ceph in the development cluster: a mon and a mgr on every coordinator (on its storage
address), one OSD on a sparse file in every node's directory, and the `vms` pool.

Before the nodes power on, the host writes each node's /etc/ceph (config and admin
keyring, in the node's private directory), makes the mons' stores and starts making the
OSDs' BlueStore stores offline. Once the nodes run and the mons form a quorum, the host
registers each OSD (`osd new UUID ID`) and asks that node's nodeinit to pick up its new
`ceph-osd` service; then it creates the pool and waits for HEALTH_OK.

OSD ids are fixed: the OSD of node hvN is osd.(N-1). Each OSD's CRUSH host is its node.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pvc.common.errors import BackendError
from pvc.devcluster.ceph import boot as cephboot
from pvc.devcluster.ceph.admin import CephAdmin
from pvc.devcluster.layout import ClusterSpec
from pvc.ops.storage import osds
from pvc.state import connect
from pvc.state.store import Store

OSD_BLOCK_SIZE = 3 * 1024**3  # sparse: only what Ceph writes takes disk space
POOL = "vms"
POOL_PGS = 32
NODE_CONF = Path("/etc/ceph/ceph.conf")
NODE_KEYRING = Path("/etc/ceph/ceph.client.admin.keyring")
REGISTERED = "pvc-registered"  # marker in an OSD's data dir: the cluster knows this OSD

Say = Callable[[str], None]


# -- where things are (as the host sees them) ---------------------------------------

def ceph_dir(spec: ClusterSpec) -> Path:
    return spec.state_dir / "ceph"


def host_conf(spec: ClusterSpec) -> Path:
    return ceph_dir(spec) / "ceph.conf"


def host_keyring(spec: ClusterSpec) -> Path:
    return ceph_dir(spec) / "ceph.client.admin.keyring"


def in_node(spec: ClusterSpec, node: str, path: Path) -> Path:
    """Where a path inside a node (under one of its private dirs) is on the host."""
    return spec.node_dir(node) / path.relative_to("/")


def osd_id(spec: ClusterSpec, node: str) -> int:
    return spec.node_index(node) - 1


def osd_dir(spec: ClusterSpec, node: str) -> Path:
    return in_node(spec, node, Path(f"/var/lib/ceph/osd/ceph-{osd_id(spec, node)}"))


def pool_sizes(spec: ClusterSpec) -> tuple[int, int]:
    """(size, min_size): three replicas on three or more nodes, fewer on smaller clusters."""
    size = min(3, spec.nodes)
    return size, (2 if size >= 3 else 1)


# -- configuration -------------------------------------------------------------------

def settings(spec: ClusterSpec, fsid: str) -> cephboot.ClusterSettings:
    size, min_size = pool_sizes(spec)
    # All mons share one host, so an election needs no 5 s timeout (Ceph's default):
    # on the first boot the mons hold two elections (the second after committing the
    # first monmap), and a lost race in that second one cost the full timeout.
    glob = {"mon_election_timeout": "1",
            # commit map changes (new OSDs, pools, OSD boots) within 0.25 s rather than
            # batching them for 1 s: a bring-up is a chain of such changes
            "paxos_propose_interval": "0.25",
            # OSD and pool figures reach the mgr (and so `pvc storage ... list`) within about
            # a second instead of five: a dev cluster is watched by people and tests
            "osd_mon_report_interval": "1", "mon_mgr_digest_period": "1",
            "mgr_stats_period": "1",
            # A dead mon (every coordinator runs one) stalls every map change (an `osd
            # down`, a blocklist entry for an RBD lock break) until the others form a
            # quorum without it: the leader notices a peon's missing lease ack after
            # mon_lease x mon_lease_ack_timeout_factor (5 x 2 s by default), a peon a
            # silent leader after the same, and a proposal waits as long for a dead mon's
            # accept (mon_accept_timeout_factor). 1 s leases: a new quorum 3-4 s after a
            # power cut (leases renewed every 0.6 s; a mon may stall 2 s before an election)
            "mon_lease": "1",
            # clients (daemons, QEMU's librbd, the node daemons) talking to a mon that died
            # hunt for another after 3 s of unanswered keepalives rather than 30 s, and
            # retry the hunt every second rather than every 3 s
            "mon_client_ping_interval": "1", "mon_client_ping_timeout": "3",
            "mon_client_hunt_interval": "1",
            # a placement group whose primary OSD died serves nothing until that OSD's read
            # lease (this ratio x osd_heartbeat_grace: 0.8 x 20 s) has run out, however soon
            # the OSD is marked down: 4 s instead of 16 s (an RBD image's header, and so
            # its lock break and a VM's start elsewhere, waited for it)
            "osd_pool_default_read_lease_ratio": "0.2",
            # a watch of a client that died (QEMU's on its image's header) lapses after 5 s
            # without pings instead of 30 s: breaking the lock notifies the header's
            # watchers and waited the notify's 5 s for the dead one. Clients ping their
            # watches (and ask for an OSD map an op waits for) on the objecter's tick, which
            # must then come every second, not every 5 s
            "osd_client_watch_timeout": "5", "objecter_tick_interval": "1"}
    if size == 1:
        glob |= {"mon_allow_pool_size_one": "true", "mon_warn_on_pool_no_redundancy": "false"}
    extra = {"global": glob}
    mons = tuple(cephboot.MonAddress(c, str(spec.node_address(c, "storage").ip))
                 for c in spec.coordinator_names)
    return cephboot.ClusterSettings(fsid=fsid, mons=mons,
                                    public_network=str(spec.network("storage")),
                                    block_size=OSD_BLOCK_SIZE, pool_size=size,
                                    pool_min_size=min_size,
                                    mgr_modules=("iostat", "prometheus"),
                                    mgr_module_path=ceph_dir(spec) / "mgr-modules",
                                    extra=extra)


def node_sections(s: cephboot.ClusterSettings, node: str) -> dict[str, dict[str, str]]:
    sections = cephboot.conf_sections(s)
    sections["osd"]["crush_location"] = f"root=default host={cephboot.check_name(node)}"
    sections["client"] = {"keyring": str(NODE_KEYRING)}
    return sections


def host_sections(spec: ClusterSpec, s: cephboot.ClusterSettings) -> dict[str, dict[str, str]]:
    sections = cephboot.conf_sections(s)
    sections["client"] = {"keyring": str(host_keyring(spec)), "log_file": "",
                          "admin_socket": ""}
    return sections


def host_run_args(spec: ClusterSpec, node: str, name: str) -> list[str]:
    """Options for a tool the host runs on a node's behalf: its files go to the node."""
    return ["--log-file", str(in_node(spec, node, Path(f"/var/log/ceph/ceph-{name}.log"))),
            "--run-dir", str(in_node(spec, node, Path("/var/lib/ceph/tmp"))),
            "--crash-dir", str(in_node(spec, node, Path("/var/lib/ceph/crash")))]


# -- before power-on -------------------------------------------------------------------

@dataclass
class Pending:
    """OSD stores being made in the background while the nodes boot."""

    osds: dict[str, cephboot.OsdIdentity]
    threads: list[threading.Thread] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)

    def run(self, target: Callable[..., None], *args: object) -> None:
        def wrapped() -> None:
            try:
                target(*args)
            except BaseException as exc:
                self.errors.append(exc)
        t = threading.Thread(target=wrapped, daemon=True)
        t.start()
        self.threads.append(t)

    def join(self, timeout: float = 300) -> None:
        for t in self.threads:
            t.join(timeout)
        if any(t.is_alive() for t in self.threads):
            raise BackendError("Making the OSD stores took too long")
        if self.errors:
            raise self.errors[0]


def prepare(spec: ClusterSpec) -> Pending:
    """Everything the host can do before the nodes run: configs, keys, mon stores; the
    OSD stores start being made in the background (join the result before using them)."""
    d = ceph_dir(spec)
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    fsid = cephboot.new_fsid()
    keys = cephboot.Keys.generate(spec.coordinator_names)
    secrets = d / "secrets.json"
    secrets.write_text(json.dumps({"fsid": fsid, "keys": json.loads(keys.to_json())}))
    secrets.chmod(0o600)
    s = settings(spec, fsid)
    if s.mgr_module_path is not None:
        cephboot.mgr_module_dir(s.mgr_module_path, s.mgr_modules)
    cephboot.write_conf(host_conf(spec), host_sections(spec, s))
    cephboot.write_keyring(host_keyring(spec), "client.admin", keys.admin, cephboot.ADMIN_CAPS)
    pending = Pending({n: cephboot.OsdIdentity.new(osd_id(spec, n)) for n in spec.node_names})
    for node in spec.node_names:
        for sub in ("var/lib/ceph/mon", "var/lib/ceph/mgr", "var/lib/ceph/osd",
                    "var/lib/ceph/tmp", "var/lib/ceph/crash", "var/log/ceph", "etc/ceph"):
            (spec.node_dir(node) / sub).mkdir(parents=True, exist_ok=True)
        conf = cephboot.write_conf(in_node(spec, node, NODE_CONF), node_sections(s, node))
        cephboot.write_keyring(in_node(spec, node, NODE_KEYRING), "client.admin", keys.admin,
                               cephboot.ADMIN_CAPS)
        osd = pending.osds[node]
        pending.run(cephboot.mkfs_osd, conf, osd, osd_dir(spec, node),
                    host_run_args(spec, node, f"osd.{osd.osd_id}"))
    mkfs_keyring = cephboot.write_mkfs_keyring(d / "mkfs.keyring", keys)
    monmap = cephboot.create_monmap(d / "monmap", fsid, s.mons)
    mons = Pending({})
    for node in spec.coordinator_names:
        mons.run(cephboot.mkfs_mon, in_node(spec, node, NODE_CONF), node,
                 in_node(spec, node, Path(f"/var/lib/ceph/mon/ceph-{node}")), monmap,
                 mkfs_keyring, host_run_args(spec, node, f"mon.{node}"))
        cephboot.prepare_mgr(node, in_node(spec, node, Path(f"/var/lib/ceph/mgr/ceph-{node}")),
                             keys.mgr[node])
    mons.join()
    mkfs_keyring.unlink()
    return pending


# -- the node's services -----------------------------------------------------------------

def services(spec: ClusterSpec, node: str) -> list[tuple[str, list[str]]]:
    """(service name, command) of the Ceph daemons this node's init runs, as far as they
    exist: mon and mgr on coordinators."""
    out: list[tuple[str, list[str]]] = []
    mon_data = in_node(spec, node, Path(f"/var/lib/ceph/mon/ceph-{node}"))
    if node in spec.coordinator_names and (mon_data / "done").exists():
        out.append(("ceph-mon", cephboot.mon_command(NODE_CONF, node)))
        out.append(("ceph-mgr", cephboot.mgr_command(NODE_CONF, node)))
    # (the node's OSD is run by its pvcnoded, as on a real node: pvc.node.storage.osds)
    return out


# -- after power-on ------------------------------------------------------------------------

def finish(spec: ClusterSpec, pending: Pending, timeout: float, say: Say) -> None:
    """Register and record the OSDs (each node's pvcnoded then starts its own), create the
    pool, wait for HEALTH_OK."""
    with CephAdmin(host_conf(spec), host_keyring(spec), timeout=timeout) as admin:
        pending.join()
        for osd in pending.osds.values():
            admin.register_osd(osd)
        record_osds(spec, list(pending.osds))
        for node in pending.osds:
            (osd_dir(spec, node) / REGISTERED).touch()
        say(f"Ceph: {len(pending.osds)} OSDs registered; creating pool {POOL}")
        ensure_pool(spec, admin)
        admin.wait_health_ok(timeout, sorted(o.osd_id for o in pending.osds.values()), [POOL])
    say("Ceph is HEALTH_OK")


def ensure_pool(spec: ClusterSpec, admin: CephAdmin) -> None:
    size, min_size = pool_sizes(spec)
    admin.create_pool(POOL, POOL_PGS, size, min_size, application="rbd")


def made_osd(spec: ClusterSpec, node: str) -> cephboot.OsdIdentity | None:
    """The identity of a node's OSD store if mkfs finished (from its own files)."""
    d = osd_dir(spec, node)
    try:
        if (d / "ready").read_text().strip() != "ready":
            return None
        osd_uuid = (d / "fsid").read_text().strip()
        keyring = (d / "keyring").read_text()
    except OSError:
        return None
    keys = [ln.split("=", 1)[1].strip() for ln in keyring.splitlines()
            if ln.strip().startswith("key")]
    return cephboot.OsdIdentity(osd_id(spec, node), osd_uuid, keys[0]) if keys else None


def ensure(spec: ClusterSpec, timeout: float, say: Say) -> None:
    """On a cluster that is already up: every OSD registered, recorded and so running (a
    bring-up that was interrupted leaves some unregistered), the pool exists and Ceph is
    healthy."""
    if not host_conf(spec).exists():
        say("Ceph: this cluster was built without it (by an older pvc-dev); "
            "`pvc-dev down` and `up` add it")
        return
    with CephAdmin(host_conf(spec), host_keyring(spec), timeout=timeout) as admin:
        late = {n: o for n in spec.node_names if (o := made_osd(spec, n)) is not None
                and not (osd_dir(spec, n) / REGISTERED).exists()}
        for node, osd in late.items():
            say(f"Ceph: registering the OSD of {node}")
            admin.register_osd(osd)
        if late:
            record_osds(spec, list(late))
        for node in late:
            (osd_dir(spec, node) / REGISTERED).touch()
        ensure_pool(spec, admin)
        admin.wait_health_ok(timeout, [osd_id(spec, n) for n in spec.node_names], [POOL])
    say("Ceph is HEALTH_OK")


def record_osds(spec: ClusterSpec, nodes: list[str]) -> None:
    """Each node's OSD in the cluster state, placed on the node (as `osd.add` records one),
    so that the node's pvcnoded starts it."""
    zk = connect.client(spec.zookeeper_hosts(), 5)
    zk.start(timeout=30)
    try:
        store = Store(zk)
        deadline = time.monotonic() + 120
        while not store.exists("root.ceph.osds"):  # the first node daemon makes the tree
            if time.monotonic() > deadline:
                raise BackendError("The cluster state has no OSD records' place (/ceph/osds) "
                                   "after 120 s: is any node daemon running?")
            time.sleep(0.2)
        for node in nodes:
            osd = osd_id(spec, node)
            osds.write_record(store, osd, {
                "node": node, "device": f"/var/lib/ceph/osd/ceph-{osd}/block",
                "db_device": "", "is_split": False})
    finally:
        zk.stop()
        zk.close()


def health_line(spec: ClusterSpec, timeout: float = 3) -> str | None:
    """One line of Ceph health, or None if Ceph cannot be asked."""
    if not host_conf(spec).exists():
        return None
    try:
        with CephAdmin(host_conf(spec), host_keyring(spec), timeout=timeout) as admin:
            return admin.health_line()
    except BackendError:
        return None
