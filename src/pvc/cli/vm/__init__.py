"""`pvc vm ...`: define/modify/remove, state and placement, XML edits, volumes, locks, rendering."""
