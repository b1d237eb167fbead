"""pvcworkerd: the Celery worker daemon of a node."""
