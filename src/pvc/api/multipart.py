"""Streamed multipart uploads: the bytes of one file field, as the client sends them.

FastAPI's `UploadFile` parses the whole body into a spooled temporary file before the
endpoint runs. Disk images are large, so upload endpoints take the raw request body
instead and read the file field through `file_field`, which parses the multipart body
incrementally (python-multipart) and yields the field's content chunk by chunk. Nothing
is held in memory beyond one chunk.

Endpoints are plain (synchronous) functions, which FastAPI runs in a worker thread;
`request_chunks` reads the request body from there through the event loop.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any

import anyio.from_thread
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from pvc.common.errors import InvalidArgument

# OpenAPI for an endpoint whose body is a multipart form with one file field `file`.
FILE_BODY_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}


def request_chunks(request: Request) -> Iterator[bytes]:
    """The request body, chunk by chunk, for an endpoint running in a worker thread."""
    stream = request.stream()

    async def next_chunk() -> bytes | None:
        try:
            return await stream.__anext__()
        except StopAsyncIteration:
            return None

    while True:
        try:
            chunk = anyio.from_thread.run(next_chunk)
        except ClientDisconnect as exc:
            raise InvalidArgument("The client went away before the upload was complete") \
                from exc
        if chunk is None:
            return
        if chunk:
            yield chunk


def _field_name(disposition: bytes) -> str | None:
    kind, options = parse_options_header(disposition)
    if kind.lower() != b"form-data" or b"name" not in options:
        return None
    return options[b"name"].decode("utf-8", "replace")


class _FieldReader:
    """Parser callbacks that collect the data of one named field."""

    def __init__(self, content_type: str, field: str) -> None:
        kind, options = parse_options_header(content_type)
        boundary = options.get(b"boundary")
        if kind.lower() != b"multipart/form-data" or not boundary:
            raise InvalidArgument(
                f"The upload must be a multipart/form-data body with a '{field}' field")
        self.field = field
        self.pending: deque[bytes] = deque()
        self.found = False
        self.complete = False
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""
        self._in_field = False
        self.parser = MultipartParser(boundary, {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value_data,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        })

    def _part_begin(self) -> None:
        self._disposition = b""
        self._header_name = self._header_value = b""

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name = self._header_value = b""

    def _headers_finished(self) -> None:
        self._in_field = not self.found and _field_name(self._disposition) == self.field
        self.found = self.found or self._in_field

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_field and end > start:
            self.pending.append(data[start:end])

    def _part_end(self) -> None:
        if self._in_field:
            self.complete = True
        self._in_field = False


def file_field(content_type: str, body: Iterable[bytes], field: str = "file") -> Iterator[bytes]:
    """The content of multipart field `field` of `body`, chunk by chunk. A body without
    that field, or one that ends inside it, is InvalidArgument (raised when it shows)."""
    reader = _FieldReader(content_type, field)
    try:
        for chunk in body:
            reader.parser.write(chunk)
            while reader.pending:
                yield reader.pending.popleft()
            if reader.complete:
                break
        if not reader.complete:
            reader.parser.finalize()
    except MultipartParseError as exc:
        raise InvalidArgument(f"The multipart upload body is malformed: {exc}") from exc
    while reader.pending:
        yield reader.pending.popleft()
    if not reader.found:
        raise InvalidArgument(f"Missing required parameter '{field}' (a file)")
    if not reader.complete:
        raise InvalidArgument(f"The upload ended inside the '{field}' field")
