"""Plain-text tables and key/value blocks built from rich `Text`.

Columns are separated by two spaces and padded to their widest cell; lines carry no
trailing spaces. Styles only show on a terminal (see `output.console`), so the plain
output stays easy to read and to parse.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text

Cell = str | Text
GAP = "  "

# Health and state colours, shared by every formatter.
GOOD = "green"
WARN = "yellow"
BAD = "red"
NOTE = "blue"
OTHER = "cyan"
KEY = "magenta"


@dataclass(frozen=True)
class Column:
    header: str
    right: bool = False  # right-align (numbers)


def cell(value: object, style: str | None = None) -> Text:
    return Text("N/A" if value is None else str(value), style=style or "")


def _text(value: Cell) -> Text:
    return value if isinstance(value, Text) else Text(value)


def _pad(value: Text, width: int, right: bool) -> Text:
    fill = " " * max(0, width - value.cell_len)
    return Text.assemble(fill, value) if right else Text.assemble(value, fill)


def table(
    columns: Sequence[Column],
    rows: Sequence[Sequence[Cell]],
    groups: Sequence[tuple[str, int]] | None = None,
) -> list[Text]:
    """Lines of a table; `groups` (label, number of columns) adds a header row above."""
    body = [[_text(c) for c in row] for row in rows]
    widths = [len(col.header) for col in columns]
    for row in body:
        for i, value in enumerate(row):
            widths[i] = max(widths[i], value.cell_len)
    lines: list[Text] = []
    if groups:
        parts: list[Text] = []
        start = 0
        for label, span in groups:
            span_width = sum(widths[start : start + span]) + len(GAP) * (span - 1)
            if len(label) > span_width:  # widen the group's last column to fit its label
                widths[start + span - 1] += len(label) - span_width
                span_width = len(label)
            parts.append(_pad(Text(label, style="bold underline"), span_width, False))
            start += span
        lines.append(Text(GAP).join(parts))
    header = [
        _pad(Text(c.header, style="bold"), w, c.right) for c, w in zip(columns, widths, strict=True)
    ]
    lines.append(Text(GAP).join(header))
    for row in body:
        padded = [_pad(v, w, c.right) for v, c, w in zip(row, columns, widths, strict=True)]
        lines.append(Text(GAP).join(padded))
    for line in lines:
        line.rstrip()
    return lines


def kv_block(pairs: Sequence[tuple[str, Cell | Sequence[Cell]]]) -> list[Text]:
    """`Key:  value` lines with aligned values; a list value continues on indented lines."""
    if not pairs:
        return []
    width = max(len(k) for k, _ in pairs) + 2
    lines: list[Text] = []
    for key, value in pairs:
        if key == "" and value == "":
            lines.append(Text(""))
            continue
        values = [value] if isinstance(value, str | Text) else list(value)
        first = _text(values[0]) if values else Text("None")
        label = Text(f"{key}:", style=KEY)
        lines.append(Text.assemble(_pad(label, width, False), first))
        for more in values[1:]:
            lines.append(Text.assemble(" " * width, _text(more)))
    for line in lines:
        line.rstrip()
    return lines


BLANK: tuple[str, Cell] = ("", "")


def health_style(health: object, maintenance: bool = False) -> str:
    if maintenance or not isinstance(health, int | float) or isinstance(health, bool):
        return NOTE
    if health > 90:
        return GOOD
    if health > 50:
        return WARN
    return BAD


def health_text(health: object) -> str:
    if isinstance(health, int | float) and not isinstance(health, bool):
        return f"{health}%"
    return "N/A" if health is None else str(health)


def delta_style(delta: object) -> str:
    value = delta if isinstance(delta, int | float) else 0
    if value >= 50:
        return BAD
    if value >= 10:
        return WARN
    return GOOD


def number(value: object) -> str:
    """A count or amount as the tables show it (floats with two decimals)."""
    if isinstance(value, float):
        return f"{value:.2f}"
    return "N/A" if value is None else str(value)
