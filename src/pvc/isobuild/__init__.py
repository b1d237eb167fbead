"""Building the PVC installer ISO from Debian 12 packages (`deploy/installer/buildiso.sh`,
`python3 -m pvc.isobuild`): see `pvc.isobuild.build`."""
