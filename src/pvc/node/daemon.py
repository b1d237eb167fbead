"""pvcnoded: the node daemon's lifecycle.

start: connect to ZooKeeper, make sure the schema exists (or migrate it), register the
node (daemon state init), start the log buffer, keepalives and (on coordinators) the
election, then state run. stop (SIGTERM): state shutdown, relinquish the primary role,
final keepalive, state stop. Running VMs are never touched by a stop.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import TYPE_CHECKING

from kazoo.client import KazooState

from pvc import __version__
from pvc.common import procs
from pvc.common.config import Config
from pvc.common.errors import BackendError
from pvc.drivers.hypervisor import secrets
from pvc.drivers.hypervisor.vms import LibvirtVms
from pvc.drivers.network.firewall import NftFirewall
from pvc.drivers.network.links import NetlinkLinks
from pvc.node import figures
from pvc.node.ha.bmc_check import BmcCheck, check_own_bmc
from pvc.node.ha.fault_monitor import FaultMonitor
from pvc.node.ha.fencing import FenceMonitor
from pvc.node.ha.self_fence import SelfFence
from pvc.node.keepalive import Keepalive
from pvc.node.network.datapath import NetworkLinks
from pvc.node.network.services import NetworkServices
from pvc.node.network.watch import NetworkWatch
from pvc.node.primary.election import Coordinator
from pvc.node.primary.services import PrimaryServices
from pvc.node.services import from_config as services_from_config
from pvc.node.storage.osds import LocalOsds
from pvc.node.storage.publisher import StoragePublisher
from pvc.node.vm.controller import VmController
from pvc.node.vm.flush import FlushController
from pvc.node.vm.observer import VmObserver
from pvc.node.zklog import ZkLogBuffer
from pvc.state import connect, ensemble, tree
from pvc.state.schema import LATEST
from pvc.state.store import Store

if TYPE_CHECKING:
    from pvc.drivers.storage.ceph import CephStorage

log = logging.getLogger("pvcnoded")


class Daemon:
    def __init__(self, config: Config, node: str, zk_hosts: str | None = None) -> None:
        self.config = config
        self.node = node
        self.is_coordinator = config.is_coordinator(node)
        hosts = zk_hosts or config.zookeeper_hosts(prefer=node)
        self.zk = connect.client(hosts, config.zookeeper_session_timeout)
        self.store = Store(self.zk)
        self.hypervisor = LibvirtVms()
        self.state = "init"
        self.state_lock = threading.RLock()
        self.stopped = threading.Event()
        self.services = PrimaryServices(config, config.system_log_directory)
        self.coordinator: Coordinator | None = None
        self.zklog: ZkLogBuffer | None = None
        self.keepalive: Keepalive | None = None
        self.storage: CephStorage | None = None
        if config.enable_storage:
            from pvc.drivers.storage.ceph import CephStorage

            self.storage = CephStorage(config.ceph_config_file, config.ceph_keyring_file)
        self.vms = VmController(self.store, node, config, self.hypervisor,
                                storage=self.storage)
        self.observer = VmObserver(self.store, node, self.hypervisor, config.console_log_lines,
                                   self.vms.local_consoles)
        self.vms.on_ended = self.observer.last_words
        self.flush = FlushController(self.vms)
        self.publisher: StoragePublisher | None = None
        self.self_fence: SelfFence | None = None
        self.fault_monitor: FaultMonitor | None = None
        self.fence_monitor: FenceMonitor | None = None
        self.bmc: BmcCheck | None = None
        self.osds: LocalOsds | None = None
        self.network_links: NetworkLinks | None = None
        self.network_services: NetworkServices | None = None
        self.network_watch: NetworkWatch | None = None

    # -- start ----------------------------------------------------------
    def start(self) -> None:
        log.info("Starting pvcnoded %s on node %s (%s)", __version__, self.node,
                 "coordinator" if self.is_coordinator else "hypervisor")
        if self.is_coordinator:
            self.services.remove_stray_addresses()
        self._connect()
        # a loaded ensemble drops a fresh connection now and then; both steps may run again
        steady = max(60.0, 4 * self.config.zookeeper_session_timeout)
        connect.steadily("Preparing the cluster's schema", steady, tree.ensure, self.store,
                         self.node, log.info)
        self.zklog = ZkLogBuffer(self.store, self.node, self.config.node_log_lines)
        self.zklog.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logging.getLogger().addHandler(self.zklog)
        self.zklog.start()
        self.bmc = check_own_bmc(self.config, self.node)
        connect.steadily(f"Registering node {self.node}", steady, self.register)
        if self.config.enable_storage:
            self.osds = LocalOsds(self.store, self.node, services_from_config(self.config))
            self.osds.start()
        try:
            self.hypervisor.ping()
            self._ensure_ceph_secret()
        except BackendError as exc:
            log.warning("libvirt is not usable yet: %s", exc)
        if self.is_coordinator:
            self.coordinator = Coordinator(self.store, self.node, self.services,
                                           lambda: self.state == "run", self._leads_ensemble)
        self.keepalive = Keepalive(
            self.store, self.node, self.config, self.hypervisor,
            daemon_state=lambda: self.state,
            coordinator_state=self.coordinator_state,
            state_lock=self.coordinator.lock if self.coordinator else self.state_lock,
            is_primary=lambda: self.coordinator_state() == "primary",
            on_missing=self._reregister,
            on_domains=self.vms.observe,
            provisioned=self.vms.provisioned_mib,
        )
        if self.config.enable_networking:
            self._start_networks()
        self.vms.start()
        self.observer.start()
        self.flush.start()
        self.state = "run"
        self.keepalive.beat()
        self.keepalive.start()
        keepalive = self.keepalive
        # its own libvirt connection: a hung call on the shared one must not delay it
        self.self_fence = SelfFence(self.node, self.config, LibvirtVms(),
                                    lambda: bool(self.zk.connected), lambda: keepalive.last_ok)
        self.self_fence.start()
        if self.coordinator:
            self.coordinator.start()
            self.fault_monitor = FaultMonitor(
                self.store, self.config, lambda: self.coordinator_state() == "primary")
            self.fault_monitor.start()
            self.fence_monitor = FenceMonitor(self.store, self.node, self.config,
                                              lambda: self.state == "run", self.storage)
            self.fence_monitor.start()
            if self.storage is not None:
                self.publisher = StoragePublisher(
                    self.store, self.storage, lambda: self.coordinator_state() == "primary")
                self.publisher.start()
        log.info("Node %s is in run state", self.node)

    def _start_networks(self) -> None:
        """Every client network exists here before a VM starts or the node reports run;
        a coordinator also runs their firewall and, as primary, their gateways and DHCP."""
        watch = NetworkWatch(self.store)
        self.network_watch = watch
        self.network_links = NetworkLinks(self.store, self.node, self.config, NetlinkLinks())
        failed = self.network_links.sync()
        if failed:
            log.error("Client networks %s could not be built on this node",
                      ", ".join(map(str, failed)))
        self.network_links.start(watch)
        if self.is_coordinator:
            self.network_services = NetworkServices(self.store, self.node, self.config,
                                                    self.services, NetlinkLinks(),
                                                    NftFirewall())
            self.network_links.after_sync.append(self.network_services.wake)
            self.network_services.start(watch)
        watch.start()

    def _ensure_ceph_secret(self) -> None:
        if not (self.config.enable_storage and self.config.ceph_secret_uuid):
            return
        key = secrets.keyring_secret(self.config.ceph_keyring_file)
        if secrets.ensure_ceph_secret(self.hypervisor, self.config.ceph_secret_uuid, key):
            log.info("Defined the Ceph secret %s in libvirt", self.config.ceph_secret_uuid)

    def _connect(self) -> None:
        self.zk.add_listener(self._on_session)
        deadline = time.monotonic() + 120
        while True:
            try:
                self.zk.start(timeout=10)
                return
            except Exception as exc:
                if time.monotonic() > deadline:
                    raise BackendError(f"Cannot reach ZooKeeper: {exc!r}") from exc
                log.warning("Waiting for ZooKeeper: %r", exc)
                time.sleep(1)

    def _on_session(self, state: str) -> None:  # kazoo thread: only log
        if state == KazooState.LOST:
            log.warning("ZooKeeper session lost; a new session will be made")
        elif state == KazooState.SUSPENDED:
            log.warning("ZooKeeper connection suspended")
        if self.self_fence:
            self.self_fence.on_session(state)

    def _leads_ensemble(self) -> bool:
        address = str(self.config.networks["cluster"].node_address(self.node).ip)
        return ensemble.server_mode(address, self.config.zookeeper_port) == "leader"

    def coordinator_state(self) -> str:
        if self.coordinator is None:
            return "client"
        return self.coordinator.state

    def register(self) -> None:
        """Create or refresh this node's record in one transaction."""
        values = {
            "node": "coordinator" if self.is_coordinator else "hypervisor",
            "node.daemon_state": "init",
            "node.coordinator_state": self.coordinator_state() if self.coordinator else (
                "secondary" if self.is_coordinator else "client"),
            "node.static": figures.static_data(),
            "node.pvc_version": __version__,
            "node.active_schema": LATEST,
            "node.ipmi": {
                "hostname": self.config.ipmi_host_for(self.node) if self.config.ipmi_hostname
                else "",
                "username": self.config.ipmi_username,
                "password": self.config.ipmi_password,
                # the start-up check of this BMC (pvc.node.ha.bmc_check)
                **({"reachable": self.bmc.reachable, "fencing": self.bmc.fencing}
                   if self.bmc is not None else {}),
            },
            "node.keepalive": time.time(),
        }
        existing = self.store.exists("node", node=self.node)
        txn = self.store.txn()
        for key in self.store.schema.object_keys("node"):
            if key.name in values:
                if existing and self.store.exists(key.name, node=self.node):
                    txn.set(key.name, values[key.name], node=self.node)
                else:
                    txn.create(key.name, values[key.name], node=self.node)
            elif not existing or not self.store.exists(key.name, node=self.node):
                txn.create(key.name, key.default, node=self.node)
        txn.commit()
        log.info("Registered node %s", self.node)

    def _reregister(self) -> None:
        tree.ensure(self.store, self.node, log.info)
        self.register()

    # -- stop -----------------------------------------------------------
    def stop(self) -> None:
        if self.stopped.is_set():
            return
        log.info("Stopping pvcnoded on node %s", self.node)
        if self.self_fence:  # first: a session closed on purpose is no isolation
            self.self_fence.stop()
        self.state = "shutdown"
        try:
            if self.keepalive:
                self.keepalive.beat()
        except Exception as exc:
            log.warning("Could not publish shutdown state: %s", exc)
        if self.coordinator:
            self.coordinator.stop()
        if self.keepalive:
            self.keepalive.stop()
        if self.publisher:
            self.publisher.stop()
        if self.fault_monitor:
            self.fault_monitor.stop()
        if self.fence_monitor:
            self.fence_monitor.stop()
        self.observer.stop()
        self.vms.stop()
        if self.network_watch:
            self.network_watch.stop()
        if self.network_links:
            self.network_links.stop()
        if self.network_services:
            self.network_services.stop()
        if self.osds:
            self.osds.stop()
        self.services.stop(urgent=False)
        self.state = "stop"
        try:
            if self.keepalive:
                self.keepalive.beat()
        except Exception as exc:
            log.warning("Could not publish stop state: %s", exc)
        if self.zklog:
            self.zklog.stop()
        self.zk.stop()
        self.zk.close()
        if self.storage is not None:
            self.storage.close()
        self.stopped.set()
        log.info("pvcnoded stopped")


def setup_logging(debug: bool) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    logging.getLogger("kazoo").setLevel(logging.WARNING)
    procs.stacks_on_sigusr1()
