"""The client-network endpoints of the PVC v1 API: networks, their DHCP leases and static
reservations, their firewall ACLs, and the SR-IOV devices of the nodes.

Requests follow the wire rules of PVC's own client: every parameter in the query string,
booleans as `True`/`False`, None left out, lists as repeated keys (`name_servers=a&
name_servers=b`), and `static=` always sent on the lease list. The list endpoints answer
404 when nothing matches; these methods raise `NotFound` then, and the caller decides
whether that means "none" or "no such network".

`NetworkApi(client).network_list()`, where `client` is an `HttpClient` (usually the CLI's
`ApiClient`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pvc.client.http import HttpClient, Params, message_of, segment
from pvc.common.errors import BackendError

NETWORK_TYPES = ("managed", "bridged")
DIRECTIONS = ("in", "out")


def _listed(body: Any, what: str) -> list[dict[str, Any]]:
    """The objects of a list answer (a lone object counts as a list of one)."""
    if isinstance(body, dict):
        body = [body]
    if not isinstance(body, list):
        raise BackendError(f"The API answered the {what} list with an unexpected body")
    return [item for item in body if isinstance(item, dict)]


def _settings(
    *,
    description: str | None,
    mtu: int | str | None,
    domain: str | None,
    name_servers: Sequence[str] | None,
    ip4_network: str | None,
    ip4_gateway: str | None,
    dhcp4: bool | None,
    dhcp4_start: str | None,
    dhcp4_end: str | None,
    ip6_network: str | None,
    ip6_gateway: str | None,
) -> dict[str, Any]:
    """The query parameters shared by adding and modifying a network (None: not sent)."""
    return {
        "description": description,
        "mtu": mtu,
        "domain": domain,
        "name_servers": list(name_servers) if name_servers else None,
        "ip4_network": ip4_network,
        "ip4_gateway": ip4_gateway,
        "dhcp4": dhcp4,
        "dhcp4_start": dhcp4_start,
        "dhcp4_end": dhcp4_end,
        "ip6_network": ip6_network,
        "ip6_gateway": ip6_gateway,
    }


class NetworkApi:
    """`/network/*` and `/sriov/*`: client networks, leases, reservations, ACLs, SR-IOV."""

    def __init__(self, http: HttpClient) -> None:
        self.http = http

    # -- networks ---------------------------------------------------------
    def network_list(self, limit: str | None = None) -> list[dict[str, Any]]:
        """GET /network?limit=REGEX (VNI or description); 404 when none match."""
        return _listed(self.http.get("/network", {"limit": limit}), "network")

    def network_info(self, vni: int | str) -> dict[str, Any]:
        """GET /network/{vni} (an object or a one-item list); 404 when unknown."""
        return self.http.get_one(f"/network/{segment(vni)}", f"Network {vni}")

    def network_add(
        self,
        vni: int,
        description: str,
        nettype: str,
        *,
        mtu: int | str | None = None,
        domain: str | None = None,
        name_servers: Sequence[str] | None = None,
        ip4_network: str | None = None,
        ip4_gateway: str | None = None,
        dhcp4: bool | None = None,
        dhcp4_start: str | None = None,
        dhcp4_end: str | None = None,
        ip6_network: str | None = None,
        ip6_gateway: str | None = None,
    ) -> str:
        """POST /network?vni=...&description=...&nettype=managed|bridged&... (the rest
        optional; `name_servers` repeated once per server)."""
        params: Params = {
            "vni": vni,
            "nettype": nettype,
            **_settings(description=description, mtu=mtu, domain=domain,
                        name_servers=name_servers, ip4_network=ip4_network,
                        ip4_gateway=ip4_gateway, dhcp4=dhcp4, dhcp4_start=dhcp4_start,
                        dhcp4_end=dhcp4_end, ip6_network=ip6_network,
                        ip6_gateway=ip6_gateway),
        }
        return message_of(self.http.post("/network", params))

    def network_modify(
        self,
        vni: int | str,
        *,
        description: str | None = None,
        mtu: int | str | None = None,
        domain: str | None = None,
        name_servers: Sequence[str] | None = None,
        ip4_network: str | None = None,
        ip4_gateway: str | None = None,
        dhcp4: bool | None = None,
        dhcp4_start: str | None = None,
        dhcp4_end: str | None = None,
        ip6_network: str | None = None,
        ip6_gateway: str | None = None,
    ) -> str:
        """PUT /network/{vni} with only the settings given (an empty string clears one,
        e.g. `mtu=""` goes back to the device MTU)."""
        params = _settings(description=description, mtu=mtu, domain=domain,
                           name_servers=name_servers, ip4_network=ip4_network,
                           ip4_gateway=ip4_gateway, dhcp4=dhcp4, dhcp4_start=dhcp4_start,
                           dhcp4_end=dhcp4_end, ip6_network=ip6_network,
                           ip6_gateway=ip6_gateway)
        return message_of(self.http.put(f"/network/{segment(vni)}", params))

    def network_remove(self, vni: int | str, force: bool = False) -> str:
        """DELETE /network/{vni}[?force=True] (force: even while VMs use the network)."""
        params: Params = {"force": True} if force else {}
        return message_of(self.http.delete(f"/network/{segment(vni)}", params))

    # -- DHCP leases and static reservations --------------------------------
    def lease_list(
        self, vni: int | str, limit: str | None = None, static: bool = False
    ) -> list[dict[str, Any]]:
        """GET /network/{vni}/lease?limit=...&static=True|False (always sent): leases and
        reservations, or with `static` only the reservations; 404 when there are none."""
        body = self.http.get(f"/network/{segment(vni)}/lease",
                             {"limit": limit, "static": static})
        return _listed(body, "DHCP lease")

    def lease_info(self, vni: int | str, mac: str) -> dict[str, Any]:
        """GET /network/{vni}/lease/{mac} (an object or a one-item list)."""
        return self.http.get_one(f"/network/{segment(vni)}/lease/{segment(mac)}",
                                 f"Lease {mac} in network {vni}")

    def reservation_add(self, vni: int | str, macaddress: str, ipaddress: str,
                        hostname: str) -> str:
        """POST /network/{vni}/lease?macaddress=...&ipaddress=...&hostname=...: a static
        DHCP reservation."""
        params: Params = {"macaddress": macaddress, "ipaddress": ipaddress,
                          "hostname": hostname}
        return message_of(self.http.post(f"/network/{segment(vni)}/lease", params))

    def reservation_remove(self, vni: int | str, mac: str) -> str:
        """DELETE /network/{vni}/lease/{mac}: drop a static DHCP reservation."""
        return message_of(self.http.delete(f"/network/{segment(vni)}/lease/{segment(mac)}"))

    # -- firewall ACLs ----------------------------------------------------
    def acl_list(
        self, vni: int | str, limit: str | None = None, direction: str | None = None
    ) -> list[dict[str, Any]]:
        """GET /network/{vni}/acl?limit=...&direction=in|out; 404 when there are none."""
        body = self.http.get(f"/network/{segment(vni)}/acl",
                             {"limit": limit, "direction": direction})
        return _listed(body, "ACL")

    def acl_info(self, vni: int | str, description: str) -> dict[str, Any]:
        """GET /network/{vni}/acl/{description} (an object or a one-item list)."""
        return self.http.get_one(f"/network/{segment(vni)}/acl/{segment(description)}",
                                 f'ACL "{description}" in network {vni}')

    def acl_add(
        self,
        vni: int | str,
        description: str,
        rule: str,
        direction: str = "in",
        order: int | None = None,
    ) -> str:
        """POST /network/{vni}/acl?description=...&direction=in|out&order=N&rule=...
        (without `order`, the rule goes after the others)."""
        params: Params = {"description": description, "direction": direction,
                          "order": order, "rule": rule}
        return message_of(self.http.post(f"/network/{segment(vni)}/acl", params))

    def acl_remove(self, vni: int | str, description: str) -> str:
        """DELETE /network/{vni}/acl/{description}."""
        return message_of(
            self.http.delete(f"/network/{segment(vni)}/acl/{segment(description)}"))

    # -- SR-IOV -----------------------------------------------------------
    def sriov_pf_list(self, node: str | None = None) -> list[dict[str, Any]]:
        """GET /sriov/pf (every node) or /sriov/pf/{node}: {phy, mtu, vfs}; 404 when none."""
        path = "/sriov/pf" if node is None else f"/sriov/pf/{segment(node)}"
        return _listed(self.http.get(path), "SR-IOV PF")

    def sriov_vf_list(self, node: str, pf: str | None = None) -> list[dict[str, Any]]:
        """GET /sriov/vf/{node}?pf=...: {phy, pf, mtu, mac, config, usage}; 404 when none."""
        return _listed(self.http.get(f"/sriov/vf/{segment(node)}", {"pf": pf}), "SR-IOV VF")

    def sriov_vf_info(self, node: str, vf: str) -> dict[str, Any]:
        """GET /sriov/vf/{node}/{vf} (an object or a one-item list)."""
        return self.http.get_one(f"/sriov/vf/{segment(node)}/{segment(vf)}",
                                 f"SR-IOV VF {vf} on node {node}")
