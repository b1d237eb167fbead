"""Node endpoints: list, info, daemon/coordinator/domain state and the node log."""
