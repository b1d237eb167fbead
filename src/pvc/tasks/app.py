"""The Celery application of PVC, built from `pvc.conf`.

One Redis database (`Config.redis_url()`) is both the broker and the result store: on a
cluster, the master that the coordinators' Sentinels name (`sentinel://` URLs; kombu and
Celery ask the Sentinels again after a failover). The settings below are the decisions of
this module; why each one:

* JSON only, for tasks, results and events: nothing is ever unpickled, so a message put in
  Redis by anyone cannot run code in a worker or in the API.
* `task_acks_late`: a task's message is acknowledged when the task has *finished*, not when
  a worker took it. If the whole worker dies (node crash, SIGKILL, power loss) the message
  is still "unacked" in Redis and goes back to the head of its node's queue when that
  worker starts again (`pvc.tasks.unacked`), so no task is lost silently. `task_reject_on_worker_lost` stays off: when only a pool *child* dies (OOM kill
  in the middle of an OSD operation), the task ends FAILURE with WorkerLostError for the
  operator to look at, rather than being run again behind their back in a loop.
  Late acknowledgement means "at least once": a task that finished is not run again (its
  kept result stands, `pvc.tasks.registry`), but a body cut short runs again from the
  start, so a body guards its own work (a ZooKeeper lock on the OSD or VM, a check of what
  is already done) rather than assuming it runs exactly once.
* `worker_prefetch_multiplier = 1`: with long tasks, a worker must not reserve messages it
  cannot start; they stay in the queue (and visible in `GET /tasks` as reserved at most one
  per free process).
* `visibility_timeout` (broker transport option): how long an unacknowledged message may
  stay with a worker before Redis hands it out again. It must exceed the longest task, or
  a long task would run twice; PVC's longest jobs (provisioning with an image copy, OSD
  removal waiting for safe-to-destroy, the benchmark) take minutes to a few hours. We use
  6 hours. A task whose worker died does not wait for it: the worker's next start gives it
  back at once (its queue has no other consumer).
* `task_track_started`: STARTED as soon as a worker process runs the task, so clients see
  the task leave PENDING before the body reports its first progress.
* `result_extended`: results keep the task name, args, kwargs, worker and queue.
* Short socket timeouts, one retry after a timeout and a bounded publish retry: the API
  answers 503 within a few seconds when Redis is down instead of hanging, and a master
  that died without a word (its node powered off) costs one timeout, after which the
  retry reaches the master the Sentinels named meanwhile.
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from pvc.common.config import Config
from pvc.tasks.records import RESULT_TTL

APP_NAME = "pvc"
# Seconds: see the module documentation.
VISIBILITY_TIMEOUT = 6 * 3600
# Seconds to open a Redis connection, and to wait for one reply of Redis.
CONNECT_TIMEOUT = 2.0
SOCKET_TIMEOUT = 3.0
# Sending a task: tries (after the first) and pause between them, in seconds.
PUBLISH_RETRY_POLICY: dict[str, Any] = {
    "max_retries": 2,
    "interval_start": 0.0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}


def settings(redis_url: str, master_name: str = "pvc") -> dict[str, Any]:
    """The Celery configuration for a broker and result store at `redis_url` (`sentinel://`
    URLs: the master the Sentinels know as `master_name`)."""
    sentinel = redis_url.startswith("sentinel://")
    ask_sentinels: dict[str, Any] = {
        "master_name": master_name,
        "sentinel_kwargs": {"socket_timeout": SOCKET_TIMEOUT,
                            "socket_connect_timeout": CONNECT_TIMEOUT},
    } if sentinel else {}
    return {
        "broker_url": redis_url,
        "result_backend": redis_url,
        "task_serializer": "json",
        "result_serializer": "json",
        "event_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        "result_extended": True,
        "result_expires": RESULT_TTL,
        "task_acks_late": True,
        "task_reject_on_worker_lost": False,
        "task_track_started": True,
        "task_publish_retry": True,
        "task_publish_retry_policy": PUBLISH_RETRY_POLICY,
        "worker_prefetch_multiplier": 1,
        # A lost broker connection must not kill a half-done OSD operation; its message
        # stays unacked and the visibility timeout covers the rest.
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "worker_hijack_root_logger": False,
        "broker_connection_retry_on_startup": True,
        "broker_connection_timeout": CONNECT_TIMEOUT,
        "broker_transport_options": {
            "visibility_timeout": VISIBILITY_TIMEOUT,
            "socket_connect_timeout": CONNECT_TIMEOUT,
            "socket_timeout": SOCKET_TIMEOUT,
            **ask_sentinels,
        },
        "result_backend_transport_options": ask_sentinels,
        "redis_socket_connect_timeout": CONNECT_TIMEOUT,
        "redis_socket_timeout": SOCKET_TIMEOUT,
        # once: a master that died without a word (powered off) times out, and by then
        # the Sentinels have named another (down after 2 s), which the retry asks for
        "redis_retry_on_timeout": True,
        "enable_utc": True,
        "timezone": "UTC",
    }


def make_app(config: Config | None = None, *, redis_url: str | None = None,
             master_name: str = "pvc") -> Celery:
    """A Celery app on `config`'s Redis (or `redis_url`, and for `sentinel://` URLs
    `master_name`) with every task registered so far
    (`pvc.tasks.registry`; a worker imports the modules of task bodies first)."""
    if redis_url is None:
        if config is None:
            raise ValueError("make_app needs a config or a redis_url")
        redis_url = config.redis_url()
    app = Celery(APP_NAME, set_as_current=False)
    app.conf.update(settings(redis_url, config.keydb_master_name if config else master_name))
    from pvc.tasks import registry

    registry.install(app)
    return app
