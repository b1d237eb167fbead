"""Profiles on a real PostgreSQL: references by name that must exist, completeness by type,
arguments, changes, and refusals that leave everything as it was."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from pvc.common.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from pvc.db import migrate
from pvc.db.engine import Database
from pvc.db.models import NetworkTemplate, Ova, Script, StorageTemplate
from pvc.ops.provisioner import profiles
from pvc.ops.provisioner import system_templates as st
from pvc.ops.provisioner.profiles import Choices

pytestmark = pytest.mark.integration


@pytest.fixture
def pdb(db: Database) -> Iterator[Database]:
    migrate.upgrade(db)
    st.add(db, "small", st.Settings(vcpu_count=1, vram_mb=512, serial=True, vnc=False))
    st.add(db, "big", st.Settings(vcpu_count=4, vram_mb=4096, serial=True, vnc=False))

    def others(s: Session) -> None:
        s.add_all([Script(name="debootstrap", script="class VMBuilderScript: pass\n"),
                   NetworkTemplate(name="net"), StorageTemplate(name="disks"),
                   Ova(name="appliance", ovf="<Envelope/>")])

    db.run(others)
    yield db


FULL = Choices(system_template="small", network_template="net", storage_template="disks",
               userdata="empty", script="debootstrap", arguments=["release=bookworm",
                                                                  "mirror=http://deb/debian"])


def test_a_profile_names_its_parts_and_keeps_its_arguments(pdb: Database) -> None:
    profiles.add(pdb, "web", "provisioner", FULL)
    got = profiles.get(pdb, "web")
    assert {k: got[k] for k in ("name", "type", "system_template", "network_template",
                                "storage_template", "userdata", "script", "ova",
                                "arguments")} == {
        "name": "web", "type": "provisioner", "system_template": "small",
        "network_template": "net", "storage_template": "disks", "userdata": "empty",
        "script": "debootstrap", "ova": None,
        "arguments": ["release=bookworm", "mirror=http://deb/debian"]}
    profiles.add(pdb, "appliance", "ova", Choices(system_template="big", ova="appliance"))
    assert [p["name"] for p in profiles.list_profiles(pdb)] == ["appliance", "web"]
    assert profiles.get(pdb, "appliance")["ova"] == "appliance"


def test_a_change_keeps_what_it_does_not_name_and_clears_what_is_empty(pdb: Database) -> None:
    profiles.add(pdb, "web", "provisioner", FULL)
    profiles.modify(pdb, "web", Choices(system_template="big", network_template="",
                                        arguments=["release=trixie"]))
    got = profiles.get(pdb, "web")
    assert (got["system_template"], got["network_template"], got["storage_template"],
            got["arguments"]) == ("big", None, "disks", ["release=trixie"])
    profiles.modify(pdb, "web", Choices(arguments=[""]))
    assert profiles.get(pdb, "web")["arguments"] == []


@pytest.mark.parametrize(("name", "ptype", "choices", "message"), [
    ("bad name", "provisioner", FULL, "name"),
    ("web", "vagrant", FULL, "profile type"),
    ("web", "provisioner", Choices(script="debootstrap"), "system template"),
    ("web", "provisioner", Choices(system_template="small"), "script"),
    ("web", "ova", Choices(system_template="small", script="debootstrap"), "OVA"),
    ("web", "provisioner", Choices(system_template="nope", script="debootstrap"),
     "system template 'nope' does not exist"),
    ("web", "provisioner", Choices(system_template="small", script="debootstrap",
                                   userdata="missing"), "userdata 'missing'"),
    ("web", "provisioner", Choices(system_template="small", script="debootstrap",
                                   arguments=["novalue"]), "key=value"),
    ("web", "provisioner", Choices(system_template="small", script="debootstrap",
                                   arguments=["a=b|c=d"]), "key=value"),
])
def test_bad_profiles_are_refused_and_nothing_is_created(
        pdb: Database, name: str, ptype: str, choices: Choices, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        profiles.add(pdb, name, ptype, choices)
    assert profiles.list_profiles(pdb) == []


def test_duplicates_unknowns_and_what_a_profile_holds_on_to(pdb: Database) -> None:
    profiles.add(pdb, "web", "provisioner", FULL)
    with pytest.raises(AlreadyExists):
        profiles.add(pdb, "web", "provisioner", FULL)
    with pytest.raises(NotFound):
        profiles.modify(pdb, "nope", Choices(system_template="big"))
    with pytest.raises(InvalidArgument, match="Nothing to change"):
        profiles.modify(pdb, "web", Choices())
    with pytest.raises(InvalidArgument, match="needs a script"):
        profiles.modify(pdb, "web", Choices(script=""))
    with pytest.raises(InvalidArgument, match="does not exist"):
        profiles.modify(pdb, "web", Choices(system_template="gone"))
    assert profiles.get(pdb, "web")["system_template"] == "small"
    assert profiles.get(pdb, "web")["script"] == "debootstrap"
    # what it names cannot go while it does; the profile goes first
    with pytest.raises(Conflict, match="profile"):
        st.remove(pdb, "small")
    profiles.remove(pdb, "web")
    st.remove(pdb, "small")
    with pytest.raises(NotFound):
        profiles.remove(pdb, "web")
