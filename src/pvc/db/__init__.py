"""The relational store: PostgreSQL (under Patroni on the coordinators) through
SQLAlchemy 2, its schema as Alembic migrations. It holds what PVC keeps outside
ZooKeeper: the provisioner's templates, userdata, scripts, OVAs and profiles."""
