"""Cluster-wide operations: status and maintenance, initialize/backup/restore, and cluster faults."""
