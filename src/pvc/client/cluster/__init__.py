"""Cluster endpoints of the API client: faults (status, maintenance and backup are on `ApiClient`)."""
