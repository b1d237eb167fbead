"""The whole deployment chain, from power-on to a PVC cluster with no hands (a bench: it
takes far longer than CI allows).

Three blank QEMU servers (TCG) with a system disk, an OSD disk and four NICs (bootstrap,
upstream, cluster, storage) boot from the network; pvcbootstrapd, in a namespace of its
own on the dedicated bootstrap network (as PVC's: its DHCP's router is this host, which
is the "NAT out" to the package cache), serves them the installer, which installs them
unattended; once all three have booted their disks the daemon runs the
kit's own `pvc.yml` with `do_bootstrap=yes` on them (Debian packages through the host's
apt-cacher-ng, PVC from a package built from this checkout), reboots them and waits for
each node daemon to run again, then runs the PVC object hooks of bootstrap.yml: an OSD
on every node, a pool, a client network. It prints the time of each stage and checks
the cluster through the `pvc` CLI on a node.

    sudo .venv/bin/python -m bench.bootstrap_chain [--keep] [--hold]

A run that does not complete keeps each server's journal of PVC's services in the
work directory; `--hold` also keeps the servers running for a look over ssh.

The networks are the deploy targets' kind (bridges `cbbr-u`, `cbbr-c`, `cbbr-s` with
this host at .254, apt-cacher-ng on the upstream one, its cache shared with
tests/deploy), and the bootstrap bridge `cbbr-b` (10.87.9.0/24); everything is removed at the end (`--keep` keeps the work directory with
the logs, consoles and repository).
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from tests.deploy.support import CLUSTER, DOMAIN, make_repo
from tests.installer.support import started

from pvc.devcluster import package as debpkg
from pvc.devcluster.layout import default_root
from pvc.devcluster.network import ensure_bridge
from pvc.devcluster.targets import aptcache, machines
from pvc.devcluster.targets.layout import SHORT, TargetSpec
from pvc.isobuild import build

REPO = Path(__file__).resolve().parents[1]
SPEC = TargetSpec(name="chain", count=3, prefix="cb", subnet=87)
HOSTS = SPEC.hostnames
BOOTSTRAP = ipaddress.IPv4Network("10.87.9.0/24")
BOOTSTRAP_BRIDGE = "cbbr-b"
HOST_IP, DAEMON_IP = BOOTSTRAP[254], BOOTSTRAP[253]
DHCP_RANGE = f"{BOOTSTRAP[100]}-{BOOTSTRAP[199]}"
MEMORY_MIB = 3072
SYSTEM_DISK, OSD_DISK = "10G", "8G"  # the installer's rule picks the system disk by size
INSTALL_TIMEOUT = 2400.0
CLUSTER_TIMEOUT = 4 * 3600.0
# each NIC at a PCI slot of its own, so the kernel names them ens3 (bootstrap) and ens4,
# ens5, ens6 (the kit's default devices for upstream, cluster and storage)
SLOTS = {"bootstrap": 3, "upstream": 4, "cluster": 5, "storage": 6}
NICS = {"bootstrap": "b", **SHORT}


def mac(host: str, net: str) -> str:
    return f"52:54:00:87:{HOSTS.index(host) + 1:02x}:{SLOTS[net]:02x}"


def bmc_mac(host: str) -> str:
    """The key of a server without a BMC in bootstrap.yml (never seen on the network)."""
    return f"52:54:00:87:{HOSTS.index(host) + 1:02x}:ff"


def sh(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=300)


def fqdn(host: str) -> str:
    return f"{host}.{DOMAIN}"


def configure(repo: Path) -> None:
    """The operator's repository for this bench: no gateway on upstream (the bootstrap
    network's DHCP gives the servers their default route until they reboot, and none
    after: the package cache is on the upstream network); the OSDs, the pool and a
    client network come from the hooks."""
    (repo / "hosts").write_text(f"[{CLUSTER}]\n" + "".join(f"{fqdn(h)}\n" for h in HOSTS))
    group = repo / "group_vars" / CLUSTER
    base = yaml.safe_load((group / "base.yml").read_text())
    del base["networks"]["upstream"]["gateway_ip"]
    (group / "base.yml").write_text(yaml.safe_dump(base, sort_keys=False))
    pvc = yaml.safe_load((group / "pvc.yml").read_text())
    for node in pvc["pvc_nodes"]:
        node["osd_devices"] = []
        # One coordinator: three TCG servers each running ZooKeeper, the monitors,
        # Patroni and the API overloaded two host cores (the chain's third run); hv2 and
        # hv3 are hypervisors with an OSD each, which is what the hooks need.
        node["is_coordinator"] = node["hostname"] == HOSTS[0]
    pvc["pvc_ceph_pools"] = []
    # Three one-CPU TCG servers on two host cores run at a load of 7 to 11: with the kit's
    # fast-failover timing ZooKeeper re-elects its leader again and again and the daemons
    # lose their sessions (found by the chain's second run), and a new primary's pvcapid
    # did not answer within 15 s (the third), so these servers get a slow server's timing.
    pvc.update(pvc_zookeeper_tick_ms=2000, pvc_zookeeper_init_limit=30,
               pvc_zookeeper_sync_limit=10, pvc_zookeeper_session_timeout=30,
               pvc_patroni_ttl=30, pvc_patroni_loop_wait=5, pvc_patroni_retry_timeout=10,
               pvc_keepalive_interval=5, pvc_fence_intervals=6,
               # pvcapid's start (Python's imports, about 2.5 s of CPU natively) took
               # longer than 15 s there (the third run), and than 180 s at a load of 7 on
               # the coordinator (the fifth: every takeover ran out and started over)
               pvc_takeover_timeout=600)
    (group / "pvc.yml").write_text(yaml.safe_dump(pvc, sort_keys=False))
    nodes = {bmc_mac(h): {"hostname": h, "bmc": {"redfish": False},
                          "install": {"mac": mac(h, "bootstrap"),
                                      "system_disks": [f"detect::{SYSTEM_DISK}B:0"]}}
             for h in HOSTS}
    hooks = [
        {"name": "an OSD on every node", "type": "osd", "args": {"disk": "/dev/vdb"}},
        {"name": "the VM pool", "type": "pool", "args": {"name": "vms", "pgs": 32}},
        {"name": "a client network", "type": "network", "args": {
            "vni": 100, "description": "clients", "type": "managed",
            "domain": "clients.test", "ipnet": "10.87.100.0/24", "gateway": "10.87.100.1",
            "dhcp": True, "dhcp_start": "10.87.100.100", "dhcp_end": "10.87.100.199"}},
    ]
    (group / "bootstrap.yml").write_text(yaml.safe_dump({"nodes": nodes, "hooks": hooks},
                                                        sort_keys=False))
    sh("git", "-C", str(repo), "add", "-A")
    sh("git", "-C", str(repo), "-c", "user.name=bench", "-c", "user.email=bench@localhost",
       "commit", "-q", "-m", "the bench's servers, hooks and addresses")


@contextlib.contextmanager
def networks(ns: str) -> Iterator[None]:
    """The four bridges, apt-cacher-ng, and the daemon's namespace on the bootstrap one."""
    veth = "cbdb"
    try:
        machines.create_bridges(SPEC)
        ensure_bridge(BOOTSTRAP_BRIDGE, f"{HOST_IP}/24")
        aptcache.start(SPEC)
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "link", "add", veth, "type", "veth", "peer", "name", "bs0", "netns", ns)
        sh("ip", "link", "set", veth, "master", BOOTSTRAP_BRIDGE, "up")
        sh("ip", "-n", ns, "addr", "add", f"{DAEMON_IP}/24", "dev", "bs0")
        sh("ip", "-n", ns, "link", "set", "bs0", "up")
        for host in HOSTS:
            for net in SLOTS:
                tap = f"cb{host}{NICS[net]}"
                bridge = BOOTSTRAP_BRIDGE if net == "bootstrap" else SPEC.bridge(net)
                sh("ip", "tuntap", "add", tap, "mode", "tap")
                sh("ip", "link", "set", tap, "master", bridge, "up")
        yield
    finally:
        for pid in sh("ip", "netns", "pids", ns, check=False).stdout.split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        sh("ip", "netns", "del", ns, check=False)
        for host in HOSTS:
            for net in SLOTS:
                sh("ip", "link", "del", f"cb{host}{NICS[net]}", check=False)
        sh("ip", "link", "del", veth, check=False)
        aptcache.stop(SPEC)
        machines.delete_bridges(SPEC)
        sh("ip", "link", "del", BOOTSTRAP_BRIDGE, check=False)


def qemu(work: Path, host: str) -> list[str]:
    system, osd = work / f"{host}-system.qcow2", work / f"{host}-osd.qcow2"
    for image, size in ((system, SYSTEM_DISK), (osd, OSD_DISK)):
        sh("qemu-img", "create", "-q", "-f", "qcow2", str(image), size)
    # -cpu max: under TCG the default CPU (qemu64) lacks SSSE3 and PCLMULQDQ, and
    # ceph-mon dies of SIGILL as it loads its erasure-code plugins (gf-complete)
    argv = ["qemu-system-x86_64", "-machine", "pc,accel=tcg", "-cpu", "max",
            "-m", str(MEMORY_MIB), "-smp", "1", "-display", "none", "-monitor", "none",
            "-serial", f"file:{work / f'{host}-console.log'}",
            "-drive", f"file={system},if=none,id=d0,format=qcow2",
            "-device", "virtio-blk-pci,drive=d0,bootindex=1,addr=0x7",
            "-drive", f"file={osd},if=none,id=d1,format=qcow2",
            "-device", "virtio-blk-pci,drive=d1,addr=0x8"]
    for net in SLOTS:
        boot = ",bootindex=2" if net == "bootstrap" else ""
        argv += ["-netdev", f"tap,id={net},ifname=cb{host}{NICS[net]},script=no,"
                 "downscript=no",
                 "-device", f"virtio-net-pci,netdev={net},mac={mac(host, net)},"
                 f"addr={SLOTS[net]:#x}{boot}"]
    return argv


def run(work: Path, hold: bool = False) -> dict[str, float]:
    figures: dict[str, float] = {}
    began = time.monotonic()
    iso = build.build(work / "pvc-installer.iso", default_root() / "cache" / "iso")
    package = debpkg.build(REPO, work / "package")
    print(f"ISO and package built in {time.monotonic() - began:.0f} s", flush=True)
    key = work / "id_ed25519"
    sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bench@chain", "-f", str(key))
    public = key.with_suffix(".pub").read_text().strip()
    repo = make_repo(SPEC, work, package, HOSTS)
    configure(repo)
    config = work / "pvcbootstrapd.yml"
    config.write_text(yaml.safe_dump({
        "repository": str(repo), "state_dir": str(work / "state"), "iso": str(iso.path),
        "network": {"interface": "bs0", "address": f"{DAEMON_IP}/24",
                    "dhcp_range": DHCP_RANGE, "gateway": str(HOST_IP)},
        "ssh_keys": [public], "ansible": {"ssh_key": str(key)}}))
    ns = f"cbd-{uuid.uuid4().hex[:6]}"
    in_ns = ["ip", "netns", "exec", ns, "env",
             f"PATH={Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}"]
    daemon = [*in_ns, sys.executable, "-m", "pvc.bootstrap.daemon", "--config", str(config)]

    def status() -> dict[str, Any]:
        out = sh(*daemon, "status", "--format", "json")
        found: dict[str, Any] = json.loads(out.stdout)["clusters"][0]
        return found

    with networks(ns), started([*daemon, "run"], work / "daemon.log"), \
            contextlib.ExitStack() as servers:
        deadline = time.monotonic() + 60
        while sh(*in_ns, "curl", "-sf", f"http://{DAEMON_IP}:9999/status",
                 check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise SystemExit("pvcbootstrapd did not answer:\n"
                                 + (work / "daemon.log").read_text()[-3000:])
            time.sleep(0.5)
        power_on = time.monotonic()
        for host in HOSTS:
            servers.enter_context(started(qemu(work, host), work / f"{host}-qemu.log"))
        seen: dict[str, str] = {}
        deadline = power_on + INSTALL_TIMEOUT + CLUSTER_TIMEOUT
        while True:
            cluster = status()
            stages = {"cluster": cluster["stage"],
                      **{n["hostname"]: n["stage"] for n in cluster["nodes"]}}
            for what, stage in stages.items():
                if seen.get(what) != stage:
                    seen[what] = stage
                    at = time.monotonic() - power_on
                    figures[f"{what} {stage}"] = at
                    print(f"{at:7.0f} s  {what}: {stage}", flush=True)
            if cluster["stage"] in ("completed", "failed") or time.monotonic() > deadline:
                break
            time.sleep(10)
        if cluster["stage"] != "completed":
            keep_journals(key, work, cluster["nodes"])
            if hold:
                hold_servers(key, cluster["nodes"])
            log = work / "state" / "ansible" / f"{CLUSTER}.log"
            raise SystemExit(f"the cluster is {cluster['stage']}, not completed; the end "
                             f"of the daemon's log:\n{(work / 'daemon.log').read_text()[-3000:]}"
                             + (f"\nAnsible's:\n{log.read_text()[-3000:]}" if log.exists()
                                else ""))
        first = next(n for n in cluster["nodes"] if n["hostname"] == HOSTS[0])
        check(key, first["node_ip"])
    return figures


# what a failed run keeps of each server (its journal since boot, these units' lines)
JOURNAL_UNITS = ("pvcnoded", "pvcapid", "pvcworkerd", "zookeeper", "patroni", "pdns",
                 "pvc-redis", "pvc-sentinel", "frr", "libvirtd", "ceph-*")


def ssh(key: Path, address: str, command: str) -> subprocess.CompletedProcess[str]:
    return sh("ssh", "-i", str(key), "-o", "BatchMode=yes", "-o", "ConnectTimeout=20",
              "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
              "-o", "LogLevel=ERROR", f"deploy@{address}", command, check=False)


def keep_journals(key: Path, work: Path, nodes: list[dict[str, Any]]) -> None:
    """Each reachable server's journal of PVC's services and the parts under them, into
    the work directory (`HOST-journal.log`), for a run that did not complete."""
    units = " ".join(f"-u {shlex.quote(u)}" for u in JOURNAL_UNITS)
    for node in nodes:
        host, address = node.get("hostname", "?"), node.get("node_ip")
        if not address:
            continue
        try:
            # first every thread's stack of PVC's daemons (SIGUSR1), in case one hangs;
            # pvcapid is pvcnoded's child and logs to its own file
            done = ssh(key, address,
                       "sudo -n systemctl kill --kill-whom=main -s USR1 pvcnoded; "
                       "sudo -n pkill -USR1 -f 'pvc[.]api[.]main'; sleep 1; "
                       f"sudo -n journalctl -b --no-pager -o short-precise {units}; "
                       "echo '--- /var/log/pvc/pvcapid.log'; "
                       "sudo -n tail -n 3000 /var/log/pvc/pvcapid.log")
            text = done.stdout + done.stderr
        except subprocess.TimeoutExpired:  # best effort: the run's own failure comes next
            text = f"no journal: ssh to {address} took longer than 300 s\n"
        (work / f"{host}-journal.log").write_text(text)
        print(f"{host}'s journal: {work / f'{host}-journal.log'}", flush=True)


def hold_servers(key: Path, nodes: list[dict[str, Any]]) -> None:
    """--hold: keep the servers running for a look until Ctrl-C."""
    for node in nodes:
        if node.get("node_ip"):
            print(f"{node.get('hostname')}: ssh -i {key} deploy@{node['node_ip']}")
    print("holding the servers; Ctrl-C tears everything down", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        while True:
            time.sleep(60)


def check(key: Path, address: str) -> None:
    """The cluster as `pvc` on its first node sees it: every node, OSD, the pool and the
    network the hooks made."""
    def pvc(*args: str) -> Any:
        done = ssh(key, address, "sudo -n pvc " + shlex.join([*args, "--format", "json"]))
        if done.returncode != 0:
            raise SystemExit(f"pvc {' '.join(args)} on {address} failed: {done.stderr}")
        return json.loads(done.stdout)
    nodes = pvc("node", "list")
    osds = pvc("storage", "osd", "list")
    pools = pvc("storage", "pool", "list")
    nets = pvc("network", "list")
    print(json.dumps({"nodes": [(n.get("name"), n.get("daemon_state")) for n in nodes],
                      "osds": len(osds), "pools": [p.get("name") for p in pools],
                      "networks": [n.get("vni") for n in nets]}))
    assert sorted(n.get("name") for n in nodes) == HOSTS, nodes
    assert all(n.get("daemon_state") == "run" for n in nodes), nodes
    assert len(osds) == len(HOSTS), osds
    assert [p.get("name") for p in pools] == ["vms"], pools
    assert [int(n.get("vni")) for n in nets] == [100], nets


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--hold", action="store_true", help=(
        "when the cluster does not complete, keep the servers running (for ssh) until "
        "Ctrl-C"))
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("the chain needs root (namespaces, bridges, the ISO build)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="pvc-chain-"))
    ok = False
    try:
        figures = run(work, args.hold)
        ok = True
    finally:
        if args.keep or not ok:
            print(f"work directory (logs, consoles, repository): {work}")
        else:
            shutil.rmtree(work)
    print("\nbootstrap chain figures (s from power-on): " + ", ".join(
        f"{k} {v:.0f}" for k, v in figures.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
