"""Value codecs: how a typed value is stored in a ZooKeeper node (always UTF-8 text)."""

from __future__ import annotations

import json
from typing import Any, Protocol


class Codec(Protocol):
    name: str

    def encode(self, value: Any) -> bytes: ...

    def decode(self, data: bytes) -> Any: ...


class _Str:
    name = "str"

    def encode(self, value: Any) -> bytes:
        return str(value).encode()

    def decode(self, data: bytes) -> Any:
        return data.decode()


class _Int:
    name = "int"

    def encode(self, value: Any) -> bytes:
        return str(int(value)).encode()

    def decode(self, data: bytes) -> Any:
        text = data.decode().strip()
        return int(text) if text else 0


class _Float:
    name = "float"

    def encode(self, value: Any) -> bytes:
        return repr(float(value)).encode()

    def decode(self, data: bytes) -> Any:
        text = data.decode().strip()
        return float(text) if text else 0.0


class _Bool:
    name = "bool"

    def encode(self, value: Any) -> bytes:
        return b"true" if value else b"false"

    def decode(self, data: bytes) -> Any:
        return data.decode().strip().lower() in ("true", "yes", "1", "on")


class _Json:
    name = "json"

    def encode(self, value: Any) -> bytes:
        return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()

    def decode(self, data: bytes) -> Any:
        return json.loads(data.decode()) if data else None


STR: Codec = _Str()
INT: Codec = _Int()
FLOAT: Codec = _Float()
BOOL: Codec = _Bool()
JSON: Codec = _Json()
