"""Provisioner scripts: the Python source that builds a profile's VMs.

A script is checked before it is stored: it must compile, and define, at the top of the
module, the class `VMBuilderScript` that the provisioner runs. It is only compiled and
read as a syntax tree here, never run.
"""

from __future__ import annotations

import ast
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pvc.common.errors import InvalidArgument
from pvc.db.engine import Database
from pvc.db.models import Script
from pvc.ops.provisioner.common import limited, object_name, one, write

WHAT = "script"
MAX_BYTES = 1024 * 1024
BUILDER_CLASS = "VMBuilderScript"


def _syntax_error(exc: SyntaxError) -> str:
    where = f"line {exc.lineno}" if exc.lineno else "an unknown line"
    text = (exc.text or "").strip()
    shown = f": {text[:80]!r}" if text else ""
    return f"Invalid script: a syntax error on {where} ({exc.msg}){shown}"


def check_script(source: str, name: str = "script") -> str:
    """`source` if it compiles and defines a module-level `VMBuilderScript` class;
    InvalidArgument saying why not. The source is never executed."""
    if not isinstance(source, str):
        raise InvalidArgument("Invalid script: it must be text")
    try:
        size = len(source.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidArgument("Invalid script: it is not valid Unicode text") from None
    if size > MAX_BYTES:
        raise InvalidArgument(f"Invalid script: it is {size} bytes; the most is {MAX_BYTES}")
    if "\x00" in source:
        raise InvalidArgument("Invalid script: it holds a NUL character")
    try:
        tree = ast.parse(source, filename=name, mode="exec")
        compile(tree, name, "exec", dont_inherit=True)  # what only the compiler refuses
    except SyntaxError as exc:
        raise InvalidArgument(_syntax_error(exc)) from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise InvalidArgument(f"Invalid script: it does not compile ({exc})") from None
    if not any(isinstance(node, ast.ClassDef) and node.name == BUILDER_CLASS
               for node in tree.body):
        raise InvalidArgument(f"Invalid script: it defines no module-level class "
                              f"{BUILDER_CLASS}, which the provisioner runs")
    return source


def view(s: Script) -> dict[str, Any]:
    return {"id": s.id, "name": s.name, "script": s.script}


def list_scripts(db: Database, limit: str | None = None) -> list[dict[str, Any]]:
    stmt = limited(select(Script), Script.name, limit).order_by(Script.name)
    return db.run(lambda s: [view(x) for x in s.scalars(stmt)])


def get(db: Database, name: str) -> dict[str, Any]:
    return db.run(lambda s: view(one(s, Script, name, WHAT)))


def add(db: Database, name: str, data: str) -> None:
    object_name(name, f"{WHAT} name")
    source = check_script(data, name)
    write(db, lambda s: s.add(Script(name=name, script=source)), WHAT, name)


def modify(db: Database, name: str, data: str) -> None:
    source = check_script(data, name)

    def work(s: Session) -> None:
        one(s, Script, name, WHAT).script = source

    write(db, work, WHAT, name)


def remove(db: Database, name: str) -> None:
    write(db, lambda s: s.delete(one(s, Script, name, WHAT)), WHAT, name)
