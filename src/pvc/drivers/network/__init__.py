"""Linux networking through iproute2: floating addresses and gratuitous ARP."""
