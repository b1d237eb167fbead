"""The VM reconciler: the controller, its pure decisions, the steps it takes, what running VMs
show (console, statistics), and flush/ready of this node.
"""
