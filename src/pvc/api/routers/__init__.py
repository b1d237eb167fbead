"""One router per resource of the PVC v1 API."""
