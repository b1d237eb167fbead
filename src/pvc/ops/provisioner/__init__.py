"""The provisioner's objects (templates, userdata, scripts, OVAs, profiles) in the
relational store: checked here, then written in one transaction each."""
