"""VM endpoints of the API client (`/vm/...`), including the RBD lock flush."""
