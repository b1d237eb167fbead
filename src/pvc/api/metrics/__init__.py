"""Prometheus endpoints (`/metrics`, `/metrics/health`, `/metrics/resource`) and their text."""
