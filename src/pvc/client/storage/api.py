"""The storage endpoints of the PVC v1 API (`/storage/ceph/...`), as PVC's own client sends
them (see the wire rules): every parameter in the query string (booleans as `True`/`False`),
task-starting calls accepted only with HTTP 202, uploads as a streamed multipart body.

`StorageApi` wraps an `HttpClient` (usually the `ApiClient` of the CLI):
`StorageApi(client).pool_list()`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import IO, Any, cast

import httpx

from pvc.client.http import HttpClient, Params, error_for_response, message_of, segment
from pvc.common.errors import BackendError, NotFound, Unavailable

CONFIRM = {"yes-i-really-mean-it": "yes"}
TASK_OK = (202,)  # task-starting calls: 200 counts as a failure (wire rules)
UPLOAD_TIMEOUT = 3600.0  # the API converts the image before it answers
IMAGE_FORMATS = ("raw", "vmdk", "qcow2", "qed", "vdi", "vpc")
TIERS = ("default", "hdd", "ssd", "nvme")


def _items(body: Any, what: str) -> list[dict[str, Any]]:
    """A list answer (a lone object counts as a list of one)."""
    if isinstance(body, dict):
        body = [body]
    if not isinstance(body, list):
        raise BackendError(f"The API answered the {what} list with an unexpected body")
    return [item for item in body if isinstance(item, dict)]


def _task(body: Any, what: str) -> dict[str, Any]:
    """The `{task_id, task_name, run_on}` of a 202 answer."""
    if not isinstance(body, dict) or not body.get("task_id"):
        raise BackendError(f"The API started {what} but did not say which task runs it")
    return body


class _ProgressReader:
    """A binary file that reports how many bytes have been read from it so far."""

    def __init__(self, file: IO[bytes], progress: Callable[[int], None]) -> None:
        self._file = file
        self._progress = progress

    def read(self, size: int = -1) -> bytes:
        chunk = self._file.read(size)
        if chunk:
            self._progress(len(chunk))
        return chunk

    def fileno(self) -> int:
        return self._file.fileno()

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()


def post_file(http: HttpClient, path: str, query: dict[str, str], data: IO[bytes],
              filename: str, progress: Callable[[int], None] | None = None,
              timeout: float | None = UPLOAD_TIMEOUT) -> str:
    """POST `data` streamed as the `file` field of a multipart body (200 expected); the
    answer's message. `progress` is called with each chunk's size."""
    body = data if progress is None else cast(IO[bytes], _ProgressReader(data, progress))
    files = {"file": (filename, body, "application/octet-stream")}
    try:
        response = http._http.request(
            "POST",
            path,
            params=query,
            files=files,
            timeout=httpx.Timeout(timeout, connect=5.0),
        )
    except httpx.ConnectError as exc:
        raise Unavailable(f"Cannot connect to the API at {http.url(path)}: {exc}") from exc
    except httpx.TimeoutException as exc:
        raise Unavailable(
            f"The API at {http.url(path)} did not answer in time: {exc or 'timeout'}"
        ) from exc
    except httpx.HTTPError as exc:
        raise Unavailable(f"Lost the connection to the API at {http.url(path)}: {exc}") from exc
    if response.status_code != 200:
        raise error_for_response(response)
    try:
        return message_of(response.json())
    except ValueError:
        return ""


class StorageApi:
    """`/storage/ceph/*`: Ceph status, OSDs, cluster options, pools, volumes, snapshots
    and benchmarks."""

    def __init__(self, http: HttpClient) -> None:
        self.http = http

    # -- status -----------------------------------------------------------
    def ceph_status(self) -> dict[str, Any]:
        """GET /storage/ceph/status: {type, primary_node, ceph_data}."""
        return self.http.get_one("/storage/ceph/status", "Ceph status")

    def ceph_utilization(self) -> dict[str, Any]:
        """GET /storage/ceph/utilization: {type, primary_node, ceph_data}."""
        return self.http.get_one("/storage/ceph/utilization", "Ceph utilization")

    # -- OSDs -------------------------------------------------------------
    def osd_list(self, limit: str | None = None) -> list[dict[str, Any]]:
        """GET /storage/ceph/osd?limit=..."""
        return _items(self.http.get("/storage/ceph/osd", {"limit": limit}), "OSD")

    def osd_info(self, osd: str | int) -> dict[str, Any]:
        """GET /storage/ceph/osd/{id} (an object or a one-item list)."""
        return self.http.get_one(f"/storage/ceph/osd/{segment(osd)}", f"OSD {osd}")

    def osd_state(self, osd: str | int) -> str:
        """GET /storage/ceph/osd/{id}/state: "up"/"down" and "in"/"out" as Ceph says."""
        body = self.http.get_one(f"/storage/ceph/osd/{segment(osd)}/state", f"OSD {osd}")
        return str(body.get("state", ""))

    def osd_add(
        self,
        node: str,
        device: str,
        weight: float = 1.0,
        *,
        ext_db_ratio: float | None = None,
        ext_db_size: str | None = None,
        osd_count: int | None = None,
    ) -> dict[str, Any]:
        """POST /storage/ceph/osd (202: a task on the node)."""
        params: Params = {
            "node": node,
            "device": device,
            "weight": weight,
            "ext_db_ratio": ext_db_ratio,
            "ext_db_size": ext_db_size,
            "osd_count": osd_count,
        }
        body = self.http.call("POST", "/storage/ceph/osd", params=params, ok=TASK_OK)
        return _task(body, "adding the OSD")

    def osd_replace(
        self,
        osd: str | int,
        new_device: str,
        *,
        old_device: str | None = None,
        weight: float | None = None,
        ext_db_ratio: float | None = None,
        ext_db_size: str | None = None,
    ) -> dict[str, Any]:
        """POST /storage/ceph/osd/{id} (202): move the OSD onto a new block device."""
        params: Params = {
            "new_device": new_device,
            "old_device": old_device,
            "weight": weight,
            "ext_db_ratio": ext_db_ratio,
            "ext_db_size": ext_db_size,
        }
        body = self.http.call("POST", f"/storage/ceph/osd/{segment(osd)}", params=params, ok=TASK_OK)
        return _task(body, "replacing the OSD")

    def osd_refresh(self, osd: str | int, device: str) -> dict[str, Any]:
        """PUT /storage/ceph/osd/{id}?device=... (202): re-import an intact OSD."""
        body = self.http.call(
            "PUT", f"/storage/ceph/osd/{segment(osd)}", params={"device": device}, ok=TASK_OK
        )
        return _task(body, "refreshing the OSD")

    def osd_remove(self, osd: str | int, force: bool = False) -> dict[str, Any]:
        """DELETE /storage/ceph/osd/{id}?force=...&yes-i-really-mean-it=yes (202)."""
        body = self.http.call(
            "DELETE",
            f"/storage/ceph/osd/{segment(osd)}",
            params={"force": force, **CONFIRM},
            ok=TASK_OK,
        )
        return _task(body, "removing the OSD")

    def osd_db_vg_add(self, node: str, device: str) -> dict[str, Any]:
        """POST /storage/ceph/osddb?node=...&device=... (202)."""
        body = self.http.call(
            "POST", "/storage/ceph/osddb", params={"node": node, "device": device}, ok=TASK_OK
        )
        return _task(body, "creating the OSD database volume group")

    def osd_set_state(self, osd: str | int, state: str) -> str:
        """POST /storage/ceph/osd/{id}/state?state=in|out."""
        return message_of(self.http.post(f"/storage/ceph/osd/{segment(osd)}/state", {"state": state}))

    def ceph_option(self, option: str, action: str) -> str:
        """POST /storage/ceph/option?option=...&action=set|unset (a cluster flag)."""
        return message_of(
            self.http.post("/storage/ceph/option", {"option": option, "action": action})
        )

    # -- pools ------------------------------------------------------------
    def pool_list(self, limit: str | None = None) -> list[dict[str, Any]]:
        """GET /storage/ceph/pool?limit=..."""
        return _items(self.http.get("/storage/ceph/pool", {"limit": limit}), "pool")

    def pool_info(self, pool: str) -> dict[str, Any]:
        """GET /storage/ceph/pool/{pool} (an object or a one-item list)."""
        return self.http.get_one(f"/storage/ceph/pool/{segment(pool)}", f'Pool "{pool}"')

    def pool_add(
        self, pool: str, pgs: int, replcfg: str = "copies=3,mincopies=2", tier: str = "default"
    ) -> str:
        """POST /storage/ceph/pool?pool=...&pgs=...&replcfg=...&tier=..."""
        params: Params = {"pool": pool, "pgs": pgs, "replcfg": replcfg, "tier": tier}
        return message_of(self.http.post("/storage/ceph/pool", params))

    def pool_set_pgs(self, pool: str, pgs: int) -> str:
        """PUT /storage/ceph/pool/{pool}?pgs=N."""
        return message_of(self.http.put(f"/storage/ceph/pool/{segment(pool)}", {"pgs": pgs}))

    def pool_remove(self, pool: str) -> str:
        """DELETE /storage/ceph/pool/{pool}?yes-i-really-mean-it=yes (and all its volumes)."""
        return message_of(self.http.delete(f"/storage/ceph/pool/{segment(pool)}", CONFIRM))

    # -- volumes ----------------------------------------------------------
    def volume_list(
        self, limit: str | None = None, pool: str | None = None
    ) -> list[dict[str, Any]]:
        """GET /storage/ceph/volume?limit=...&pool=..."""
        body = self.http.get("/storage/ceph/volume", {"limit": limit, "pool": pool})
        return _items(body, "volume")

    def volume_info(self, pool: str, volume: str) -> dict[str, Any]:
        """GET /storage/ceph/volume/{pool}/{volume} (an object or a one-item list)."""
        return self.http.get_one(
            f"/storage/ceph/volume/{segment(pool)}/{segment(volume)}", f'Volume "{pool}/{volume}"'
        )

    def volume_add(self, pool: str, volume: str, size: str, force: bool = False) -> str:
        """POST /storage/ceph/volume?volume=...&pool=...&size=...&force=..."""
        params: Params = {"volume": volume, "pool": pool, "size": size, "force": force}
        return message_of(self.http.post("/storage/ceph/volume", params))

    def volume_resize(self, pool: str, volume: str, size: str, force: bool = False) -> str:
        """PUT /storage/ceph/volume/{pool}/{volume}?new_size=...&force=..."""
        return message_of(
            self.http.put(
                f"/storage/ceph/volume/{segment(pool)}/{segment(volume)}",
                {"new_size": size, "force": force},
            )
        )

    def volume_rename(self, pool: str, volume: str, new_name: str) -> str:
        """PUT /storage/ceph/volume/{pool}/{volume}?new_name=..."""
        return message_of(
            self.http.put(
                f"/storage/ceph/volume/{segment(pool)}/{segment(volume)}", {"new_name": new_name}
            )
        )

    def volume_clone(self, pool: str, volume: str, new_volume: str, force: bool = False) -> str:
        """POST .../clone?new_volume=...&force_flag=...&force=...

        PVC's client sends the flag as `force_flag` (which its server ignores); we send
        `force` too so that our server honours it.
        """
        params: Params = {"new_volume": new_volume, "force_flag": force, "force": force}
        return message_of(
            self.http.post(f"/storage/ceph/volume/{segment(pool)}/{segment(volume)}/clone", params)
        )

    def volume_remove(self, pool: str, volume: str) -> str:
        """DELETE /storage/ceph/volume/{pool}/{volume}."""
        return message_of(self.http.delete(f"/storage/ceph/volume/{segment(pool)}/{segment(volume)}"))

    def volume_scan(self, pool: str, volume: str) -> str:
        """POST /storage/ceph/volume/{pool}/{volume}/scan: adopt an RBD image made outside PVC."""
        return message_of(
            self.http.post(f"/storage/ceph/volume/{segment(pool)}/{segment(volume)}/scan")
        )

    def volume_upload(
        self,
        pool: str,
        volume: str,
        image: IO[bytes],
        image_format: str = "raw",
        *,
        file_size: int | None = None,
        filename: str = "image",
        progress: Callable[[int], None] | None = None,
        timeout: float | None = UPLOAD_TIMEOUT,
    ) -> str:
        """POST .../upload?image_format=...&file_size=... with the image streamed as the
        `file` field of a multipart body. `progress` is called with each chunk's size."""
        if file_size is None:
            start = image.tell()
            file_size = image.seek(0, os.SEEK_END) - start
            image.seek(start)
        path = f"/storage/ceph/volume/{segment(pool)}/{segment(volume)}/upload"
        query = {"image_format": image_format, "file_size": str(file_size)}
        return post_file(self.http, path, query, image, filename, progress, timeout)

    # -- snapshots --------------------------------------------------------
    def snapshot_list(
        self, limit: str | None = None, pool: str | None = None, volume: str | None = None
    ) -> list[dict[str, Any]]:
        """GET /storage/ceph/snapshot?limit=...&pool=...&volume=..."""
        body = self.http.get(
            "/storage/ceph/snapshot", {"limit": limit, "pool": pool, "volume": volume}
        )
        return _items(body, "snapshot")

    def snapshot_info(self, pool: str, volume: str, snapshot: str) -> dict[str, Any]:
        """GET /storage/ceph/snapshot/{pool}/{volume}/{snapshot}."""
        return self.http.get_one(
            f"/storage/ceph/snapshot/{segment(pool)}/{segment(volume)}/{segment(snapshot)}",
            f'Snapshot "{pool}/{volume}@{snapshot}"',
        )

    def snapshot_add(self, pool: str, volume: str, snapshot: str) -> str:
        """POST /storage/ceph/snapshot?snapshot=...&volume=...&pool=..."""
        params: Params = {"snapshot": snapshot, "volume": volume, "pool": pool}
        return message_of(self.http.post("/storage/ceph/snapshot", params))

    def snapshot_rename(self, pool: str, volume: str, snapshot: str, new_name: str) -> str:
        """PUT /storage/ceph/snapshot/{pool}/{volume}/{snapshot}?new_name=..."""
        path = f"/storage/ceph/snapshot/{segment(pool)}/{segment(volume)}/{segment(snapshot)}"
        return message_of(self.http.put(path, {"new_name": new_name}))

    def snapshot_rollback(self, pool: str, volume: str, snapshot: str) -> str:
        """POST /storage/ceph/snapshot/{pool}/{volume}/{snapshot}/rollback."""
        path = f"/storage/ceph/snapshot/{segment(pool)}/{segment(volume)}/{segment(snapshot)}/rollback"
        return message_of(self.http.post(path))

    def snapshot_remove(self, pool: str, volume: str, snapshot: str) -> str:
        """DELETE /storage/ceph/snapshot/{pool}/{volume}/{snapshot}."""
        path = f"/storage/ceph/snapshot/{segment(pool)}/{segment(volume)}/{segment(snapshot)}"
        return message_of(self.http.delete(path))

    # -- benchmarks -------------------------------------------------------
    def benchmark_list(self, job: str | None = None) -> list[dict[str, Any]]:
        """GET /storage/ceph/benchmark?job=...: {id, job, test_format, benchmark_result}."""
        return _items(self.http.get("/storage/ceph/benchmark", {"job": job}), "benchmark")

    def benchmark_info(self, job: str) -> dict[str, Any]:
        """The one benchmark named `job` (NotFound when there is none)."""
        for item in self.benchmark_list(job):
            if str(item.get("job")) == job:
                return item
        raise NotFound(f'Benchmark job "{job}" not found')

    def benchmark_run(self, pool: str, name: str | None = None) -> dict[str, Any]:
        """POST /storage/ceph/benchmark?pool=...&name=... (202: a task on the primary)."""
        body = self.http.call(
            "POST", "/storage/ceph/benchmark", params={"pool": pool, "name": name}, ok=TASK_OK
        )
        return _task(body, "the benchmark")
