"""The zone rows of PowerDNS's database that the DNS aggregator keeps.

PowerDNS owns its schema (Debian's `schema.pgsql.sql`, loaded when the database is made);
these are the few columns we touch, as SQLAlchemy models. Our rows carry the account
`pvc`: zones an operator added by hand are never changed or removed. Removing a zone
removes its records (the schema's foreign key cascades).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Integer, String, Text, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

ACCOUNT = "pvc"
SECONDARY = "SLAVE"  # PowerDNS's name for a zone it copies from a primary


class Base(DeclarativeBase):
    pass


class Domain(Base):
    __tablename__ = "domains"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), nullable=False, unique=True)
    master: Mapped[str | None] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(Text, nullable=False)
    account: Mapped[str | None] = mapped_column(String(40))


@dataclass
class ZoneChanges:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)  # wanted, but a zone of someone else

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.removed)


def sync_zones(session: Session, wanted: dict[str, str]) -> ZoneChanges:
    """Make our secondary zones exactly `wanted` (zone name -> its primary's address)."""
    changes = ZoneChanges()
    rows = {d.name: d for d in session.scalars(select(Domain))}
    for name, row in rows.items():
        if row.account == ACCOUNT and name not in wanted:
            session.delete(row)
            changes.removed.append(name)
    for name, master in sorted(wanted.items()):
        found = rows.get(name)
        if found is None:
            session.add(Domain(name=name, master=master, type=SECONDARY, account=ACCOUNT))
            changes.added.append(name)
        elif found.account != ACCOUNT:
            changes.foreign.append(name)
        elif (found.master, found.type) != (master, SECONDARY):
            found.master, found.type = master, SECONDARY
            changes.changed.append(name)
    return changes
