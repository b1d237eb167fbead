"""Storage endpoints of the API client (`/storage/ceph/...`)."""
