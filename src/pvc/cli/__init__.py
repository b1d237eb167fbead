"""The `pvc` command-line client (Click): one module per command group."""
