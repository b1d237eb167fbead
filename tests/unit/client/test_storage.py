"""`StorageApi` on its own: single-object GETs (object or one-element list), the upload's
progress reports, and the task-starting calls' 202 rule."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import httpx
import pytest

from pvc.client import ApiClient, Connection
from pvc.client.storage.api import StorageApi
from pvc.common.errors import BackendError, NotFound, Unavailable
from tests.unit.cli.storage.support import FakeApi, osd, pool, task, volume


def storage(api: FakeApi) -> StorageApi:
    client = ApiClient(Connection("t", "10.0.0.250", 7370, api_key="K"),
                       transport=httpx.MockTransport(api), connect_window=0.0)
    return StorageApi(client)


@pytest.mark.parametrize(
    ("call", "path", "obj"),
    [
        (lambda s: s.osd_info("4"), "/storage/ceph/osd/4", osd("4")),
        (lambda s: s.pool_info("vms"), "/storage/ceph/pool/vms", pool("vms", 2)),
        (lambda s: s.volume_info("vms", "web1_sda"), "/storage/ceph/volume/vms/web1_sda",
         volume("vms", "web1_sda")),
        (lambda s: s.snapshot_info("vms", "web1_sda", "s1"),
         "/storage/ceph/snapshot/vms/web1_sda/s1",
         {"pool": "vms", "volume": "web1_sda", "snapshot": "s1"}),
    ],
)
def test_single_object_gets_take_an_object_or_a_list_of_one(
    call: Any, path: str, obj: dict[str, Any]
) -> None:
    api = FakeApi()
    api.on("GET", path, [obj])
    assert call(storage(api)) == obj
    api.on("GET", path, obj)
    assert call(storage(api)) == obj
    for bad in ([], [obj, obj]):
        api.on("GET", path, bad)
        with pytest.raises(NotFound, match="not found"):
            call(storage(api))


def test_osd_state() -> None:
    api = FakeApi()
    api.on("GET", "/storage/ceph/osd/4/state", {"state": "up,in"})
    assert storage(api).osd_state(4) == "up,in"


def test_task_calls_need_a_202() -> None:
    api = FakeApi()
    api.on("PUT", "/storage/ceph/osd/4", task("abcd0123", "osd.refresh", "hv2"))
    assert storage(api).osd_refresh("4", "/dev/sdb") == {
        "task_id": "abcd0123", "task_name": "osd.refresh", "run_on": "hv2"}
    api.on("PUT", "/storage/ceph/osd/4", {"message": "refreshed"})
    with pytest.raises(BackendError, match="HTTP 200"):
        storage(api).osd_refresh("4", "/dev/sdb")


def test_upload_reports_progress_up_to_the_file_size(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("POST", "/storage/ceph/volume/vms/v/upload", {"message": "written"})
    image = tmp_path / "disk.img"
    image.write_bytes(b"x" * 200_000)
    reported: list[int] = []
    with image.open("rb") as f:
        message = storage(api).volume_upload("vms", "v", f, "raw", progress=reported.append)
    assert message == "written"
    assert sum(reported) == 200_000 and len(reported) > 1  # streamed in chunks
    assert api.seen[0].query == [("image_format", "raw"), ("file_size", "200000")]
    assert b"x" * 200_000 in api.seen[0].body


def test_upload_of_an_in_memory_image() -> None:
    api = FakeApi()
    api.on("POST", "/storage/ceph/volume/vms/v/upload", {"message": "written"})
    data = io.BytesIO(b"abc")
    assert storage(api).volume_upload("vms", "v", data, "qcow2", file_size=3) == "written"
    assert api.seen[0].query == [("image_format", "qcow2"), ("file_size", "3")]
    assert storage(api).volume_upload("vms", "v", io.BytesIO(b"abcd")) == "written"
    assert api.seen[1].query == [("image_format", "raw"), ("file_size", "4")]


def test_upload_to_an_unreachable_api_is_unavailable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    client = ApiClient(Connection("t", "10.0.0.250", 7370), transport=httpx.MockTransport(refuse))
    with pytest.raises(Unavailable, match="Cannot connect to the API"):
        StorageApi(client).volume_upload("vms", "v", io.BytesIO(b"abc"), file_size=3)
