"""Node endpoints of the API client (`/node/...`)."""
