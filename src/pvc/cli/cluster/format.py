"""Pretty formats of `pvc cluster status` (the `GET /status` object)."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from pvc.cli.render import (
    BAD,
    BLANK,
    GOOD,
    NOTE,
    WARN,
    Cell,
    delta_style,
    health_style,
    health_text,
    kv_block,
)

# The state shown first in each summary; the others follow in the API's order.
NODE_FIRST = ("run,ready",)
VM_FIRST = ("start", "disable", "mirror")
OSD_FIRST = ("up,in",)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _num(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _node_style(state: str) -> str:
    if state == "run,ready":
        return GOOD
    if state in ("run,flush", "run,unflush", "run,flushed"):
        return NOTE
    if any(bad in state for bad in ("dead", "fenced", "stop")):
        return BAD
    return WARN


def _vm_style(state: str) -> str:
    if state == "start":
        return GOOD
    if state in ("migrate", "disable", "provision", "mirror"):
        return NOTE
    if state in ("stop", "fail"):
        return BAD
    return WARN


def _osd_style(state: str) -> str:
    if state == "up,in":
        return GOOD
    if state == "down,out":
        return BAD
    return WARN


def state_summary(counts: Any, first: tuple[str, ...], style: Any) -> Text:
    """`3/3 run,ready, 1/3 run,flushed` from `{"run,ready": 3, ..., "total": 3}`."""
    counts = _dict(counts)
    total = counts.get("total", 0)
    states = [s for s in first if s in counts]
    states += [s for s in counts if s != "total" and s not in first]
    if not states:
        return Text(f"0/{total}" if total else "0")
    parts = [Text.assemble(f"{counts[s]}/{total} ", (s, style(s))) for s in states]
    return Text(", ").join(parts)


def _faults(health: dict[str, Any]) -> list[Cell]:
    messages = health.get("messages")
    if not isinstance(messages, list) or not messages:
        return ["None"]
    lines: list[Cell] = []
    for msg in messages:
        if isinstance(msg, dict):
            delta = msg.get("health_delta", 0)
            lines.append(
                Text.assemble(
                    f"{msg.get('id', '?')} (",
                    (f"-{delta}%", delta_style(delta)),
                    f") {msg.get('text', '')}",
                )
            )
        else:
            lines.append(str(msg))
    return lines


def _health(data: dict[str, Any]) -> Text:
    health = _dict(data.get("cluster_health")).get("health")
    maintenance = str(data.get("maintenance", "")).lower() == "true"
    text = health_text(health)
    if maintenance:
        text += " (maintenance on)"
    return Text(text, style=health_style(health, maintenance))


def _resources(data: dict[str, Any], labels: tuple[str, str, str]) -> list[tuple[str, Cell]]:
    """CPU, memory (MiB) and disk (KiB) usage lines, for the blocks the API gave."""
    res = _dict(data.get("resources"))
    pairs: list[tuple[str, Cell]] = []
    cpu = _dict(res.get("cpu"))
    if cpu:
        pairs.append(
            (
                labels[0],
                f"{_num(cpu.get('utilization')):.1f}% "
                f"({_num(cpu.get('load')):.1f} / {cpu.get('total', 0)})",
            )
        )
    for label, key, scale in ((labels[1], "memory", 1024), (labels[2], "disk", 1024 * 1024)):
        block = _dict(res.get(key))
        if block:
            used = _num(block.get("used")) / scale
            total = _num(block.get("total")) / scale
            pairs.append(
                (
                    label,
                    f"{_num(block.get('utilization')):.1f}% ({used:.1f} GiB / {total:.1f} GiB)",
                )
            )
    return pairs


def status_pretty(data: Any) -> list[Text]:
    data = _dict(data)
    pairs: list[tuple[str, Cell | list[Cell]]] = [
        ("Primary node", str(data.get("primary_node", "N/A"))),
        ("PVC version", str(data.get("pvc_version", "N/A"))),
        ("Upstream IP", str(data.get("upstream_ip", "N/A"))),
        BLANK,
        ("Health", _health(data)),
        ("Active faults", _faults(_dict(data.get("cluster_health")))),
    ]
    pairs += _resources(data, ("Total CPU", "Total memory", "Total disk"))
    pairs += [
        BLANK,
        ("Nodes", state_summary(data.get("nodes"), NODE_FIRST, _node_style)),
        ("VMs", state_summary(data.get("vms"), VM_FIRST, _vm_style)),
        ("OSDs", state_summary(data.get("osds"), OSD_FIRST, _osd_style)),
        ("Pools", str(data.get("pools", 0))),
        ("Volumes", str(data.get("volumes", 0))),
        ("Snapshots", str(data.get("snapshots", 0))),
        ("Networks", str(data.get("networks", 0))),
    ]
    return kv_block(pairs)


def status_short(data: Any) -> list[Text]:
    data = _dict(data)
    pairs: list[tuple[str, Cell | list[Cell]]] = [
        ("Health", _health(data)),
        ("Active faults", _faults(_dict(data.get("cluster_health")))),
    ]
    pairs += _resources(data, ("CPU usage", "Memory usage", "Disk usage"))
    return kv_block(pairs)
