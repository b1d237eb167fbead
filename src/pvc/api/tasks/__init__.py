"""Task endpoints (`/tasks`) and the 202 answer of endpoints that start a task."""
