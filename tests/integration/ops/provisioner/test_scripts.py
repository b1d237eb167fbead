"""Provisioner scripts on a real PostgreSQL: stored as given once they compile and define
VMBuilderScript, never run, and every refusal leaving the table as it was."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from pvc.common.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from pvc.db import migrate
from pvc.db.engine import Database
from pvc.db.models import Profile, Script
from pvc.ops.provisioner import scripts as sc

pytestmark = pytest.mark.integration

SCRIPT = textwrap.dedent("""\
    from pvcapid.vmbuilder import VMBuilder


    class VMBuilderScript(VMBuilder):
        def setup(self):
            self.log("setting up")

        def install(self):
            pass
    """)


@pytest.fixture
def pdb(db: Database) -> Iterator[Database]:
    migrate.upgrade(db)
    yield db


def table(db: Database) -> dict[str, str]:
    """The script table as it is: name -> source."""
    return db.run(lambda s: {x.name: x.script for x in s.scalars(select(Script))})


def test_scripts_are_stored_as_given_and_listed_by_name(pdb: Database) -> None:
    assert sc.list_scripts(pdb) == []
    sc.add(pdb, "debootstrap", SCRIPT)
    sc.add(pdb, "alpine", SCRIPT.replace("setting up", "alpine"))
    assert [x["name"] for x in sc.list_scripts(pdb)] == ["alpine", "debootstrap"]
    got = sc.get(pdb, "debootstrap")
    assert set(got) == {"id", "name", "script"} and isinstance(got["id"], int)
    assert got["script"] == SCRIPT
    assert [x["name"] for x in sc.list_scripts(pdb, "^deb")] == ["debootstrap"]
    changed = SCRIPT + "\n# changed\n"
    sc.modify(pdb, "debootstrap", changed)
    assert sc.get(pdb, "debootstrap")["script"] == changed
    sc.remove(pdb, "alpine")
    assert table(pdb) == {"debootstrap": changed}


def test_a_script_is_only_checked_never_run(pdb: Database, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    source = f"open({str(marker)!r}, 'w').write('ran')\n" + SCRIPT
    sc.add(pdb, "sneaky", source)
    assert table(pdb) == {"sneaky": source}
    assert not marker.exists()


@pytest.mark.parametrize(("name", "source", "message"), [
    ("s", "import os\nprint(os.getcwd())\n", "no module-level class VMBuilderScript"),
    ("s", "def f():\n    class VMBuilderScript:\n        pass\n", "no module-level class"),
    ("s", SCRIPT.replace("def install(self):", "def install(self)"), "line 8"),
    ("s", SCRIPT + "\nreturn 1\n", "line 11.*outside function"),
    ("s", SCRIPT + "#" * sc.MAX_BYTES, "bytes"),
    ("bad name", SCRIPT, "name"),
])
def test_bad_scripts_and_names_are_refused_and_nothing_is_stored(
        pdb: Database, name: str, source: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        sc.add(pdb, name, source)
    assert table(pdb) == {}


def test_duplicates_unknown_names_bad_changes_and_scripts_in_use(pdb: Database) -> None:
    sc.add(pdb, "deb", SCRIPT)
    with pytest.raises(AlreadyExists, match="deb"):
        sc.add(pdb, "deb", SCRIPT + "\n# other\n")
    with pytest.raises(InvalidArgument, match="line 1"):
        sc.modify(pdb, "deb", "class VMBuilderScript(:\n")
    with pytest.raises(InvalidArgument, match="VMBuilderScript"):
        sc.modify(pdb, "deb", "x = 1\n")
    assert table(pdb) == {"deb": SCRIPT}
    for call in (lambda: sc.get(pdb, "nope"), lambda: sc.modify(pdb, "nope", SCRIPT),
                 lambda: sc.remove(pdb, "nope")):
        with pytest.raises(NotFound, match="nope"):
            call()

    def in_use(s: Session) -> None:
        script = s.scalars(select(Script)).one()
        s.add(Profile(name="p", script=script.id))

    pdb.run(in_use)
    with pytest.raises(Conflict, match="used by a profile"):
        sc.remove(pdb, "deb")
    assert table(pdb) == {"deb": SCRIPT}
