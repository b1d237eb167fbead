"""Task bodies for Ceph storage: OSD add/remove and the storage benchmark."""
