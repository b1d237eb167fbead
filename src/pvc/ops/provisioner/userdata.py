"""Userdata: named cloud-init documents that profiles hand to their VMs.

A document is checked before it is stored: empty, a `#cloud-config` YAML mapping, a
script (`#!`), an `#include` list, a `#cloud-boothook`, or a MIME multipart document whose
every part is one of these. The built-in `empty` (profiles without userdata) stays as it is.
"""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from pvc.common.errors import InvalidArgument
from pvc.db.engine import Database
from pvc.db.models import Userdata
from pvc.ops.provisioner.common import limited, object_name, one, write

WHAT = "userdata"
BUILTIN = "empty"
MAX_BYTES = 1024 * 1024
CLOUD_CONFIG = "#cloud-config"
CLOUD_CONFIG_TYPE = "text/cloud-config"
# Headers of documents cloud-init runs or reads as they are (no content check here).
OPAQUE_HEADERS = ("#!", "#include", "#cloud-boothook")
MIME_STARTS = ("content-type: multipart/", "mime-version:")


# -- the checks (pure) ---------------------------------------------------------------------
def _yaml_problem(text: str) -> str | None:
    """Why `text` is not a YAML mapping (or nothing); None when it is one."""
    try:
        loaded = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        return f"the YAML is not valid at {where}: {exc.problem or exc.context}"
    except yaml.YAMLError as exc:
        return f"the YAML is not valid: {exc}"
    if loaded is None or isinstance(loaded, dict):
        return None
    kind = "a list" if isinstance(loaded, list) else f"a single {type(loaded).__name__} value"
    return f"the YAML after {CLOUD_CONFIG} must be a mapping (key: value lines), not {kind}"


def _first_line(text: str) -> str:
    return text.split("\n", 1)[0].rstrip("\r \t")


def _is_mime(text: str) -> bool:
    return text.lower().startswith(MIME_STARTS)


def _leaves(message: EmailMessage) -> list[EmailMessage]:
    """The parts of a multipart message that hold content, nested multiparts unpacked."""
    found: list[EmailMessage] = []
    for part in message.iter_parts():
        if not isinstance(part, EmailMessage):
            continue
        if part.is_multipart():
            found.extend(_leaves(part))
        else:
            found.append(part)
    return found


def _part_problem(part: EmailMessage) -> str | None:
    ctype = part.get_content_type()
    if part.get_content_maintype() != "text":
        return f"it is {ctype}, not text; give cloud-init text parts"
    try:
        content = part.get_content()
    except (LookupError, ValueError) as exc:  # an unknown charset or a bad encoding
        return f"its content cannot be decoded: {exc}"
    if not isinstance(content, str):
        return "its content is not text"
    if ctype == CLOUD_CONFIG_TYPE:  # cloud-init knows it by its type; the header may be left out
        return _yaml_problem(content)
    if _is_mime(content):
        return "a text part cannot hold another MIME document; nest a multipart part instead"
    return _document_problem(content)


def _mime_problem(text: str) -> str | None:
    message = email.message_from_string(text, policy=email.policy.default)
    if not isinstance(message, EmailMessage) or not message.is_multipart():
        defects = ", ".join(type(d).__name__ for d in getattr(message, "defects", []))
        return ("a MIME document must be multipart (Content-Type: multipart/...; "
                "boundary=...) with its boundaries in place"
                + (f" ({defects})" if defects else ""))
    parts = _leaves(message)
    if not parts:
        return "the MIME document has no parts"
    for number, part in enumerate(parts, start=1):
        problem = _part_problem(part)
        if problem:
            return f"MIME part {number} ({part.get_content_type()}): {problem}"
    return None


def _document_problem(text: str) -> str | None:
    """Why `text` is not a userdata document cloud-init takes; None when it is one."""
    if not text.strip():
        return None
    first = _first_line(text)
    if first == CLOUD_CONFIG:
        return _yaml_problem(text)  # the header is a YAML comment: lines keep their numbers
    if first.startswith(OPAQUE_HEADERS):
        return None
    if _is_mime(text):
        return _mime_problem(text)
    if first.startswith(CLOUD_CONFIG):
        return f"the first line must be exactly {CLOUD_CONFIG}, not {first[:40]!r}"
    return (f"it must be empty, start with {CLOUD_CONFIG}, '#!' (a script), '#include' or "
            "'#cloud-boothook', or be a MIME multipart document; it starts with "
            f"{first[:40]!r}")


def check_userdata(text: str) -> str:
    """`text` if cloud-init can take it as userdata; InvalidArgument saying why not."""
    if not isinstance(text, str):
        raise InvalidArgument("Invalid userdata: it must be text")
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidArgument("Invalid userdata: it is not valid Unicode text") from None
    if size > MAX_BYTES:
        raise InvalidArgument(f"Invalid userdata: it is {size} bytes; the most is {MAX_BYTES}")
    if "\x00" in text:
        raise InvalidArgument("Invalid userdata: it holds a NUL character")
    problem = _document_problem(text)
    if problem:
        raise InvalidArgument(f"Invalid userdata: {problem}")
    return text


def _not_builtin(name: str, doing: str) -> None:
    if name == BUILTIN:
        raise InvalidArgument(f"The built-in userdata {BUILTIN!r} cannot be {doing}: profiles "
                              "without their own userdata use it")


# -- the table ---------------------------------------------------------------------------------
def view(u: Userdata) -> dict[str, Any]:
    return {"id": u.id, "name": u.name, "userdata": u.userdata}


def list_userdata(db: Database, limit: str | None = None) -> list[dict[str, Any]]:
    stmt = limited(select(Userdata), Userdata.name, limit).order_by(Userdata.name)
    return db.run(lambda s: [view(u) for u in s.scalars(stmt)])


def get(db: Database, name: str) -> dict[str, Any]:
    return db.run(lambda s: view(one(s, Userdata, name, WHAT)))


def add(db: Database, name: str, data: str) -> None:
    object_name(name, f"{WHAT} name")
    document = check_userdata(data)
    write(db, lambda s: s.add(Userdata(name=name, userdata=document)), WHAT, name)


def modify(db: Database, name: str, data: str) -> None:
    _not_builtin(name, "changed")
    document = check_userdata(data)

    def work(s: Session) -> None:
        one(s, Userdata, name, WHAT).userdata = document

    write(db, work, WHAT, name)


def remove(db: Database, name: str) -> None:
    _not_builtin(name, "removed")
    write(db, lambda s: s.delete(one(s, Userdata, name, WHAT)), WHAT, name)
