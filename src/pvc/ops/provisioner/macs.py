"""MAC address templates of network templates: checking them, and rendering the MAC of
one VM's interface. Pure: no database, no cluster state.

A template is a MAC address in which three placeholders may stand for octets:

* `{prefix}`: the three octets `52:54:01` (a locally administered, unicast prefix);
* `{vmid}`: one octet, the number at the end of the VM's name (`web12` -> 12 -> `0c`;
  a name without one counts as 0), so 0 to 255;
* `{netid}`: one octet, the interface's index in the template (eth0 -> `00`).

Each renders as lowercase hex (`{vmid}` and `{netid}` as exactly two digits). The result
must be six lowercase hex pairs joined by ':' whose first octet is unicast (its lowest
bit clear); no other placeholder, brace or character is allowed. For example
`{prefix}:{vmid}:{netid}:01` gives `52:54:01:0c:00:01` for web12's eth0.
"""

from __future__ import annotations

import re
import secrets

from pvc.common.errors import InvalidArgument

PREFIX = "52:54:01"
MAX_OCTET = 255
PLACEHOLDERS = ("prefix", "vmid", "netid")

_MAC = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_SUFFIX = re.compile(r"(\d+)$")
# (vmid, netid) pairs a template is tried with: the ends of both ranges and between
_SAMPLES = ((0, 0), (1, 1), (12, 3), (MAX_OCTET, MAX_OCTET))


def vm_number(vm_name: str) -> int:
    """The number at the end of a VM's name (0 when there is none)."""
    found = _SUFFIX.search(vm_name)
    return int(found.group(1)) if found else 0


def _octet(value: int, what: str) -> str:
    if not 0 <= value <= MAX_OCTET:
        raise InvalidArgument(f"Invalid {what} {value}: a MAC template's {{{what}}} holds "
                              f"0 to {MAX_OCTET}")
    return f"{value:02x}"


def _render(template: str, vmid: int, netid: int) -> str:
    values = {"prefix": PREFIX, "vmid": _octet(vmid, "vmid"), "netid": _octet(netid, "netid")}

    def replace(found: re.Match[str]) -> str:
        key = found.group(1)
        if key not in values:
            raise InvalidArgument(
                f"Invalid MAC template {template!r}: unknown placeholder {{{key}}} (use "
                + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS) + ")")
        return values[key]

    rendered = _PLACEHOLDER.sub(replace, template)
    if "{" in rendered or "}" in rendered:
        raise InvalidArgument(f"Invalid MAC template {template!r}: a brace without its pair")
    return rendered


def _valid_mac(template: str, mac: str) -> str:
    if not _MAC.fullmatch(mac):
        raise InvalidArgument(
            f"Invalid MAC template {template!r}: it gives {mac!r}, not six lowercase hex "
            "pairs joined by ':' (e.g. {prefix}:{vmid}:{netid}:01)")
    if int(mac[:2], 16) & 1:
        raise InvalidArgument(f"Invalid MAC template {template!r}: its first octet "
                              f"{mac[:2]} is a multicast one (its lowest bit is set)")
    return mac


def check_mac_template(template: str) -> str:
    """`template` if every VM and interface gets a valid unicast MAC from it."""
    if not isinstance(template, str) or not template:
        raise InvalidArgument("Invalid MAC template: it is empty")
    for vmid, netid in _SAMPLES:
        _valid_mac(template, _render(template, vmid, netid))
    return template


def render_mac(template: str, vm_name: str, netid: int) -> str:
    """The MAC of interface `netid` (0: eth0) of VM `vm_name` by `template`; a VM whose
    name ends in a number above 255 is refused (it does not fit in one octet)."""
    check_mac_template(template)
    vmid = vm_number(vm_name)
    if vmid > MAX_OCTET:
        raise InvalidArgument(
            f"The VM name {vm_name!r} ends in {vmid}, above {MAX_OCTET}: the MAC template "
            f"{template!r} cannot give it a MAC ({{vmid}} is one octet)")
    return _valid_mac(template, _render(template, vmid, netid))


RANDOM_PREFIX = "52:54:00"


def random_macs(count: int) -> list[str]:
    """`count` distinct random MACs with the prefix libvirt uses (52:54:00), for a network
    template without a MAC template: a VM's NICs need fixed MACs, the metadata service
    knows a guest by the MAC of its lease."""
    found: list[str] = []
    while len(found) < count:
        tail = secrets.token_bytes(3)
        mac = RANDOM_PREFIX + "".join(f":{b:02x}" for b in tail)
        if mac not in found:
            found.append(mac)
    return found
