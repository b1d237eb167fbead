"""VM endpoints: records, state and placement, metadata, tags, console, RBD locks; VM wire shapes."""
