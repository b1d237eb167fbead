"""What the bootstrap daemon does with what it hears: the leases dnsmasq hands out, the
scripts iPXE asks for, the answers the installer fetches and the check-ins it posts.
Every stage a node reaches is recorded first (so a restarted daemon resumes from it),
then reported (log and webhook).
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pvc.bootstrap import ansible, hooks, netboot, redfish, repo, stages
from pvc.bootstrap.config import Hook, Node, is_drive_id
from pvc.bootstrap.notify import Notifier
from pvc.bootstrap.settings import Settings
from pvc.bootstrap.store import NodeRecord, Store
from pvc.common.errors import InvalidArgument, NotFound, PVCError
from pvc.installer import answers as installer_answers

log = logging.getLogger(__name__)

JOB_THREADS = 4  # servers prepared through their BMCs at once

STATUS_OF = {"characterizing": stages.BEGIN, "pxe-booting": stages.BEGIN,
             "installing": stages.BEGIN, "installed": stages.SUCCESS,
             "booted-initial": stages.SUCCESS, "booted-configured": stages.SUCCESS,
             "completed": stages.COMPLETED, stages.FAILED: stages.FAILURE}


def mac(value: str) -> str:
    text = value.strip().lower().replace("-", ":")
    if not installer_answers.MAC.fullmatch(text):
        raise InvalidArgument(f"{value[:40]!r} is not a MAC address")
    return text


class Bootstrap:
    def __init__(self, settings: Settings, store: Store, notifier: Notifier) -> None:
        self.settings, self.store, self.notifier = settings, store, notifier
        self.clusters: dict[str, repo.Cluster] = {}
        self.jobs = ThreadPoolExecutor(max_workers=JOB_THREADS, thread_name_prefix="job")
        self._lock = threading.Lock()  # one check-in at a time decides a cluster's progress
        self._repo_lock = threading.Lock()  # one writer of the repository
        self._cluster_jobs: set[str] = set()  # clusters whose configuration runs now
        self._jobs_lock = threading.Lock()

    # --- the clusters ---

    def load(self) -> None:
        """(Re)read the cluster repository (pulled first) and record what is new."""
        repo.pull(self.settings.repository)
        found = {c.name: c for c in repo.clusters(self.settings.repository)}
        for cluster in found.values():
            added = self.store.ensure_cluster(cluster.name, [
                (n.hostname, n.bmc_mac, n.bmc.redfish, n.install.mac)
                for n in cluster.config.nodes])
            for hostname in added:
                node = cluster.config.node_by_hostname(hostname)
                how = "its BMC" if node.bmc.redfish else \
                    f"its NIC {node.install.mac} to PXE-boot (power it on)"
                self.report(cluster.name, hostname, "waiting", stages.INFO,
                            f"{hostname} is to be installed; waiting for {how}")
        self.clusters = found

    def _config(self, record: NodeRecord) -> tuple[repo.Cluster, Node]:
        cluster = self.clusters.get(record.cluster)
        if cluster is None:
            raise NotFound(f"cluster {record.cluster} is no longer in the repository")
        return cluster, cluster.config.node_by_hostname(record.hostname)

    # --- reporting ---

    def report(self, cluster: str, hostname: str, stage: str, status: str,
               message: str) -> None:
        self.notifier.send(cluster, hostname, stage, status, message)

    def advance(self, record: NodeRecord, stage: str, message: str) -> bool:
        if not self.store.advance_node(record.cluster, record.hostname, stage,
                                       STATUS_OF.get(stage, stages.INFO), message):
            return False
        self.report(record.cluster, record.hostname, stage,
                    STATUS_OF.get(stage, stages.INFO), message)
        return True

    def news(self, cluster: str, hostname: str, stage: str, status: str,
             message: str) -> None:
        """Something that moves no stage: recorded, then reported."""
        self.store.note(cluster, hostname, stage, status, message)
        self.report(cluster, hostname, stage, status, message)

    def _fail(self, record: NodeRecord, message: str) -> None:
        self.advance(record, stages.FAILED, f"{record.hostname} failed: {message}")

    # --- what the network tells ---

    def lease(self, action: str, hw: str, ip: str) -> None:
        """dnsmasq gave (add, old) or took back (del) a lease."""
        if action not in ("add", "old", "del"):
            raise InvalidArgument(f"lease action {action[:20]!r} is not add, old or del")
        hw = mac(hw)
        address = str(ipaddress.IPv4Address(ip))
        record = self.store.node_by_mac(hw)
        if record is None or action == "del":
            return
        if hw == record.bmc_mac:
            if record.bmc_ip != address:  # (not a renewal, or a restarted dnsmasq's news)
                record = self.store.update_node(record.cluster, record.hostname,
                                                bmc_ip=address)
                if record.stage == "waiting":
                    message = f"BMC of {record.hostname} has {address}" + (
                        "" if record.redfish else " (not driven: redfish is false)")
                    self.news(record.cluster, record.hostname, record.stage, stages.INFO,
                              message)
            if record.redfish and record.stage == "waiting":
                self.start_characterizing(record)
            return
        self.store.update_node(record.cluster, record.hostname, node_ip=address)
        if not stages.reached(record.stage, "installed"):
            self.advance(record, "pxe-booting",
                         f"{record.hostname} asks to boot from the network ({hw} has {address})")

    # --- the Redfish flow (on the worker: power changes take their time) ---

    def start_characterizing(self, record: NodeRecord) -> None:
        if self.advance(record, "characterizing",
                        f"{record.hostname}: reading and preparing the system through its "
                        f"BMC at {record.bmc_ip}"):
            self.submit(self._characterize, record.cluster, record.hostname)

    def submit(self, job: Callable[..., None], *args: str) -> None:
        self.jobs.submit(self._run_job, job, *args)

    def _run_job(self, job: Callable[..., None], cluster: str, hostname: str) -> None:
        try:
            job(cluster, hostname)
        except Exception as exc:  # a job's failure is the node's, never the daemon's
            message = exc.message if isinstance(exc, PVCError) else repr(exc)
            log.exception("%s/%s: %s failed", cluster, hostname, job.__name__)
            self._fail(self.store.node(cluster, hostname), message)

    def _bmc(self, record: NodeRecord, node: Node) -> redfish.Redfish:
        if not record.bmc_ip:
            raise InvalidArgument(f"the BMC of {record.hostname} has no address yet")
        port = f":{self.settings.redfish_port}" if self.settings.redfish_port else ""
        return redfish.Redfish(f"{self.settings.redfish_scheme}://{record.bmc_ip}{port}",
                               node.bmc.username, node.bmc.password)

    def _characterize(self, cluster: str, hostname: str) -> None:
        record = self.store.node(cluster, hostname)
        if record.stage != "characterizing":
            return
        _, node = self._config(record)
        with self._bmc(record, node) as bmc:
            ready = redfish.prepare_install(bmc, node.bmc.bios_settings,
                                            node.bmc.manager_settings,
                                            node.install.system_disks, node.install.mac)
        facts, nic = ready.facts, ready.nic_mac
        record = self.store.update_node(cluster, hostname, facts={
            **facts.as_dict(), "nic_mac": nic, "install_disk": str(ready.disk),
            **({"system_volume": ready.volume.as_dict()} if ready.volume else {})},
            node_mac=nic)
        self._commit_facts(cluster, f"pvcbootstrapd: {hostname} characterized")
        self.advance(record, "pxe-booting",
                     f"{hostname} ({facts.manufacturer} {facts.model}, serial "
                     f"{facts.serial or '-'}, health {facts.health or '-'}, "
                     f"{len(facts.drives)} drives) is powered on to boot once from the "
                     f"network on {nic}, to install on {ready.disk}" + (
                         f" (RAID-1 volume {ready.volume.id} of "
                         f"{', '.join(node.install.system_disks)})" if ready.volume else ""))

    def _commit_facts(self, cluster: str, message: str) -> None:
        """Write what is known of the cluster's nodes into the repository and commit it
        (a repository that cannot take it is reported, and fails no node)."""
        root = self.settings.repository
        with self._repo_lock:
            try:
                path = repo.write_facts(root, cluster, {
                    n.hostname: n.facts for n in self.store.nodes(cluster) if n.facts})
                repo.commit(root, [path], message)
            except (PVCError, OSError) as exc:
                text = exc.message if isinstance(exc, PVCError) else str(exc)
                self.report(cluster, "", self.store.cluster_stage(cluster), stages.INFO,
                            f"cluster {cluster}: cannot record the facts in {root}: {text}")

    def _boot_installed(self, cluster: str, hostname: str) -> None:
        record = self.store.node(cluster, hostname)
        _, node = self._config(record)
        with self._bmc(record, node) as bmc:
            redfish.boot_installed(bmc)
        self.news(cluster, hostname, record.stage, stages.INFO,
                  f"{hostname} is set to boot from its disk and power-cycled")

    def _led_off(self, cluster: str, hostname: str) -> None:
        """The LED goes off when the server is done (a failure here fails nothing)."""
        record = self.store.node(cluster, hostname)
        _, node = self._config(record)
        try:
            with self._bmc(record, node) as bmc:
                bmc.indicator(lit=False)
        except PVCError as exc:
            self.report(cluster, hostname, record.stage, stages.INFO,
                        f"{hostname}: its identify LED stays lit: {exc.message}")

    def resume(self) -> None:
        """After a restart: the steps that were under way start again (Ansible's runs are
        idempotent; hooks under way run again from the first)."""
        self.resume_clusters()
        for record in self.store.nodes():
            if record.redfish and record.stage == "characterizing":
                self.submit(self._characterize, record.cluster, record.hostname)
            elif record.redfish and record.stage == "waiting" and record.bmc_ip:
                self.start_characterizing(record)

    def _nic_owner(self, hw: str) -> NodeRecord | None:
        """The node to install whose PXE NIC has this MAC (not a BMC's)."""
        record = self.store.node_by_mac(mac(hw))
        return record if record is not None and record.node_mac == mac(hw) else None

    def boot_script(self, hw: str) -> str:
        """The iPXE script for the NIC with this MAC: install, or boot the disk."""
        record = self._nic_owner(hw)
        if record is None:
            return netboot.local_boot_script(f"{mac(hw)} is not a node to install")
        if record.stage == stages.FAILED or stages.reached(record.stage, "installed"):
            return netboot.local_boot_script(f"{record.hostname} is {record.stage}")
        _, node = self._config(record)
        return netboot.boot_script(self.settings.http_base, mac(hw),
                                   node.install.kernel_options)

    def answers(self, hw: str) -> str:
        """The installer's answer file for the node with this NIC."""
        record = self._nic_owner(hw)
        if record is None:
            raise NotFound(f"no node to install has the NIC {mac(hw)}")
        cluster, node = self._config(record)
        # a Redfish drive id is the rule for that drive among those the BMC listed, and
        # several are their RAID volume's
        disks = node.install.system_disks
        if is_drive_id(disks[0]) and "drives" not in record.facts:
            raise InvalidArgument(f"{record.hostname}: system disk {disks[0]!r} is a Redfish "
                                  "drive id, and the BMC was not asked for its drives yet")
        volume = record.facts.get("system_volume")
        given = installer_answers.Answers(
            hostname=cluster.fqdn(record.hostname),
            disk=redfish.install_disk(disks, [redfish.Drive.from_dict(d)
                                              for d in record.facts.get("drives", [])],
                                      redfish.Drive.from_dict(volume) if volume else None),
            interface=node.install.interface or mac(hw),
            address=None,  # DHCP on the bootstrap network; Ansible sets the rest
            deploy_user=self.settings.deploy_user, ssh_keys=self.settings.ssh_keys,
            mirror=node.install.mirror, filesystem=installer_answers.filesystem(
                node.install.filesystem),
            packages=node.install.packages,
            checkin_url=f"{self.settings.http_base}/checkin/host")
        return installer_answers.render(given)

    def host_checkin(self, hostname: str, hw: str, stage: str, message: str) -> None:
        """The installer (or the installed system's first boot) reports a stage."""
        if stage not in stages.INSTALLER_CHECKINS:
            raise InvalidArgument(f"check-in stage {stage[:30]!r} is not one of "
                                  f"{', '.join(stages.INSTALLER_CHECKINS)}")
        record = self._nic_owner(hw)
        if record is None:
            raise NotFound(f"no node to install has the NIC {mac(hw)}")
        cluster, _ = self._config(record)
        if hostname.lower().rstrip(".") not in (record.hostname, cluster.fqdn(record.hostname)):
            raise InvalidArgument(f"check-in from {mac(hw)} names {hostname[:60]!r}, but that "
                                  f"NIC is {record.hostname}'s")
        text = message[:500]
        target = stages.INSTALLER_CHECKINS[stage]
        with self._lock:
            if target == stages.FAILED:
                self._fail(record, f"the installer says: {text}")
            elif target is None:
                self.news(record.cluster, record.hostname, record.stage, stages.INFO,
                          f"{record.hostname} is {stage}")
            elif self.advance(record, target, f"{record.hostname} {STAGE_WORDS[target]}" + (
                    f" ({text})" if text else "")):
                if target == "installed" and record.redfish:
                    self.submit(self._boot_installed, record.cluster, record.hostname)
                if target == "booted-initial" and record.redfish:
                    self.submit(self._led_off, record.cluster, record.hostname)
                self._cluster_progress(record.cluster)

    def _cluster_progress(self, name: str) -> None:
        nodes = self.store.nodes(name)
        if nodes and all(stages.reached(n.stage, "booted-initial") for n in nodes):
            self.news(name, "", self.store.cluster_stage(name), stages.SUCCESS,
                      f"cluster {name}: every node ({len(nodes)}) is installed and booted")
            if self._advance_cluster(name, "ansible-running", stages.BEGIN,
                                     f"cluster {name}: configuring it with Ansible "
                                     f"({self.settings.ansible_playbook}, do_bootstrap=yes)"):
                self.submit_cluster(name)

    # --- the cluster's configuration (Ansible, then the hooks), on the worker ---

    def resume_clusters(self) -> None:
        """Each cluster recorded in Ansible's or the hooks' step with no job running
        gets one: after a restart, and when the operator reset a failed cluster
        (`pvcbootstrapd reset CLUSTER`, which only changes the record; the daemon looks
        every few seconds)."""
        for name, stage in self.store.clusters().items():
            if stage in stages.CLUSTER_STEPS:
                self.submit_cluster(name)

    def submit_cluster(self, name: str) -> bool:
        """Start the cluster's configuration job unless it runs already."""
        with self._jobs_lock:
            if name in self._cluster_jobs:
                return False
            self._cluster_jobs.add(name)
        self.jobs.submit(self._run_cluster_job, name)
        return True

    def _run_cluster_job(self, name: str) -> None:
        try:
            self._configure(name)
        except Exception as exc:  # the cluster's failure, never the daemon's
            message = exc.message if isinstance(exc, PVCError) else repr(exc)
            log.exception("cluster %s: configuring failed", name)
            self._advance_cluster(name, stages.FAILED, stages.FAILURE,
                                  f"cluster {name} failed: {message}")
        finally:
            with self._jobs_lock:
                self._cluster_jobs.discard(name)

    def _advance_cluster(self, name: str, stage: str, status: str, message: str) -> bool:
        if not self.store.advance_cluster(name, stage, status, message):
            return False
        self.report(name, "", stage, status, message)
        return True

    def _configure(self, name: str) -> None:
        cluster = self.clusters.get(name)
        if cluster is None:
            raise NotFound(f"cluster {name} is no longer in the repository")
        hooks.check(cluster.config.hooks)
        records = self.store.nodes(name)
        work = self.settings.state_dir / "ansible"
        inventory_hosts = {cluster.fqdn(n.hostname): (str(n.node_ip), str(n.node_mac))
                           for n in records}
        inventory = ansible.write_inventory(work / f"{name}.yml", inventory_hosts,
                                            self.settings.deploy_user)
        log_file = work / f"{name}.log"
        if self.store.cluster_stage(name) == "ansible-running":
            ansible.playbook(self.settings.repository, self.settings.ansible_playbook, name,
                             inventory, self.settings.ansible_key, log_file,
                             {"do_bootstrap": "yes"})
            # as PVC's: the configured nodes boot again (what Ansible set up must come up
            # by itself), and the hooks wait until every one of them is ready
            self.report(name, "", "ansible-running", stages.INFO,
                        f"cluster {name}: configured by Ansible; rebooting its nodes")
            ansible.reboot(self.settings.repository, ":".join(sorted(inventory_hosts)),
                           self.settings.ready_command, inventory, self.settings.ansible_key,
                           log_file)
            for record in records:
                self.advance(record, "booted-configured",
                             f"{record.hostname} is configured by Ansible, rebooted and "
                             "ready")
            self._advance_cluster(name, "hooks-running", stages.BEGIN,
                                  f"cluster {name}: running its hooks "
                                  f"({len(cluster.config.hooks)})")
        hosts = {n.hostname: cluster.fqdn(n.hostname) for n in records}

        def targets(hook: Hook) -> list[str]:
            return list(hosts.values()) if hook.target == ("all",) else [
                hosts[h] for h in hook.target]

        hooks.run(cluster.config.hooks, self.settings.repository, targets, inventory,
                  self.settings.ansible_key, log_file,
                  lambda text: self.report(name, "", "hooks-running", stages.INFO,
                                           f"cluster {name}: {text}"))
        for record in records:
            self.advance(record, "completed", f"{record.hostname} is done")
        self._advance_cluster(name, "completed", stages.COMPLETED,
                              f"cluster {name} {self.settings.webhook.completed_triggerword}"
                              f": {len(records)} nodes installed and configured")

    # --- what the operator asks ---

    def status(self) -> dict[str, Any]:
        stage_of = self.store.clusters()
        return {"clusters": [
            {"name": name, "stage": stage,
             "nodes": [{"hostname": n.hostname, "stage": n.stage, "bmc_mac": n.bmc_mac,
                        "bmc_ip": n.bmc_ip, "node_mac": n.node_mac, "node_ip": n.node_ip,
                        "redfish": n.redfish, "updated": n.updated}
                       for n in self.store.nodes(name)]}
            for name, stage in stage_of.items()]}


STAGE_WORDS = {
    "installing": "is being installed",
    "installed": "is installed",
    "booted-initial": "booted its installed system",
}
