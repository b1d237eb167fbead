"""Pure pieces of the CLI: table layout, key/value blocks, the log follower."""

from __future__ import annotations

from rich.text import Text

from pvc.cli.render import Column, health_style, health_text, kv_block, number, table
from pvc.cli.waiters import LogFollower


def plain(lines: list[Text]) -> list[str]:
    return [line.plain for line in lines]


def test_table_pads_aligns_and_strips() -> None:
    lines = plain(
        table(
            [Column("Name"), Column("Count", right=True), Column("Note")],
            [["a", "1", ""], ["longer", "1234", "x"]],
            groups=[("Things", 2), ("Extra", 1)],
        )
    )
    assert lines == [
        "Things         Extra",
        "Name    Count  Note",
        "a           1",
        "longer   1234  x",
    ]


def test_group_label_wider_than_its_columns_widens_them() -> None:
    lines = plain(
        table([Column("A"), Column("B")], [["1", "2"]], groups=[("Very long", 1), ("G", 1)])
    )
    assert lines[0] == "Very long  G"
    assert lines[1] == "A          B"
    assert lines[2] == "1          2"


def test_kv_block_aligns_and_continues_lists() -> None:
    lines = plain(kv_block([("Key", "v"), ("", ""), ("Longer key", ["one", "two"])]))
    assert lines == ["Key:        v", "", "Longer key: one", "            two"]


def test_health_formatting() -> None:
    assert health_text(87) == "87%"
    assert health_text("N/A") == "N/A"
    assert health_text(None) == "N/A"
    assert [health_style(h) for h in (100, 91, 90, 51, 50)] == [
        "green",
        "green",
        "yellow",
        "yellow",
        "red",
    ]
    assert health_style(100, maintenance=True) == "blue"
    assert number(1.5) == "1.50" and number(3) == "3" and number(None) == "N/A"


def test_follower_first_snapshot_is_all_new() -> None:
    f = LogFollower()
    assert f.feed(["a", "b"]) == ["a", "b"]
    assert f.feed(["a", "b"]) == []


def test_follower_finds_new_lines_in_a_larger_window() -> None:
    f = LogFollower()
    f.feed(["l8", "l9", "l10"])
    window = [f"l{i}" for i in range(1, 14)]
    assert f.feed(window) == ["l11", "l12", "l13"]


def test_follower_with_a_sliding_window_of_the_same_size() -> None:
    f = LogFollower()
    f.feed(["a", "b", "c", "d"])
    assert f.feed(["c", "d", "e", "f"]) == ["e", "f"]


def test_follower_repeated_lines_resolve_to_the_newest_position() -> None:
    f = LogFollower()
    f.feed(["tick", "tick"])
    assert f.feed(["tick", "tick", "tock"]) == ["tock"]


def test_follower_lost_anchor_prints_the_whole_snapshot() -> None:
    f = LogFollower()
    f.feed(["a", "b"])
    assert f.feed(["x", "y"]) == ["x", "y"]
