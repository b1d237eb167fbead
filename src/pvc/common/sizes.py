"""Sizes as operators write them ("10G", "512M", "1.5T", "4096") and as we print them.

Units are binary, as Ceph and PVC use them: K = 1024 bytes, M = 1024 K, and so on; a
trailing "B" or "iB" is allowed ("10GB", "10GiB"), and a bare number is bytes.
"""

from __future__ import annotations

import re

from pvc.common.errors import InvalidArgument

UNITS = {"": 1, "B": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4, "P": 1024**5}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGTP]?)(I?B)?\s*$", re.IGNORECASE)


def parse_size(text: str | int, what: str = "size") -> int:
    """Bytes from a size with an optional unit; refuses malformed, zero or negative sizes."""
    if isinstance(text, int) and not isinstance(text, bool):
        text = str(text)
    m = _SIZE.fullmatch(str(text))
    if not m:
        raise InvalidArgument(
            f"Invalid {what} {text!r}: use a positive number with an optional unit "
            "B, K, M, G, T or P (binary), e.g. 10G or 512M")
    number, unit = m.group(1), m.group(2).upper()
    if unit == "" and m.group(3) and m.group(3).upper() == "IB":
        raise InvalidArgument(f"Invalid {what} {text!r}: 'iB' needs a unit before it")
    value = int(float(number) * UNITS[unit])
    if value <= 0:
        raise InvalidArgument(f"Invalid {what} {text!r}: it must be larger than zero")
    return value


def human(size: int | float, precision: int = 1) -> str:
    """3221225472 -> '3.0G'; below 1 K in bytes ('512B')."""
    value = float(size)
    for unit in ("B", "K", "M", "G", "T", "P"):
        if abs(value) < 1024 or unit == "P":
            return f"{int(value)}B" if unit == "B" else f"{value:.{precision}f}{unit}"
        value /= 1024
    raise AssertionError("unreachable")
