"""Client networks on this node: the links of every network (a reconciler), and on the
primary their gateways and services."""
