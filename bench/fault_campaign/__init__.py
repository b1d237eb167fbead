"""A fault campaign: many random faults in a row on a 3-node development cluster, checking
after each that the cluster healed itself (no VM lost, none run twice, all healthy)."""
