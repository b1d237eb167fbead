"""`pvc storage benchmark`: run, list, info.

A benchmark runs as a task on the primary's worker (about ten minutes of heavy load on
the cluster) against a temporary volume of the given pool; results are kept by job name.
"""

from __future__ import annotations

import click

from pvc.cli.context import CliState, pass_state
from pvc.cli.output import PvcGroup, confirm, emit, format_option
from pvc.cli.storage import benchmark_format as storage_bench_format
from pvc.cli.storage.common import LIST_FORMATS, TASK_WAIT, YES, follow_task, storage_api


@click.group(name="benchmark", cls=PvcGroup)
def benchmark_group() -> None:
    """Run and view storage benchmarks."""


@benchmark_group.command(name="run")
@click.argument("pool")
@click.option("--name", "name", default=None,
              help="A name for the job (default: the date and time it starts).")
@YES
@TASK_WAIT
@pass_state
def benchmark_run(state: CliState, pool: str, name: str | None, yes: bool, wait: bool) -> None:
    """Run a storage benchmark against a temporary volume in POOL."""
    if confirm("Storage benchmarks take about 10 minutes and put a heavy load on the "
               "cluster; run them sparingly. Continue", yes):
        follow_task(state, storage_api(state).benchmark_run(pool, name), wait)


@benchmark_group.command(name="list")
@click.argument("job", required=False, default=None)
@format_option(LIST_FORMATS)
@pass_state
def benchmark_list(state: CliState, job: str | None, output_format: str) -> None:
    """List the benchmark jobs and their headline figures, or only JOB.

    \b
    Formats: "pretty" (a table), "raw" (job names), "json", "json-pretty".
    """
    emit(storage_api(state).benchmark_list(job), output_format, storage_bench_format.list_pretty,
         {"raw": storage_bench_format.list_raw})


@benchmark_group.command(name="info")
@click.argument("job")
@format_option(["pretty", "json", "json-pretty"])
@pass_state
def benchmark_info(state: CliState, job: str, output_format: str) -> None:
    """Show the results of the benchmark JOB, test by test."""
    emit(storage_api(state).benchmark_info(job), output_format, storage_bench_format.info_pretty)
