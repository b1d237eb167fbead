"""Pretty formats of `pvc node list` and `pvc node info` (the `GET /node` objects)."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from pvc.cli.render import (
    BAD,
    BLANK,
    GOOD,
    NOTE,
    OTHER,
    WARN,
    Cell,
    Column,
    cell,
    delta_style,
    health_style,
    health_text,
    kv_block,
    number,
    table,
)

LIST_GROUPS = (("Nodes", 3), ("States", 3), ("Resources", 3), ("Memory (M)", 5))
LIST_COLUMNS = (
    Column("Name"),
    Column("Version"),
    Column("Health", right=True),
    Column("Daemon"),
    Column("Coordinator"),
    Column("Domain"),
    Column("VMs", right=True),
    Column("vCPUs", right=True),
    Column("Load", right=True),
    Column("Total", right=True),
    Column("Used", right=True),
    Column("Free", right=True),
    Column("Alloc", right=True),
    Column("Prov", right=True),
)


def daemon_style(state: Any) -> str:
    state = str(state)
    if state == "run":
        return GOOD
    if state in ("stop", "dead", "fenced", "fence-failed"):
        return BAD
    if state in ("init", "shutdown"):
        return WARN
    return ""


def coordinator_style(state: Any) -> str:
    return {
        "primary": GOOD,
        "secondary": NOTE,
        "takeover": WARN,
        "relinquish": WARN,
        "client": OTHER,
        "hypervisor": OTHER,
    }.get(str(state), "")


def domain_style(state: Any) -> str:
    return {"ready": GOOD, "flushed": NOTE, "flush": WARN, "unflush": WARN}.get(str(state), "")


def _sub(node: dict[str, Any], key: str) -> dict[str, Any]:
    value = node.get(key)
    return value if isinstance(value, dict) else {}


def _memory_style(memory: dict[str, Any]) -> str:
    """Free memory turns yellow when the VMs' allocation exceeds what is free."""
    total, alloc = memory.get("total"), memory.get("allocated")
    if isinstance(total, int | float) and isinstance(alloc, int | float) and alloc > total:
        return WARN
    return ""


def list_row(node: dict[str, Any]) -> list[Cell]:
    mem = _sub(node, "memory")
    health = node.get("health")
    return [
        cell(node.get("name")),
        cell(node.get("pvc_version", "N/A")),
        cell(health_text(health), health_style(health)),
        cell(node.get("daemon_state"), daemon_style(node.get("daemon_state"))),
        cell(node.get("coordinator_state"), coordinator_style(node.get("coordinator_state"))),
        cell(node.get("domain_state"), domain_style(node.get("domain_state"))),
        number(node.get("domains_count")),
        number(_sub(node, "vcpu").get("allocated")),
        number(node.get("load")),
        number(mem.get("total")),
        number(mem.get("used")),
        cell(number(mem.get("free")), _memory_style(mem)),
        number(mem.get("allocated")),
        number(mem.get("provisioned")),
    ]


def list_pretty(nodes: Any) -> list[Text]:
    items = [n for n in nodes if isinstance(n, dict)] if isinstance(nodes, list) else []
    items.sort(key=lambda n: str(n.get("name", "")))
    return table(LIST_COLUMNS, [list_row(n) for n in items], LIST_GROUPS)


def list_raw(nodes: Any) -> str:
    items = nodes if isinstance(nodes, list) else []
    return "\n".join(str(n.get("name")) for n in items if isinstance(n, dict))


def _health_lines(node: dict[str, Any], everything: bool) -> list[Cell]:
    """`plugin: message` lines: all plugins (long) or only those costing health."""
    lines: list[Cell] = []
    details = node.get("health_details")
    for item in details if isinstance(details, list) else []:
        if not isinstance(item, dict):
            continue
        delta = item.get("health_delta", 0)
        if not everything and not (isinstance(delta, int | float) and delta > 0):
            continue
        lines.append(
            Text.assemble(
                (f"{item.get('name', '?')}", "bold"),
                " (",
                (f"-{delta}%", delta_style(delta)),
                f"): {item.get('message', '')}",
            )
        )
    return lines


def info_lines(node: Any, long: bool = False) -> list[Text]:
    node = node if isinstance(node, dict) else {}
    mem = _sub(node, "memory")
    vcpu = _sub(node, "vcpu")
    health = node.get("health")
    pairs: list[tuple[str, Cell | list[Cell]]] = [
        ("Name", cell(node.get("name"), "bold")),
        ("PVC Version", cell(node.get("pvc_version"))),
        ("Health", cell(health_text(health), health_style(health))),
    ]
    plugins = _health_lines(node, everything=long)
    if plugins:
        pairs.append(("Health Plugins" if long else "Health Issues", plugins))
    pairs += [
        ("Daemon State", cell(node.get("daemon_state"), daemon_style(node.get("daemon_state")))),
        (
            "Coordinator State",
            cell(node.get("coordinator_state"), coordinator_style(node.get("coordinator_state"))),
        ),
        ("Domain State", cell(node.get("domain_state"), domain_style(node.get("domain_state")))),
        ("Active VM Count", number(node.get("domains_count"))),
    ]
    if long:
        pairs += [
            BLANK,
            ("Architecture", cell(node.get("arch"))),
            ("Operating System", cell(node.get("os"))),
            ("Kernel Version", cell(node.get("kernel"))),
        ]
    pairs += [
        BLANK,
        ("Host CPUs", number(node.get("cpu_count"))),
        ("vCPUs", f"{number(vcpu.get('allocated'))} allocated / {number(vcpu.get('total'))}"),
        ("Load", number(node.get("load"))),
        ("Total RAM (MiB)", number(mem.get("total"))),
        ("Used RAM (MiB)", number(mem.get("used"))),
        ("Free RAM (MiB)", cell(number(mem.get("free")), _memory_style(mem))),
        ("Allocated RAM (MiB)", number(mem.get("allocated"))),
        ("Provisioned RAM (MiB)", number(mem.get("provisioned"))),
    ]
    return kv_block(pairs)


def info_pretty(node: Any) -> list[Text]:
    return info_lines(node, long=False)


def info_long(node: Any) -> list[Text]:
    return info_lines(node, long=True)
