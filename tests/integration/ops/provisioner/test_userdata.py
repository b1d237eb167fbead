"""Userdata on a real PostgreSQL: documents stored byte for byte, the built-in `empty`
kept as it is, and every refusal leaving the table as it was."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from pvc.common.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from pvc.db import migrate
from pvc.db.engine import Database
from pvc.db.models import Profile, Userdata
from pvc.ops.provisioner import userdata as ud

pytestmark = pytest.mark.integration

CLOUD_CONFIG = "#cloud-config\nhostname: web1\npackages:\n  - htop\n"
SHELL = "#!/bin/sh\necho hello > /tmp/hello\n"
MIME = ('Content-Type: multipart/mixed; boundary="==b=="\nMIME-Version: 1.0\n\n'
        '--==b==\nContent-Type: text/cloud-config; charset="us-ascii"\n\n'
        f"{CLOUD_CONFIG}--==b==\nContent-Type: text/x-shellscript\n\n{SHELL}--==b==--\n")


@pytest.fixture
def pdb(db: Database) -> Iterator[Database]:
    migrate.upgrade(db)
    yield db


def table(db: Database) -> dict[str, str]:
    """The userdata table as it is: name -> document."""
    return db.run(lambda s: {u.name: u.userdata for u in s.scalars(select(Userdata))})


def test_the_built_in_empty_is_there_and_documents_are_kept_as_given(pdb: Database) -> None:
    assert ud.list_userdata(pdb) == [{"id": ud.get(pdb, "empty")["id"], "name": "empty",
                                      "userdata": ""}]
    ud.add(pdb, "web", CLOUD_CONFIG)
    ud.add(pdb, "both", MIME)
    ud.add(pdb, "crlf", "#cloud-config\r\nhostname: x\r\n")
    assert [u["name"] for u in ud.list_userdata(pdb)] == ["both", "crlf", "empty", "web"]
    web = ud.get(pdb, "web")
    assert set(web) == {"id", "name", "userdata"} and isinstance(web["id"], int)
    assert web["userdata"] == CLOUD_CONFIG
    assert ud.get(pdb, "both")["userdata"] == MIME
    assert ud.get(pdb, "crlf")["userdata"] == "#cloud-config\r\nhostname: x\r\n"
    assert [u["name"] for u in ud.list_userdata(pdb, "^(web|em)")] == ["empty", "web"]
    ud.modify(pdb, "web", SHELL)
    assert ud.get(pdb, "web")["userdata"] == SHELL
    ud.remove(pdb, "web")
    assert sorted(table(pdb)) == ["both", "crlf", "empty"]


def test_a_large_document_is_stored_whole(pdb: Database) -> None:
    big = CLOUD_CONFIG + "write_files:\n" + "".join(
        f"  - path: /etc/file{i}\n    content: '{'x' * 40}'\n" for i in range(3000))
    assert len(big) > 200_000
    ud.add(pdb, "big", big)
    assert ud.get(pdb, "big")["userdata"] == big


@pytest.mark.parametrize(("name", "document", "message"), [
    ("web", "#cloud-config\nhostname: web1\nusers:\n  - name: a\n  b: : c\n", "line 5"),
    ("web", "#cloud-config\n- htop\n- vim\n", "mapping.*not a list"),
    ("web", "install htop please\n", "must be empty, start with #cloud-config"),
    ("web", MIME.replace(SHELL, "echo no interpreter\n"), r"MIME part 2 \(text/x-shellscript\)"),
    ("web", MIME.replace("packages:\n  - htop", "packages: [htop"), r"MIME part 1.*line"),
    ("web", "#!/bin/sh\n" + "#" * ud.MAX_BYTES, "bytes"),
    ("bad name", CLOUD_CONFIG, "name"),
    ("x;drop", CLOUD_CONFIG, "name"),
])
def test_bad_documents_and_names_are_refused_and_nothing_is_stored(
        pdb: Database, name: str, document: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        ud.add(pdb, name, document)
    assert table(pdb) == {"empty": ""}


def test_a_bad_change_keeps_the_document(pdb: Database) -> None:
    ud.add(pdb, "web", CLOUD_CONFIG)
    with pytest.raises(InvalidArgument, match="line 2"):
        ud.modify(pdb, "web", "#cloud-config\na: b: c\n")
    with pytest.raises(InvalidArgument, match="not a list"):
        ud.modify(pdb, "web", "#cloud-config\n- a\n")
    assert table(pdb) == {"empty": "", "web": CLOUD_CONFIG}


def test_the_built_in_empty_cannot_be_changed_or_removed(pdb: Database) -> None:
    with pytest.raises(InvalidArgument, match="built-in userdata 'empty' cannot be changed"):
        ud.modify(pdb, "empty", CLOUD_CONFIG)
    with pytest.raises(InvalidArgument, match="built-in userdata 'empty' cannot be removed"):
        ud.remove(pdb, "empty")
    with pytest.raises(AlreadyExists, match="empty"):
        ud.add(pdb, "empty", CLOUD_CONFIG)
    assert table(pdb) == {"empty": ""}


def test_duplicates_unknown_names_and_userdata_in_use(pdb: Database) -> None:
    ud.add(pdb, "web", CLOUD_CONFIG)
    with pytest.raises(AlreadyExists, match="web"):
        ud.add(pdb, "web", SHELL)
    assert ud.get(pdb, "web")["userdata"] == CLOUD_CONFIG
    for call in (lambda: ud.get(pdb, "nope"), lambda: ud.modify(pdb, "nope", SHELL),
                 lambda: ud.remove(pdb, "nope")):
        with pytest.raises(NotFound, match="nope"):
            call()

    def in_use(s: Session) -> None:
        web = s.scalars(select(Userdata).where(Userdata.name == "web")).one()
        s.add(Profile(name="p", userdata=web.id))

    pdb.run(in_use)
    with pytest.raises(Conflict, match="used by a profile"):
        ud.remove(pdb, "web")
    assert table(pdb) == {"empty": "", "web": CLOUD_CONFIG}
    ud.modify(pdb, "web", SHELL)  # a profile's userdata may still change
    assert table(pdb)["web"] == SHELL


def test_a_bad_limit_is_a_clear_error(pdb: Database) -> None:
    with pytest.raises(InvalidArgument, match="limit"):
        ud.list_userdata(pdb, "([")
