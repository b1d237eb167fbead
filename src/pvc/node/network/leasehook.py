"""dnsmasq's lease hook (`--dhcp-script`) for one managed network.

dnsmasq runs it with `add|old|del MAC IP [HOSTNAME]` (details in `DNSMASQ_*` variables)
when a lease is given, renewed or ends, and with `init` when it starts: it then prints
the network's leases recorded in ZooKeeper, one per line (`EXPIRY MAC IP HOSTNAME
CLIENTID`, `*` for none), and dnsmasq starts from them (it keeps no lease file of its
own). `write_hook()` makes the small executable file dnsmasq is given.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from pathlib import Path

from pvc.common.errors import PVCError
from pvc.ops.network import records, reservations
from pvc.ops.network.spec import hostname as check_hostname
from pvc.ops.network.spec import mac as check_mac
from pvc.state import connect
from pvc.state.store import Store

TIMEOUT = 5.0


def _lines(store: Store, vni: int) -> list[str]:
    out = []
    for mac, lease in records.leases(store, vni):
        out.append(" ".join([str(int(lease.get("expiry") or 0)), mac, str(lease.get("ip4")),
                             lease.get("hostname") or "*", lease.get("client_id") or "*"]))
    return out


def handle(store: Store, vni: int, args: list[str], env: dict[str, str]) -> list[str]:
    """What one call does; the lines to print."""
    action = args[0] if args else ""
    if action == "init":
        return _lines(store, vni)
    if action not in ("add", "old", "del") or len(args) < 3:
        return []  # tftp, arp-add, arp-del and others: nothing to record
    mac = check_mac(args[1])
    if action == "del":
        reservations.forget_lease(store, vni, mac)
        return []
    ip4 = str(ipaddress.IPv4Address(args[2]))
    name = args[3] if len(args) > 3 else env.get("DNSMASQ_SUPPLIED_HOSTNAME", "")
    try:
        name = check_hostname(name) if name else ""
    except PVCError:
        name = ""  # a guest may call itself anything; only DNS-safe names are recorded
    expiry = int(env.get("DNSMASQ_LEASE_EXPIRES") or 0)
    client_id = env.get("DNSMASQ_CLIENT_ID", "")
    if client_id and not all(c in "0123456789abcdefABCDEF:" for c in client_id):
        client_id = ""
    reservations.record_lease(store, vni, mac, ip4, name, expiry, client_id)
    return []


def main(vni: int, hosts: str, args: list[str] | None = None) -> int:
    argv = sys.argv[1:] if args is None else args
    zk = connect.client(hosts, TIMEOUT)
    try:
        zk.start(timeout=TIMEOUT)
        for line in handle(Store(zk), vni, argv, dict(os.environ)):
            print(line)
    except Exception as exc:
        print(f"pvc lease hook for network {vni} failed on {argv[:1]}: {exc}", file=sys.stderr)
        return 1
    finally:
        zk.stop()
        zk.close()
    return 0


def write_hook(path: Path, vni: int, hosts: str) -> None:
    """An executable that calls `main` for this network (with this interpreter)."""
    text = (f"#!{sys.executable}\n"
            "import sys\n"
            "from pvc.node.network.leasehook import main\n"
            f"sys.exit(main({int(vni)}, {hosts!r}))\n")
    if not path.exists() or path.read_text() != text:
        tmp = path.with_name(f".{path.name}.new")
        tmp.write_text(text)
        tmp.chmod(0o755)
        os.replace(tmp, path)
