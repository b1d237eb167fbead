"""Cluster endpoints: status, maintenance, the primary node, initialize/backup/restore, and faults."""
