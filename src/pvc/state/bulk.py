"""Two ZooKeeper requests kazoo lacks, for reading and watching many znodes at once.

kazoo sends one request per round of its connection loop, about 9,000 a second here: a
mirror of 10,000 VMs (90,000 znodes) would take over ten seconds to load one read at a
time. ZooKeeper (3.6 and later) answers many reads in one request (`multiRead`) and
registers many watches in one request (`setWatches`, what clients send after a
reconnect), so a whole tree loads and is watched in a few hundred requests.

Both are plain records in ZooKeeper's wire format, sent through kazoo's own request queue
(`KazooClient._call`), so they are ordered with every other request of the session and
answered like them. Watches registered with `set_watches` are kazoo's one-shot watches:
their callbacks go into kazoo's watcher tables, and kazoo calls them as for any get.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

from kazoo.client import KazooClient
from kazoo.exceptions import EXCEPTIONS
from kazoo.protocol.serialization import (
    GetChildren,
    GetData,
    MultiHeader,
    int_struct,
    long_struct,
    multiheader_struct,
    stat_struct,
    write_string,
)
from kazoo.protocol.states import WatchedEvent

# Operations per multiRead, and path bytes per setWatches: well inside ZooKeeper's 1 MiB
# packet limit (jute.maxbuffer), for requests and for answers carrying VM definitions.
READS_PER_REQUEST = 200
WATCH_BYTES_PER_REQUEST = 128 * 1024

Watcher = Callable[[WatchedEvent], None]


class MultiRead(NamedTuple):
    """ZooKeeper's multiRead (opcode 22): get data and list children of many paths in one
    request. Answers, in order: `(data, stat)` for a get, a list of names for a listing,
    or the exception instance for a path that failed (NoNodeError for a missing one)."""

    operations: Sequence[GetData | GetChildren]

    @property
    def type(self) -> int:
        return 22

    def serialize(self) -> bytearray:
        out = bytearray()
        for op in self.operations:
            out += MultiHeader(op.type, False, -1).serialize()
            out += op.serialize()
        out += multiheader_struct.pack(-1, True, -1)
        return out

    @classmethod
    def deserialize(cls, buffer: bytes, offset: int) -> list[Any]:
        results: list[Any] = []
        while True:
            kind, done, _err = multiheader_struct.unpack_from(buffer, offset)
            offset += multiheader_struct.size
            if done:
                return results
            if kind == GetData.type:
                result, offset = _get_data(buffer, offset)
            elif kind == GetChildren.type:
                result, offset = _get_children(buffer, offset)
            else:  # -1: this operation failed, with this error code
                code = int_struct.unpack_from(buffer, offset)[0]
                offset += int_struct.size
                result = EXCEPTIONS[code]()
            results.append(result)


def _get_data(buffer: bytes, offset: int) -> tuple[Any, int]:
    data, stat = GetData.deserialize(buffer, offset)
    return (data, stat), offset + int_struct.size + len(data or b"") + stat_struct.size


def _get_children(buffer: bytes, offset: int) -> tuple[list[str], int]:
    count = int_struct.unpack_from(buffer, offset)[0]
    offset += int_struct.size
    names = []
    for _ in range(max(count, 0)):
        size = int_struct.unpack_from(buffer, offset)[0]
        offset += int_struct.size
        names.append(buffer[offset:offset + size].decode())
        offset += size
    return names, offset


class SetWatches(NamedTuple):
    """ZooKeeper's setWatches (opcode 101): watch many paths at once. The server fires at
    once every watch whose znode changed after `relative_zxid` (and registers the rest), so
    nothing that changed since the reads made at that zxid is missed."""

    relative_zxid: int
    data: Sequence[str]
    exist: Sequence[str]
    child: Sequence[str]

    @property
    def type(self) -> int:
        return 101

    def serialize(self) -> bytearray:
        out = bytearray(long_struct.pack(self.relative_zxid))
        for paths in (self.data, self.exist, self.child):
            out += int_struct.pack(len(paths))
            for path in paths:
                out += write_string(path)
        return out

    @classmethod
    def deserialize(cls, buffer: bytes, offset: int) -> bool:
        return True


def _full(client: KazooClient, path: str) -> str:
    return (client.chroot or "") + path


def read_many(client: KazooClient, ops: Sequence[tuple[str, str]],
              timeout: float = 30.0) -> list[Any]:
    """Answers to `("data" | "children", path)` operations, READS_PER_REQUEST a request,
    all requests in flight at once. Raises what ZooKeeper raised for a whole request
    (connection loss); a failed path is answered with its exception instance."""
    pending = []
    for start in range(0, len(ops), READS_PER_REQUEST):
        batch = [GetData(_full(client, p), None) if kind == "data"
                 else GetChildren(_full(client, p), None)
                 for kind, p in ops[start:start + READS_PER_REQUEST]]
        result = client.handler.async_result()
        client._call(MultiRead(batch), result)
        pending.append(result)
    out: list[Any] = []
    for result in pending:
        out.extend(result.get(timeout=timeout))
    return out


def _chunks(paths: Sequence[str]) -> Iterator[list[str]]:
    chunk: list[str] = []
    size = 0
    for path in paths:
        if chunk and size + len(path) + 4 > WATCH_BYTES_PER_REQUEST:
            yield chunk
            chunk, size = [], 0
        chunk.append(path)
        size += len(path) + 4
    if chunk:
        yield chunk


def set_watches(client: KazooClient, relative_zxid: int, data: dict[str, Watcher],
                child: dict[str, Watcher], timeout: float = 30.0) -> None:
    """Watch the data of the paths of `data` and the children of those of `child`, each
    calling its watcher once (as a watch set by a get does), firing at once for what
    changed after `relative_zxid`. Raises what ZooKeeper raised (connection loss)."""
    # into kazoo's tables first: a watch the server fires at once finds its callback
    for table, watchers in ((client._data_watchers, data), (client._child_watchers, child)):
        for path, watcher in watchers.items():
            table[_full(client, path)].add(watcher)
    data_paths = [_full(client, p) for p in data]
    child_paths = [_full(client, p) for p in child]
    pending = []
    for paths, is_data in ((data_paths, True), (child_paths, False)):
        for chunk in _chunks(paths):
            result = client.handler.async_result()
            request = SetWatches(relative_zxid, chunk if is_data else [], [],
                                 [] if is_data else chunk)
            client._call(request, result)
            pending.append(result)
    for result in pending:
        result.get(timeout=timeout)
