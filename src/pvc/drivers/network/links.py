"""Client-network links through netlink (pyroute2): bridges, VXLAN and VLAN devices.

`NetlinkLinks` works on the current network namespace, or on a named one (`netns`), where
pyroute2 runs its requests from a helper inside that namespace. Every name is validated
before it reaches the kernel; a link that exists with the wrong shape (a VXLAN with
another VNI, a VLAN on another device) is replaced, one that exists as wanted is kept
as it is, so applying the same intent twice changes nothing.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pvc.common import names
from pvc.common.errors import BackendError, InvalidArgument

VXLAN_PORT = 4789
# a dump the kernel marks as interrupted (the links changed while it was read) is read again
DUMP_ATTEMPTS = 10


@dataclass(frozen=True)
class Link:
    name: str
    kind: str  # bridge, vxlan, vlan, veth, ... ("" when the kernel names none)
    mtu: int
    up: bool
    master: str | None = None
    vni: int | None = None  # vxlan id or vlan id
    parent: str | None = None  # the device a VXLAN or VLAN rides on
    local: str | None = None  # a VXLAN's source address
    learning: bool | None = None  # a VXLAN's own MAC learning


# The links as one `links()` read them, for several changes in a row (None: read them now)
Present = dict[str, Link] | None


class Links(Protocol):
    def links(self) -> dict[str, Link]: ...

    def ensure_bridge(self, name: str, mtu: int, ipv6: bool = True,
                      present: Present = None) -> None: ...

    def ensure_vxlan(self, name: str, vni: int, local: ipaddress.IPv4Address, parent: str,
                     mtu: int, bridge: str, present: Present = None) -> None: ...

    def ensure_vlan(self, name: str, vid: int, parent: str, mtu: int, bridge: str,
                    present: Present = None) -> None: ...

    def delete(self, name: str) -> None: ...


def _attr(msg: Any, *path: str) -> Any:
    value = msg
    for key in path:
        if value is None:
            return None
        value = value.get_attr(key)
    return value


class NetlinkLinks:
    """`Links` on a network namespace (None: this process's own)."""

    def __init__(self, netns: str | None = None) -> None:
        self.netns = None if netns is None else names.interface_name(netns)

    @contextlib.contextmanager
    def _ipr(self) -> Iterator[Any]:
        from pyroute2 import IPRoute, NetlinkError, NetNS  # Debian's python3-pyroute2

        try:
            ipr = IPRoute() if self.netns is None else NetNS(self.netns)
        except OSError as exc:
            raise BackendError(f"Cannot open netlink{self._where()}: {exc}") from exc
        try:
            yield ipr
        except (OSError, NetlinkError) as exc:
            raise BackendError(f"netlink request{self._where()} failed: {exc}") from exc
        finally:
            ipr.close()

    def _where(self) -> str:
        return "" if self.netns is None else f" in namespace {self.netns}"

    # -- reading ------------------------------------------------------------------
    def _dump_links(self, ipr: Any) -> list[Any]:
        """All links in one consistent dump. The kernel marks a dump during which links were
        added or removed (another reconciler, libvirt making a tap) as interrupted: that
        one is read again, a few times, before it counts as a failure."""
        from pyroute2.netlink.exceptions import NetlinkDumpInterrupted

        for attempt in range(DUMP_ATTEMPTS):
            try:
                return list(ipr.get_links())
            except NetlinkDumpInterrupted:
                if attempt == DUMP_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def links(self) -> dict[str, Link]:
        with self._ipr() as ipr:
            msgs = self._dump_links(ipr)
        by_index = {m["index"]: m.get_attr("IFLA_IFNAME") for m in msgs}
        out: dict[str, Link] = {}
        for m in msgs:
            name = m.get_attr("IFLA_IFNAME")
            kind = _attr(m, "IFLA_LINKINFO", "IFLA_INFO_KIND") or ""
            data = _attr(m, "IFLA_LINKINFO", "IFLA_INFO_DATA")
            vni = parent = local = learning = None
            if kind == "vxlan" and data is not None:
                vni = data.get_attr("IFLA_VXLAN_ID")
                parent = by_index.get(data.get_attr("IFLA_VXLAN_LINK"))
                local = data.get_attr("IFLA_VXLAN_LOCAL")
                learning = bool(data.get_attr("IFLA_VXLAN_LEARNING"))
            elif kind == "vlan" and data is not None:
                vni = data.get_attr("IFLA_VLAN_ID")
                parent = by_index.get(m.get_attr("IFLA_LINK"))
            out[name] = Link(name=name, kind=kind, mtu=int(m.get_attr("IFLA_MTU") or 0),
                             up=bool(m["flags"] & 1), master=by_index.get(
                                 m.get_attr("IFLA_MASTER")),
                             vni=vni, parent=parent, local=local, learning=learning)
        return out

    # -- changing -----------------------------------------------------------------
    def _index(self, ipr: Any, name: str) -> int:
        found = ipr.link_lookup(ifname=name)
        if not found:
            raise BackendError(f"No device {name}{self._where()}")
        return int(found[0])

    def _current(self, name: str, present: Present) -> Link | None:
        return (self.links() if present is None else present).get(name)

    def ensure_bridge(self, name: str, mtu: int, ipv6: bool = True,
                      present: Present = None) -> None:
        name = names.interface_name(name)
        current = self._current(name, present)
        with self._ipr() as ipr:
            if current is not None and current.kind != "bridge":
                ipr.link("del", index=self._index(ipr, name))
                current = None
            if current is None:
                ipr.link("add", ifname=name, kind="bridge")
            self._set_ipv6(name, ipv6)
            self._full_checksums(name)
            if current is None or current.mtu != mtu or not current.up:
                ipr.link("set", index=self._index(ipr, name), mtu=mtu, state="up")

    def _full_checksums(self, name: str) -> None:
        """No checksum offload on the bridge: what the node itself sends to a guest (DHCP
        answers, DNS) then has a complete UDP checksum. Otherwise a guest on this node
        reading with a raw socket (a DHCP client before it has an address) sees a partial
        checksum, drops the answer and asks again, for many seconds."""
        if self.netns is not None:
            return  # ethtool requests reach only this process's own namespace
        from pyroute2.ethtool import Ethtool

        feature = "tx-checksum-ip-generic"
        tool = Ethtool()
        try:
            features = tool.get_features(name)
            found = features.features.get(feature)
            if found is not None and found.enable:
                found.enable = False
                tool.set_features(name, features)
        except Exception as exc:  # pyroute2 raises its own errors (or OSError)
            raise BackendError(f"Cannot turn off checksum offload on {name}: {exc}") from exc
        finally:
            tool.close()

    def _set_ipv6(self, name: str, enabled: bool) -> None:
        """Bridged networks carry no host addresses of ours: no IPv6 link-local either."""
        if self.netns is not None:
            return  # sysctls are per namespace: only this process's own is reachable here
        conf = Path("/proc/sys/net/ipv6/conf", name)
        # with IPv6, an address added here (the gateway, when the primary role arrives) is
        # announced to the guests at once (unsolicited neighbour advertisements)
        wanted = {"disable_ipv6": "0" if enabled else "1"} | (
            {"ndisc_notify": "1"} if enabled else {})
        for key, want in wanted.items():
            try:
                if (conf / key).read_text().strip() != want:
                    (conf / key).write_text(want)
            except OSError as exc:
                raise BackendError(f"Cannot set {conf / key}: {exc}") from exc

    def ensure_vxlan(self, name: str, vni: int, local: ipaddress.IPv4Address, parent: str,
                     mtu: int, bridge: str, present: Present = None) -> None:
        name, parent, bridge = (names.interface_name(n) for n in (name, parent, bridge))
        current = self._current(name, present)
        fits = (current is not None and current.kind == "vxlan" and current.vni == vni
                and current.parent == parent and current.local == str(local)
                and current.learning is False)
        with self._ipr() as ipr:
            if current is not None and not fits:
                ipr.link("del", index=self._index(ipr, name))
            if not fits:
                # no learning: remote MACs come from BGP EVPN (FRR), as does the flooding list
                ipr.link("add", ifname=name, kind="vxlan", vxlan_id=vni,
                         vxlan_local=str(local), vxlan_link=self._index(ipr, parent),
                         vxlan_port=VXLAN_PORT, vxlan_learning=0)
            self._attach(ipr, name, bridge, mtu, None if not fits else current)

    def ensure_vlan(self, name: str, vid: int, parent: str, mtu: int, bridge: str,
                    present: Present = None) -> None:
        name, parent, bridge = (names.interface_name(n) for n in (name, parent, bridge))
        if not 1 <= vid <= 4094:
            raise InvalidArgument(f"VLAN id {vid} is outside 1-4094")
        current = self._current(name, present)
        fits = (current is not None and current.kind == "vlan" and current.vni == vid
                and current.parent == parent)
        with self._ipr() as ipr:
            if current is not None and not fits:
                ipr.link("del", index=self._index(ipr, name))
            if not fits:
                try:
                    ipr.link("add", ifname=name, kind="vlan", link=self._index(ipr, parent),
                             vlan_id=vid)
                except Exception as exc:  # pyroute2's NetlinkError: its code is the errno
                    if getattr(exc, "code", None) == errno.EOPNOTSUPP:
                        raise BackendError(
                            f"Cannot make VLAN {vid} on {parent}: this kernel has no 802.1Q "
                            "VLAN support (CONFIG_VLAN_8021Q)") from exc
                    raise
            self._attach(ipr, name, bridge, mtu, current if fits else None)

    def _attach(self, ipr: Any, name: str, bridge: str, mtu: int, current: Link | None) -> None:
        if current is not None and (current.master, current.mtu, current.up) == (bridge, mtu,
                                                                                   True):
            return
        ipr.link("set", index=self._index(ipr, name), master=self._index(ipr, bridge), mtu=mtu,
                 state="up")

    def delete(self, name: str) -> None:
        name = names.interface_name(name)
        with self._ipr() as ipr:
            found = ipr.link_lookup(ifname=name)
            if found:
                ipr.link("del", index=found[0])
