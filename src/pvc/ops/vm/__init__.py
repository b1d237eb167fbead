"""VM operations: records, define/modify/remove, state and placement intent, metadata, disks."""
