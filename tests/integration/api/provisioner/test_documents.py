"""Userdata and provisioner scripts through the API on real PostgreSQL (schema by the
API's own background preparation) and ZooKeeper: the document as PVC's clients send it (a
form field `data`), PVC's answer shapes, and refusals that change nothing."""

from __future__ import annotations

import textwrap

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from pvc.db.engine import Database
from pvc.db.models import Profile, Script, Userdata

pytestmark = pytest.mark.integration

USERDATA = "/api/v1/provisioner/userdata"
SCRIPT = "/api/v1/provisioner/script"
CLOUD_CONFIG = "#cloud-config\nhostname: web1\npackages:\n  - htop\n"
SHELL = "#!/bin/sh\necho 'a & b = c?' > /tmp/x\n"
MIME = ('Content-Type: multipart/mixed; boundary="==b=="\nMIME-Version: 1.0\n\n'
        '--==b==\nContent-Type: text/cloud-config; charset="us-ascii"\n\n'
        f"{CLOUD_CONFIG}--==b==\nContent-Type: text/x-shellscript\n\n{SHELL}--==b==--\n")
BUILDER = textwrap.dedent("""\
    from pvcapid.vmbuilder import VMBuilder


    class VMBuilderScript(VMBuilder):
        def install(self):
            self.log("100% & done + more")
    """)


def documents(c: TestClient, api: str, field: str) -> dict[str, str]:
    r = c.get(api)
    return {d["name"]: d[field] for d in r.json()} if r.status_code == 200 else {}


def test_userdata_create_show_change_remove_with_pvc_shapes(c: TestClient) -> None:
    assert documents(c, USERDATA, "userdata") == {"empty": ""}
    r = c.post(USERDATA, params={"name": "web"}, data={"data": CLOUD_CONFIG})
    assert r.status_code == 200, r.text
    assert r.json() == {"message": "Added new userdata 'web'."}
    r = c.post(f"{USERDATA}/both", data={"data": MIME})  # the name in the path
    assert r.status_code == 200, r.text
    listed = c.get(USERDATA).json()
    assert [d["name"] for d in listed] == ["both", "empty", "web"]
    assert all(set(d) == {"id", "name", "userdata"} and isinstance(d["id"], int)
               for d in listed)
    one = c.get(f"{USERDATA}/both").json()
    assert isinstance(one, list) and len(one) == 1  # what `userdata show` reads
    assert one[0]["userdata"] == MIME and one[0]["name"] == "both"
    r = c.put(f"{USERDATA}/web", data={"data": SHELL})
    assert r.status_code == 200 and "Modified" in r.json()["message"], r.text
    assert c.get(f"{USERDATA}/web").json()[0]["userdata"] == SHELL
    assert [d["name"] for d in c.get(USERDATA, params={"limit": "^w"}).json()] == ["web"]
    r = c.put(f"{USERDATA}/web", params={"data": ""})  # in the query works too
    assert r.status_code == 200, r.text
    r = c.delete(f"{USERDATA}/web")
    assert r.status_code == 200 and "Removed" in r.json()["message"], r.text
    assert documents(c, USERDATA, "userdata") == {"both": MIME, "empty": ""}


def test_scripts_create_show_change_remove_with_pvc_shapes(c: TestClient) -> None:
    r = c.get(SCRIPT)
    assert r.status_code == 404 and r.json()["message"] == "No scripts found."
    r = c.post(SCRIPT, params={"name": "deb"}, data={"data": BUILDER})
    assert r.status_code == 200, r.text
    assert r.json() == {"message": "Added new script 'deb'."}
    r = c.post(f"{SCRIPT}/alpine", data={"data": BUILDER})
    assert r.status_code == 200, r.text
    listed = c.get(SCRIPT).json()
    assert [d["name"] for d in listed] == ["alpine", "deb"]
    assert all(set(d) == {"id", "name", "script"} for d in listed)
    one = c.get(f"{SCRIPT}/deb").json()
    assert isinstance(one, list) and len(one) == 1 and one[0]["script"] == BUILDER
    changed = BUILDER + "\n# changed\n"
    assert c.put(f"{SCRIPT}/deb", data={"data": changed}).status_code == 200
    assert c.get(f"{SCRIPT}/deb").json()[0]["script"] == changed
    assert c.delete(f"{SCRIPT}/alpine").status_code == 200
    assert documents(c, SCRIPT, "script") == {"deb": changed}


def test_a_large_script_passes_as_a_form_field_and_too_large_is_refused(
        c: TestClient) -> None:
    big = BUILDER + "".join(f"VALUE_{i} = '{'x & y = z; ' * 4}'\n" for i in range(4000))
    assert len(big) > 200_000
    r = c.post(SCRIPT, params={"name": "big"}, data={"data": big})
    assert r.status_code == 200, r.text
    assert c.get(f"{SCRIPT}/big").json()[0]["script"] == big
    r = c.post(SCRIPT, params={"name": "huge"}, data={"data": BUILDER + "#" * 1024 * 1024})
    assert r.status_code == 400 and "bytes" in r.json()["message"], r.text
    assert list(documents(c, SCRIPT, "script")) == ["big"]


@pytest.mark.parametrize(("api", "params", "form", "message"), [
    (USERDATA, {"name": "web"}, {"data": "#cloud-config\na: 1\nb: c: d\n"}, "line 3"),
    (USERDATA, {"name": "web"}, {"data": "#cloud-config\n- a\n"}, "not a list"),
    (USERDATA, {"name": "web"}, {"data": MIME.replace(SHELL, "echo x\n")}, "MIME part 2"),
    (USERDATA, {"name": "web"}, {"data": "just some words"}, "#cloud-config"),
    (USERDATA, {"name": "web"}, {}, "data"),
    (USERDATA, {}, {"data": CLOUD_CONFIG}, "name"),
    (USERDATA, {"name": "bad name"}, {"data": CLOUD_CONFIG}, "name"),
    (SCRIPT, {"name": "deb"}, {"data": "import os\n"}, "VMBuilderScript"),
    (SCRIPT, {"name": "deb"}, {"data": BUILDER.replace("):", ")", 1)}, "line 4"),
    (SCRIPT, {"name": "deb"}, {}, "data"),
    (SCRIPT, {"name": "../deb"}, {"data": BUILDER}, "name"),
])
def test_bad_input_is_a_400_naming_it_and_stores_nothing(
        c: TestClient, api: str, params: dict[str, str], form: dict[str, str],
        message: str) -> None:
    r = c.post(api, params=params, data=form)
    assert r.status_code == 400, r.text
    assert message in r.json()["message"]
    expected = {"empty": ""} if api == USERDATA else {}
    assert documents(c, api, "userdata" if api == USERDATA else "script") == expected


def test_duplicates_unknown_names_empty_and_documents_in_use(
        c: TestClient, db: Database) -> None:
    assert c.post(USERDATA, params={"name": "web"}, data={"data": CLOUD_CONFIG}).status_code \
        == 200
    assert c.post(SCRIPT, params={"name": "deb"}, data={"data": BUILDER}).status_code == 200
    for api, name, other in ((USERDATA, "web", SHELL), (SCRIPT, "deb", BUILDER + "#\n")):
        r = c.post(api, params={"name": name}, data={"data": other})
        assert r.status_code == 400 and "already exists" in r.json()["message"]
        r = c.put(f"{api}/{name}", data={"data": "not valid # anything ("})
        assert r.status_code == 400, r.text
        for method in ("GET", "PUT", "DELETE"):
            r = c.request(method, f"{api}/nope", data={"data": other})
            assert r.status_code == 404 and "nope" in r.json()["message"], (method, r.text)
    for method in ("PUT", "DELETE"):
        r = c.request(method, f"{USERDATA}/empty", data={"data": CLOUD_CONFIG})
        assert r.status_code == 400 and "built-in" in r.json()["message"], r.text

    def in_use(s: Session) -> None:
        web = s.scalars(select(Userdata).where(Userdata.name == "web")).one()
        deb = s.scalars(select(Script).where(Script.name == "deb")).one()
        s.add(Profile(name="p", userdata=web.id, script=deb.id))

    db.run(in_use)
    for api in (f"{USERDATA}/web", f"{SCRIPT}/deb"):
        r = c.delete(api)
        assert r.status_code == 400 and "used by a profile" in r.json()["message"], r.text
    assert documents(c, USERDATA, "userdata") == {"empty": "", "web": CLOUD_CONFIG}
    assert documents(c, SCRIPT, "script") == {"deb": BUILDER}
