"""VM metadata (placement preferences, migration settings, profile), tags and console."""

from __future__ import annotations

from typing import Any

from pvc.common import names, vm
from pvc.common.config import Config
from pvc.common.errors import InvalidArgument, NotFound
from pvc.ops.vm import placement
from pvc.ops.vm.records import get_vm
from pvc.state.store import Store


def set_meta(store: Store, config: Config, ident: str, limit: str | None = None,
             selector: str | None = None, autostart: bool | None = None,
             profile: str | None = None, migration_method: str | None = None,
             migration_max_downtime: int | None = None) -> str:
    rec = get_vm(store, ident)
    meta, version = store.read_versioned("domain.meta", domain=rec.uuid)
    new = vm.meta_of(meta)
    if limit is not None:
        new["node_limit"] = placement.parse_limit(
            limit, [r.name for r in placement.node_records(store, config)])
    if selector is not None:
        new["node_selector"] = vm.check_selector(selector)
    if autostart is not None:
        new["node_autostart"] = bool(autostart)
    if profile is not None:
        new["profile"] = names.object_name(profile, "profile") if profile else ""
    if migration_method is not None:
        new["migration_method"] = vm.check_migration_method(migration_method)
    if migration_max_downtime is not None:
        new["migration_max_downtime"] = vm.check_max_downtime(migration_max_downtime)
    store.write("domain.meta", new, version=version, domain=rec.uuid)
    return f'Successfully modified metadata of VM "{rec.name}".'


def tags(store: Store, ident: str) -> list[dict[str, Any]]:
    return get_vm(store, ident).tags


def change_tag(store: Store, ident: str, action: str, tag: str, protected: bool = False) -> str:
    rec = get_vm(store, ident)
    names.object_name(tag, "tag")
    current, version = store.read_versioned("domain.tags", domain=rec.uuid)
    items = [t for t in current if isinstance(t, dict)] if isinstance(current, list) else []
    present = any(t.get("name") == tag for t in items)
    if action == "add":
        if present:
            raise InvalidArgument(f'VM "{rec.name}" already has tag "{tag}"')
        items.append({"name": tag, "type": "user", "protected": bool(protected)})
        message = f'Added tag "{tag}" to VM "{rec.name}".'
    elif action == "remove":
        if not present:
            raise NotFound(f'VM "{rec.name}" has no tag "{tag}"')
        items = [t for t in items if t.get("name") != tag]
        message = f'Removed tag "{tag}" from VM "{rec.name}".'
    else:
        raise InvalidArgument(f"Invalid tag action {action!r}: use add or remove")
    store.write("domain.tags", items, version=version, domain=rec.uuid)
    return message


def console_log(store: Store, ident: str, lines: int = 1000) -> tuple[str, str]:
    """(name, the last `lines` lines of the VM's serial console)."""
    if lines < 1:
        raise InvalidArgument(f"Invalid number of lines {lines}: use a positive number")
    rec = get_vm(store, ident)
    text = str(store.read("domain.console_log", default="", domain=rec.uuid) or "")
    return rec.name, "\n".join(text.split("\n")[-lines:]) if text else ""
