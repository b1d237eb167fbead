"""`pvc node ...`: list, info, primary/secondary, flush/ready, log, and their rendering."""
