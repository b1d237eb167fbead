"""`pvc`: the command-line client (Click). The top level holds the entry point, the connection
commands and what every command shares (context, output, rendering, waiters); each resource has
a package with its commands and their rendering beside them.
"""
