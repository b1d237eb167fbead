"""Asynchronous tasks: Celery on Redis, one queue per node.

* `app.make_app(config)`: the Celery app (broker and results in `config.redis_url()`).
* `submit.submit(app, name, args, kwargs, run_on=node)`: send a task to a node's worker.
* `progress`: start/update/finish/fail, the progress protocol of task bodies.
* `registry.register(name)`: register a task body; `catalogue`: PVC's task names and the
  modules of bodies that every worker imports.
* `service.TaskService`: what the API does with tasks; `status`: the wire shapes.
"""
