"""ZooKeeper: the versioned schema table, typed store (compare-and-set, transactions),
migrations, the backup tree, the ensemble and the API's read mirror.
"""
