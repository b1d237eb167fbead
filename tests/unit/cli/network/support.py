"""Helpers of the `pvc network` tests (no tests here): a recording fake API behind
`httpx.MockTransport`, a CLI runner bound to it, and network objects shaped as the API
sends them (flags and unset values as the strings "True"/"False"/"None")."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner, Result

from pvc.cli.context import CliState
from pvc.cli.main import cli
from pvc.client import ApiClient, Connection
from pvc.client.network.api import NetworkApi
from tests.unit.fakes import FakeTime

PREFIX = "/api/v1"
Query = list[tuple[str, str]]


@dataclass
class Request:
    method: str
    path: str  # without the /api/v1 prefix
    query: Query
    body: bytes
    raw_path: bytes


class FakeApi:
    """Routes (method, path) to a JSON body answered with 200, or to an `httpx.Response`;
    anything else gets a 404 with a JSON message. Every request is recorded."""

    def __init__(self) -> None:
        self.answers: dict[tuple[str, str], Any] = {}
        self.seen: list[Request] = []

    def on(self, method: str, path: str, answer: Any) -> None:
        self.answers[(method, path)] = answer

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix(PREFIX)
        self.seen.append(Request(request.method, path, list(request.url.params.multi_items()),
                                 request.read(), request.url.raw_path))
        answer = self.answers.get((request.method, path))
        if answer is None:
            return httpx.Response(404, json={"message": "Nothing here."})
        return answer if isinstance(answer, httpx.Response) else httpx.Response(200, json=answer)

    def requests(self) -> list[tuple[str, str, Query]]:
        return [(r.method, r.path, r.query) for r in self.seen]


def missing(message: str) -> httpx.Response:
    return httpx.Response(404, json={"message": message})


def refused(message: str) -> httpx.Response:
    return httpx.Response(400, json={"message": message})


def client(api: FakeApi) -> NetworkApi:
    http = ApiClient(Connection("t", "10.0.0.250", 7370, api_key="K"),
                     transport=httpx.MockTransport(api), connect_window=0.0)
    return NetworkApi(http)


def run(api: FakeApi, tmp_path: Path, *args: str, stdin: str | None = None,
        unsafe: bool = False) -> Result:
    store = tmp_path / "pvc.json"
    store.write_text(json.dumps({"lab": {"host": "10.0.0.250", "port": 7370, "scheme": "http",
                                         "api_key": "KEY", "description": "lab"}}))
    fake = FakeTime()
    state = CliState(store=store, transport=httpx.MockTransport(api), sleep=fake.sleep,
                     clock=fake.clock)
    flags = ["-u"] if unsafe else []
    return CliRunner().invoke(cli, [*flags, "-c", "lab", *args], obj=state, input=stdin)


def managed(vni: int, description: str, *, dhcp: bool = True, ip6: bool = False,
            **extra: Any) -> dict[str, Any]:
    """A managed network with IPv4 10.<vni>.0.0/24 (and optionally IPv6)."""
    net4 = f"10.{vni % 256}.0"
    network: dict[str, Any] = {
        "vni": vni, "description": description, "type": "managed", "mtu": 1450,
        "domain": f"{description}.local", "name_servers": [f"{net4}.1"],
        "ip4": {"network": f"{net4}.0/24", "gateway": f"{net4}.1",
                "dhcp_flag": str(dhcp),
                "dhcp_start": f"{net4}.100" if dhcp else "None",
                "dhcp_end": f"{net4}.199" if dhcp else "None"},
        "ip6": {"network": f"fd00:{vni}::/64" if ip6 else "None",
                "gateway": f"fd00:{vni}::1" if ip6 else "None", "dhcp_flag": str(ip6)},
    }
    network.update(extra)
    return network


def bridged(vni: int, description: str, mtu: int = 1500) -> dict[str, Any]:
    return {
        "vni": vni, "description": description, "type": "bridged", "mtu": mtu,
        "domain": "None", "name_servers": [],
        "ip4": {"network": "None", "gateway": "None", "dhcp_flag": "False",
                "dhcp_start": "None", "dhcp_end": "None"},
        "ip6": {"network": "None", "gateway": "None", "dhcp_flag": "False"},
    }


def lease(hostname: str, ip: str, mac: str, timestamp: int = 0) -> dict[str, Any]:
    return {"hostname": hostname, "ip4_address": ip, "mac_address": mac,
            "timestamp": timestamp}


def acl(description: str, order: int, rule: str, direction: str = "in") -> dict[str, Any]:
    return {"description": description, "direction": direction, "order": order, "rule": rule}


def vf(phy: str, pf: str, mac: str, domain: str | None = None) -> dict[str, Any]:
    return {"phy": phy, "pf": pf, "mtu": 9000, "mac": mac,
            "config": {"vlan_id": "0", "vlan_qos": "0", "tx_rate_min": "0",
                       "tx_rate_max": "0", "link_state": "auto", "spoof_check": "True",
                       "trust": "False", "query_rss": "False"},
            "usage": {"used": str(domain is not None), "domain": domain or ""}}
