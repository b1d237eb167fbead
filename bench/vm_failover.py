"""Power cut of a node that runs VMs with RBD disks -> every one of them running on a
survivor, with its parts: detection (power-off until the primary marks the node dead),
fence (dead until marked fenced: saving throws, IPMI power off, confirmed off) and
restart (fenced until the last VM's start is acknowledged: OSDs down, RBD locks broken,
handover, starts).

Times come from ZooKeeper (the modification times of the victim's daemon state and of
each VM's status, written by the product) and, independently, from every survivor's
libvirt, asked directly every 50 ms. After each run the fence has powered the node back
on; once it runs and Ceph is clean again, `node ready` brings the VMs back (live
migration) and the next run starts. `--primary` powers off the primary instead (the
node is made primary again before each run). `--zk-leader` powers off the node whose
ZooKeeper server leads the ensemble (not the primary: that is made another node), with
the VMs moved onto it before each run.

Run: sudo .venv/bin/python -m bench.vm_failover [--runs 5] [--primary | --zk-leader]
     [--log] [--keep]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import libvirt

from bench.common import (
    api,
    define_and_start,
    end_cleanly_on_sigterm,
    median_line,
    say,
    uuid_of,
)
from pvc.common.errors import BackendError
from pvc.devcluster import cluster, demo
from pvc.devcluster.ceph import cluster as cephdev
from pvc.devcluster.ceph.admin import CephAdmin
from pvc.devcluster.layout import ZK_CLIENT_PORT, ClusterSpec
from pvc.devcluster.node import power
from pvc.drivers.fencing.ipmi import IpmiTool
from pvc.ops.node import logs
from pvc.state import ensemble
from pvc.state.store import Store

GOAL = 10.0
POOL = "vms"
VMS = 3
LOG_WORDS = ("ence", "dead", "OSD", "lock", "Started VM", "primary", "starts on")


def fo_spec() -> ClusterSpec:
    """This bench's own cluster, apart from `dev`, the tests' and the other benches'."""
    return ClusterSpec(name="pvcfo", prefix="fo", subnet=73)


def _libvirt_events() -> None:
    """libvirt's event loop in a thread: remote connections then send keepalives, so one
    to a node that lost its power fails within seconds instead of hanging."""
    libvirt.virEventRegisterDefaultImpl()

    def run() -> None:
        while True:
            libvirt.virEventRunDefaultImpl()

    threading.Thread(target=run, name="libvirt-events", daemon=True).start()


def active_on(spec: ClusterSpec, node: str) -> set[str]:
    conn = libvirt.open(f"qemu+tcp://{spec.node_address(node, 'cluster').ip}/system")
    try:
        return {d.UUIDString() for d in
                conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)}
    finally:
        conn.close()


def wait_for(what: str, check: Any, timeout: float, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except Exception as exc:  # the cluster is changing under us: look again
            last = exc
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}: last {last!r}")


@dataclass
class Watcher:
    """ZooKeeper watches (victim's daemon state, each VM's status) and one libvirt
    sampling thread per survivor; times are seconds after `t0`."""

    spec: ClusterSpec
    store: Store
    victim: str
    uuids: list[str]
    t0: float = 0.0
    zk: dict[str, float] = field(default_factory=dict)
    seen: dict[str, float] = field(default_factory=dict)  # uuid -> first seen on a survivor
    doubles: int = 0
    _snap: dict[str, set[str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def __enter__(self) -> Watcher:
        zk = self.store.zk
        zk.DataWatch(self.store.path("node.daemon_state", node=self.victim), self._daemon)
        for uuid in self.uuids:
            zk.DataWatch(self.store.path("domain.status", domain=uuid), self._vm(uuid))
        for node in self.spec.node_names:
            if node != self.victim:
                t = threading.Thread(target=self._sample, args=(node,), daemon=True)
                t.start()
                self._threads.append(t)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5)

    def _daemon(self, data: bytes | None, stat: Any, event: Any = None) -> bool:
        if data is not None and stat is not None:
            self.zk.setdefault(f"daemon:{data.decode()}", stat.mtime / 1000)
        return not self._stop.is_set()

    def _vm(self, uuid: str) -> Any:
        def on(data: bytes | None, stat: Any, event: Any = None) -> bool:
            if data is not None and stat is not None:
                status = json.loads(data)
                seq = int((status.get("intent") or {}).get("seq", 0))
                if (status.get("node") != self.victim and status.get("state") == "start"
                        and status.get("started") == seq):
                    self.zk.setdefault(f"started:{uuid}", stat.mtime / 1000)
            return not self._stop.is_set()
        return on

    def _sample(self, node: str) -> None:
        conn: libvirt.virConnect | None = None
        while not self._stop.wait(0.05):
            try:
                if conn is None:
                    conn = libvirt.open(
                        f"qemu+tcp://{self.spec.node_address(node, 'cluster').ip}/system")
                active = {d.UUIDString() for d in
                          conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)}
            except libvirt.libvirtError:
                conn = None
                continue
            now = time.time()
            with self._lock:
                self._snap[node] = active
                for uuid in self.uuids:
                    if uuid in active:
                        self.seen.setdefault(uuid, now)
                if any(sum(u in act for act in self._snap.values()) > 1 for u in self.uuids):
                    self.doubles += 1
        if conn is not None:
            with contextlib.suppress(libvirt.libvirtError):
                conn.close()

    def done(self) -> bool:
        return len(self.seen) == len(self.uuids) and all(
            f"started:{u}" in self.zk for u in self.uuids)

    def t(self, key: str) -> float:
        return self.zk[key] - self.t0

    def parts(self) -> dict[str, float]:
        started = max(self.t(f"started:{u}") for u in self.uuids)
        return {"total": started,
                "libvirt": max(self.seen.values()) - self.t0,
                "detection": self.t("daemon:dead"),
                "fence": self.t("daemon:fenced") - self.t("daemon:dead"),
                "restart": started - self.t("daemon:fenced")}


def fence_log(store: Store, spec: ClusterSpec, victim: str, since: float) -> str:
    """The survivors' log lines about the fence, from `since` (a wall time) on."""
    first = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since - 1))
    out = []
    for node in spec.node_names:
        if node == victim:
            continue
        with contextlib.suppress(Exception):
            for line in logs.node_log(store, node, 400, 2000).splitlines():
                if line[:19] >= first and any(w in line for w in LOG_WORDS):
                    out.append(f"  {line[11:23]} {node}: {line[24:]}")
    return "\n".join(sorted(out))


def ceph_settled(spec: ClusterSpec) -> None:
    with CephAdmin(cephdev.host_conf(spec), cephdev.host_keyring(spec), timeout=30) as a:
        a.wait_quorum(spec.coordinator_names, 240)
        a.wait_osds_up(sorted(a.osd_states()), 240)
        a.wait("the vms pool clean", lambda: a.pool_clean(POOL), 240,
               last=lambda: a.pool_line(POOL))


def primary_of(spec: ClusterSpec, store: Store) -> str | None:
    return next((n for n, s in cluster.node_states(spec, store).items()
                 if s["coordinator_state"] == "primary" and s["daemon_state"] == "run"), None)


def make_primary(spec: ClusterSpec, store: Store, node: str) -> None:
    if primary_of(spec, store) == node:
        return
    with api(spec) as c:
        r = c.post(f"/node/{node}/coordinator-state", params={"state": "primary"})
        if r.status_code != 200:
            raise BackendError(f"node primary {node}: {r.text}")
    wait_for(f"{node} primary", lambda: primary_of(spec, store) == node, 60)
    wait_for("the API", lambda: api(spec).get("/").status_code == 200, 60)


def define_vms(spec: ClusterSpec, node: str) -> list[str]:
    uuids = []
    with api(spec) as c:
        for i in range(VMS):
            name = f"fo{i}"
            if c.get(f"/vm/{name}").status_code == 200:  # a kept cluster: an earlier run's
                uuids.append(uuid_of(c, name))
                continue
            r = c.post("/storage/ceph/volume",
                       params={"volume": f"{name}_disk", "pool": POOL, "size": "16M"})
            if r.status_code != 200:
                raise BackendError(f"volume {name}_disk: {r.text}")
            # the guest writes its counter to its disk: it holds the image's lock
            xml = demo.vm_xml(spec, name, disks=[demo.rbd_disk(spec, f"{POOL}/{name}_disk")],
                              disk_probe=True)
            uuids.append(define_and_start(c, name, node, xml))
    return uuids


def zk_leader(spec: ClusterSpec) -> str | None:
    """The coordinator whose ZooKeeper server leads the ensemble now."""
    return next((c for c in spec.coordinator_names if ensemble.server_mode(
        str(spec.node_address(c, "cluster").ip), ZK_CLIENT_PORT) == "leader"), None)


def move_vms(spec: ClusterSpec, names: list[str], node: str) -> None:
    """Every VM of the bench moved (live) onto `node`."""
    with api(spec) as c:
        for name in names:
            r = c.post(f"/vm/{name}/node", params={"action": "move", "node": node,
                                                   "wait": "true"})
            if r.status_code != 200 and "already" not in r.text:
                raise BackendError(f"move {name} to {node}: {r.text}")


def node_is(spec: ClusterSpec, store: Store, node: str, daemon: str) -> bool:
    return bool(cluster.node_states(spec, store)[node]["daemon_state"] == daemon)


def one_run(spec: ClusterSpec, store: Store, victim: str, uuids: list[str],
            show_log: bool) -> dict[str, float]:
    bmc = IpmiTool(str(spec.bmc_address(victim)), spec.ipmi_username, spec.ipmi_password,
                   timeout=5)
    with Watcher(spec, store, victim, uuids) as w:
        time.sleep(0.5)  # the samplers have connected
        w.t0 = time.time()
        try:
            bmc.power_off()
        except BackendError:
            if bmc.power_status() != "off":
                raise
        if power.status(spec, victim) == "on":  # a BMC that took it for off already
            say(f"  WARNING: the BMC left {victim} on; cutting its power directly")
            power.off(spec, victim)
        wait_for("every VM running on a survivor", w.done, 120, interval=0.05)
    if w.doubles:
        say(f"  WARNING: {w.doubles} libvirt samples with a VM on two survivors")
    if show_log:
        say(fence_log(store, spec, victim, w.t0))
    return w.parts()


def restore(spec: ClusterSpec, store: Store, victim: str, uuids: list[str]) -> None:
    """The fenced node back in service and its VMs back on it."""
    wait_for(f"{victim} back in run", lambda: node_is(spec, store, victim, "run"), 240, 0.5)
    ceph_settled(spec)
    with api(spec) as c:
        for _ in range(5):  # the API may answer 5xx while the node settles
            r = c.post(f"/node/{victim}/domain-state", params={"state": "ready", "wait": "true"})
            if r.status_code == 200:
                break
            say(f"  node ready {victim}: {r.status_code} {r.text[:200]}; again")
            time.sleep(2)
        else:
            raise BackendError(f"node ready {victim}: {r.text}")
    wait_for("the VMs back on the victim",
             lambda: set(uuids) <= active_on(spec, victim), 240, 0.5)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    how = ap.add_mutually_exclusive_group()
    how.add_argument("--primary", action="store_true", help="power off the primary")
    how.add_argument("--zk-leader", action="store_true",
                     help="power off the node whose ZooKeeper server leads the ensemble")
    ap.add_argument("--log", action="store_true", help="print the survivors' fence log")
    ap.add_argument("--keep", action="store_true", help="leave the cluster up afterwards")
    args = ap.parse_args()
    end_cleanly_on_sigterm()
    _libvirt_events()
    results: list[dict[str, float]] = []
    spec = cluster.up(fo_spec(), timeout=300, say=say)
    store = cluster.zk_store(spec)
    try:
        primary = primary_of(spec, store) or spec.node_names[0]
        victim = primary if args.primary else [
            n for n in spec.node_names if n != primary][-1]
        uuids = define_vms(spec, victim)
        for run in range(args.runs):
            if args.zk_leader:
                victim = wait_for("a ZooKeeper leader", lambda: zk_leader(spec), 60)
                if primary_of(spec, store) == victim:
                    make_primary(spec, store, next(n for n in spec.node_names if n != victim))
                move_vms(spec, [f"fo{i}" for i in range(VMS)], victim)
            elif args.primary:
                make_primary(spec, store, victim)
            elif primary_of(spec, store) == victim:
                make_primary(spec, store, next(n for n in spec.node_names if n != victim))
            wait_for("the VMs on the victim",
                     lambda v=victim: set(uuids) <= active_on(spec, v), 120, 0.5)
            ceph_settled(spec)
            time.sleep(2)
            p = one_run(spec, store, victim, uuids, args.log)
            results.append(p)
            say(f"run {run + 1}: {victim} off -> {VMS} VMs running on survivors after "
                f"{p['total']:.2f} s (libvirt {p['libvirt']:.2f} s) = detection "
                f"{p['detection']:.2f} + fence {p['fence']:.2f} + restart {p['restart']:.2f}")
            restore(spec, store, victim, uuids)
    except Exception as exc:  # print what was measured before the failure
        say(f"run {len(results) + 1} failed: {exc!r}")
    finally:
        cluster.close(store)
        if not args.keep:
            left = cluster.down(spec)
            if left:
                say(f"left behind: {left}")
    if not results:
        raise SystemExit("no run finished")
    what = ("primary" if args.primary else "ZooKeeper leader (not primary)" if args.zk_leader
            else "non-primary node")
    print(median_line(f"{what} power-off: {VMS} RBD VMs running on survivors",
                      [r["total"] for r in results], GOAL))
    print(median_line("  seen in survivors' libvirt", [r["libvirt"] for r in results]))
    print(median_line("  detection (power-off to marked dead)",
                      [r["detection"] for r in results]))
    print(median_line("  fence (dead to fenced)", [r["fence"] for r in results]))
    print(median_line("  restart (fenced to last start acknowledged)",
                      [r["restart"] for r in results]))


if __name__ == "__main__":
    main()
