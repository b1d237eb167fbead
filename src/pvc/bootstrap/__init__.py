"""The bootstrap daemon's ground: a cluster's `bootstrap.yml` (`pvc.bootstrap.config`)."""
