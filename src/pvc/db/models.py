"""The provisioner's tables (PVC's, with their names and columns), as SQLAlchemy 2
declarative models. A template, userdata, script or OVA that a profile names cannot be
removed (the foreign keys restrict); a template's networks and disks, and an OVA's
volumes, go with it."""

from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


def _name() -> Mapped[str]:
    return mapped_column(Text, unique=True, nullable=False)


class Ova(Base):
    __tablename__ = "ova"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = _name()
    ovf: Mapped[str] = mapped_column(Text, nullable=False, default="")
    volumes: Mapped[list[OvaVolume]] = relationship(
        back_populates="ova_entry", cascade="all, delete-orphan", order_by="OvaVolume.id")


class OvaVolume(Base):
    __tablename__ = "ova_volume"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ova: Mapped[int] = mapped_column(ForeignKey("ova.id", ondelete="CASCADE"), nullable=False)
    pool: Mapped[str] = mapped_column(Text, nullable=False)
    volume_name: Mapped[str] = mapped_column(Text, nullable=False)
    volume_format: Mapped[str] = mapped_column(Text, nullable=False)
    disk_id: Mapped[str] = mapped_column(Text, nullable=False)
    disk_size_gb: Mapped[int] = mapped_column(Integer, nullable=False)
    ova_entry: Mapped[Ova] = relationship(back_populates="volumes")


class SystemTemplate(Base):
    __tablename__ = "system_template"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = _name()
    vcpu_count: Mapped[int] = mapped_column(Integer, nullable=False)
    vram_mb: Mapped[int] = mapped_column(Integer, nullable=False)
    serial: Mapped[bool] = mapped_column(Boolean, nullable=False)
    vnc: Mapped[bool] = mapped_column(Boolean, nullable=False)
    vnc_bind: Mapped[str | None] = mapped_column(Text)
    node_limit: Mapped[str | None] = mapped_column(Text)
    node_selector: Mapped[str | None] = mapped_column(Text)
    node_autostart: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    migration_method: Mapped[str | None] = mapped_column(Text)
    migration_max_downtime: Mapped[int] = mapped_column(Integer, nullable=False, default=300)
    ova: Mapped[int | None] = mapped_column(ForeignKey("ova.id", ondelete="RESTRICT"))


class NetworkTemplate(Base):
    __tablename__ = "network_template"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = _name()
    mac_template: Mapped[str | None] = mapped_column(Text)
    ova: Mapped[int | None] = mapped_column(ForeignKey("ova.id", ondelete="RESTRICT"))
    networks: Mapped[list[TemplateNetwork]] = relationship(
        back_populates="template", cascade="all, delete-orphan", order_by="TemplateNetwork.id")


class TemplateNetwork(Base):
    """One NIC of a network template (the first is eth0)."""

    __tablename__ = "network"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    network_template: Mapped[int] = mapped_column(
        ForeignKey("network_template.id", ondelete="CASCADE"), nullable=False)
    vni: Mapped[str] = mapped_column(String(16), nullable=False)
    template: Mapped[NetworkTemplate] = relationship(back_populates="networks")


class StorageTemplate(Base):
    __tablename__ = "storage_template"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = _name()
    ova: Mapped[int | None] = mapped_column(ForeignKey("ova.id", ondelete="RESTRICT"))
    disks: Mapped[list[TemplateDisk]] = relationship(
        back_populates="template", cascade="all, delete-orphan", order_by="TemplateDisk.id")


class TemplateDisk(Base):
    """One disk of a storage template."""

    __tablename__ = "storage"
    __table_args__ = (UniqueConstraint("storage_template", "disk_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    storage_template: Mapped[int] = mapped_column(
        ForeignKey("storage_template.id", ondelete="CASCADE"), nullable=False)
    pool: Mapped[str] = mapped_column(Text, nullable=False)
    disk_id: Mapped[str] = mapped_column(Text, nullable=False)
    source_volume: Mapped[str | None] = mapped_column(Text)
    disk_size_gb: Mapped[int | None] = mapped_column(Integer)
    mountpoint: Mapped[str | None] = mapped_column(Text)
    filesystem: Mapped[str | None] = mapped_column(Text)
    filesystem_args: Mapped[str | None] = mapped_column(Text)
    template: Mapped[StorageTemplate] = relationship(back_populates="disks")


class Userdata(Base):
    __tablename__ = "userdata"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = _name()
    userdata: Mapped[str] = mapped_column(Text, nullable=False, default="")


class Script(Base):
    __tablename__ = "script"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = _name()
    script: Mapped[str] = mapped_column(Text, nullable=False)


class Profile(Base):
    __tablename__ = "profile"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = _name()
    profile_type: Mapped[str] = mapped_column(Text, nullable=False, default="provisioner")
    system_template: Mapped[int | None] = mapped_column(
        ForeignKey("system_template.id", ondelete="RESTRICT"))
    network_template: Mapped[int | None] = mapped_column(
        ForeignKey("network_template.id", ondelete="RESTRICT"))
    storage_template: Mapped[int | None] = mapped_column(
        ForeignKey("storage_template.id", ondelete="RESTRICT"))
    userdata: Mapped[int | None] = mapped_column(ForeignKey("userdata.id", ondelete="RESTRICT"))
    script: Mapped[int | None] = mapped_column(ForeignKey("script.id", ondelete="RESTRICT"))
    ova: Mapped[int | None] = mapped_column(ForeignKey("ova.id", ondelete="RESTRICT"))
    arguments: Mapped[str | None] = mapped_column(Text)
