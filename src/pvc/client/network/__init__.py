"""Client network endpoints of the API client (`/network/...`, `/sriov/...`)."""
