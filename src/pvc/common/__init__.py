"""What every layer shares: the error tree, `pvc.conf`, name rules, sizes, VM records and XML, placement rules."""
