"""Operations: validate a request against cluster state, then write intent.

Each function reads what it needs from the `Store`, refuses bad input with an exception of
`pvc.common.errors`, and writes its change as one ZooKeeper transaction (conditional on the
versions it read). Nothing here knows about HTTP.
"""
