"""`pvc cluster ...`: status, maintenance, init/backup/restore, faults and tasks (with the task waiter)."""
