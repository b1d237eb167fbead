"""Options and helpers shared by the `pvc network` commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from pvc.cli.context import CliState
from pvc.client.network.api import NetworkApi
from pvc.common.errors import NotFound

YES = click.option(
    "-y", "--yes", "yes", is_flag=True, default=False, help="Pre-confirm this dangerous action."
)
LIST_FORMATS = ["pretty", "raw", "json", "json-pretty"]
INFO_FORMATS = ["pretty", "json", "json-pretty"]
VXLAN_MAX = 2**24 - 1
VNI = click.IntRange(min=1, max=VXLAN_MAX)


def network_api(state: CliState) -> NetworkApi:
    """The network endpoints of the selected connection (prints the banner)."""
    return NetworkApi(state.api())


def or_empty(fetch: Callable[[], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """A list whose 404 ("none found") means an empty list."""
    try:
        return fetch()
    except NotFound:
        return []


def of_network(api: NetworkApi, vni: int,
               fetch: Callable[[], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """A list inside network `vni` (leases, ACLs). The API answers 404 both when the list
    is empty and when the network does not exist; the second raises NotFound here."""
    try:
        return fetch()
    except NotFound:
        api.network_info(vni)  # NotFound when the network itself is unknown
        return []


class MtuType(click.ParamType[int | str]):
    """An MTU: a positive number, or "" for the default MTU of the underlying device."""

    name = "mtu"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> int | str:
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            text = str(value).strip()
            if text == "":
                return ""
            if not text.isdigit():
                self.fail(f"{value!r} is not a number of bytes (or \"\" for the default)",
                          param, ctx)
            number = int(text)
        if number < 1:
            self.fail(f"{value!r} is not a positive MTU", param, ctx)
        return number


MTU = MtuType()
