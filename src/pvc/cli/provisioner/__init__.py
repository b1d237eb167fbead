"""`pvc provisioner ...`: templates, userdata, scripts, OVAs, profiles and VM creation."""
