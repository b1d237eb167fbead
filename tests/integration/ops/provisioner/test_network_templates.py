"""Network templates on a real PostgreSQL: MAC templates, networks in order, and every
refusal leaving the tables as they were."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pvc.common.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from pvc.db import migrate
from pvc.db.engine import Database
from pvc.db.models import NetworkTemplate, Profile, TemplateNetwork
from pvc.ops.provisioner import network_templates as nt

pytestmark = pytest.mark.integration


@pytest.fixture
def pdb(db: Database) -> Iterator[Database]:
    migrate.upgrade(db)
    yield db


def vnis(db: Database, name: str) -> list[str]:
    return [n["vni"] for n in nt.list_nets(db, name)]


def rows(db: Database) -> tuple[int | None, int | None]:
    """How many templates and networks the tables hold."""
    return db.run(lambda s: (s.scalar(select(func.count()).select_from(NetworkTemplate)),
                             s.scalar(select(func.count()).select_from(TemplateNetwork))))


def test_a_template_holds_its_networks_in_order_with_pvc_fields(pdb: Database) -> None:
    nt.add(pdb, "web", "{prefix}:{vmid}:{netid}:01")
    nt.add(pdb, "bare")
    nt.add(pdb, "empty-mac", "")
    for vni in (200, "100", 16777215, 1):
        nt.add_net(pdb, "web", vni)
    assert [t["name"] for t in nt.list_templates(pdb)] == ["bare", "empty-mac", "web"]
    web = nt.get(pdb, "web")
    assert set(web) == {"id", "name", "mac_template", "networks"}
    assert web["mac_template"] == "{prefix}:{vmid}:{netid}:01"
    assert [n["vni"] for n in web["networks"]] == ["200", "100", "16777215", "1"]
    assert all(n["network_template"] == web["id"] and isinstance(n["id"], int)
               for n in web["networks"])
    assert nt.get(pdb, "bare") == {"id": nt.get(pdb, "bare")["id"], "name": "bare",
                                   "mac_template": None, "networks": []}
    assert nt.get(pdb, "empty-mac")["mac_template"] is None
    assert nt.list_nets(pdb, "bare") == []
    assert nt.get_net(pdb, "web", "100")["vni"] == "100"
    assert [t["name"] for t in nt.list_templates(pdb, "^w")] == ["web"]
    assert nt.list_templates(pdb, "nothing-like-it") == []


def test_duplicates_only_when_permitted_and_removal_takes_the_first(pdb: Database) -> None:
    nt.add(pdb, "web")
    nt.add_net(pdb, "web", 100)
    nt.add_net(pdb, "web", 200)
    with pytest.raises(AlreadyExists, match=r"already has VNI 100.*permit_duplicate"):
        nt.add_net(pdb, "web", 100)
    with pytest.raises(AlreadyExists):
        nt.add_net(pdb, "web", "0100")  # the same VNI, however it is written
    assert vnis(pdb, "web") == ["100", "200"]
    nt.add_net(pdb, "web", 100, permit_duplicate=True)
    assert vnis(pdb, "web") == ["100", "200", "100"]
    nt.remove_net(pdb, "web", 100)
    assert vnis(pdb, "web") == ["200", "100"]  # eth0 was the first 100: now eth1's is
    nt.remove_net(pdb, "web", "200")
    assert vnis(pdb, "web") == ["100"]
    with pytest.raises(NotFound, match="VNI 200"):
        nt.remove_net(pdb, "web", 200)
    with pytest.raises(NotFound, match="VNI 300"):
        nt.get_net(pdb, "web", 300)
    assert vnis(pdb, "web") == ["100"]


def test_the_same_vni_may_be_in_two_templates(pdb: Database) -> None:
    nt.add(pdb, "a")
    nt.add(pdb, "b")
    nt.add_net(pdb, "a", 100)
    nt.add_net(pdb, "b", 100)
    assert (vnis(pdb, "a"), vnis(pdb, "b")) == (["100"], ["100"])


@pytest.mark.parametrize(("name", "mac", "message"), [
    ("bad name", None, "name"),
    ("x;drop", None, "name"),
    ("", None, "name"),
    ("web\n", None, "name"),
    ("web", "{prefix}:{vmid}:{netid}", "MAC template"),
    ("web", "{prefix}:{vmid}:{netid}:0A", "MAC template"),
    ("web", "01:00:00:{vmid}:{netid}:00", "multicast"),
    ("web", "{prefix}:{vm}:{netid}:01", "placeholder"),
    ("web", "{prefix}:{vmid}:{netid}:01; reboot", "MAC template"),
])
def test_bad_names_and_mac_templates_create_nothing(
        pdb: Database, name: str, mac: str | None, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        nt.add(pdb, name, mac)
    assert rows(pdb) == (0, 0)


@pytest.mark.parametrize("vni", [0, -1, 16777216, "abc", "", "1e3", "10 ", "²", "0x10",
                                 "100\n"])
def test_bad_vnis_are_refused_and_nothing_changes(pdb: Database, vni: Any) -> None:
    nt.add(pdb, "web")
    nt.add_net(pdb, "web", 100)
    with pytest.raises(InvalidArgument, match="VNI"):
        nt.add_net(pdb, "web", vni)
    with pytest.raises(InvalidArgument, match="VNI"):
        nt.remove_net(pdb, "web", vni)
    assert vnis(pdb, "web") == ["100"]


def test_duplicates_unknown_names_and_templates_in_use(pdb: Database) -> None:
    nt.add(pdb, "web", "{prefix}:{vmid}:{netid}:01")
    nt.add_net(pdb, "web", 100)
    with pytest.raises(AlreadyExists, match="web"):
        nt.add(pdb, "web", "02:00:00:{vmid}:{netid}:00")
    assert nt.get(pdb, "web")["mac_template"] == "{prefix}:{vmid}:{netid}:01"
    for call in (lambda: nt.get(pdb, "nope"), lambda: nt.remove(pdb, "nope"),
                 lambda: nt.list_nets(pdb, "nope"), lambda: nt.add_net(pdb, "nope", 100),
                 lambda: nt.remove_net(pdb, "nope", 100), lambda: nt.get_net(pdb, "nope", 1)):
        with pytest.raises(NotFound, match="nope"):
            call()
    assert rows(pdb) == (1, 1)

    def in_use(s: Session) -> None:
        template = s.scalars(select(NetworkTemplate)).one()
        s.add(Profile(name="p", network_template=template.id))

    pdb.run(in_use)
    with pytest.raises(Conflict, match="profile"):
        nt.remove(pdb, "web")
    assert rows(pdb) == (1, 1)
    assert vnis(pdb, "web") == ["100"]
    # its networks may still change: the profile names the template, not them
    nt.add_net(pdb, "web", 200)
    assert vnis(pdb, "web") == ["100", "200"]


def test_removing_a_template_removes_its_networks(pdb: Database) -> None:
    nt.add(pdb, "web")
    nt.add(pdb, "db")
    nt.add_net(pdb, "web", 100)
    nt.add_net(pdb, "web", 200)
    nt.add_net(pdb, "db", 300)
    nt.remove(pdb, "web")
    assert [t["name"] for t in nt.list_templates(pdb)] == ["db"]
    assert rows(pdb) == (1, 1)


def test_concurrent_additions_of_one_vni_add_it_once(pdb: Database) -> None:
    from concurrent.futures import ThreadPoolExecutor

    nt.add(pdb, "web")

    def attempt(_: int) -> str:
        try:
            nt.add_net(pdb, "web", 100)
            return "added"
        except AlreadyExists:
            return "refused"

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(attempt, range(8)))
    assert sorted(outcomes) == ["added"] + ["refused"] * 7
    assert vnis(pdb, "web") == ["100"]


def test_a_bad_limit_is_a_clear_error(pdb: Database) -> None:
    with pytest.raises(InvalidArgument, match="limit"):
        nt.list_templates(pdb, "([")
