"""Client networks: create, change and remove networks, their static DHCP reservations,
their leases (written by the gateway's DHCP server) and their firewall ACLs."""
