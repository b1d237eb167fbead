"""Node operations: node records and health, handover requests, flush/ready intent, node logs."""
