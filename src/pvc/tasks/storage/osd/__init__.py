"""The OSD tasks `osd.add` and `osd.remove`, run by the worker of the OSD's node."""
