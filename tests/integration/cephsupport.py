"""A tiny real Ceph cluster for integration tests: one mon, one mgr and one OSD (BlueStore
on a sparse file) on 127.0.0.1, everything inside one temporary directory.

Built with pvc.devcluster.ceph.boot, the same primitives as the development cluster. The
mon listens (msgr2 only) on a free port of loopback in the host's network namespace;
the OSD and mgr bind loopback ports that Ceph picks. Pools have one replica
(`mon_allow_pool_size_one`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from pvc.devcluster.ceph import boot as cephboot
from pvc.devcluster.ceph.admin import CephAdmin, check_pool
from tests.ports import free_port

MON, MGR, OSD_ID = "a", "x", 0
BLOCK_SIZE = 2 * 1024**3


def available() -> bool:
    """Ceph's daemons and tools and the python3-rados binding are installed."""
    try:
        import rados  # noqa: F401
    except ImportError:
        return False
    return cephboot.installed()


@dataclass
class CephTestCluster:
    workdir: Path
    conf_path: Path
    keyring_path: Path
    mon_port: int
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def admin(self) -> CephAdmin:
        return CephAdmin(self.conf_path, self.keyring_path)

    def new_pool(self, name: str) -> str:
        """A fresh one-replica pool with 8 PGs and the rbd application; its name."""
        with self.admin() as admin:
            admin.create_pool(check_pool(name), pg_num=8, size=1, min_size=1)
        return name

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs.values()]

    def spawn(self, name: str, cmd: list[str]) -> None:
        with open(self.workdir / "log" / f"{name}.out", "ab") as log:
            self.procs[name] = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)

    def stop(self) -> None:
        """Kill exactly the daemons this cluster started (by pid), then remove its dir."""
        for proc in self.procs.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        self.procs.clear()
        shutil.rmtree(self.workdir, ignore_errors=True)


def settings(workdir: Path, port: int) -> cephboot.ClusterSettings:
    d = str(workdir)
    return cephboot.ClusterSettings(
        fsid=cephboot.new_fsid(),
        mons=(cephboot.MonAddress(MON, "127.0.0.1", v2_port=port, v1_port=None),),
        public_network="127.0.0.0/8",
        block_size=BLOCK_SIZE,
        pool_size=1,
        pool_min_size=1,
        mgr_module_path=workdir / "mgr-modules",
        extra={
            "global": {
                # nothing of this cluster outside its directory
                "run_dir": f"{d}/run",
                "pid_file": f"{d}/run/$cluster-$name.pid",
                "log_file": f"{d}/log/$cluster-$name.log",
                "mon_cluster_log_file": f"default={d}/log/$cluster.$channel.log "
                                        f"cluster={d}/log/$cluster.log",
                "crash_dir": f"{d}/crash",
                "mon_data": f"{d}/mon/$cluster-$id",
                "mgr_data": f"{d}/mgr/$cluster-$id",
                "osd_data": f"{d}/osd/$cluster-$id",
                # one OSD: one replica is all there can be, and that is not a warning here
                "mon_allow_pool_size_one": "true",
                "mon_warn_on_pool_no_redundancy": "false",
                # commit map changes quickly: tests create pools one after another
                "paxos_propose_interval": "0.1",
            },
            "client": {"keyring": f"{d}/ceph.client.admin.keyring", "log_file": "",
                       "admin_socket": ""},
        },
    )


def start(timeout: float = 90) -> CephTestCluster:
    """Bring the cluster up (about 10 s) and return it once its OSD is up and in."""
    workdir = Path(tempfile.mkdtemp(prefix="pvc-ceph-"))
    for sub in ("run", "log", "crash", "mon", "mgr", "osd"):
        (workdir / sub).mkdir()
    port = free_port()
    s = settings(workdir, port)
    assert s.mgr_module_path is not None
    cephboot.mgr_module_dir(s.mgr_module_path, s.mgr_modules)
    conf = cephboot.write_conf(workdir / "ceph.conf", cephboot.conf_sections(s))
    cluster = CephTestCluster(workdir, conf, workdir / "ceph.client.admin.keyring", port)
    try:
        keys = cephboot.Keys.generate([MGR])
        osd = cephboot.OsdIdentity.new(OSD_ID)
        # the OSD's store is made offline while the mon starts
        mkfs_error: list[BaseException] = []

        def mkfs() -> None:
            try:
                cephboot.mkfs_osd(conf, osd, workdir / "osd" / f"ceph-{OSD_ID}")
            except BaseException as exc:
                mkfs_error.append(exc)

        mkfs_thread = threading.Thread(target=mkfs, daemon=True)
        mkfs_thread.start()
        cephboot.write_keyring(cluster.keyring_path, "client.admin", keys.admin,
                               cephboot.ADMIN_CAPS)
        mkfs_keyring = cephboot.write_mkfs_keyring(workdir / "mkfs.keyring", keys)
        monmap = cephboot.create_monmap(workdir / "monmap", s.fsid, s.mons)
        cephboot.mkfs_mon(conf, MON, workdir / "mon" / f"ceph-{MON}", monmap, mkfs_keyring)
        mkfs_keyring.unlink()
        cluster.spawn("mon", cephboot.mon_command(conf, MON))
        cephboot.prepare_mgr(MGR, workdir / "mgr" / f"ceph-{MGR}", keys.mgr[MGR])
        cluster.spawn("mgr", cephboot.mgr_command(conf, MGR))
        deadline = time.monotonic() + timeout
        with CephAdmin(conf, cluster.keyring_path, timeout=timeout) as admin:
            admin.register_osd(osd)
            mkfs_thread.join(max(deadline - time.monotonic(), 1))
            if mkfs_error:
                raise mkfs_error[0]
            cluster.spawn("osd", cephboot.osd_command(conf, OSD_ID))
            admin.wait_osds_up([OSD_ID], max(deadline - time.monotonic(), 1))
            admin.wait("an active mgr", lambda: bool(admin.command("mgr stat")["available"]),
                       max(deadline - time.monotonic(), 1))
    except BaseException:
        cluster.stop()
        raise
    return cluster
