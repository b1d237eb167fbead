"""Pretty formats of `pvc vm list` and `pvc vm info` (the `GET /vm` objects)."""

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
    kv_block,
    number,
    table,
)

LIST_GROUPS = (("VMs", 4), ("Resources", 3), ("Node", 2))
LIST_COLUMNS = (
    Column("Name"),
    Column("State"),
    Column("Tags"),
    Column("Snapshots", right=True),
    Column("Networks"),
    Column("RAM (M)", right=True),
    Column("vCPUs", right=True),
    Column("Current"),
    Column("Migrated"),
)
_STATE_STYLES = {
    "start": GOOD, "restart": WARN, "shutdown": WARN, "migrate": WARN, "unmigrate": WARN,
    "provision": WARN, "restore": WARN, "import": WARN, "stop": BAD, "fail": BAD,
    "disable": NOTE, "mirror": OTHER,
}


def state_style(state: Any) -> str:
    return _STATE_STYLES.get(str(state), "")


def _list(vm: dict[str, Any], key: str) -> list[Any]:
    value = vm.get(key)
    return value if isinstance(value, list) else []


def _dict(vm: dict[str, Any], key: str) -> dict[str, Any]:
    value = vm.get(key)
    return value if isinstance(value, dict) else {}


def network_names(vm: dict[str, Any]) -> str:
    vnis = [str(n.get("vni", "")) for n in _list(vm, "networks") if isinstance(n, dict)]
    return ",".join(vnis) if vnis else "N/A"


def tag_names(vm: dict[str, Any]) -> str:
    names = [str(t.get("name", "")) for t in _list(vm, "tags") if isinstance(t, dict)]
    return ",".join(names) if names else "N/A"


def list_row(vm: dict[str, Any]) -> list[Cell]:
    return [
        cell(vm.get("name")),
        cell(vm.get("state"), state_style(vm.get("state"))),
        tag_names(vm),
        number(len(_list(vm, "snapshots"))),
        network_names(vm),
        number(vm.get("memory")),
        number(vm.get("vcpu")),
        cell(vm.get("node")),
        cell(vm.get("migrated")),
    ]


def list_pretty(vms: Any) -> list[Text]:
    items = [v for v in vms if isinstance(v, dict)] if isinstance(vms, list) else []
    items.sort(key=lambda v: str(v.get("name", "")))
    return table(LIST_COLUMNS, [list_row(v) for v in items], LIST_GROUPS)


def list_raw(vms: Any) -> str:
    items = vms if isinstance(vms, list) else []
    return "\n".join(str(v.get("name")) for v in items if isinstance(v, dict))


def _text(value: Any, empty: str = "N/A") -> str:
    return empty if value in (None, "", []) else str(value)


def _stats_lines(stats: dict[str, Any]) -> list[Cell]:
    return [f"{k}: {v}" for k, v in sorted(stats.items())] or ["N/A"]


def tags_table(tags: list[Any]) -> list[Text]:
    rows = [
        [cell(t.get("name")), cell(t.get("type")), cell("yes" if t.get("protected") else "no")]
        for t in tags
        if isinstance(t, dict)
    ]
    return table((Column("Name"), Column("Type"), Column("Protected")), rows)


def _io(item: dict[str, Any], read: str, write: str) -> str:
    return f"{number(item.get(read, 0))}/{number(item.get(write, 0))}"


def _long_tables(vm: dict[str, Any]) -> list[Text]:
    disks = [d for d in _list(vm, "disks") if isinstance(d, dict)]
    nets = [n for n in _list(vm, "networks") if isinstance(n, dict)]
    ctrls = [c for c in _list(vm, "controllers") if isinstance(c, dict)]
    lines: list[Text] = [Text("")]
    lines += table(
        (Column("Disk"), Column("Dev"), Column("Bus"), Column("Type"),
         Column("Requests (r/w)", right=True), Column("Data (r/w)", right=True)),
        [[cell(d.get("name")), cell(d.get("dev")), cell(d.get("bus")), cell(d.get("type")),
          _io(d, "rd_req", "wr_req"), _io(d, "rd_bytes", "wr_bytes")] for d in disks],
    )
    lines.append(Text(""))
    lines += table(
        (Column("Network"), Column("Type"), Column("Source"), Column("MAC Address"),
         Column("Model"), Column("Data (r/w)", right=True), Column("Packets (r/w)", right=True),
         Column("Errors (r/w)", right=True), Column("Drops (r/w)", right=True)),
        [[cell(n.get("vni")), cell(n.get("type")), cell(n.get("source")), cell(n.get("mac")),
          cell(n.get("model")), _io(n, "rd_bytes", "wr_bytes"),
          _io(n, "rd_packets", "wr_packets"), _io(n, "rd_errors", "wr_errors"),
          _io(n, "rd_drops", "wr_drops")] for n in nets],
    )
    lines.append(Text(""))
    lines += table((Column("Controller"), Column("Model")),
                   [[cell(c.get("type")), cell(c.get("model"))] for c in ctrls])
    return lines


def info_lines(vm: Any, long: bool = False) -> list[Text]:
    vm = vm if isinstance(vm, dict) else {}
    vnc = _dict(vm, "vnc")
    state = vm.get("state")
    method = _text(vm.get("migration_method"), "none")
    if vm.get("migration_max_downtime"):
        method += f" (max downtime {vm.get('migration_max_downtime')} ms)"
    pairs: list[tuple[str, Cell | list[Cell]]] = [
        ("Name", cell(vm.get("name"), "bold")),
        ("UUID", cell(vm.get("uuid"))),
        ("Description", _text(vm.get("description"))),
        ("Profile", _text(vm.get("profile"))),
        ("Memory (M)", number(vm.get("memory"))),
        ("vCPUs", number(vm.get("vcpu"))),
        ("Topology (S/C/T)", _text(vm.get("vcpu_topology"))),
    ]
    if vnc.get("listen") and vnc.get("port"):
        pairs.append(("VNC", f"{vnc.get('listen')}:{vnc.get('port')}"))
    if long:
        pairs += [
            BLANK,
            ("Emulator", _text(vm.get("emulator"))),
            ("Type", _text(vm.get("type"))),
            ("Arch", _text(vm.get("arch"))),
            ("Machine", _text(vm.get("machine"))),
            ("Features", " ".join(str(f) for f in _list(vm, "features")) or "N/A"),
            ("Memory stats", _stats_lines(_dict(vm, "memory_stats"))),
            ("vCPU stats", _stats_lines(_dict(vm, "vcpu_stats"))),
        ]
    pairs += [BLANK, ("State", cell(state, state_style(state)))]
    if state == "fail" or vm.get("failed_reason"):
        pairs.append(("Failure reason", _text(vm.get("failed_reason"))))
    pairs += [
        ("Current Node", _text(vm.get("node"))),
        ("Previous Node", _text(vm.get("last_node"))),
        BLANK,
        ("Node Selector", _text(vm.get("node_selector"), "none")),
        ("Node Limit", ", ".join(str(n) for n in _list(vm, "node_limit")) or "Any"),
        ("Autostart", "True" if vm.get("node_autostart") else "False"),
        ("Migration Method", method),
        BLANK,
        ("Networks", network_names(vm)),
    ]
    snapshots = [s for s in _list(vm, "snapshots") if isinstance(s, dict)]
    if snapshots:
        pairs.append(("Snapshots", [f"{s.get('name')} ({s.get('age')} s old)" for s in snapshots]))
    lines = kv_block(pairs)
    tags = _list(vm, "tags")
    if tags:
        lines += [Text(""), *tags_table(tags)]
    if long:
        lines += _long_tables(vm)
    return lines


def info_pretty(vm: Any) -> list[Text]:
    return info_lines(vm, long=False)


def info_long(vm: Any) -> list[Text]:
    return info_lines(vm, long=True)
