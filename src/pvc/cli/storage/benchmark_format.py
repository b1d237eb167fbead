"""Pretty formats of `pvc storage benchmark list|info` (the `GET /storage/ceph/benchmark`
objects: `{id, job, test_format, benchmark_result}`).

`benchmark_result` maps each test to its figures; it is the string "Running" while the
job runs. A test's figures are read from fio's JSON output (`jobs[0].read|write` with
`bw_bytes`/`bw`, `iops`, `clat_ns`/`lat_ns`) or from PVC's older summary (`overall`
with `bandwidth` in KiB/s and `iops`, `latency` in µs).
"""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text

from pvc.cli.render import NOTE, WARN, Cell, Column, cell, kv_block, table
from pvc.cli.storage.format import NA, ops_text, size_text, to_number

# (result key, label, direction)
TESTS = (
    ("seq_read", "Sequential read (4M blocks)", "read"),
    ("seq_write", "Sequential write (4M blocks)", "write"),
    ("rand_read_4M", "Random read (4M blocks)", "read"),
    ("rand_write_4M", "Random write (4M blocks)", "write"),
    ("rand_read_4K", "Random read (4K blocks)", "read"),
    ("rand_write_4K", "Random write (4K blocks)", "write"),
    ("rand_read_4K_lowdepth", "Random read (4K blocks, queue depth 1)", "read"),
    ("rand_write_4K_lowdepth", "Random write (4K blocks, queue depth 1)", "write"),
)
RUNNING = "Running"


def result_of(benchmark: dict[str, Any]) -> dict[str, Any] | str:
    """The test results, or a word ("Running") while there are none."""
    result = benchmark.get("benchmark_result")
    if isinstance(result, str):
        try:
            decoded = json.loads(result)
        except json.JSONDecodeError:
            return result or NA
        result = decoded
    return result if isinstance(result, dict) else NA


def figures(result: dict[str, Any], test: str, direction: str) -> dict[str, float | None]:
    """Bandwidth (bytes/s), IOPS and mean latency (µs) of one test, None where unknown."""
    data = result.get(test)
    out: dict[str, float | None] = {"bandwidth": None, "iops": None, "latency": None}
    if not isinstance(data, dict):
        return out
    overall = data.get("overall")
    if isinstance(overall, dict):
        kib = to_number(overall.get("bandwidth"))
        out["bandwidth"] = kib * 1024 if kib is not None else None
        out["iops"] = to_number(overall.get("iops"))
        latency = data.get("latency")
        if isinstance(latency, dict):
            out["latency"] = to_number(latency.get("mean"))
        return out
    jobs = data.get("jobs")
    side: Any = jobs[0].get(direction) if isinstance(jobs, list) and jobs and isinstance(
        jobs[0], dict) else data.get(direction)
    if not isinstance(side, dict):
        return out
    bw_bytes = to_number(side.get("bw_bytes"))
    kib = to_number(side.get("bw"))
    out["bandwidth"] = bw_bytes if bw_bytes is not None else (kib * 1024 if kib is not None
                                                               else None)
    out["iops"] = to_number(side.get("iops"))
    for key, scale in (("clat_ns", 1000.0), ("lat_ns", 1000.0), ("clat_us", 1.0)):
        lat = side.get(key)
        mean = to_number(lat.get("mean")) if isinstance(lat, dict) else None
        if mean is not None:
            out["latency"] = mean / scale
            break
    return out


def _bandwidth(value: float | None) -> str:
    return NA if value is None else f"{size_text(value)}/s"


def _latency(value: float | None) -> str:
    if value is None:
        return NA
    return f"{value / 1000:.2f} ms" if value >= 1000 else f"{value:.0f} us"


LIST_GROUPS = (("Benchmarks", 2), ("Seq 4M (bandwidth)", 2), ("Rand 4M (bandwidth)", 2),
               ("Rand 4K (IOPS)", 2), ("Rand 4K QD1 (IOPS)", 2))
LIST_COLUMNS = (Column("Job"), Column("Format", right=True),
                *(Column(h, right=True) for h in ("Read", "Write") * 4))


def list_row(benchmark: dict[str, Any]) -> list[Cell]:
    result = result_of(benchmark)
    row: list[Cell] = [cell(benchmark.get("job"), "bold"),
                       cell(benchmark.get("test_format", 0))]
    for key, _label, direction in TESTS:
        if isinstance(result, str):
            row.append(cell(result, WARN if result == RUNNING else ""))
            continue
        data = figures(result, key, direction)
        if key.startswith(("seq", "rand_read_4M", "rand_write_4M")):
            row.append(_bandwidth(data["bandwidth"]))
        else:
            row.append(NA if data["iops"] is None else ops_text(data["iops"]))
    return row


def list_pretty(data: Any) -> list[Text]:
    items = [b for b in data if isinstance(b, dict)] if isinstance(data, list) else []
    items.sort(key=lambda b: str(b.get("job", "")))
    return table(LIST_COLUMNS, [list_row(b) for b in items], LIST_GROUPS)


def list_raw(data: Any) -> str:
    items = [b for b in data if isinstance(b, dict)] if isinstance(data, list) else []
    return "\n".join(sorted(str(b.get("job")) for b in items))


INFO_COLUMNS = (Column("Test"), Column("Bandwidth", right=True), Column("IOPS", right=True),
                Column("Mean latency", right=True))


def info_pretty(benchmark: Any) -> list[Text]:
    benchmark = benchmark if isinstance(benchmark, dict) else {}
    result = result_of(benchmark)
    lines = kv_block([
        ("Job", cell(benchmark.get("job"), "bold")),
        ("Test format", cell(benchmark.get("test_format", 0))),
    ])
    lines.append(Text(""))
    if isinstance(result, str):
        lines.append(Text(f"No results: {result}", style=WARN if result == RUNNING else NOTE))
        return lines
    rows: list[list[Cell]] = []
    for key, label, direction in TESTS:
        data = figures(result, key, direction)
        iops = data["iops"]
        rows.append([label, _bandwidth(data["bandwidth"]),
                     NA if iops is None else ops_text(iops), _latency(data["latency"])])
    return lines + table(INFO_COLUMNS, rows)
