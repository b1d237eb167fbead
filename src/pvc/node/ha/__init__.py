"""Self-healing: the fence monitor, recovery of a fenced node's VMs, self-fencing, the fault
monitor, and the start-up check of the node's own BMC.
"""
