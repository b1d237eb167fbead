"""`pvcnoded`: the node daemon. The top level holds its lifecycle, keepalive, figures, log buffer,
service control and work queue; each concern has a package of reconcilers and loops.
"""
