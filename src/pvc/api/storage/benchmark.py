"""Storage benchmarks: `GET /storage/ceph/benchmark` (the jobs and their results) and
`POST /storage/ceph/benchmark` (start a job: a task on the primary's worker)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from pvc.api import schemas
from pvc.api.deps import StoreDep
from pvc.api.errors import refusals_as_400
from pvc.api.tasks.router import TASK_ACCEPTED, TasksDep, task_accepted
from pvc.common.errors import Unavailable
from pvc.ops.cluster import status as cluster_ops
from pvc.ops.storage import benchmark as storage_benchmark
from pvc.tasks import catalogue

router = APIRouter(prefix="/storage/ceph", tags=["storage / ceph"])

_READ = {**schemas.AUTH_ERRORS, **schemas.BAD_REQUEST, **schemas.NOT_FOUND}


@router.get("/benchmark", responses=_READ)
def benchmark_list(
    store: StoreDep,
    job: Annotated[str | None, Query(description="Only this job")] = None,
) -> list[dict[str, Any]]:
    """The benchmark jobs: `{id, job, test_format, benchmark_result}` each, where the
    result maps every test to fio's report ("Running" while the job runs)."""
    return storage_benchmark.list_benchmarks(store, job)


@router.post("/benchmark", status_code=202, responses={**TASK_ACCEPTED, **_READ})
@refusals_as_400
def benchmark_run(
    request: Request,
    store: StoreDep,
    tasks: TasksDep,
    pool: Annotated[str, Query(description="The pool to benchmark")],
    name: Annotated[str | None, Query(description="The job's name (default: the date "
                                                  "and time it starts)")] = None,
) -> JSONResponse:
    """Run PVC's storage benchmark against a temporary volume in the pool (a task on the
    primary; several minutes of heavy load on the cluster)."""
    storage_benchmark.check_run(store, pool, name)
    primary = cluster_ops.primary_node(store)
    if primary is None:
        raise Unavailable("The cluster has no primary node to run the benchmark")
    options = storage_benchmark.options_of(request.app.state)
    return task_accepted(tasks.submit(catalogue.STORAGE_BENCHMARK, [pool],
                                      {"name": name, **options.kwargs()}, run_on=primary))
