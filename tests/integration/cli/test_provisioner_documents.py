"""`pvc provisioner userdata ...` and `pvc provisioner script ...` end to end: the CLI,
our client, the API, a real PostgreSQL and ZooKeeper. Documents from a file or stdin
come back byte for byte; refusals exit non-zero changing nothing."""

from __future__ import annotations

import functools
import json
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

pytestmark = pytest.mark.integration

Run = Callable[..., Result]
CLOUD_CONFIG = "#cloud-config\nhostname: web1\npackages:\n  - htop\n"
SHELL = "#!/bin/sh\necho 'a & b = c?' > /tmp/x\n"
MIME = ('Content-Type: multipart/mixed; boundary="==b=="\nMIME-Version: 1.0\n\n'
        '--==b==\nContent-Type: text/cloud-config\n\n'
        f"{CLOUD_CONFIG}--==b==\nContent-Type: text/x-shellscript\n\n{SHELL}--==b==--\n")
BUILDER = textwrap.dedent("""\
    from pvcapid.vmbuilder import VMBuilder


    class VMBuilderScript(VMBuilder):
        def install(self):
            self.log("100% & done")
    """)


@pytest.fixture
def pvc(pvc: Run) -> Run:
    """The CLI in safe mode here: a remove asks first."""
    return functools.partial(pvc, safe=True)


def names(pvc: Run, kind: str) -> list[str]:
    r = pvc("provisioner", kind, "list", "-f", "json")
    assert r.exit_code == 0, r.output
    return [d["name"] for d in json.loads(r.output)]


def test_userdata_round_trip_from_a_file_and_stdin(pvc: Run, tmp_path: Path) -> None:
    base = ("provisioner", "userdata")
    assert names(pvc, "userdata") == ["empty"]
    source = tmp_path / "web.yaml"
    source.write_text(CLOUD_CONFIG)
    r = pvc(*base, "add", "web", str(source))
    assert r.exit_code == 0 and "Added new userdata 'web'." in r.output, r.output
    r = pvc(*base, "add", "both", "-", stdin=MIME)
    assert r.exit_code == 0, r.output
    assert pvc(*base, "show", "web").output == CLOUD_CONFIG
    assert pvc(*base, "show", "both").output == MIME
    r = pvc(*base, "list")
    assert r.exit_code == 0 and "web" in r.output and "both" in r.output
    assert "hostname: web1" not in r.output
    r = pvc(*base, "list", "--full")
    assert "hostname: web1" in r.output and "(empty)" in r.output
    assert pvc(*base, "list", "-f", "raw").output.split() == ["both", "empty", "web"]
    assert pvc(*base, "list", "^w", "-f", "raw").output.split() == ["web"]
    [web] = json.loads(pvc(*base, "list", "^web$", "-f", "json-pretty").output)
    assert set(web) == {"id", "name", "userdata"} and web["userdata"] == CLOUD_CONFIG
    r = pvc(*base, "modify", "web", "-", stdin=SHELL)
    assert r.exit_code == 0 and "Modified" in r.output, r.output
    assert pvc(*base, "show", "web").output == SHELL
    r = pvc(*base, "remove", "web", stdin="n\n")  # declined: nothing removed
    assert r.exit_code == 0 and names(pvc, "userdata") == ["both", "empty", "web"]
    r = pvc(*base, "remove", "web", "-y")
    assert r.exit_code == 0 and "Removed" in r.output, r.output
    assert names(pvc, "userdata") == ["both", "empty"]


def test_script_round_trip_from_a_file_and_stdin(pvc: Run, tmp_path: Path) -> None:
    base = ("provisioner", "script")
    r = pvc(*base, "list")
    assert r.exit_code == 0 and "No scripts found." in r.output
    assert json.loads(pvc(*base, "list", "-f", "json").output) == []
    source = tmp_path / "deb.py"
    source.write_text(BUILDER)
    r = pvc(*base, "add", "deb", str(source))
    assert r.exit_code == 0 and "Added new script 'deb'." in r.output, r.output
    r = pvc(*base, "add", "alpine", "-", stdin=BUILDER.replace("done", "alpine"))
    assert r.exit_code == 0, r.output
    assert pvc(*base, "show", "deb").output == BUILDER
    r = pvc(*base, "list", "--full")
    assert "class VMBuilderScript(VMBuilder):" in r.output and "alpine" in r.output
    changed = BUILDER + "\n# changed\n"
    assert pvc(*base, "modify", "deb", "-", stdin=changed).exit_code == 0
    assert pvc(*base, "show", "deb").output == changed
    assert pvc(*base, "remove", "alpine", "--yes").exit_code == 0
    assert names(pvc, "script") == ["deb"]


def test_refusals_exit_non_zero_and_change_nothing(pvc: Run, tmp_path: Path) -> None:
    assert pvc("provisioner", "userdata", "add", "web", "-", stdin=CLOUD_CONFIG).exit_code == 0
    assert pvc("provisioner", "script", "add", "deb", "-", stdin=BUILDER).exit_code == 0
    for args, stdin, message in [
        (("userdata", "add", "web", "-"), SHELL, "already exists"),
        (("userdata", "add", "bad", "-"), "#cloud-config\na: 1\nb: c: d\n", "line 3"),
        (("userdata", "add", "bad", "-"), "#cloud-config\n- a\n", "not a list"),
        (("userdata", "modify", "web", "-"), "plain words\n", "#cloud-config"),
        (("userdata", "modify", "empty", "-"), CLOUD_CONFIG, "built-in"),
        (("userdata", "remove", "empty", "-y"), None, "built-in"),
        (("userdata", "show", "nope"), None, "nope"),
        (("script", "add", "bad", "-"), "x = 1\n", "VMBuilderScript"),
        (("script", "modify", "deb", "-"), "class VMBuilderScript(:\n", "line 1"),
        (("script", "add", "w;b", "-"), BUILDER, "name"),
        (("script", "remove", "nope", "-y"), None, "nope"),
    ]:
        r = pvc("provisioner", *args, stdin=stdin)
        assert r.exit_code != 0 and message in r.output, (args, r.output)
    binary = tmp_path / "binary"
    binary.write_bytes(b"#!/bin/sh\n\xff\xfe\n")
    r = pvc("provisioner", "userdata", "add", "bin", str(binary))
    assert r.exit_code != 0 and "UTF-8" in r.output
    r = pvc("provisioner", "script", "add", "gone", str(tmp_path / "missing.py"))
    assert r.exit_code == 2
    assert names(pvc, "userdata") == ["empty", "web"]
    assert pvc("provisioner", "userdata", "show", "web").output == CLOUD_CONFIG
    assert pvc("provisioner", "userdata", "show", "empty").output == ""
    assert names(pvc, "script") == ["deb"]
    assert pvc("provisioner", "script", "show", "deb").output == BUILDER
