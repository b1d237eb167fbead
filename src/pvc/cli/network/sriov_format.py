"""Pretty formats of `pvc network sriov` (the `GET /sriov/pf|vf` objects)."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from pvc.cli.network.tables import dicts
from pvc.cli.render import BLANK, GOOD, NOTE, Cell, Column, cell, kv_block, table

PF_COLUMNS = (Column("Device"), Column("MTU", right=True), Column("VFs"))
VF_COLUMNS = (Column("Device"), Column("PF"), Column("MTU", right=True),
              Column("MAC Address"), Column("Used"), Column("Domain"))


def _sub(obj: dict[str, Any], key: str) -> dict[str, Any]:
    value = obj.get(key)
    return value if isinstance(value, dict) else {}


def _by_phy(data: Any) -> list[dict[str, Any]]:
    return sorted(dicts(data), key=lambda d: str(d.get("phy", "")))


def _yes_no(value: Any) -> Cell:
    """A flag the API may send as a boolean or as the string "True"/"False"."""
    on = str(value) == "True"
    return cell(str(value) if value is not None else None, GOOD if on else NOTE)


def _domain(usage: dict[str, Any]) -> Cell:
    domain = usage.get("domain")
    return cell(domain) if domain not in (None, "", False, "False", "None") else cell(None)


def pf_table(data: Any, node: str) -> list[Text]:
    pfs = _by_phy(data)
    if not pfs:
        return [Text(f"No SR-IOV PFs found on node {node}.")]
    rows: list[list[Cell]] = []
    for pf in pfs:
        vfs = pf.get("vfs")
        shown = ", ".join(str(v) for v in vfs) if isinstance(vfs, list) else vfs
        rows.append([cell(pf.get("phy"), "bold"), cell(pf.get("mtu")), cell(shown or None)])
    return table(PF_COLUMNS, rows)


def vf_table(data: Any, node: str, pf: str | None = None) -> list[Text]:
    vfs = _by_phy(data)
    if not vfs:
        where = f"on PF {pf} of node {node}" if pf else f"on node {node}"
        return [Text(f"No SR-IOV VFs found {where}.")]
    rows: list[list[Cell]] = []
    for vf in vfs:
        usage = _sub(vf, "usage")
        rows.append([cell(vf.get("phy"), "bold"), cell(vf.get("pf")), cell(vf.get("mtu")),
                     cell(vf.get("mac")), _yes_no(usage.get("used")), _domain(usage)])
    return table(VF_COLUMNS, rows)


def phy_raw(data: Any) -> str:
    return "\n".join(str(d.get("phy")) for d in _by_phy(data))


def vf_info(vf: Any, node: str) -> list[Text]:
    vf = vf if isinstance(vf, dict) else {}
    config, usage, pci = _sub(vf, "config"), _sub(vf, "usage"), _sub(vf, "pci")
    pairs: list[tuple[str, Cell]] = [
        ("Device", cell(vf.get("phy"), "bold")),
        ("PF", f"{vf.get('pf')} on node {node}"),
        ("MTU", cell(vf.get("mtu"))),
        ("MAC Address", cell(vf.get("mac"))),
        BLANK,
        ("VLAN ID", cell(config.get("vlan_id"))),
        ("VLAN QoS Priority", cell(config.get("vlan_qos"))),
        ("Minimum TX Rate", cell(config.get("tx_rate_min"))),
        ("Maximum TX Rate", cell(config.get("tx_rate_max"))),
        ("Link State", cell(config.get("link_state"))),
        ("Spoof Checking", _yes_no(config.get("spoof_check"))),
        ("VF User Trust", _yes_no(config.get("trust"))),
        ("Query RSS", _yes_no(config.get("query_rss"))),
    ]
    if pci:
        pairs += [BLANK] + [(f"PCIe {part.capitalize()}", cell(pci.get(part)))
                            for part in ("domain", "bus", "slot", "function")]
    pairs += [BLANK, ("Used", _yes_no(usage.get("used"))), ("Used By", _domain(usage))]
    return kv_block(pairs)
