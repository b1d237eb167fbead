"""`pvc storage osd|pool|volume|snapshot ...` write commands against a fake API: the exact
requests (every parameter in the query string, booleans as `True`/`False`), confirmations,
refusals and their exit codes."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.unit.cli.storage.support import FakeApi, run

OK = {"message": "done"}
Q = list[tuple[str, str]]


@pytest.mark.parametrize(
    ("args", "method", "path", "query"),
    [
        (["osd", "in", "3"], "POST", "/storage/ceph/osd/3/state", [("state", "in")]),
        (["osd", "out", "3"], "POST", "/storage/ceph/osd/3/state", [("state", "out")]),
        (["osd", "set", "noout"], "POST", "/storage/ceph/option",
         [("option", "noout"), ("action", "set")]),
        (["osd", "unset", "noout"], "POST", "/storage/ceph/option",
         [("option", "noout"), ("action", "unset")]),
        (["pool", "add", "vms", "128"], "POST", "/storage/ceph/pool",
         [("pool", "vms"), ("pgs", "128"), ("replcfg", "copies=3,mincopies=2"),
          ("tier", "default")]),
        (["pool", "add", "fast", "64", "--tier", "nvme", "--replcfg", "copies=2,mincopies=1"],
         "POST", "/storage/ceph/pool",
         [("pool", "fast"), ("pgs", "64"), ("replcfg", "copies=2,mincopies=1"),
          ("tier", "nvme")]),
        (["pool", "set-pgs", "vms", "256"], "PUT", "/storage/ceph/pool/vms", [("pgs", "256")]),
        (["volume", "add", "vms", "web1_sda", "20G"], "POST", "/storage/ceph/volume",
         [("volume", "web1_sda"), ("pool", "vms"), ("size", "20G"), ("force", "False")]),
        (["volume", "add", "vms", "big", "2T", "--force"], "POST", "/storage/ceph/volume",
         [("volume", "big"), ("pool", "vms"), ("size", "2T"), ("force", "True")]),
        (["volume", "resize", "vms", "web1_sda", "40G"], "PUT",
         "/storage/ceph/volume/vms/web1_sda", [("new_size", "40G"), ("force", "False")]),
        (["volume", "resize", "vms", "web1_sda", "40G", "-f"], "PUT",
         "/storage/ceph/volume/vms/web1_sda", [("new_size", "40G"), ("force", "True")]),
        (["volume", "rename", "vms", "web1_sda", "web2_sda"], "PUT",
         "/storage/ceph/volume/vms/web1_sda", [("new_name", "web2_sda")]),
        (["volume", "clone", "vms", "tmpl", "web3_sda"], "POST",
         "/storage/ceph/volume/vms/tmpl/clone",
         [("new_volume", "web3_sda"), ("force_flag", "False"), ("force", "False")]),
        (["volume", "clone", "vms", "tmpl", "web3_sda", "--force"], "POST",
         "/storage/ceph/volume/vms/tmpl/clone",
         [("new_volume", "web3_sda"), ("force_flag", "True"), ("force", "True")]),
        (["volume", "scan", "vms", "imported"], "POST", "/storage/ceph/volume/vms/imported/scan",
         []),
        (["volume", "snapshot", "add", "vms", "web1_sda", "before-upgrade"], "POST",
         "/storage/ceph/snapshot",
         [("snapshot", "before-upgrade"), ("volume", "web1_sda"), ("pool", "vms")]),
        (["volume", "snapshot", "rename", "vms", "web1_sda", "s1", "s2"], "PUT",
         "/storage/ceph/snapshot/vms/web1_sda/s1", [("new_name", "s2")]),
    ],
)
def test_plain_commands_send_one_request_and_print_the_message(
    tmp_path: Path, args: list[str], method: str, path: str, query: Q
) -> None:
    api = FakeApi()
    api.on(method, path, OK)
    result = run(api, tmp_path, "storage", *args)
    assert result.exit_code == 0, result.output
    assert api.requests() == [(method, path, query)]
    assert api.seen[0].body == b""  # nothing in a body: it is all in the query string
    assert result.stdout == "done\n"
    assert 'Using connection "test"' in result.stderr


@pytest.mark.parametrize(
    ("args", "method", "path", "query", "prompt"),
    [
        (["pool", "remove", "vms"], "DELETE", "/storage/ceph/pool/vms",
         [("yes-i-really-mean-it", "yes")], 'Remove RBD pool "vms"'),
        (["volume", "remove", "vms", "web1_sda"], "DELETE", "/storage/ceph/volume/vms/web1_sda",
         [], 'Remove volume "web1_sda" from pool "vms"'),
        (["volume", "snapshot", "rollback", "vms", "web1_sda", "s1"], "POST",
         "/storage/ceph/snapshot/vms/web1_sda/s1/rollback", [],
         'Roll back volume "vms/web1_sda" to snapshot "s1"'),
        (["volume", "snapshot", "remove", "vms", "web1_sda", "s1"], "DELETE",
         "/storage/ceph/snapshot/vms/web1_sda/s1", [],
         'Remove snapshot "s1" of volume "vms/web1_sda"'),
    ],
)
def test_dangerous_commands_confirm_first(
    tmp_path: Path, args: list[str], method: str, path: str, query: Q, prompt: str
) -> None:
    api = FakeApi()
    api.on(method, path, OK)
    declined = run(api, tmp_path, "storage", *args, stdin="n\n")
    assert declined.exit_code == 0
    assert api.seen == []
    assert prompt in declined.stderr and "Aborted." in declined.stderr
    no_answer = run(api, tmp_path, "storage", *args)  # stdin closed: no answer is a no
    assert no_answer.exit_code == 0 and api.seen == []
    for extra, unsafe in ((["-y"], False), (["--yes"], False), ([], True)):
        result = run(api, tmp_path, "storage", *args, *extra, unsafe=unsafe)
        assert result.exit_code == 0, result.output
        assert result.stdout == "done\n"
    accepted = run(api, tmp_path, "storage", *args, stdin="y\n")
    assert accepted.exit_code == 0 and accepted.stdout == "done\n"
    assert api.requests() == [(method, path, query)] * 4


@pytest.mark.parametrize(
    ("status", "code"), [(400, 5), (404, 2), (409, 4), (500, 7), (503, 9)]
)
def test_api_refusals_exit_with_the_mapped_code(tmp_path: Path, status: int, code: int) -> None:
    api = FakeApi()
    message = 'Pool "vms" would be 92% full; use force to do it anyway'
    api.on("POST", "/storage/ceph/volume", httpx.Response(status, json={"message": message}))
    result = run(api, tmp_path, "storage", "volume", "add", "vms", "big", "2T")
    assert result.exit_code == code
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1] == f"Error: {message}"
    assert len(api.seen) == 1  # writes are never retried


def test_pool_remove_refused_keeps_the_message(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("DELETE", "/storage/ceph/pool/ghost",
           httpx.Response(404, json={"message": 'Pool "ghost" not found'}))
    result = run(api, tmp_path, "storage", "pool", "remove", "ghost", "-y")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == 'Error: Pool "ghost" not found'


@pytest.mark.parametrize("pgs", ["many", "0", "-4"])
def test_pool_pgs_must_be_a_positive_number(tmp_path: Path, pgs: str) -> None:
    api = FakeApi()
    result = run(api, tmp_path, "storage", "pool", "add", "vms", pgs)
    assert result.exit_code == 2
    assert api.seen == []


def test_bad_tier_is_a_usage_error(tmp_path: Path) -> None:
    api = FakeApi()
    result = run(api, tmp_path, "storage", "pool", "add", "vms", "64", "--tier", "tape")
    assert result.exit_code == 2 and api.seen == []


def test_names_are_escaped_in_paths(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("DELETE", "/storage/ceph/volume/vms/a/b", OK)
    result = run(api, tmp_path, "storage", "volume", "remove", "vms", "a/b", "-y")
    assert result.exit_code == 0, result.output
    assert api.seen[0].raw_path == b"/api/v1/storage/ceph/volume/vms/a%2Fb"


def test_upload_streams_the_image_as_multipart(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("POST", "/storage/ceph/volume/vms/web1_sda/upload",
           {"message": 'Wrote uploaded file to volume "web1_sda" in pool "vms".'})
    image = tmp_path / "disk.qcow2"
    payload = b"QFI\xfb" + bytes(range(256)) * 600  # larger than one 64 KiB chunk
    image.write_bytes(payload)
    result = run(api, tmp_path, "storage", "volume", "upload", "vms", "web1_sda", str(image),
                 "--image-format", "qcow2")
    assert result.exit_code == 0, result.output
    assert result.stdout == 'Wrote uploaded file to volume "web1_sda" in pool "vms".\n'
    assert "Uploading disk.qcow2" in result.stderr
    seen = api.seen[0]
    assert (seen.method, seen.query) == (
        "POST", [("image_format", "qcow2"), ("file_size", str(len(payload)))])
    assert seen.content_type.startswith("multipart/form-data; boundary=")
    boundary = seen.content_type.split("boundary=", 1)[1].encode()
    parts = [p for p in seen.body.split(b"--" + boundary) if p not in (b"", b"--\r\n")]
    assert len(parts) == 1
    head, _, data = parts[0].partition(b"\r\n\r\n")
    assert b'name="file"' in head and b'filename="disk.qcow2"' in head
    assert data == payload + b"\r\n"


def test_upload_defaults_to_raw_and_reports_refusals(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("POST", "/storage/ceph/volume/vms/small/upload", httpx.Response(
        400, json={"message": 'Image is larger than volume "small"'}))
    image = tmp_path / "disk.img"
    image.write_bytes(b"\0" * 1000)
    result = run(api, tmp_path, "storage", "volume", "upload", "vms", "small", str(image),
                 quiet=True)
    assert result.exit_code == 5
    assert api.seen[0].query == [("image_format", "raw"), ("file_size", "1000")]
    assert result.stderr == 'Error: Image is larger than volume "small"\n'


def test_upload_of_a_missing_file_sends_nothing(tmp_path: Path) -> None:
    api = FakeApi()
    result = run(api, tmp_path, "storage", "volume", "upload", "vms", "v",
                 str(tmp_path / "nope.img"))
    assert result.exit_code == 2 and api.seen == []
    bad_format = run(api, tmp_path, "storage", "volume", "upload", "vms", "v", str(tmp_path),
                     "-f", "iso")
    assert bad_format.exit_code == 2 and api.seen == []
