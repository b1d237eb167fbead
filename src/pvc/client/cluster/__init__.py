"""Cluster endpoints of the API client: status, maintenance, init/backup/restore, faults."""
