"""The checks of userdata and provisioner scripts, on their own: what cloud-init and the
provisioner can take is stored; anything else is refused saying why (line numbers
included), and a script is never run."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pvc.common.errors import InvalidArgument
from pvc.ops.provisioner.scripts import check_script
from pvc.ops.provisioner.userdata import MAX_BYTES, check_userdata


def mime(*parts: tuple[str, str]) -> str:
    """A multipart/mixed document of (content type, body) parts."""
    out = ['Content-Type: multipart/mixed; boundary="==BOUNDARY=="', "MIME-Version: 1.0", ""]
    for ctype, body in parts:
        out += ["--==BOUNDARY==", f'Content-Type: {ctype}; charset="utf-8"', "", body]
    out.append("--==BOUNDARY==--")
    return "\n".join(out) + "\n"


CLOUD_CONFIG = "#cloud-config\nhostname: web1\nusers:\n  - name: deploy\n    groups: sudo\n"
SHELL = "#!/bin/sh\necho hello > /tmp/hello\n"
SCRIPT = textwrap.dedent("""\
    from pvcapid.vmbuilder import VMBuilder

    class VMBuilderScript(VMBuilder):
        def setup(self):
            pass
    """)


@pytest.mark.parametrize("document", [
    "", "\n  \n", CLOUD_CONFIG, "#cloud-config\n", "#cloud-config\n# only comments\n",
    "#cloud-config\r\npackages:\r\n  - htop\r\n", SHELL, "#!/usr/bin/env python3\nprint(1)\n",
    "#include\nhttps://example.org/cloud.yaml\n", "#include-once\nhttps://example.org/a\n",
    "#cloud-boothook\n#!/bin/sh\necho boot\n",
    mime(("text/cloud-config", CLOUD_CONFIG), ("text/x-shellscript", SHELL)),
    mime(("text/cloud-config", "packages: [htop]\n")),  # the type says cloud-config
    mime(("text/plain", "")),
])
def test_documents_cloud_init_takes_are_accepted_as_they_are(document: str) -> None:
    assert check_userdata(document) == document


def test_nested_multiparts_are_checked_part_by_part() -> None:
    inner = ('Content-Type: multipart/alternative; boundary="inner"\n\n--inner\n'
             "Content-Type: text/cloud-config\n\n#cloud-config\n- a list\n--inner--\n")
    outer = ('Content-Type: multipart/mixed; boundary="outer"\nMIME-Version: 1.0\n\n'
             f"--outer\nContent-Type: text/x-shellscript\n\n{SHELL}--outer\n{inner}--outer--\n")
    with pytest.raises(InvalidArgument, match=r"MIME part 2 \(text/cloud-config\).*list"):
        check_userdata(outer)
    check_userdata(outer.replace("- a list", "a: mapping"))


@pytest.mark.parametrize(("document", "message"), [
    ("hello world\n", "must be empty, start with #cloud-config"),
    ("users:\n  - name: a\n", "starts with 'users:'"),  # YAML without its header
    ("#cloud-config\nusers:\n  - name: a\n  bad: : :\n", "line 4"),
    ("#cloud-config\nkey: [open\nother: 1\n", "line 3"),
    ("#cloud-config\na: 1\n\tb: 2\n", "line 3"),
    ("#cloud-config\n- apt\n- htop\n", "mapping .* not a list"),
    ("#cloud-config\njust words\n", "mapping .* not a single str"),
    ("#cloud-config\na: 1\n---\nb: 2\n", "YAML is not valid"),
    ("#cloud-configure\na: 1\n", "exactly #cloud-config"),
    ("MIME-Version: 1.0\n\nplain body\n", "must be multipart"),
    ("Content-Type: multipart/mixed\n\n--x\n\nbody\n", "must be multipart"),
    (mime(("text/cloud-config", CLOUD_CONFIG), ("text/x-shellscript", "echo no shebang\n")),
     r"MIME part 2 \(text/x-shellscript\)"),
    (mime(("text/cloud-config", "#cloud-config\na: b: c\n")),
     r"MIME part 1 \(text/cloud-config\).*line 2"),
    (mime(("text/plain", "#cloud-config\n- x\n")), r"MIME part 1 \(text/plain\).*list"),
    (mime(("application/octet-stream", "AAAA")), "not text"),
    ('Content-Type: multipart/mixed; boundary="b"\n\n--b--\n', "must be multipart"),
    ("#!/bin/sh\n\x00\n", "NUL"),
])
def test_anything_else_is_refused_saying_why(document: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        check_userdata(document)


def test_userdata_is_at_most_one_mebibyte() -> None:
    body = "#!/bin/sh\n"
    check_userdata(body + "#" * (MAX_BYTES - len(body)))
    with pytest.raises(InvalidArgument, match="bytes"):
        check_userdata(body + "#" * (MAX_BYTES - len(body) + 1))
    with pytest.raises(InvalidArgument, match="bytes"):  # bytes, not characters
        check_userdata(body + "é" * (MAX_BYTES // 2))


def test_a_script_that_compiles_and_defines_the_builder_is_accepted() -> None:
    assert check_script(SCRIPT, "debootstrap") == SCRIPT
    big = SCRIPT + "".join(f"CONSTANT_{i} = {i}\n" for i in range(10000))
    assert check_script(big) == big


@pytest.mark.parametrize(("source", "message"), [
    ("x = 1\n", "no module-level class VMBuilderScript"),
    ("", "no module-level class VMBuilderScript"),
    ("def make():\n    class VMBuilderScript:\n        pass\n", "no module-level class"),
    ("VMBuilderScript = object\n", "no module-level class"),
    ("class VMBuilderScript:\n    pass\n\ndef broken(:\n    pass\n", "line 4"),
    ("class VMBuilderScript:\n    def f(self):\n        return 1\n   x = 2\n", "line 4"),
    ("return 1\nclass VMBuilderScript:\n    pass\n", "line 1.*outside function"),
    ("class VMBuilderScript:\n    pass\n\x00", "NUL"),
    ("class VMBuilderScript:\n    pass\n" + "#" * MAX_BYTES, "bytes"),
])
def test_a_script_is_refused_saying_why(source: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        check_script(source)


def test_a_script_is_compiled_but_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    source = (f"open({str(marker)!r}, 'w').write('x')\n"
              "class VMBuilderScript:\n"
              f"    open({str(marker)!r}, 'w').write('x')\n")
    check_script(source)
    assert not marker.exists()
