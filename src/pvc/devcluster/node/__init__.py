"""A dev node: its PID 1 (`init`) inside the node's namespaces, its power, its BMC, and its
network cables (`link`).
"""
