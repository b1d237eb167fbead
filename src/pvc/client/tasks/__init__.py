"""Task endpoints of the API client (`/tasks`)."""
